"""Every error code paycore can raise is in docs/errors.md: the core's and those the
adapters and the command line define (a store's, the demo's, the command line's own).
Found by importing every module of both packages and walking PaycoreError's
subclasses, so a new error class anywhere fails here until the docs are regenerated."""

from __future__ import annotations

import importlib
import pkgutil

import paycore
import paycore_adapters
from paycore.errors import PaycoreError
from paycore_adapters import docgen


def _every_error() -> list[type[PaycoreError]]:
    for package in (paycore, paycore_adapters):
        for mod in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(mod.name)
    found: list[type[PaycoreError]] = []
    todo = [PaycoreError]
    while todo:
        cls = todo.pop()
        if cls.__module__.split(".")[0] in ("paycore", "paycore_adapters"):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _rows(text: str) -> dict[str, str]:
    return {
        line.split(" | ")[0][3:-1]: line
        for line in text.splitlines()
        if line.startswith("| `") and " | `" in line
    }


def test_every_error_code_raised_anywhere_is_documented() -> None:
    errors = _every_error()
    assert len(errors) > 70
    rows = _rows(docgen.render()["errors.md"])
    missing = sorted(c.code for c in errors if c.code not in rows)
    assert missing == []
    for cls in errors:
        assert f"| `{cls.__name__}` |" in rows[cls.code], cls


def test_the_adapters_errors_have_a_section_of_their_own() -> None:
    _every_error()
    text = docgen.render()["errors.md"]
    section = text[text.index("\n## Raised by the adapters and the command line\n") :]
    rows = _rows(section)
    for code in ("store_file_missing", "seeded_tokens_reused", "demo_busy", "usage_error"):
        assert code in rows, code
        assert "`paycore_adapters." in rows[code]
