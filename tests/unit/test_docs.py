"""Generated docs: fresh on disk, complete, Mermaid diagrams drawn from the machines,
and sensitive to the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from paycore.invariants import INVARIANTS
from paycore.machines import MACHINES, ORDER, StateMachine
from paycore.service import FLOW_DEFS
from paycore.status import OrderStatus
from paycore_adapters import docgen

DOCS = Path(__file__).resolve().parents[2] / "docs"
MERMAID = re.compile(r"```mermaid\n(.*?)```", re.S)


def _with_reopen() -> StateMachine[OrderStatus]:
    """The order machine plus one transition, canceled -reopen-> pending."""
    table = [*ORDER.table, ("reopen", [OrderStatus.CANCELED], OrderStatus.PENDING)]
    return StateMachine("order", OrderStatus, OrderStatus.PENDING, table)


def _section(text: str, name: str) -> str:
    return text[text.index(f"## {name}\n") :].split("\n## ")[0]


def test_docs_on_disk_are_fresh() -> None:
    """docs/ holds exactly what the code renders now."""
    bad = docgen.stale(DOCS)
    assert not bad, f"stale generated docs {bad}: run `python -m paycore_adapters.docgen`"


def test_no_hand_laid_diagrams_are_left() -> None:
    """The SVG diagrams laid out by hand are gone; the Mermaid blocks replace them."""
    assert not list(DOCS.glob("diagrams/*.svg"))


def test_invariants_markdown_lists_every_invariant() -> None:
    """Each invariant has one row with its id, kind, statement, findings and check function."""
    text = docgen.render()["invariants.md"]
    assert "python -m paycore_adapters.docgen" in text and "do not edit by hand" in text
    assert text.index("## Safety") < text.index("## Convergence")
    for inv in INVARIANTS:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{inv.id}` |")]
        assert inv.statement in row and f"| {inv.kind} |" in row
        assert f"`{inv.check.__module__}.{inv.check.__name__}`" in row
        assert all(f in row for f in inv.findings)
        section = "## Safety" if inv.kind == "safety" else "## Convergence"
        assert text.rindex("\n## ", 0, text.index(row)) == text.index(f"\n{section}")


def test_errors_markdown_lists_every_error_and_the_adapter_errors() -> None:
    """Each error class has one row with its code; each adapter error sits under its port."""
    from paycore import errors

    text = docgen.render()["errors.md"]
    assert "python -m paycore_adapters.docgen" in text and "do not edit by hand" in text
    adapter, every = text.split("\n## Every error\n")
    for cls in errors.ERRORS_BY_CODE.values():
        if cls.__module__ == errors.__name__:
            (row,) = [ln for ln in every.splitlines() if ln.startswith(f"| `{cls.code}` |")]
            assert f"| `{cls.__name__}` |" in row
    for port, group in errors.ADAPTER_ERRORS._asdict().items():
        section = adapter[adapter.index(f"### {port.capitalize()}\n") :].split("\n### ")[0]
        rows = [ln for ln in section.splitlines() if ln.startswith("| `")]
        assert [r.split(" | ")[1] for r in rows] == [f"`{c.__name__}`" for c in group]


def test_flows_markdown_draws_every_declared_edge_of_every_flow_kind() -> None:
    """Each flow kind has a flowchart with one arrow per declared edge, from its first step."""
    text = docgen.render()["flows.md"]
    for kind, fdef in FLOW_DEFS.items():
        (chart,) = MERMAID.findall(_section(text, kind))
        arrows = [ln.strip() for ln in chart.splitlines() if "-->" in ln]
        assert arrows[0] == f"start((start)) --> {next(iter(fdef.steps))}"
        expected = [f"{a} -->|{how}| {b}" if how else f"{a} --> {b}" for a, b, how in fdef.edges()]
        assert arrows[1:] == expected
    assert sum(len(fdef.edges()) for fdef in FLOW_DEFS.values()) > 20  # the real flows


def test_state_machines_markdown_lists_every_state_and_transition() -> None:
    """Each machine has its diagram, a row per state and a row per transition."""
    text = docgen.render()["state-machines.md"]
    for name, m in MACHINES.items():
        section = _section(text, name)
        (diagram,) = MERMAID.findall(section)
        assert diagram == docgen.mermaid(m)
        for s in m.states:
            term = "yes" if s in m.terminal else "no"
            assert any(
                line.startswith(f"| `{s.value}`") and line.endswith(f"| {term} |")
                for line in section.splitlines()
            )
        for src, trigger, dst in m.edges():
            assert f"| `{trigger}` | `{src.value}` | `{dst.value}` |" in section


@pytest.mark.parametrize("name", list(MACHINES))
def test_mermaid_draws_every_state_and_transition(name: str) -> None:
    """Each diagram is a stateDiagram-v2 with every state, each transition on its edge,
    the initial state marked and the terminal states styled as such."""
    m = MACHINES[name]
    text = docgen.mermaid(m)
    lines = [line.strip() for line in text.splitlines()]
    assert "stateDiagram-v2" in lines and f"[*] --> {m.initial.value}" in lines
    for s in m.states:
        assert f'state "{s.value}" as {s.value}' in lines
        style = "s_terminal" if s in m.terminal else "s_default"
        assert f"Class {s.value} {style}" in lines
    edges = {}
    for line in lines:
        if "-->" in line and not line.startswith("[*]"):
            ends, _, labels = line.partition(": ")
            src, _, dst = ends.partition(" --> ")
            edges[(src, dst)] = set(labels.split(" | "))
    want: dict[tuple[str, str], set[str]] = {}
    for src, trigger, dst in m.edges():
        want.setdefault((src.value, dst.value), set()).add(trigger)
    assert edges == want
    assert not [line for line in lines if line.endswith(" s_active")]  # none drawn as current


def test_changing_a_machine_changes_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An extra transition changes the diagram and the markdown, so docs/ goes stale."""
    changed = _with_reopen()
    assert docgen.mermaid(changed) != docgen.mermaid(ORDER)
    assert "  canceled --> pending: reopen" in docgen.mermaid(changed).splitlines()
    docgen.write(tmp_path)
    assert docgen.stale(tmp_path) == []
    monkeypatch.setitem(MACHINES, "order", changed)
    assert docgen.stale(tmp_path) == [str(tmp_path / "state-machines.md")]


def test_check_exits_1_listing_stale_files_and_0_when_fresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--check` fails and names every missing file, and passes right after a write."""
    assert docgen.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert all(str(tmp_path / rel) in err for rel in docgen.render())
    assert docgen.main(["--root", str(tmp_path)]) == 0
    assert docgen.main(["--check", "--root", str(tmp_path)]) == 0
    (tmp_path / "state-machines.md").write_text("# State machines\n")
    assert docgen.main(["--check", "--root", str(tmp_path)]) == 1
    assert "state-machines.md" in capsys.readouterr().err


def test_render_is_deterministic() -> None:
    """Rendering twice, and in processes with other hash seeds, gives identical bytes."""
    first = docgen.render()
    assert docgen.render() == first
    code = (
        "import sys; from paycore_adapters.docgen import render; sys.stdout.write(repr(render()))"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout == repr(first)


def test_the_flowchart_hook_draws_a_flow_from_its_steps() -> None:
    """Given a flow's declared steps, the hook draws a Mermaid flowchart: a start node
    into the first step and one labelled arrow per way a step may lead on."""
    text = docgen.render_flowchart(
        "refund", [("call", "answer", "resolve"), ("resolve", "", "call")], first="call"
    )
    lines = text.splitlines()
    assert lines[:5] == ["---", "refund flow", "---", "flowchart TD", "  start((start)) --> call"]
    assert lines[5:] == ["  call -->|answer| resolve", "  resolve --> call"]


def test_the_core_ships_no_doc_generator() -> None:
    """The generator is a repository tool beside the adapters, not part of paycore."""
    import importlib.util

    assert importlib.util.find_spec("paycore.docgen") is None
