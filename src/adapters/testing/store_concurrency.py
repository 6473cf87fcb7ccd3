"""The store contract's concurrency cases: transactions of several threads at once.

A store may serialize its transactions (one at a time: the memory store's lock,
SQLite's ``BEGIN IMMEDIATE``) or run them at once and refuse one of two that conflict
(``StoreConflict``: PostgreSQL's serializable isolation). Either way the outcome must
be one that running them one after the other could give. Each case lets its threads
meet where the store lets them (a barrier with a short timeout: a store that
serializes never lets the second thread in while the first holds its transaction),
retries a refused transaction as paycore's engine does, and checks the end state.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

import attrs
import pytest

from paycore import records as r
from paycore.errors import IntegrityError, StoreConflict
from paycore.ports import Store, Transaction
from paycore.schema import CURSORS, FLOWS, ORDERS, OUTBOX, STOCK
from paycore.status import FlowStatus

from .rows import order

T = TypeVar("T")

#: How long a thread waits for the others where they would meet: a store that runs one
#: transaction at a time keeps them apart, and the thread goes on alone.
MEET_S = 0.3
#: How long a claimer holding its rows waits for another claimer that began meanwhile to
#: return: it returns at once unless its claim waits for those rows (a failure).
CLAIM_S = 20.0
#: How many times a refused transaction runs again (paycore's engine does the same).
RETRIES = 50
JOIN_S = 60.0


def _retrying(store: Store, body: Callable[[Transaction], T]) -> T:
    for _ in range(RETRIES):
        try:
            with store.transaction() as tx:
                return body(tx)
        except StoreConflict:
            continue
    raise AssertionError(f"a transaction was refused {RETRIES} times")


def _meet(barrier: threading.Barrier) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):  # kept apart: go on alone
        barrier.wait(MEET_S)


def _run(*targets: Callable[[], None]) -> list[BaseException]:
    """Run each target in a thread; the exceptions they raised."""
    errors: list[BaseException] = []

    def guarded(fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # reported to the test, never lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_S)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    return errors


def _ids(rows: list[r.Flow]) -> list[str]:
    return [row.id for row in rows]


def _flow(i: int) -> r.Flow:
    return r.Flow(id=f"job:{i}", kind="job", step="run", created_at=1)


class StoreConcurrencyCases:
    """Mixed into :class:`paycore_adapters.testing.StoreContract`."""

    def test_a_write_skew_is_never_committed(self, store: Store) -> None:
        """Two units of one SKU at two sellers; the rule: at least one unit on hand in all.
        Two transactions each read both rows and, seeing two, take one away (each from its
        own row). Serially the second sees one and leaves it; a store that lets both
        commit broke serializability."""
        with store.transaction() as tx:
            for seller in ("a", "b"):
                tx.insert(STOCK, r.Stock(seller, "SKU", on_hand=1, version=1))
        barrier = threading.Barrier(2)

        def take(seller: str) -> Callable[[], None]:
            def body(tx: Transaction) -> None:
                rows = [tx.get(STOCK, r.Stock(s, "SKU").key) for s in ("a", "b")]
                total = sum(row.on_hand for row in rows if row is not None)
                _meet(barrier)
                if total >= 2:
                    mine = next(row for row in rows if row is not None and row.seller_id == seller)
                    tx.update(STOCK, attrs.evolve(mine, on_hand=0, version=mine.version + 1))

            return lambda: _retrying(store, body)

        assert _run(take("a"), take("b")) == []
        snap = store.snapshot()
        total = sum(row.on_hand for row in snap.rows(STOCK))
        assert total == 1, f"write skew committed: {total} units left"

    def test_a_unique_race_keeps_exactly_one_row(self, store: Store) -> None:
        """Four threads insert an order for one checkout session at once: one row stays,
        every other thread is refused by the constraint. They meet inside their
        transactions, each after its insert and before its commit, so where the store
        runs transactions at once they overlap for real (a constraint checked only
        against the transaction's own view lets all four commit)."""
        barrier = threading.Barrier(4)
        refused: list[BaseException] = []

        def insert(i: int) -> Callable[[], None]:
            def run() -> None:
                try:
                    with store.transaction() as tx:
                        tx.insert(ORDERS, order(f"o{i}", "cs_race"))
                        _meet(barrier)
                except (IntegrityError, StoreConflict) as exc:
                    refused.append(exc)

            return run

        assert _run(*(insert(i) for i in range(4))) == []
        rows = store.snapshot().rows(ORDERS)
        assert [o.checkout_session_id for o in rows] == ["cs_race"], (
            f"orders for cs_race: {[o.id for o in rows]}"
        )
        assert len(refused) == 3

    def test_an_update_and_an_insert_racing_for_one_unique_value_keep_one(
        self, store: Store
    ) -> None:
        """One transaction moves an order to a checkout session while another inserts an
        order for that session; they meet inside, after the write, before the commit.
        At most one order holds the session in the end, and one of them was refused."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o_old", "cs_before"))
        barrier = threading.Barrier(2)
        refused: list[BaseException] = []

        def move() -> None:
            try:
                with store.transaction() as tx:
                    row = tx.get(ORDERS, "o_old")
                    assert row is not None
                    tx.update(
                        ORDERS,
                        attrs.evolve(row, checkout_session_id="cs_race", version=row.version + 1),
                    )
                    _meet(barrier)
            except (IntegrityError, StoreConflict) as exc:
                refused.append(exc)

        def insert() -> None:
            try:
                with store.transaction() as tx:
                    tx.insert(ORDERS, order("o_new", "cs_race"))
                    _meet(barrier)
            except (IntegrityError, StoreConflict) as exc:
                refused.append(exc)

        assert _run(move, insert) == []
        holders = [
            o.id for o in store.snapshot().rows(ORDERS) if o.checkout_session_id == "cs_race"
        ]
        assert len(holders) == 1, f"orders for cs_race: {holders}"
        assert len(refused) == 1, refused

    def test_job_claims_under_concurrency_take_each_flow_once(self, store: Store) -> None:
        """Four workers claim active flows (read, then write with the version it read),
        as the recovery worker does: every flow is claimed by exactly one worker. They
        meet inside their transactions between the read and the write."""
        with store.transaction() as tx:
            for i in range(12):
                tx.insert(FLOWS, _flow(i))
        claims: dict[str, list[str]] = {}
        lock = threading.Lock()
        barrier = threading.Barrier(4)

        def worker(name: str) -> Callable[[], None]:
            def claim(tx: Transaction) -> str | None:
                found = tx.find(FLOWS, "status", FlowStatus.ACTIVE)
                _meet(barrier)  # every worker has read before any writes, where it can
                for flow in found:
                    if flow.lease_owner is None:
                        tx.update(
                            FLOWS, attrs.evolve(flow, lease_owner=name, version=flow.version + 1)
                        )
                        return flow.id
                return None

            def run() -> None:
                while True:
                    try:
                        got = _retrying(store, claim)
                    except IntegrityError:
                        continue  # another worker's claim came first: read again
                    if got is None:
                        return
                    with lock:
                        claims.setdefault(got, []).append(name)

            return run

        assert _run(*(worker(f"w{k}") for k in range(4))) == []
        assert sorted(claims) == sorted(f"job:{i}" for i in range(12))
        assert all(len(owners) == 1 for owners in claims.values()), claims
        owners = {f.id: f.lease_owner for f in store.snapshot().rows(FLOWS)}
        assert owners == {fid: names[0] for fid, names in claims.items()}

    def test_a_claim_takes_what_it_is_asked_for(self, store: Store) -> None:
        """A claim returns rows of the value only, due by the moment given, in insertion
        order (or in key order past ``after``), at most ``limit``; the key may be
        claimed by; a bad claim is a ValueError."""
        with store.transaction() as tx:
            for i, key in enumerate(["f5", "f1", "f4", "f2", "f3"]):
                tx.insert(FLOWS, attrs.evolve(_flow(0), id=key, next_run_at=10 * i))
            tx.insert(FLOWS, attrs.evolve(_flow(0), id="f0", status=FlowStatus.DEAD))
            tx.insert(CURSORS, r.Cursor("batch:x", "f2"))
        with store.transaction() as tx:
            active = FlowStatus.ACTIVE
            assert _ids(tx.claim(FLOWS, "status", active, 10)) == ["f5", "f1", "f4", "f2", "f3"]
            assert _ids(tx.claim(FLOWS, "status", active, 2)) == ["f5", "f1"]
            assert _ids(tx.claim(FLOWS, "status", active, 9, due=("next_run_at", 20))) == [
                "f5",
                "f1",
                "f4",
            ]
            assert _ids(tx.claim(FLOWS, "status", active, 2, after="f2")) == ["f3", "f4"]
            assert _ids(tx.claim(FLOWS, "status", active, 9, after="")) == [
                "f1",
                "f2",
                "f3",
                "f4",
                "f5",
            ]
            assert _ids(tx.claim(FLOWS, "status", FlowStatus.DEAD, 9)) == ["f0"]
            assert tx.claim(CURSORS, "name", "batch:x", 1) == [r.Cursor("batch:x", "f2")]
            assert tx.claim(CURSORS, "name", "batch:y", 1) == []
            with pytest.raises(ValueError):
                tx.claim(FLOWS, "status", active, 0)
            with pytest.raises(ValueError):
                tx.claim(FLOWS, "kind", "job", 1)
            with pytest.raises(ValueError):
                tx.claim(FLOWS, "status", active, 1, due=("no_such_field", 1))

    def test_concurrent_claims_take_disjoint_rows_without_waiting(self, store: Store) -> None:
        """Two job runs claim three of six unsent messages each and mark them sent. The
        second begins while the first holds its rows: where the store lets it in (it
        runs transactions at once), its claim skips the held rows and returns at once;
        where it does not (one writer at a time), it begins once the first committed and
        sees what that one left. Either way they take disjoint rows."""
        with store.transaction() as tx:
            for i in range(6):
                tx.insert(OUTBOX, r.OutboxMessage(f"m{i}", f"o{i}", "paid", created_at=i))
        claimed, began, returned = threading.Event(), threading.Event(), threading.Event()
        taken: dict[str, list[str]] = {}
        waited: list[bool] = []
        clashes: list[str] = []

        def claim(tx: Transaction, name: str) -> list[r.OutboxMessage]:
            rows = tx.claim(OUTBOX, "sent", False, 3)
            taken[name] = [m.id for m in rows]
            return rows

        def mark(tx: Transaction, rows: list[r.OutboxMessage]) -> None:
            for m in rows:
                tx.update(OUTBOX, attrs.evolve(m, sent=True, version=m.version + 1))

        def first(tx: Transaction) -> None:
            rows = claim(tx, "first")
            claimed.set()
            if not waited and began.wait(MEET_S):  # the store let the second one in
                waited.append(not returned.wait(CLAIM_S))
            mark(tx, rows)

        def second(tx: Transaction) -> None:
            began.set()
            rows = claim(tx, "second")
            if not returned.is_set():  # what it took that the first held (or had taken)
                clashes.extend(set(taken["second"]) & set(taken["first"]))
            returned.set()
            mark(tx, rows)

        def second_run() -> None:
            assert claimed.wait(JOIN_S), "the first claimer never claimed"
            _retrying(store, second)

        assert _run(lambda: _retrying(store, first), second_run) == []
        assert waited in ([], [False]), "the second claim waited for the rows the first held"
        assert clashes == [], f"both claimers took {sorted(clashes)}"
        assert len(taken["first"]) == len(taken["second"]) == 3, taken
        assert set(taken["first"]).isdisjoint(taken["second"]), taken
        assert all(m.sent for m in store.snapshot().rows(OUTBOX))
