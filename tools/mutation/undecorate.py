"""Rewrite ``@invariant(...) def f`` as ``def f`` + ``f = invariant(...)(f)``.

mutmut 3 does not mutate decorated functions, and every invariant is registered with a
decorator. The rewrite keeps the same registration in the same order, so the catalog is
unchanged; it is applied to a scratch copy only (see prepare.sh), never to the tree.
"""

from __future__ import annotations

import ast
import pathlib
import sys


def undecorate(source: str) -> str:
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, list[str]]] = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef) or len(node.decorator_list) != 1:
            continue
        dec = node.decorator_list[0]
        if not (isinstance(dec, ast.Call) and getattr(dec.func, "id", "") == "invariant"):
            continue
        text = ast.get_source_segment(source, dec)
        assert node.end_lineno is not None and text is not None
        edits.append(
            (node.end_lineno, node.end_lineno, [f"\n\n{node.name} = {text}({node.name})\n"])
        )
        edits.append((dec.lineno - 1, node.lineno - 1, []))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = new
    return "".join(lines)


if __name__ == "__main__":
    path = pathlib.Path(sys.argv[1])
    path.write_text(undecorate(path.read_text()))
