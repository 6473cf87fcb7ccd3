"""Every code pointer in docs/seed-findings.md names something that exists where it says.

The table is how a reviewer goes from a finding to its fix: a pointer to a function that
moved, or to a module that only re-exports it, sends them to the wrong file. Pointers
take four shapes, each resolved here:

* ``path.py::name`` (``flows/refunds.py::begin_refund``): the file exists under ``src/``
  or ``tests/`` and *defines* ``name`` (a ``def``, ``class`` or assignment in that
  file, not an import);
* ``module.name`` (``sync.apply_refund``): the module of paycore (or of its adapters)
  defines ``name`` itself;
* ``Class.attr`` (``Unit.move``): a class of paycore or its adapters has the attribute
  (a method, a field, a machine's trigger);
* ``path.py``: the file exists.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

import paycore
import paycore_adapters

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "seed-findings.md"
#: Where a bare file name or a module's short name is looked for, in this order.
PLACES = (
    "src/paycore/flows",
    "src/paycore/invariants",
    "src/paycore",
    "src/adapters/harness/bugs",
    "src/adapters/harness",
    "src/adapters/testing",
    "src/adapters",
    "src",
    "tests/chaos",
    "tests/seed",
    "tests/unit",
    "",
)
PACKAGES = {
    "src/paycore": "paycore",
    "src/adapters": "paycore_adapters",
}


def pointers() -> list[str]:
    return sorted(set(re.findall(r"`([^`\s]+)`", DOC.read_text())))


def _file(name: str) -> Path | None:
    for place in PLACES:
        path = ROOT / place / name if place else ROOT / name
        if path.is_file():
            return path
    return None


def _defines(path: Path, name: str) -> bool:
    pattern = rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*[:=]"
    return re.search(pattern, path.read_text(), re.MULTILINE) is not None


def _module_of(path: Path) -> ModuleType | None:
    rel = path.relative_to(ROOT).with_suffix("")
    for prefix, package in PACKAGES.items():
        if str(rel).startswith(prefix + "/"):
            dotted = package + str(rel)[len(prefix) :].replace("/", ".")
            return importlib.import_module(dotted.removesuffix(".__init__"))
    return None


@cache
def classes() -> dict[str, list[type]]:
    """Every class defined in paycore and its adapters (harness included), by name."""
    found: dict[str, list[type]] = {}
    for package in (paycore, paycore_adapters):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                module = importlib.import_module(info.name)
            except ImportError:  # an optional extra (the Stripe SDK, psycopg) is missing
                continue
            for name, obj in vars(module).items():
                if inspect.isclass(obj) and obj.__module__ == module.__name__:
                    found.setdefault(name, []).append(obj)
    return found


def _has(owner: object, attr: str) -> bool:
    if hasattr(owner, attr):
        return True
    fields = getattr(owner, "__attrs_attrs__", None) or getattr(owner, "__dataclass_fields__", {})
    names = {f.name for f in fields} if isinstance(fields, tuple) else set(fields)
    triggers = getattr(owner, "triggers", None)
    if attr in names or (triggers is not None and attr in triggers):
        return True
    # an attribute its constructor sets (``self.search_lag_ms = ...``), in any base class
    assigned = re.compile(rf"self\.{re.escape(attr)}\b[^=\n]*=[^=]")
    return inspect.isclass(owner) and any(
        assigned.search(inspect.getsource(k)) for k in owner.__mro__ if _ours(k)
    )


def _ours(klass: type) -> bool:
    return klass.__module__.split(".")[0] in {"paycore", "paycore_adapters"}


def resolve(pointer: str) -> str | None:
    """Why ``pointer`` does not resolve, or None when it does (or is not a code pointer)."""
    pointer = pointer.rstrip(",.")
    if "::" in pointer:
        where, name = pointer.split("::", 1)
        path = _file(where)
        if path is None:
            return f"no file {where}"
        if path.parts[-2:] and "tests" in path.relative_to(ROOT).parts[:1]:
            return None if _defines(path, name.split("::")[0]) else f"{where} has no {name}"
        return None if _defines(path, name) else f"{where} does not define {name}"
    if pointer.endswith(".py") and "*" not in pointer:
        return None if _file(pointer) is not None else f"no file {pointer}"
    m = re.fullmatch(r"([A-Za-z_]\w*)\.([A-Za-z_]\w*)", pointer)
    if m is None:
        return None
    head, attr = m.groups()
    if head[0].isupper():
        owners: list[object] = list(classes().get(head, []))
        if not owners:  # a module-level object such as a state machine (``ORDER``)
            owners = [
                vars(mod)[head]
                for mod in _modules()
                if head in vars(mod) and not inspect.ismodule(vars(mod)[head])
            ]
        if not owners:
            return f"no class or object {head}"
        return None if any(_has(o, attr) for o in owners) else f"{head} has no {attr}"
    path = _file(f"{head}.py")
    if path is None:
        return None  # not a module of ours: a field (``orders.checkout_session_id``), a name
    return None if _defines(path, attr) else f"{path.relative_to(ROOT)} does not define {attr}"


def _modules() -> list[ModuleType]:
    return [m for m in (_module_of(p) for p in _all_sources()) if m is not None]


@cache
def _all_sources() -> tuple[Path, ...]:
    sources = (ROOT / "src").rglob("*.py")
    return tuple(p for p in sources if "emulator" not in p.parts and p.name != "conftest.py")


@pytest.mark.parametrize("pointer", pointers())
def test_a_pointer_names_what_exists_where_it_says(pointer: str) -> None:
    assert resolve(pointer) is None, f"docs/seed-findings.md: `{pointer}`: {resolve(pointer)}"


class TestTheResolver:
    """The resolver is not a check that cannot fail: wrong pointers are refused."""

    @pytest.mark.parametrize(
        "wrong",
        [
            "sync.apply_refund",  # defined in refunds.py, not sync.py
            "checkout._snapshot_lines",  # defined in checkout_begin.py
            "flows/refunds.py::_resolve",
            "flows/checkout.py::begin",  # only imported there
            "Unit.no_such_method",
            "NoSuchClass.move",
            "flows/no_such_module.py",
            "ORDER.no_such_trigger",
        ],
    )
    def test_refuses(self, wrong: str) -> None:
        assert resolve(wrong) is not None

    @pytest.mark.parametrize(
        "right",
        [
            "refunds.apply_refund",
            "flows/checkout_begin.py::begin",
            "Unit.move",
            "Payment.lock_owner",
            "ORDER.cancel",
            "Config.create_landing_ms",
            "machines.PAYMENT",
        ],
    )
    def test_accepts(self, right: str) -> None:
        assert resolve(right) is None
