"""`paycore demo --store json:PATH` saves its made-up shop over PATH only when PATH is
new or a shop the demo saved there before: any other file (a report, a SQLite
database) is refused with one line and exit status 2, unless ``--force`` says so."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from paycore_adapters.cli import main

REPORT = json.dumps({"violations": [], "complete": True}) + "\n"


class TestDemoKeepsFilesItDidNotWrite:
    @pytest.mark.parametrize("prefix", ["json:", ""])
    def test_a_report_file_is_refused_and_kept(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], prefix: str
    ) -> None:
        """A JSON file that is not a shop the demo saved: exit 2, one line naming the
        file and --force, the file byte for byte as it was."""
        report = tmp_path / "report.json"
        report.write_text(REPORT, encoding="utf-8")
        assert main(["demo", "--store", f"{prefix}{report}"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: demo_file_refused: ")
        assert str(report) in err and "--force" in err
        assert report.read_text(encoding="utf-8") == REPORT

    def test_a_sqlite_database_named_as_a_file_is_refused(self, tmp_path: Path) -> None:
        """A plain path to a SQLite database is a JSON store's path: never overwritten."""
        db = tmp_path / "shop.db"
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE kept (x)")
        con.commit()
        con.close()
        before = db.read_bytes()
        assert main(["demo", "--store", str(db)]) == 2
        assert db.read_bytes() == before

    def test_force_overwrites(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--force: the day runs and the shop is saved over the file."""
        report = tmp_path / "report.json"
        report.write_text(REPORT, encoding="utf-8")
        assert main(["demo", "--store", f"json:{report}", "--force"]) == 0
        assert json.loads(report.read_text(encoding="utf-8"))["format"].startswith("paycore-store")
        assert f"store saved to {report}" in capsys.readouterr().out

    def test_its_own_shop_is_saved_again_and_a_new_file_is_made(self, tmp_path: Path) -> None:
        """A new path is written; a file holding the shop the demo saved is its own."""
        shop = tmp_path / "day.json"
        assert main(["demo", "--store", f"json:{shop}"]) == 0
        assert main(["demo", "--store", f"json:{shop}"]) == 0
        assert json.loads(shop.read_text(encoding="utf-8"))["format"].startswith("paycore-store")
