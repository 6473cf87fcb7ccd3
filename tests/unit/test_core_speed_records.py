"""The generated ``__init__`` of paycore's records (``records.quick_init``) builds what the
attrs ``__init__`` builds: same parameters, defaults, factories and converters."""

from __future__ import annotations

import inspect
from typing import Any

import attrs
import pytest

from paycore import records
from paycore.flows import defs, params
from paycore.records import quick_init


def quick(cls: type) -> bool:
    """Does ``cls`` have the generated ``__init__``?"""
    return "SET_0" in getattr(cls.__init__, "__globals__", {})


CLASSES = sorted(
    {
        v
        for module in (records, defs, params)
        for v in vars(module).values()
        if isinstance(v, type) and attrs.has(v) and v.__module__ == module.__name__ and quick(v)
    },
    key=lambda c: c.__qualname__,
)


def attrs_twin(cls: type) -> type:
    """The same fields in a class whose ``__init__`` is the one attrs generates."""
    fields = {
        f.name: attrs.field(default=f.default, converter=f.converter, kw_only=f.kw_only)
        for f in attrs.fields(cls)
    }
    return attrs.make_class(f"{cls.__name__}Twin", fields, frozen=True, slots=True)


def sample(f: Any, i: int) -> Any:
    return {"k": i} if f.converter is not None else f"v{i}"


def values(obj: object) -> list[Any]:
    return [getattr(obj, f.name) for f in attrs.fields(type(obj))]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_quick_init_builds_what_attrs_builds(cls: type) -> None:
    twin = attrs_twin(cls)
    fields = attrs.fields(cls)
    assert inspect.signature(cls).parameters.keys() == inspect.signature(twin).parameters.keys()
    required = [f for f in fields if f.default is attrs.NOTHING]
    pos = [sample(f, i) for i, f in enumerate(required) if not f.kw_only]
    kw = {f.name: sample(f, i) for i, f in enumerate(required) if f.kw_only}
    assert values(cls(*pos, **kw)) == values(twin(*pos, **kw))  # every default
    every = {f.name: sample(f, i) for i, f in enumerate(fields)}
    assert values(cls(**every)) == values(twin(**every))  # every value given
    made = [f.name for f in fields if isinstance(f.default, attrs.Factory)]  # type: ignore[arg-type]
    a, b = cls(*pos, **kw), cls(*pos, **kw)
    assert all(getattr(a, n) is not getattr(b, n) for n in made), "a factory's value is shared"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.__setattr__(fields[0].name, "changed")


def test_quick_init_leaves_a_class_it_cannot_copy_alone() -> None:
    @attrs.frozen
    class Checked:
        n: int = attrs.field(validator=attrs.validators.instance_of(int))

    init = Checked.__init__
    assert quick_init(Checked).__init__ is init
    with pytest.raises(TypeError):
        Checked("1")  # type: ignore[arg-type]


def test_the_hot_records_take_the_quick_init() -> None:
    hot = (records.Flow, records.Payment, defs.StepReport, defs.Advance, params.CheckoutParams)
    assert all(quick(cls) for cls in hot)
    assert not quick(defs.FlowDef)  # it checks itself after __init__: attrs's own stays
