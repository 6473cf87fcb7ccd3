"""The jobs that pick a batch from a window of rows read about their batch, not the window.

A counting store wrapper (as in benchmarks/core_throughput.py) counts the rows each
read of the store returns, by table. With ten times ``job_batch`` rows waiting, one
start of the external-refund scan, of the refund sync and one revival pass of the
reconciler read at most about twice their batch; over successive runs each still
reaches every row of its window (nothing is passed over for good).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import attrs

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.flows import reconcile
from paycore.flows.checkout import CartItem
from paycore.flows.retry import DEAD_OF
from paycore.money import Money
from paycore.records import Flow
from paycore.status import FlowStatus, RefundStatus
from paycore_adapters.memory import Wiring, in_memory
from paycore_adapters.memory_store import MemoryStore

BATCH = 4
WAITING = 10 * BATCH


class _CountingTx:
    """A Transaction that counts the rows its reads return, by table."""

    def __init__(self, tx: Any, rows: Counter[str]) -> None:
        self._tx, self._rows = tx, rows

    def _count(self, table: s.Table[Any], rows: list[Any]) -> list[Any]:
        self._rows[table.name] += len(rows)
        return rows

    def find(self, table: s.Table[Any], *args: Any) -> list[Any]:
        return self._count(table, self._tx.find(table, *args))

    def find_since(self, table: s.Table[Any], *args: Any, **kw: Any) -> list[Any]:
        return self._count(table, self._tx.find_since(table, *args, **kw))

    def claim(self, table: s.Table[Any], *args: Any, **kw: Any) -> list[Any]:
        return self._count(table, self._tx.claim(table, *args, **kw))

    def scan(self, table: s.Table[Any]) -> Iterator[Any]:
        return iter(self._count(table, list(self._tx.scan(table))))

    def __getattr__(self, name: str) -> Any:  # get and the writes: not counted
        return getattr(self._tx, name)


class _CountingStore:
    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.rows: Counter[str] = Counter()

    @contextmanager
    def transaction(self) -> Iterator[_CountingTx]:
        with self.inner.transaction() as tx:
            yield _CountingTx(tx, self.rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _shop(paid: int, refunded: int) -> tuple[Wiring, _CountingStore]:
    """``paid`` succeeded payments, the first ``refunded`` of them partly refunded."""
    store = _CountingStore()
    w = in_memory(Config(job_batch=BATCH), store=store)  # type: ignore[arg-type]
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", paid)
    for i in range(paid):
        made = w.service.create_payment_intent(f"cs_{i:016x}", [CartItem("p_mug", 1)])
        w.service.confirm_payment(made.payment_id, "pm_card_visa")
        if i < refunded:
            w.service.create_refund(made.payment_id, 100, idempotency_key=f"rma-{i}")
    return w, store


def _keys(w: Wiring, flow_id: str | None) -> list[str]:
    assert flow_id is not None
    flow = w.store.snapshot().get(s.FLOWS, flow_id)
    assert flow is not None
    return list(flow.params["keys"])


class TestExternalRefundScan:
    def test_a_start_reads_about_its_batch(self) -> None:
        """With ten batches of succeeded payments in the window, one start reads at most
        twice its batch of payment rows."""
        w, store = _shop(WAITING, 0)
        store.rows.clear()
        keys = _keys(w, jobs.start_external_refunds(w.service.engine))
        assert len(keys) == BATCH
        assert store.rows[s.PAYMENTS.name] <= 2 * BATCH

    def test_runs_reach_every_payment_of_the_window(self) -> None:
        """Run after run the batches go on from the last and wrap around: every payment
        is asked about within ceil(n / job_batch) runs, again in the next such round."""
        w, _ = _shop(3 * BATCH - 1, 0)
        seen: list[list[str]] = []
        for _ in range(6):
            fid = jobs.start_external_refunds(w.service.engine)
            seen.append(_keys(w, fid))
            jobs.find_external_refunds(w.service.engine)  # finishes the run
        everyone = {p.id for p in w.store.snapshot().rows(s.PAYMENTS)}
        assert set().union(*seen[:3]) == everyone
        assert set().union(*seen[3:]) == everyone
        assert all(len(keys) == BATCH for keys in seen)


class TestRefundSync:
    def test_a_start_reads_about_its_batch(self) -> None:
        """With ten batches of refunds that succeeded in the window, one start reads at
        most twice its batch of refund rows."""
        w, store = _shop(WAITING, WAITING)
        store.rows.clear()
        keys = _keys(w, jobs.start_refund_sync(w.service.engine))
        assert len(keys) == BATCH
        assert store.rows[s.REFUNDS.name] <= 2 * BATCH

    def test_runs_reach_every_refund_pending_or_recent(self) -> None:
        """Pending refunds and recent succeeded ones share one cursor: within
        ceil(n / job_batch) runs every one of them is asked about."""
        w, _ = _shop(2 * BATCH + 1, 2 * BATCH + 1)
        with w.store.transaction() as tx:  # two of them still pending at the bank
            for refund in tx.find(s.REFUNDS, "payment_id", "pay_000002") + tx.find(
                s.REFUNDS, "payment_id", "pay_000005"
            ):
                tx.update(
                    s.REFUNDS,
                    attrs.evolve(refund, status=RefundStatus.PENDING, version=refund.version + 1),
                )
        seen: set[str] = set()
        for _ in range(3):
            seen |= set(_keys(w, jobs.start_refund_sync(w.service.engine)))
            jobs.sync_pending_refunds(w.service.engine)
        assert seen == {r.id for r in w.store.snapshot().rows(s.REFUNDS)}


def _dead(fid: str, kind: str, of: str) -> Flow:
    return Flow(
        id=fid, kind=kind, step="look", created_at=0, status=FlowStatus.DEAD, data={DEAD_OF: of}
    )


class TestReviveOrphans:
    LEASE: ClassVar[dict[str, Any]] = {"owner": "worker-1", "lease_until": 0}

    def _world(self, orphans: list[Flow]) -> tuple[Wiring, _CountingStore]:
        """Ten batches of dead job flows (never pruned) beside ``orphans``."""
        store = _CountingStore()
        w = in_memory(Config(job_batch=BATCH), store=store)  # type: ignore[arg-type]
        with store.inner.transaction() as tx:
            for n in range(WAITING):
                tx.insert(s.FLOWS, _dead(f"job:payment_sync:{n}", "payment_sync", "outage"))
            for flow in orphans:
                tx.insert(s.FLOWS, flow)
        return w, store

    def _revive(self, w: Wiring) -> list[str]:
        return w.service.engine.transact(
            lambda u: reconcile._revive_dead(u, limit=BATCH, lease=self.LEASE)
        )

    def test_a_pass_reads_dead_orphan_flows_only(self) -> None:
        """Beside ten batches of dead job flows, a pass reads at most twice its batch of
        flows, and revives the orphan flow the provider's absence killed."""
        w, store = self._world([_dead("orphan:pi_1", "orphan", "outage")])
        store.rows.clear()
        assert self._revive(w) == ["orphan:pi_1"]
        assert store.rows[s.FLOWS.name] <= 2 * BATCH

    def test_orphans_dead_for_good_never_hide_one_to_revive(self) -> None:
        """More orphan flows dead of a definite failure than a batch, before one killed
        by an outage in key order: successive passes still reach and revive it."""
        dead = [_dead(f"orphan:pi_{n:02d}", "orphan", "definite") for n in range(3 * BATCH)]
        w, _ = self._world([*dead, _dead("orphan:pi_99", "orphan", "outage")])
        revived: list[str] = []
        for _ in range(4):
            revived += self._revive(w)
        assert revived == ["orphan:pi_99"]
