"""The invariant registry: a check yields (subject, detail), the registry stamps the id."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from paycore import invariants
from paycore.invariants import registry
from paycore.invariants.registry import Breach, Ledger, Violation, invariant
from paycore.ports import Snapshot

PACKAGE = Path(invariants.__file__).parent
SUBJECTS = ("stock", "orders_payments", "money_destination", "refunds", "audit", "convergence")


class TestInvariantDecorator:
    def test_registers_the_invariant_with_its_id_kind_and_findings(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The decorator appends one Invariant carrying its id, statement, kind and findings."""
        monkeypatch.setattr(registry, "INVARIANTS", [])

        @invariant("never-holds", "Nothing holds.", "convergence", "S1 T2")
        def never_holds(_snap: Snapshot, _ledger: Ledger) -> Iterator[Breach]:
            yield "x", "first"

        (inv,) = registry.INVARIANTS
        assert (inv.id, inv.statement, inv.kind, inv.findings) == (
            "never-holds",
            "Nothing holds.",
            "convergence",
            ("S1", "T2"),
        )
        assert inv.check is never_holds

    def test_stamps_the_id_on_every_breach_in_order(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each (subject, detail) a check yields becomes a Violation with the check's id."""
        monkeypatch.setattr(registry, "INVARIANTS", [])

        @invariant("two-breaches", "Holds twice over.", "safety")
        def two_breaches(_snap: Snapshot, _ledger: Ledger) -> Iterator[Breach]:
            yield "b", "second subject first"
            yield "a", "then the first"

        assert two_breaches(Snapshot({}), Ledger()) == [
            Violation("two-breaches", "b", "second subject first"),
            Violation("two-breaches", "a", "then the first"),
        ]
        assert registry.check(Snapshot({}), Ledger()) == two_breaches(Snapshot({}), Ledger())
        assert registry.check(Snapshot({}), Ledger(), ("convergence",)) == []

    def test_a_check_that_yields_nothing_holds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No breach, no violation."""
        monkeypatch.setattr(registry, "INVARIANTS", [])

        @invariant("always-holds", "Always holds.", "safety")
        def always_holds(_snap: Snapshot, _ledger: Ledger) -> Iterator[Breach]:
            yield from ()

        assert always_holds(Snapshot({}), Ledger()) == []


class TestCatalog:
    def test_every_check_is_published_under_paycore_invariants(self) -> None:
        """The docs name each check paycore.invariants.<name>; that name is the check."""
        for inv in invariants.INVARIANTS:
            assert inv.check.__module__ == "paycore.invariants"
            assert getattr(invariants, inv.check.__name__) is inv.check
            assert inv.check.__name__ in invariants.__all__

    def test_every_check_is_a_generator_in_a_subject_module(self) -> None:
        """Behind each registered check is a generator of breaches, in one of the subjects."""
        for inv in invariants.INVARIANTS:
            finds = inspect.unwrap(inv.check)
            assert inspect.isgeneratorfunction(finds), inv.id
            assert finds.__module__ in {f"paycore.invariants.{m}" for m in SUBJECTS}, inv.id

    def test_catalog_is_in_subject_order(self) -> None:
        """The catalog (and so check()'s output and the docs) runs subject by subject."""
        modules = [
            inspect.unwrap(i.check).__module__.rsplit(".", 1)[1] for i in invariants.INVARIANTS
        ]
        firsts = sorted(set(modules), key=modules.index)
        assert firsts == list(SUBJECTS)
        assert modules == sorted(modules, key=SUBJECTS.index)

    @pytest.mark.parametrize("subject", SUBJECTS)
    def test_no_check_spells_its_id_or_builds_a_violation(self, subject: str) -> None:
        """Ids appear only in the decorators: no check builds a Violation by hand."""
        source = (PACKAGE / f"{subject}.py").read_text()
        tree = ast.parse(source)
        assert "Violation" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        ids = {i.id for i in invariants.INVARIANTS}
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            body = [s for s in ast.walk(ast.Module(fn.body, [])) if isinstance(s, ast.Constant)]
            assert not ids & {c.value for c in body if isinstance(c.value, str)}, fn.name
