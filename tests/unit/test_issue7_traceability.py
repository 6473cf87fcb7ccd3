"""docs/seed-findings.md maps each item of issue 7 to code, tests and seeded bugs that
exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paycore.invariants import INVARIANTS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "seed-findings.md"
HEADING = "## Issue 7: item -> code -> test -> seeded bug"


def rows() -> dict[int, list[str]]:
    """Item number -> the row's cells."""
    text = DOC.read_text(encoding="utf-8")
    assert HEADING in text
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        m = re.match(r"\| (\d+) \|", line)
        if m:
            out[int(m.group(1))] = [c.strip() for c in line.strip(" |").split(" | ")]
    return out


def test_every_item_has_a_row() -> None:
    """Items 1 to 13, each once."""
    assert sorted(rows()) == list(range(1, 14))


@pytest.mark.parametrize("item", range(1, 14))
def test_named_tests_exist(item: int) -> None:
    """Each row names at least one test, and every test it names exists."""
    row = rows()[item]
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row[3])
    assert named, f"item {item} names no test"
    for path, name in named:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^\s*(class|def) {name}\b", source, re.M), f"{path}::{name}"


@pytest.mark.parametrize("item", range(1, 14))
def test_named_code_exists(item: int) -> None:
    """Each module the row's fix names exists under src/."""
    row = rows()[item]
    modules = re.findall(r"`((?:[\w]+/)*\w+\.py)(?:::\w+)?`", row[2])
    assert modules, f"item {item} names no module"
    for module in modules:
        assert list((ROOT / "src").rglob(module)), f"item {item}: {module}"


@pytest.mark.parametrize("item", range(1, 14))
def test_seeded_bug_column_matches_the_catalog(item: int) -> None:
    """A named switch exists and is caught by exactly the invariants named."""
    from paycore_adapters.harness.bugs import BUGS

    last = rows()[item][4]
    m = re.match(r"(I\d+): (.*)", last)
    if m is None:
        assert last.startswith("-"), last
        return
    bug, caught = m.groups()
    assert bug == f"I{item}"
    assert set(re.findall(r"`([a-z-]+)`", caught)) == set(BUGS[bug].expected)
    (module,) = re.findall(r"`(i\d\d_\w+)\.py`", caught)
    assert BUGS[bug].patch.__module__.endswith("." + module), (bug, module)


def test_every_issue7_switch_in_the_catalog_has_its_row() -> None:
    """No switch named after an item of issue 7 is left out of the table."""
    from paycore_adapters.harness.bugs import BUGS

    listed = {cells[4].split(":")[0] for cells in rows().values()}
    switches = {b for b in BUGS if re.fullmatch(r"I\d+", b)}
    assert switches <= listed


def test_invariants_named_exist() -> None:
    """Every invariant id the section names is in the catalog."""
    ids = {i.id for i in INVARIANTS}
    for item, cells in rows().items():
        for cell in cells:
            for name in re.findall(r"`([a-z]+(?:-[a-z]+)+)`", cell):
                assert name in ids, (item, name)
