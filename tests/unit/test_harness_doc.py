"""docs/harness.md describes the harness that exists: every story, dimension and seeded
bug it draws has a line there, and the ranges it quotes are the model's."""

from __future__ import annotations

import re
from pathlib import Path

from paycore_adapters.harness import dimensions, model, stories
from paycore_adapters.harness.bugs import BUGS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "harness.md").read_text()


def table_rows() -> set[str]:
    """The first cell of every table row of the doc, backticks removed."""
    return set(re.findall(r"^\| `([\w-]+)` \|", DOC, re.MULTILINE))


def test_every_story_has_a_row() -> None:
    assert set(stories.STORIES) - table_rows() == set()


def test_every_dimension_has_a_row() -> None:
    assert set(dimensions.DIMENSIONS) - {"default"} - table_rows() == set()


def test_every_seeded_bug_family_is_named() -> None:
    """Each family of switches (S, I, L, F) is introduced by its id range in the prose."""
    families = {bug_id[0] for bug_id in BUGS}
    for family in families:
        assert re.search(rf"`{family}\d", DOC), f"no {family} switch is named in the doc"


def test_the_last_switch_of_each_family_is_named() -> None:
    """The prose names each family's switch modules up to its last one."""
    from paycore_adapters.harness.bugs import SWITCH_MODULES

    last: dict[str, str] = {}
    for name in SWITCH_MODULES:  # sorted by family, then number
        last[name[0]] = name
    for name in last.values():
        assert f"`{name}.py`" in DOC, f"docs/harness.md does not name {name}.py"


def test_the_quoted_draw_ranges_are_the_models() -> None:
    assert f"dimension from 0 to {3 * model.SHOPS}" in DOC
    assert f"action codes (0 to {model.CODES - 1}" in DOC
