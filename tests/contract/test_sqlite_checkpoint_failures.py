"""A failed checkpoint of the SQLite log is logged (WARNING, with SQLite's error) once
per streak of failures, not on every attempt, and its end is logged too."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from paycore_adapters.sql.checkpointer import Checkpointer

LOGGER = "paycore_adapters.sql.checkpointer"


def test_a_failure_streak_is_one_warning_and_its_end_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.db"
    good = sqlite3.connect(path, isolation_level=None)
    good.execute("PRAGMA journal_mode=WAL")
    broken = sqlite3.connect(path)
    broken.close()  # a closed connection refuses every statement
    cp = Checkpointer(path, 1, busy_timeout_ms=0)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(3):
            cp.checkpoint(broken)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    assert "closed database" in warnings[0].getMessage()
    assert str(path) in warnings[0].getMessage()
    assert (cp.failures, cp.failing, cp.runs) == (3, 3, 0)
    assert "closed database" in cp.last_error
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        cp.checkpoint(good)
        cp.checkpoint(good)
    assert (cp.failing, cp.runs) == (0, 1) or (cp.failing, cp.runs) == (0, 2)
    assert len(caplog.records) == 1 and "after 3 failed" in caplog.records[0].getMessage()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        cp.checkpoint(broken)
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1  # a new streak
    good.close()
