"""paycore, the core, imports the standard library, attrs and transitions, and nothing else.

The import contract in pyproject.toml forbids the modules paycore must never reach
(its adapters, the Stripe SDK, the database drivers, the test tools): a list of what
is known to be wrong. This is the other side: a list of what is allowed. A new import
of any other distribution (an HTTP client, another driver, a web framework) fails
here, whatever its name.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import paycore

#: Third-party distributions the core may import (the design brief's records and machines).
ALLOWED = frozenset({"attr", "attrs", "transitions"})
CORE = Path(paycore.__file__).parent


def imported_roots(path: Path) -> set[str]:
    """The top-level names of the absolute imports of one module."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_core_imports_only_the_standard_library_attrs_and_transitions() -> None:
    allowed = set(sys.stdlib_module_names) | ALLOWED | {"paycore", "__future__"}
    found = {
        f"{path.relative_to(CORE.parent)}: {root}"
        for path in sorted(CORE.rglob("*.py"))
        for root in imported_roots(path) - allowed
    }
    assert not found, (
        f"paycore imports outside the standard library, attrs and transitions: {sorted(found)}"
    )


def test_the_check_sees_an_import_of_another_distribution(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import requests\nfrom httpx import Client\nfrom . import sibling\n")
    assert imported_roots(module) == {"requests", "httpx"}
