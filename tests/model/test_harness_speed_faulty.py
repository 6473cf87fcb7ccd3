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
