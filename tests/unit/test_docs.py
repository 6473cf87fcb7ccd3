"""Generated docs: fresh on disk, complete, well-formed SVG, and sensitive to the code."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from paycore import docgen
from paycore.invariants import INVARIANTS
from paycore.machines import MACHINES, ORDER, StateMachine
from paycore.status import OrderStatus

DOCS = Path(__file__).resolve().parents[2] / "docs"
SVG = "{http://www.w3.org/2000/svg}"


def _with_reopen() -> StateMachine[OrderStatus]:
    """The order machine plus one transition, canceled -reopen-> pending."""
    table = [*ORDER.table, ("reopen", [OrderStatus.CANCELED], OrderStatus.PENDING)]
    return StateMachine("order", OrderStatus, OrderStatus.PENDING, table)


def _rects(svg: str, **match: str) -> list[tuple[float, float, float, float]]:
    """The (x0, y0, x1, y1) of every <rect> whose attributes include ``match``."""
    out = []
    for r in ET.fromstring(svg).iter(f"{SVG}rect"):
        if all(r.get(k) == v for k, v in match.items()) and "x" in r.attrib:
            x, y = float(r.get("x", 0)), float(r.get("y", 0))
            out.append((x, y, x + float(r.get("width", 0)), y + float(r.get("height", 0))))
    return out


def test_docs_on_disk_are_fresh() -> None:
    """docs/ holds exactly what the code renders now."""
    bad = docgen.stale(DOCS)
    assert not bad, f"stale generated docs {bad}: run `python -m paycore.docgen`"


def test_invariants_markdown_lists_every_invariant() -> None:
    """Each invariant has one row with its id, kind, statement, findings and check function."""
    text = docgen.render()["invariants.md"]
    assert "python -m paycore.docgen" in text and "do not edit by hand" in text
    assert text.index("## Safety") < text.index("## Convergence")
    for inv in INVARIANTS:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{inv.id}` |")]
        assert inv.statement in row and f"| {inv.kind} |" in row
        assert f"`paycore.invariants.{inv.check.__name__}`" in row
        assert all(f in row for f in inv.findings)
        section = "## Safety" if inv.kind == "safety" else "## Convergence"
        assert text.rindex("\n## ", 0, text.index(row)) == text.index(f"\n{section}")


def test_errors_markdown_lists_every_error_and_the_adapter_errors() -> None:
    """Each error class has one row with its code; each adapter error sits under its port."""
    from paycore import errors

    text = docgen.render()["errors.md"]
    assert "python -m paycore.docgen" in text and "do not edit by hand" in text
    adapter, every = text.split("\n## Every error\n")
    for cls in errors.ERRORS_BY_CODE.values():
        if cls.__module__ == errors.__name__:
            (row,) = [ln for ln in every.splitlines() if ln.startswith(f"| `{cls.code}` |")]
            assert f"| `{cls.__name__}` |" in row
    for port, group in errors.ADAPTER_ERRORS._asdict().items():
        section = adapter[adapter.index(f"### {port.capitalize()}\n") :].split("\n### ")[0]
        rows = [ln for ln in section.splitlines() if ln.startswith("| `")]
        assert [r.split(" | ")[1] for r in rows] == [f"`{c.__name__}`" for c in group]


def test_state_machines_markdown_lists_every_state_and_transition() -> None:
    """Each machine has its diagram, a row per state and a row per transition."""
    text = docgen.render()["state-machines.md"]
    lines = text.splitlines()
    for name, m in MACHINES.items():
        assert f"## {name}" in lines and f"![{name}](diagrams/{name}.svg)" in lines
        section = text[text.index(f"## {name}\n") :].split("\n## ")[0]
        for s in m.states:
            term = "yes" if s in m.terminal else "no"
            assert any(
                line.startswith(f"| `{s.value}`") and line.endswith(f"| {term} |")
                for line in section.splitlines()
            )
        for src, trigger, dst in m.edges():
            assert f"| `{trigger}` | `{src.value}` | `{dst.value}` |" in section


def test_every_state_has_its_own_meaning() -> None:
    """Every state has a documented meaning, shown in its machine's table, and statuses
    of different enums with one value (order and refund 'pending') keep their own."""
    from paycore.status import describe

    text = docgen.render()["state-machines.md"]
    for m in MACHINES.values():
        for s in m.states:
            assert describe(s) and describe(s) in text, (m.aggregate, s)
    from paycore.status import OrderStatus, RefundStatus

    assert describe(OrderStatus.PENDING) != describe(RefundStatus.PENDING)


@pytest.mark.parametrize("name", list(MACHINES))
def test_svg_is_xml_with_a_text_for_every_state_and_trigger(name: str) -> None:
    """Each diagram parses as SVG, is sized, and names every state and trigger."""
    m = MACHINES[name]
    root = ET.fromstring(docgen.render()[f"diagrams/{name}.svg"])
    assert root.tag == f"{SVG}svg" and root.get("font-family") == "sans-serif"
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    texts = sorted(str(t.text) for t in root.iter(f"{SVG}text"))
    assert texts == sorted([*(s.value for s in m.states), *(t for _, t, _ in m.edges())])
    assert len(root.findall(f"{SVG}g/{SVG}circle")) == 1  # the initial-state marker


@pytest.mark.parametrize("name", list(MACHINES))
def test_svg_labels_do_not_overlap(name: str) -> None:
    """No trigger label overlaps another label or a state box."""
    svg = docgen.render()[f"diagrams/{name}.svg"]
    labels, states = _rects(svg, fill="#ffffff"), _rects(svg, rx="7")
    assert len(labels) == len(MACHINES[name].edges()) and len(states) == len(MACHINES[name].states)
    for a, b in [*itertools.combinations(labels, 2), *itertools.product(labels, states)]:
        assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)


def test_changing_a_machine_changes_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An extra transition changes the diagram and the markdown, so docs/ goes stale."""
    changed = _with_reopen()
    svg = docgen.render_svg(changed)
    assert svg != docgen.render_svg(ORDER)
    assert "reopen" in [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    docgen.write(tmp_path)
    assert docgen.stale(tmp_path) == []
    monkeypatch.setitem(MACHINES, "order", changed)
    assert docgen.stale(tmp_path) == [
        str(tmp_path / "state-machines.md"),
        str(tmp_path / "diagrams/order.svg"),
    ]


def test_check_exits_1_listing_stale_files_and_0_when_fresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--check` fails and names every missing file, and passes right after a write."""
    assert docgen.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert all(str(tmp_path / rel) in err for rel in docgen.render())
    assert docgen.main(["--root", str(tmp_path)]) == 0
    assert docgen.main(["--check", "--root", str(tmp_path)]) == 0
    (tmp_path / "diagrams" / "flow.svg").write_text("<svg/>")
    assert docgen.main(["--check", "--root", str(tmp_path)]) == 1
    assert "flow.svg" in capsys.readouterr().err


def test_render_is_deterministic() -> None:
    """Rendering twice, and in processes with other hash seeds, gives identical bytes."""
    first = docgen.render()
    assert docgen.render() == first
    code = "import sys; from paycore.docgen import render; sys.stdout.write(repr(render()))"
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout == repr(first)
