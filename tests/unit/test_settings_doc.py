"""docs/operations.md's "Settings" table lists every ``Config`` field, with its true
default, its unit and its range (what 0 and None may be)."""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from paycore.config import MAY_BE_NONE, MAY_BE_ZERO, SWITCHES, Config, most

ROOT = Path(__file__).resolve().parents[2]
#: A row: | `name` | `default` ... | unit | range | what it does |
ROW = re.compile(r"^\| `(\w+)` \| `([^`]+)`[^|]* \| ([^|]+) \| ([^|]+) \|", re.M)


def settings_rows() -> dict[str, tuple[str, str, str]]:
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = doc.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return {m[0]: (m[1], m[2].strip(), m[3].strip()) for m in ROW.findall(section)}


def _value(text: str) -> object:
    if text in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[text]
    return int(text.replace(",", "").replace("_", ""))


def test_every_config_field_is_in_the_table_with_its_default() -> None:
    rows = settings_rows()
    fields = {f.name: f.default for f in attrs.fields(Config)}
    missing, unknown = sorted(set(fields) - set(rows)), sorted(set(rows) - set(fields))
    assert not missing and not unknown, (missing, unknown)
    wrong = {n: rows[n][0] for n, d in fields.items() if _value(rows[n][0]) != d}
    assert not wrong, wrong


def test_each_row_gives_the_unit_and_the_range() -> None:
    for name, (_, unit, allowed) in settings_rows().items():
        if name in SWITCHES:
            assert (unit, allowed) == ("switch", "True or False"), name
            continue
        assert unit == ("ms" if name.endswith("_ms") else "count"), name
        least = 0 if name in MAY_BE_ZERO else 1
        top = "ten years" if name.endswith("_ms") else f"{most(name):,}"
        expected = f"{least} to {top}" + (", or None" if name in MAY_BE_NONE else "")
        assert allowed == expected, (name, allowed, expected)
