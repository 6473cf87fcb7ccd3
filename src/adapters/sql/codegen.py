"""A table's row codec, generated once per record class (as attrs generates its own
methods): one expression per column, so turning a record into a row and back neither
loops over fields nor builds keyword dicts on every call; and the difference of two
versions of a record, so an update writes only the columns that changed (a column left
out of an ``UPDATE`` is an index entry the database need not rewrite).

A record is rebuilt through its slots' setters, past its ``__init__``: what was
stored was a valid record, and its converters already ran when it was made (a
mapping field is stored and read back as a plain dict, which is what its converter
makes of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from paycore.unit import slot_setter

#: What :func:`codec`'s ``diff`` answers for two versions of a record: the indexes of the
#: fields (then of the derived columns, after the fields) whose values differ, and the
#: new version's column values for them, in that order.
Diff = tuple[tuple[int, ...], list[Any]]


def codec(
    cls: type, fields: Sequence[Any], derived: Sequence[str]
) -> tuple[Callable[[Any], tuple[Any, ...]], Callable[[Any], Any], Callable[[Any, Any], Diff]]:
    """(record -> row, row -> record, (old, new) -> :data:`Diff`) for ``cls`` with these
    fields (``columns._Field``) and derived columns (properties written, never read
    back)."""
    scope: dict[str, Any] = {"NEW": object.__new__, "CLS": cls, "SAME": same_json}
    out: list[str] = []
    sets: list[str] = []
    diffs: list[str] = []
    i = 0
    for k, f in enumerate(fields):
        scope[f"W{k}"], scope[f"R{k}"] = f.write, f.read
        scope[f"S{k}"] = slot_setter(cls, f.name)
        if f.shape == "money":
            value = f"r.{f.name}"
            out.append(f"*W{k}({value})" if f.nullable else f"{value}.amount, {value}.currency")
            sets.append(f"    S{k}(new, R{k}(row[{i}], row[{i + 1}]))")
            diffs += _differs(f.name, k, f"vals.extend(W{k}(n.{f.name}))")
            i += 2
            continue
        out.append(_column(f, k, "r"))
        read = f"row[{i}]" if f.shape == "plain" else f"R{k}(row[{i}])"
        sets.append(f"    S{k}(new, {read})")
        take = f"vals.append({_column(f, k, 'n')})"
        diffs += _differs(f.name, k, take, json=f.shape == "json")
        i += 1
    out.extend(f"r.{d}" for d in derived)
    for j, d in enumerate(derived, start=len(fields)):
        diffs += _differs(d, j, f"vals.append(n.{d})")
    source = "\n".join(
        [
            "def row(r):",
            f"    return ({', '.join(out)},)",
            "def record(row):",
            "    new = NEW(CLS)",
            *sets,
            "    return new",
            "def diff(o, n):",
            "    at = []",
            "    vals = []",
            *diffs,
            "    return tuple(at), vals",
        ]
    )
    exec(source, scope)  # the source is built from the record's field names only
    return scope["row"], scope["record"], scope["diff"]


def _column(f: Any, k: int, record: str) -> str:
    """The expression of a one-column field's value in the record named ``record``."""
    value = f"{record}.{f.name}"
    if f.shape == "plain" or (f.shape == "bool" and not f.nullable):
        return value
    if f.shape == "enum" and not f.nullable:
        return f"{value}._value_"
    return f"W{k}({value})[0]"


def same_json(old: Any, new: Any) -> bool:
    """Whether a JSON column's new value is stored as its old one is: the same object, or
    a container of the same type and length holding the very same objects (a record's
    converter copies a mapping on every change; its values are the old ones). Values
    Python calls equal are not enough: ``1`` and ``True``, a tuple and a list, are
    stored apart."""
    if old is new:
        return True
    if type(old) is not type(new) or not isinstance(old, dict | tuple | list):
        return False
    if len(old) != len(new):
        return False
    if isinstance(old, dict):
        return all(key in new and new[key] is value for key, value in old.items())
    return all(a is b for a, b in zip(old, new, strict=True))


def _differs(name: str, k: int, take: str, json: bool = False) -> list[str]:
    """``diff``'s lines for one field or derived column: the same object, or an equal
    value, is no change (a JSON column's: :func:`same_json`)."""
    old, new = f"o.{name}", f"n.{name}"
    test = f"not SAME({old}, {new})" if json else f"{old} is not {new} and {old} != {new}"
    return [
        f"    if {test}:",
        f"        at.append({k})",
        f"        {take}",
    ]
