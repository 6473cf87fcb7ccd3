"""docs/operations.md describes every alert kind the code can raise."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: An alert raised through ``Unit.alert``, ``Engine._alert_after`` or any helper whose
#: name contains "alert": its kind is the first string literal argument.
RAISED = re.compile(r"\b\w*alert\w*\(\s*(?:\w+,\s*)*\"([a-z][a-z0-9_]+)\"")


def raised_kinds() -> set[str]:
    kinds: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        if "harness" in path.parts:
            continue  # seeded bugs and the model raise nothing of their own
        for kind in RAISED.findall(path.read_text(encoding="utf-8")):
            kinds.add(kind)
    return kinds


def test_every_alert_kind_raised_in_src_has_a_section() -> None:
    """Each alert kind found in src/ has its own heading in docs/operations.md."""
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z0-9_]+)`$", doc, re.M))
    kinds = raised_kinds()
    assert {"flow_dead_lettered", "flow_stalled", "orphan_intent"} <= kinds
    assert kinds <= documented, sorted(kinds - documented)
