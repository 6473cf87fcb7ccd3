"""The operator's docs stay true to the code: every `paycore ...` command line they show
parses with the real argument parser, and every alert kind they describe is one the code
raises (and the reverse, in tests/unit/test_operations_doc.py)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
from tests.unit.test_operations_doc import raised_kinds

from paycore_adapters.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("docs/operations.md", "docs/seed-findings.md")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`((?:\.venv/bin/)?paycore [^`]+)`")
#: A command line in a code block: maybe a variable and a path before it, maybe a comment.
LINE = re.compile(r"^(?:[A-Z_]+=\S+\s+)?(?:\.venv/bin/)?(paycore\s[^#]*)")
OPTIONAL = re.compile(r"\s*\[[^\[\]]*\]")


def shown_commands(path: str) -> list[str]:
    """The `paycore ...` command lines a document shows, in code blocks or inline."""
    text = (ROOT / path).read_text(encoding="utf-8")
    found = [m.group(1) for m in INLINE.finditer(text)]
    for block in FENCE.findall(text):
        for line in block.splitlines():
            m = LINE.match(line.strip())
            if m:
                found.append(m.group(1))
    return [re.sub(r"^(\.venv/bin/)?paycore\s+", "", c).strip() for c in found]


def variants(command: str) -> list[str]:
    """A command with each ``[optional part]`` left out, and with all of them given."""
    return [OPTIONAL.sub("", command), command.replace("[", "").replace("]", "")]


def parses(command: str) -> str | None:
    """None if the real parser accepts the command, else its complaint."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(shlex.split(command))
        except SystemExit:
            return err.getvalue().strip().splitlines()[-1]
    return None


CASES = [(doc, cmd) for doc in DOCS for cmd in dict.fromkeys(shown_commands(doc))]


def test_the_operations_doc_shows_every_operator_command() -> None:
    """The doc shows each operator command at least once."""
    shown = {" ".join(c.split()[:2]) for c in shown_commands("docs/operations.md")}
    expected = {"flows list", "flows show", "flows revive", "flows abandon", "attention resolve"}
    assert expected <= shown
    assert any(c.startswith("attention --store") for c in shown_commands("docs/operations.md"))


@pytest.mark.parametrize(("doc", "command"), CASES, ids=[f"{d}: {c}" for d, c in CASES])
def test_each_command_shown_parses(doc: str, command: str) -> None:
    """Each command line shown (with and without its optional parts) is accepted."""
    assert "|" not in command, "show each alternative on its own line"
    for variant in variants(command):
        assert parses(variant) is None, f"{doc}: `paycore {variant}`: {parses(variant)}"


def test_a_wrong_command_is_refused() -> None:
    """The check has teeth: a command that does not exist, or lacks --store, fails it."""
    assert parses("flows revive") is not None
    assert parses("flows resurrect f1 --store shop.json") is not None
    assert parses("attention resolve flow_stalled --store shop.json") is not None


def test_every_alert_kind_described_is_raised() -> None:
    """No section describes an alert kind the code no longer raises."""
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z0-9_]+)`$", doc, re.M))
    assert documented == raised_kinds()


def test_every_alert_section_says_what_to_do() -> None:
    """Each alert's section is more than a heading: it tells the operator what to do."""
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    sections = re.split(r"^### ", doc, flags=re.M)[1:]
    for section in sections:
        heading, _, body = section.partition("\n")
        body = body.split("\n## ")[0]
        words = re.findall(
            r"\b(check|revive|abandon|resolve|fix|contact|tell|look|cancel|refund)\b",
            body,
            re.I,
        )
        assert words, f"{heading}: no action for the operator"


def test_attention_only_kinds_are_described() -> None:
    """The kinds the attention list adds without an alert are explained too."""
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for kind in ("flow_dead", "orphan_waiting"):
        assert f"`{kind}`" in doc
