"""A transaction through FaultyStore is the wrapped store's own while no commit of its
plan can fail, and faults still fire the moment one is armed."""

from __future__ import annotations

import pytest

from paycore.errors import CommitUnknown, OperationalError
from paycore.schema import ORDERS
from paycore_adapters.harness.faults import FaultKind, FaultPlan
from paycore_adapters.harness.faulty import FaultyStore
from paycore_adapters.memory_store import MemoryStore, MemoryTransaction
from paycore_adapters.testing.store_contract import order


def test_quiet_plan_gives_the_stores_own_transaction_and_an_armed_one_fires() -> None:
    plan = FaultPlan()
    inner = MemoryStore()
    store = FaultyStore(inner, plan)
    assert plan.quiet_commits()
    with store.transaction() as tx:
        assert isinstance(tx, MemoryTransaction)  # no bookkeeping of writes
        tx.insert(ORDERS, order("o1"))
    plan.arm(FaultKind.COMMIT_FAILS)
    assert not plan.quiet_commits()
    with pytest.raises(OperationalError), store.transaction() as tx:
        tx.insert(ORDERS, order("o2"))
    assert plan.quiet_commits() and inner.snapshot().get(ORDERS, "o2") is None
    plan.arm(FaultKind.COMMIT_UNKNOWN)
    with pytest.raises(CommitUnknown), store.transaction() as tx:
        tx.insert(ORDERS, order("o3"))
    assert plan.quiet_commits() and inner.snapshot().get(ORDERS, "o3") == order("o3")


def test_a_plan_with_faults_off_is_quiet_and_armed_faults_wait() -> None:
    """Faults off: nothing fires and the transaction is the store's own; the armed
    fault fires once faults are on again."""
    plan = FaultPlan()
    store = FaultyStore(MemoryStore(), plan)
    plan.arm(FaultKind.COMMIT_FAILS)
    plan.enabled = False
    assert plan.quiet_commits()
    with store.transaction() as tx:
        tx.insert(ORDERS, order("o1"))
    plan.enabled = True
    with pytest.raises(OperationalError), store.transaction() as tx:
        tx.insert(ORDERS, order("o2"))


def test_a_fault_armed_inside_a_quiet_transaction_waits_for_the_next_one() -> None:
    """The plan is read when a transaction opens: a commit fault armed while a quiet
    transaction is open does not fail that commit (it is the store's own) and fires, once,
    on the next transaction."""
    plan = FaultPlan()
    inner = MemoryStore()
    store = FaultyStore(inner, plan)
    with store.transaction() as tx:
        plan.arm(FaultKind.COMMIT_FAILS)
        tx.insert(ORDERS, order("o1"))
    assert inner.snapshot().get(ORDERS, "o1") == order("o1")
    assert not plan.quiet_commits()
    with pytest.raises(OperationalError), store.transaction() as tx:
        tx.insert(ORDERS, order("o2"))
    assert plan.quiet_commits() and inner.snapshot().get(ORDERS, "o2") is None
