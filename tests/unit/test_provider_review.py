"""docs/provider-model.md's table of the provider review names contract cases, harness
tests and seeded bugs that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "provider-model.md"
HEADING = "## The review, point by point"
CASES = ROOT / "src" / "adapters" / "testing"


def rows() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    assert HEADING in text
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| point |"), lines[0]
    return [[c.strip() for c in line.strip(" |").split(" | ")] for line in lines[1:]]


def defines(path: Path, name: str) -> bool:
    return re.search(rf"\bdef {name}\(", path.read_text(encoding="utf-8")) is not None


def test_the_table_has_its_points() -> None:
    table = rows()
    assert len(table) >= 7
    assert all(len(row) == 4 for row in table), table


def test_every_named_contract_case_exists() -> None:
    for point, cases, _, _ in rows():
        named = re.findall(r"`(provider_\w+\.py)::(test_\w+)`", cases)
        assert named, point
        for module, name in named:
            assert defines(CASES / module, name), (point, module, name)


def test_every_named_harness_test_exists() -> None:
    for point, _, harness, _ in rows():
        for path, name in re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", harness):
            assert defines(ROOT / path, name), (point, path, name)
        assert harness == "-" or re.search(r"`tests/", harness), (point, harness)


def test_every_named_seeded_bug_is_in_the_catalog() -> None:
    from paycore_adapters.harness.bugs import BUGS

    for point, _, _, bug in rows():
        assert bug == "-" or bug in BUGS, (point, bug)
