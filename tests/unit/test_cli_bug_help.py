"""`paycore chaos --help` and `paycore explore --help` list the seeded bugs `--bug`
takes, from the catalog itself: every bug, and no name the catalog lacks."""

from __future__ import annotations

import argparse
import re

import pytest

from paycore_adapters.cli import build_parser
from paycore_adapters.harness.bugs import BUGS


def _bug_help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if a.dest == "bug")
    assert action.help, f"{command} --bug has no help"
    return action.help


def _named(help_text: str) -> set[str]:
    """The bug names a help text lists: single names (I11) and ranges (S1-S18)."""
    names: set[str] = set()
    for prefix, first, last in re.findall(r"\b([A-Z])(\d+)(?:-[A-Z]?(\d+))?\b", help_text):
        end = int(last) if last else int(first)
        names.update(f"{prefix}{n}" for n in range(int(first), end + 1))
    return names


@pytest.mark.parametrize("command", ["chaos", "explore"])
def test_the_bug_help_lists_the_catalog(command: str) -> None:
    assert _named(_bug_help(command)) == set(BUGS)
