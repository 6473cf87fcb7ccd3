"""A table's row codec, generated once per record class (as attrs generates its own
methods): one expression per column, so turning a record into a row and back neither
loops over fields nor builds keyword dicts on every call.

A record is rebuilt through its slots' setters, past its ``__init__``: what was
stored was a valid record, and its converters already ran when it was made (a
mapping field is stored and read back as a plain dict, which is what its converter
makes of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from paycore.unit import slot_setter


def codec(
    cls: type, fields: Sequence[Any], derived: Sequence[str]
) -> tuple[Callable[[Any], tuple[Any, ...]], Callable[[Any], Any]]:
    """(record -> row, row -> record) for ``cls`` with these fields (``columns._Field``)
    and derived columns (properties written, never read back)."""
    scope: dict[str, Any] = {"NEW": object.__new__, "CLS": cls}
    out: list[str] = []
    sets: list[str] = []
    i = 0
    for k, f in enumerate(fields):
        scope[f"W{k}"], scope[f"R{k}"] = f.write, f.read
        scope[f"S{k}"] = slot_setter(cls, f.name)
        value = f"r.{f.name}"
        if f.shape == "money":
            out.append(f"*W{k}({value})" if f.nullable else f"{value}.amount, {value}.currency")
            sets.append(f"    S{k}(new, R{k}(row[{i}], row[{i + 1}]))")
            i += 2
            continue
        if f.shape == "plain" or (f.shape == "bool" and not f.nullable):
            out.append(value)
        elif f.shape == "enum" and not f.nullable:
            out.append(f"{value}._value_")
        else:
            out.append(f"W{k}({value})[0]")
        read = f"row[{i}]" if f.shape == "plain" else f"R{k}(row[{i}])"
        sets.append(f"    S{k}(new, {read})")
        i += 1
    out.extend(f"r.{d}" for d in derived)
    source = "\n".join(
        [
            "def row(r):",
            f"    return ({', '.join(out)},)",
            "def record(row):",
            "    new = NEW(CLS)",
            *sets,
            "    return new",
        ]
    )
    exec(source, scope)  # the source is built from the record's field names only
    return scope["row"], scope["record"]
