"""Argument types for the ``paycore`` command line: a number out of its range is a usage
error argparse reports in one line (exit 2) before the command runs, instead of a
traceback from deep inside it, or a run that says nothing about the bad number."""

from __future__ import annotations

import argparse
from collections.abc import Callable

#: The ports a TCP socket may bind (0: any free one).
PORTS = (0, 65_535)


def whole(least: int, most: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` for a whole number from ``least`` (to ``most``, if given)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
        if value < least or (most is not None and value > most):
            upto = f" to {most}" if most is not None else ""
            what = f"from {least}{upto}" if upto else f"of at least {least}"
            raise argparse.ArgumentTypeError(f"must be a whole number {what}, got {value}")
        return value

    return parse


#: A TCP port.
port = whole(*PORTS)
