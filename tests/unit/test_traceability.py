"""docs/seed-findings.md traces every seed finding to code and tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paycore.invariants import INVARIANTS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "seed-findings.md"


def rows() -> dict[str, str]:
    out = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| (S\d+) \|", line)
        if m:
            out[m.group(1)] = line
    return out


@pytest.mark.parametrize("finding", [f"S{i}" for i in range(1, 19)])
def test_every_finding_has_a_row_with_a_real_test(finding: str) -> None:
    """Each S1-S18 row names test classes that exist and an invariant that exists."""
    row = rows()[finding]
    tests = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row)
    assert tests, f"{finding} names no test"
    for path, cls in tests:
        source = (ROOT / path).read_text()
        assert f"class {cls}" in source, f"{finding}: {path}::{cls} does not exist"
        assert cls.startswith(f"TestS{int(finding[1:]):02d}"), f"{finding}: {cls} is another's"
    ids = {i.id for i in INVARIANTS}
    named = set(re.findall(r"`([a-z]+(?:-[a-z]+)+)`", row))
    assert named & ids, f"{finding} names no invariant"
    from paycore_adapters.harness.model import HARNESS_CHECKS

    assert named <= ids | HARNESS_CHECKS | {"seed-findings"}, named - ids


def test_invariants_name_only_known_findings() -> None:
    """The findings an invariant claims to guard are S1-S18 or T1-T5."""
    for inv in INVARIANTS:
        for f in inv.findings:
            assert re.fullmatch(r"S([1-9]|1[0-8])|T[1-5]", f), (inv.id, f)


def test_seeded_bug_column_matches_the_catalog() -> None:
    """The last column names exactly the invariants each seeded bug is expected to trip."""
    from paycore_adapters.harness.bugs import BUGS

    for finding, row in rows().items():
        last = row.rstrip(" |").rsplit(" | ", 1)[1]
        assert set(re.findall(r"`([a-z-]+)`", last)) == set(BUGS[finding].expected), finding


def test_seeded_bug_column_names_the_module_of_its_switch() -> None:
    """The last column names the module of ``src/adapters/harness/bugs`` that registers
    the finding's switch, and that module exists."""
    from paycore_adapters.harness.bugs import BUGS

    for finding, row in rows().items():
        last = row.rstrip(" |").rsplit(" | ", 1)[1]
        (module,) = re.findall(r"`(s\d\d_\w+\.py)`", last)
        assert (ROOT / "src" / "adapters" / "harness" / "bugs" / module).is_file(), module
        assert BUGS[finding].patch.__module__.endswith("." + module[:-3]), (finding, module)
