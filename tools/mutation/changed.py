"""The mutants of the functions changed or added since a commit, for a round by name.

mutmut mutates each top-level function and each method of a top-level class; this lists
those whose code (decorators left aside: ``undecorate.py`` moves them out) differs between
``git show REV:PATH`` and the working tree's HEAD, under the mutated folders, and then the
names of their mutants from mutmut's ``mutants/**/*.py.meta``. Run in the scratch copy
after a first ``mutmut run`` has written ``mutants/``, with the repository to compare in::

    .venv/bin/python tools/mutation/changed.py --repo /path/to/repo 0f9beb6 > changed.txt
    .venv/bin/python tools/mutation/changed.py --repo /path/to/repo 0f9beb6 --functions

``--functions`` prints the functions (module, name, changed or new) instead of mutants.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import subprocess
from pathlib import Path

FOLDERS = ("src/paycore/flows", "src/paycore/invariants")


def _git(repo: str, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, *args], capture_output=True, text=True, check=True
    ).stdout


def _functions(source: str) -> dict[str, str]:
    """Each mutated unit's code without its decorators, by ``name`` or ``Class.name``."""
    units: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            units[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    units[f"{node.name}.{sub.name}"] = sub
    out = {}
    for name, unit in units.items():
        unit.decorator_list = []
        out[name] = ast.dump(unit)  # no line numbers: a function moved down is unchanged
    return out


def changed(repo: str, since: str) -> list[tuple[str, str, str]]:
    """(module, function, "changed" or "new") for every unit that differs since ``since``."""
    old_files = set(_git(repo, "ls-tree", "-r", "--name-only", since, "--", *FOLDERS).split())
    found = []
    for path in _git(repo, "ls-tree", "-r", "--name-only", "HEAD", "--", *FOLDERS).split():
        if not path.endswith(".py"):
            continue
        module = path[len("src/") : -len(".py")].replace("/", ".")
        new = _functions(_git(repo, "show", f"HEAD:{path}"))
        old = _functions(_git(repo, "show", f"{since}:{path}")) if path in old_files else {}
        for name, code in new.items():
            if name not in old:
                found.append((module, name, "new"))
            elif old[name] != code:
                found.append((module, name, "changed"))
    return found


def pattern(module: str, name: str) -> str:
    """mutmut's name pattern for a unit's mutants (``x_f``, ``xǁClassǁmethod``)."""
    cls, _, method = name.rpartition(".")
    mangled = f"xǁ{cls}ǁ{method}" if cls else f"x_{name}"
    return f"{module}.{mangled}__mutmut_*"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("since", help="the commit of the last round")
    parser.add_argument("--repo", default=".", help="the repository to compare in")
    parser.add_argument("--root", default="mutants", help="where mutmut's results are")
    parser.add_argument("--functions", action="store_true", help="print the functions")
    args = parser.parse_args()
    units = changed(args.repo, args.since)
    if args.functions:
        print("\n".join(" ".join(u) for u in units))
        return
    names: list[str] = []
    for meta in Path(args.root).rglob("*.py.meta"):
        names += json.loads(meta.read_text())["exit_code_by_key"]
    for module, name, _ in units:
        mine = [n for n in names if fnmatch.fnmatchcase(n, pattern(module, name))]
        print("\n".join(sorted(mine, key=lambda n: int(n.rsplit("_", 1)[1]))))


if __name__ == "__main__":
    main()
