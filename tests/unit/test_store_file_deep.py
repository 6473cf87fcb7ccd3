"""A ``json:`` store file nested deeper than Python's recursion limit (200,000 ``[``):
``json.loads`` raises RecursionError, which the opener now takes as an unreadable file
like any other decoding error; before, each command ended in a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import cli

from paycore_adapters.stores import StoreFileUnreadable, open_store


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000, encoding="utf-8")
    return path


def test_open_store_refuses_it_as_unreadable(deep: Path) -> None:
    with pytest.raises(StoreFileUnreadable, match="RecursionError") as refused:
        open_store(f"json:{deep}")
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


@pytest.mark.parametrize("command", [["flows", "list"], ["attention"], ["check"]])
def test_each_command_says_one_line_and_exits_2(deep: Path, command: list[str]) -> None:
    code, out, err = cli(*command, "--store", f"json:{deep}")
    assert code == 2
    assert "Traceback" not in out + err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: store_file_unreadable: cannot read the store file")
