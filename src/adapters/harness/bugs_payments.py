"""Seeded bugs re-creating the seed's payments flaws (registered into ``bugs.BUGS``)."""

from __future__ import annotations
