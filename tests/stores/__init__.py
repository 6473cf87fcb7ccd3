"""Tests of the durable stores and of the database servers they run on."""
