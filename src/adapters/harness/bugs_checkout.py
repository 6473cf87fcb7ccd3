"""Seeded bugs re-creating the seed's checkout flaws (registered into ``bugs.BUGS``)."""

from __future__ import annotations
