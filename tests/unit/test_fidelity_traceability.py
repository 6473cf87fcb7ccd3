"""docs/seed-findings.md maps each flaw of the provider model's review (F1, ...) to code,
tests and a seeded bug that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "seed-findings.md"
HEADING = "## Review of the provider model: flaw -> code -> test -> seeded bug"


def rows() -> dict[str, list[str]]:
    """Flaw id -> the row's cells."""
    text = DOC.read_text(encoding="utf-8")
    assert HEADING in text
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    return {
        m.group(1): [c.strip() for c in line.strip(" |").split(" | ")]
        for line in section.splitlines()
        if (m := re.match(r"\| (F\d+) \|", line))
    }


def fidelity_switches() -> list[str]:
    from paycore_adapters.harness.bugs import BUGS

    return sorted(b for b in BUGS if b.startswith("F"))


def test_every_fidelity_switch_has_its_row() -> None:
    """The rows are exactly the catalog's F switches, F1 among them."""
    assert sorted(rows()) == fidelity_switches()
    assert "F1" in rows()


@pytest.mark.parametrize("flaw", fidelity_switches())
def test_a_row_names_tests_code_and_its_switch(flaw: str) -> None:
    """Named test classes exist; named source files exist; the last column names the
    switch's module and exactly the invariants it is expected to trip."""
    from paycore_adapters.harness.bugs import BUGS

    row = rows()[flaw]
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row[3])
    assert named, flaw
    for path, cls in named:
        assert f"class {cls}" in (ROOT / path).read_text(encoding="utf-8"), (path, cls)
    for module in re.findall(r"`((?:\w+/)*\w+\.py)(?:::\w+)?`", row[2]):
        assert list((ROOT / "src").rglob(module)), module
    bug, caught = row[4].split(": ", 1)
    assert bug == flaw
    assert set(re.findall(r"`([a-z-]+)`", caught)) == set(BUGS[bug].expected)
    (module,) = re.findall(r"`(f\d\d_\w+)\.py`", caught)
    assert BUGS[bug].patch.__module__.endswith("." + module), (bug, module)
