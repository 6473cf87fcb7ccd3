"""The store contract's cases of rows of every kind: each column type round-trips, a
value is found from a moment on (``find_since``; past a key, up to a limit), and log rows
(``Table.append_only``) are read back and kept. Mixed into
:class:`paycore_adapters.testing.StoreContract`."""

from __future__ import annotations

import attrs
import pytest

from paycore import records as r
from paycore.errors import DataError, IntegrityError
from paycore.money import Money
from paycore.ports import Store
from paycore.schema import AUDIT, FLOWS, ORDERS, PAYMENTS, STOCK, STOCK_MOVEMENTS
from paycore.status import FlowStatus, OrderStatus, PaymentStatus

from .rows import order, payment


class StoreRowCases:
    """Mixed into :class:`paycore_adapters.testing.StoreContract`."""

    @staticmethod
    def state(store: Store) -> object:
        """What a case compares a store by: its fingerprint if it offers one, else a
        snapshot (the contract's other cases use it too)."""
        fingerprint = getattr(store, "fingerprint", None)
        return fingerprint() if fingerprint is not None else store.snapshot()

    def test_rows_round_trip_every_kind_of_column(self, store: Store) -> None:
        """Money, enums, booleans, nullable fields, nested mappings and tuples of records,
        and a key or index that is a property of the record (a stock row's key, a
        movement's stock key) come back equal to what was written."""
        line = r.OrderLine("p1", "SKU", "s1", "Mug", Money(1250, "EUR"), 2)
        o = attrs.evolve(order("o1"), lines=(line,), status=OrderStatus.PAID)
        flow = r.Flow(
            id="f1",
            kind="checkout",
            step="begin",
            created_at=5,
            params={"items": (("p1", 2),), "$odd": [1, {"k": None}], "n": 3},
            data={"nested": {"a": True}},
            result=None,
            status=FlowStatus.FAILED,
        )
        stock = r.Stock("seller/one", "SKU 1", on_hand=4, held=1)
        with store.transaction() as tx:
            tx.insert(ORDERS, o)
            tx.insert(FLOWS, flow)
            tx.insert(STOCK, stock)
            tx.insert(STOCK_MOVEMENTS, r.StockMovement(1, "seller/one", "SKU 1", 4, "restock", 9))
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o1") == o
            assert tx.get(FLOWS, "f1") == flow
            assert tx.get(STOCK, stock.key) == stock
            assert [m.delta for m in tx.find(STOCK_MOVEMENTS, "stock_key", stock.key)] == [4]
            assert tx.find(FLOWS, "status", FlowStatus.FAILED) == [flow]

    def test_find_since_takes_one_value_from_a_moment_on(self, store: Store) -> None:
        """``find_since``: rows of one value whose time field is at least ``since``, in
        insertion order, own writes included; only declared ranges."""
        rows = [
            attrs.evolve(payment(f"p{i}", f"pi_{i}"), created_at=at, status=status)
            for i, (at, status) in enumerate(
                [
                    (5, PaymentStatus.SUCCEEDED),
                    (20, PaymentStatus.SUCCEEDED),
                    (20, PaymentStatus.FAILED),
                    (30, PaymentStatus.SUCCEEDED),
                ]
            )
        ]
        with store.transaction() as tx:
            for row in rows[:3]:
                tx.insert(PAYMENTS, row)
        with store.transaction() as tx:
            tx.insert(PAYMENTS, rows[3])
            found = tx.find_since(PAYMENTS, "status", PaymentStatus.SUCCEEDED, "created_at", 20)
            assert [p.id for p in found] == ["p1", "p3"]
            assert (
                tx.find_since(PAYMENTS, "status", PaymentStatus.SUCCEEDED, "created_at", 31) == []
            )
            with pytest.raises(ValueError):
                tx.find_since(PAYMENTS, "order_id", "o1", "created_at", 0)

    def test_find_since_goes_on_after_a_key_at_most_a_limit(self, store: Store) -> None:
        """``find_since`` with ``after``: the rows past that key in key order (Python's
        string order, whatever the database's collation), own writes included; with
        ``limit``, at most that many. A limit that is not a positive count is refused
        with ValueError."""
        at = {"old": 5, "pb": 20}
        rows = [
            attrs.evolve(
                payment(k, f"pi_{k}"),
                created_at=at.get(k, 30),
                status=PaymentStatus.FAILED if k == "pb" else PaymentStatus.SUCCEEDED,
            )
            for k in ("p9", "p10", "p_1", "old", "pb", "pZ", "pa")
        ]
        with store.transaction() as tx:
            for row in rows[:4]:
                tx.insert(PAYMENTS, row)
        with store.transaction() as tx:
            for row in rows[4:]:
                tx.insert(PAYMENTS, row)

            def ids(after: str | None, limit: int | None = None) -> list[str]:
                found = tx.find_since(
                    PAYMENTS, "status", PaymentStatus.SUCCEEDED, "created_at", 10,
                    after=after, limit=limit,
                )  # fmt: skip
                return [p.id for p in found]

            assert ids("") == ["p10", "p9", "pZ", "p_1", "pa"]
            assert ids("p9", 2) == ["pZ", "p_1"]
            assert ids("p_1", 5) == ["pa"]
            assert ids("pa") == []
            assert ids(None, 2) == ["p9", "p10"]  # no key: insertion order, as ever
        for bad in (0, -1, True, "2"):
            with store.transaction() as tx, pytest.raises(ValueError):
                tx.find_since(
                    PAYMENTS, "status", PaymentStatus.SUCCEEDED, "created_at", 0,
                    limit=bad,  # type: ignore[arg-type]
                )  # fmt: skip

    def test_log_rows_are_read_back_and_a_duplicate_fails_the_transaction(
        self, store: Store
    ) -> None:
        """Rows of an append-only table (``Table.append_only``) are seen by the
        transaction's own reads and kept by its commit, in order; a duplicate key fails
        the transaction, at the insert or at the latest when it ends, and keeps nothing."""
        entries = [
            r.AuditEntry(seq, 1, "order", "o1", None, "pending", "create", None)
            for seq in (1, 2, 3)
        ]
        with store.transaction() as tx:
            tx.insert(AUDIT, entries[0])
            tx.insert(AUDIT, entries[1])
            assert tx.find(AUDIT, "aggregate_id", "o1") == entries[:2]
            tx.insert(AUDIT, entries[2])
        assert store.snapshot().rows(AUDIT) == entries
        before = self.state(store)
        with pytest.raises(IntegrityError), store.transaction() as tx:
            tx.insert(ORDERS, order("o9"))
            tx.insert(AUDIT, entries[0])
        assert self.state(store) == before

    def _kept_whole_or_refused(self, store: Store, session_id: str) -> None:
        """Order o3 with ``session_id``, inserted after o2 in one transaction: stored
        whole, or refused with DataError (not retryable) keeping nothing of it."""
        before = self.state(store)
        try:
            with store.transaction() as tx:
                tx.insert(ORDERS, order("o2"))
                tx.insert(ORDERS, order("o3", session_id))
        except DataError as exc:
            assert not exc.retryable
            assert self.state(store) == before
        else:
            assert store.snapshot().get(ORDERS, "o3") == order("o3", session_id)

    def test_text_with_nul_is_kept_whole_or_refused_as_data(self, store: Store) -> None:
        """Text holding a NUL character is stored and found whole, or refused with
        DataError (never retryable: the same value fails again) keeping nothing of the
        transaction; never cut short at the NUL, never an error that says to retry."""
        cut = "cs_o1"
        held = f"{cut}\x00tail"
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1", cut))
        self._kept_whole_or_refused(store, held)
        try:
            with store.transaction() as tx:
                found = [o.id for o in tx.find(ORDERS, "checkout_session_id", held)]
        except DataError:
            return
        assert found in ([], ["o3"])

    def test_text_with_a_lone_surrogate_is_kept_whole_or_refused_as_data(
        self, store: Store
    ) -> None:
        """Text holding a lone surrogate (half of a UTF-16 pair: not UTF-8, so no SQL
        driver can send it), as a value or as a key looked up: kept and found whole, or
        refused with DataError keeping nothing of the transaction; never a raw
        ``UnicodeEncodeError``."""
        odd = "cs_o1\ud800"
        self._kept_whole_or_refused(store, odd)
        for look in (
            lambda tx: [o.id for o in tx.find(ORDERS, "checkout_session_id", odd)],
            lambda tx: tx.get(ORDERS, odd),
        ):
            try:
                with store.transaction() as tx:
                    found = look(tx)
            except DataError:
                continue
            assert found in ([], ["o3"], None)
