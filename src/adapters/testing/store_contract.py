"""The contract every :class:`paycore.ports.Store` adapter keeps, as pytest cases.

Subclass :class:`StoreContract` in a ``Test*`` class of your own test suite and
implement :meth:`StoreContract.make_store` to return a new, empty store; pytest
then runs every case against it (``docs/adapters.md`` has a worked example).
The commit-failure cases check that the harness's fault wrapper
(``paycore_adapters.harness.faulty.FaultyStore``) works over the store; the cases of
rows of every kind are in :mod:`.store_rows`, those of several threads at once in
:mod:`.store_concurrency`, those of a store error caught inside the block in
:mod:`.store_contract_errors`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import attrs
import pytest

from paycore import records as r
from paycore.errors import CommitUnknown, IntegrityError, OperationalError
from paycore.ports import Store, Transaction
from paycore.schema import (
    ORDERS,
    PAYMENTS,
    REFUNDS,
    SELLERS,
)
from paycore.status import OrderStatus

from ..harness.faulty import FaultyStore
from .rows import order, payment, refund
from .store_concurrency import StoreConcurrencyCases
from .store_contract_errors import StoreErrorCases
from .store_rows import StoreRowCases


class _Faults:
    def __init__(self, before: Exception | None = None, after: Exception | None = None) -> None:
        self.before, self.after = before, after

    def before_commit(self) -> None:
        if self.before is not None:
            raise self.before

    def after_commit(self) -> None:
        if self.after is not None:
            raise self.after


class StoreContract(StoreRowCases, StoreConcurrencyCases, StoreErrorCases, abc.ABC):
    """The store contract's cases. Abstract: pytest does not collect it (no ``Test``
    prefix); an adapter's test module subclasses it once per store."""

    @abc.abstractmethod
    def make_store(self) -> Store:
        """A new, empty store for one case (each case gets its own)."""

    @pytest.fixture
    def store(self) -> Store:
        return self.make_store()

    def test_insert_get_roundtrip(self, store: Store) -> None:
        """An inserted row reads back equal, inside and after its transaction."""
        o = order("o1")
        with store.transaction() as tx:
            tx.insert(ORDERS, o)
            assert tx.get(ORDERS, "o1") == o
            assert tx.get(ORDERS, "missing") is None
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o1") == o
        assert store.snapshot().get(ORDERS, "o1") == o

    def test_rollback_on_exception_leaves_nothing(self, store: Store) -> None:
        """An exception in the block discards every write: the store is as it was."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        before = self.state(store)
        with pytest.raises(KeyError), store.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
            tx.update(ORDERS, attrs.evolve(order("o1"), status=OrderStatus.PAID, version=1))
            tx.insert(PAYMENTS, payment("p1", "pi_1"))
            tx.next_seq("audit")
            raise KeyError("boom")
        assert self.state(store) == before
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o2") is None
            assert tx.get(ORDERS, "o1") == order("o1")
            assert tx.find(PAYMENTS, "provider_intent_id", "pi_1") == []

    def test_duplicate_key_raises(self, store: Store) -> None:
        """A second row with the same key is an IntegrityError, committed or not."""
        with store.transaction() as tx:
            tx.insert(SELLERS, r.Seller("s1", "Shop", "acct_1"))
        with pytest.raises(IntegrityError) as err, store.transaction() as tx:
            tx.insert(SELLERS, r.Seller("s1", "Other", "acct_2"))
        assert err.value.fields["table"] == "sellers"
        assert err.value.fields["constraint"] == ("id",)
        with pytest.raises(IntegrityError), store.transaction() as tx:
            tx.insert(SELLERS, r.Seller("s2", "Shop", "acct_1"))
            tx.insert(SELLERS, r.Seller("s2", "Shop", "acct_1"))

    def test_single_field_unique_raises(self, store: Store) -> None:
        """A second order for one checkout session is an IntegrityError naming the constraint."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1", "cs_1"))
        with pytest.raises(IntegrityError) as err, store.transaction() as tx:
            tx.insert(ORDERS, order("o2", "cs_1"))
        assert err.value.fields["table"] == "orders"
        assert err.value.fields["constraint"] == ("checkout_session_id",)
        assert "orders" in str(err.value) and "checkout_session_id" in str(err.value)

    def test_unique_within_one_transaction(self, store: Store) -> None:
        """Uniqueness also holds between two uncommitted writes of one transaction."""
        with pytest.raises(IntegrityError) as err, store.transaction() as tx:
            tx.insert(PAYMENTS, payment("p1", "pi_1"))
            tx.insert(PAYMENTS, payment("p2", "pi_1"))
        assert err.value.fields["constraint"] == ("provider_intent_id",)
        with store.transaction() as tx:
            assert list(tx.scan(PAYMENTS)) == []

    def test_own_duplicate_after_a_lookup_is_no_conflict(self, store: Store) -> None:
        """A transaction that looked a unique value up, found it free and then wrote it
        twice itself has its own duplicate: an IntegrityError (never a conflict to run
        again), for a single-field and a composite constraint, and nothing is kept."""
        with pytest.raises(IntegrityError) as err, store.transaction() as tx:
            assert tx.find(ORDERS, "checkout_session_id", "cs_dup") == []
            tx.insert(ORDERS, order("o1", "cs_dup"))
            tx.insert(ORDERS, order("o2", "cs_dup"))
        assert err.value.fields["constraint"] == ("checkout_session_id",)
        with pytest.raises(IntegrityError) as err, store.transaction() as tx:
            assert tx.find(REFUNDS, "payment_id", "p1") == []
            tx.insert(REFUNDS, refund("re1", "p1", "k1"))
            tx.insert(REFUNDS, refund("re2", "p1", "k1"))
        assert err.value.fields["constraint"] == ("payment_id", "idempotency_key")
        with store.transaction() as tx:
            assert list(tx.scan(ORDERS)) == []
            assert list(tx.scan(REFUNDS)) == []

    def test_composite_unique_raises(self, store: Store) -> None:
        """(payment_id, idempotency_key) is unique together, not field by field."""
        with store.transaction() as tx:
            tx.insert(REFUNDS, refund("re1", "p1", "k1"))
            tx.insert(REFUNDS, refund("re2", "p1", "k2"))
            tx.insert(REFUNDS, refund("re3", "p2", "k1"))
        with pytest.raises(IntegrityError) as err, store.transaction() as tx:
            tx.insert(REFUNDS, refund("re4", "p2", "k1"))
        assert err.value.fields["table"] == "refunds"
        assert err.value.fields["constraint"] == ("payment_id", "idempotency_key")

    def test_none_exempts_unique(self, store: Store) -> None:
        """Rows with None in a unique field do not collide, as in SQL."""
        with store.transaction() as tx:
            tx.insert(PAYMENTS, payment("p1", None))
            tx.insert(PAYMENTS, payment("p2", None))
            tx.insert(REFUNDS, refund("re1", "p1", "k1", None))
            tx.insert(REFUNDS, refund("re2", "p1", "k2", None))
        with store.transaction() as tx:
            tx.insert(PAYMENTS, payment("p3", None))
            assert len(list(tx.scan(PAYMENTS))) == 3

    def test_update_checks_version(self, store: Store) -> None:
        """An update must carry the stored version plus one; a stale write is rejected."""
        o = order("o1")
        with store.transaction() as tx:
            tx.insert(ORDERS, o)
        paid = attrs.evolve(o, status=OrderStatus.PAID, version=1)
        with store.transaction() as tx:
            tx.update(ORDERS, paid)
        for stale in (
            attrs.evolve(o, status=OrderStatus.CANCELED, version=1),
            attrs.evolve(o, version=0),
            attrs.evolve(o, version=3),
        ):
            with pytest.raises(IntegrityError) as err, store.transaction() as tx:
                tx.update(ORDERS, stale)
            assert err.value.fields["table"] == "orders"
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o1") == paid

    def test_update_missing_row_raises(self, store: Store) -> None:
        """Updating a row that does not exist is an IntegrityError."""
        with pytest.raises(IntegrityError), store.transaction() as tx:
            tx.update(ORDERS, order("o1", version=1))

    def test_update_twice_in_one_transaction(self, store: Store) -> None:
        """Versions chain inside a transaction: each update builds on the last own write."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            tx.update(ORDERS, order("o1", version=1))
            tx.update(ORDERS, order("o1", status=OrderStatus.PAID, version=2))
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o1") == order("o1", status=OrderStatus.PAID, version=2)

    def test_update_checks_unique(self, store: Store) -> None:
        """An update may not take a unique value another row holds, but may keep its own."""
        with store.transaction() as tx:
            tx.insert(PAYMENTS, payment("p1", "pi_1"))
            tx.insert(PAYMENTS, payment("p2"))
        with pytest.raises(IntegrityError) as err, store.transaction() as tx:
            tx.update(PAYMENTS, attrs.evolve(payment("p2"), provider_intent_id="pi_1", version=1))
        assert err.value.fields["constraint"] == ("provider_intent_id",)
        with store.transaction() as tx:
            tx.update(PAYMENTS, attrs.evolve(payment("p1", "pi_1"), version=1))
            # p1 gives up pi_1 in this transaction, so p2 may take it
            tx.update(PAYMENTS, attrs.evolve(payment("p1", "pi_9"), version=2))
            tx.update(PAYMENTS, attrs.evolve(payment("p2", "pi_1"), version=1))
        with store.transaction() as tx:
            assert tx.find(PAYMENTS, "provider_intent_id", "pi_1")[0].id == "p2"
            assert tx.find(PAYMENTS, "provider_intent_id", "pi_9")[0].id == "p1"

    def test_integrity_error_rolls_back_transaction(self, store: Store) -> None:
        """After an IntegrityError the transaction is rolled back even if the caller goes
        on. The error comes from the write, or by the next query of its table at the
        latest (a store may send writes together)."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1", "cs_1"))
        before = self.state(store)
        with pytest.raises(IntegrityError), store.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
            with pytest.raises(IntegrityError):
                tx.insert(ORDERS, order("o3", "cs_1"))
                tx.find(ORDERS, "status", OrderStatus.PENDING)
            with pytest.raises(IntegrityError):
                tx.get(ORDERS, "o1")  # every later call
        assert self.state(store) == before

    def test_refused_write_fails_by_the_next_query(self, store: Store) -> None:
        """A write refused for a row this transaction never read (a unique value taken, an
        update of a missing row) fails it by the next query of the table at the latest:
        a transaction never reads on past a refused write."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1", "cs_1"))
        refused: tuple[Callable[[Transaction], None], ...] = (
            lambda tx: tx.insert(ORDERS, order("o2", "cs_1")),
            lambda tx: tx.update(ORDERS, order("o9", version=1)),
            lambda tx: tx.update(ORDERS, order("o1", "cs_1", status=OrderStatus.PAID, version=5)),
        )
        for write in refused:
            with pytest.raises(IntegrityError), store.transaction() as tx:
                with pytest.raises(IntegrityError):
                    write(tx)
                    tx.find(ORDERS, "status", OrderStatus.PENDING)
                with pytest.raises(IntegrityError):
                    tx.scan(ORDERS)
        with store.transaction() as tx:
            assert [o.id for o in tx.scan(ORDERS)] == ["o1"]

    def test_find_sees_own_writes_only_matching(self, store: Store) -> None:
        """find returns matching rows, committed and own uncommitted, with current values."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            tx.insert(ORDERS, order("o2", status=OrderStatus.PAID))
            tx.insert(ORDERS, order("o3"))
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o4"))
            tx.insert(ORDERS, order("o5", status=OrderStatus.CANCELED))
            tx.update(ORDERS, order("o1", status=OrderStatus.PAID, version=1))
            pending = tx.find(ORDERS, "status", OrderStatus.PENDING)
            assert [o.id for o in pending] == ["o3", "o4"]
            paid = tx.find(ORDERS, "status", OrderStatus.PAID)
            assert paid == [
                order("o1", status=OrderStatus.PAID, version=1),
                order("o2", status=OrderStatus.PAID),
            ]
            assert tx.find(ORDERS, "status", OrderStatus.REFUNDED) == []
        with store.transaction() as tx:
            assert [o.id for o in tx.find(ORDERS, "status", OrderStatus.PAID)] == ["o1", "o2"]

    def test_find_by_unique_field_and_key(self, store: Store) -> None:
        """Single-field unique constraints and the key can be searched too."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1", "cs_1"))
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o2", "cs_2"))
            assert [o.id for o in tx.find(ORDERS, "checkout_session_id", "cs_1")] == ["o1"]
            assert [o.id for o in tx.find(ORDERS, "checkout_session_id", "cs_2")] == ["o2"]
            assert [o.id for o in tx.find(ORDERS, "id", "o2")] == ["o2"]
            assert tx.find(ORDERS, "id", "nope") == []

    def test_find_unindexed_field_raises(self, store: Store) -> None:
        """Searching a field that is neither indexed, unique nor the key is a ValueError."""
        with pytest.raises(ValueError), store.transaction() as tx:
            tx.find(ORDERS, "seller_id", "s1")

    def test_scan_insertion_order(self, store: Store) -> None:
        """scan yields rows in insertion order; an updated row keeps its place."""
        with store.transaction() as tx:
            for i in (3, 1, 2):
                tx.insert(ORDERS, order(f"o{i}"))
        with store.transaction() as tx:
            tx.update(ORDERS, order("o3", status=OrderStatus.PAID, version=1))
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o0"))
            tx.update(ORDERS, order("o1", status=OrderStatus.PAID, version=1))
            rows = list(tx.scan(ORDERS))
            assert [o.id for o in rows] == ["o3", "o1", "o2", "o0"]
            assert [o.status for o in rows] == ["paid", "paid", "pending", "pending"]
        assert [o.id for o in store.snapshot().rows(ORDERS)] == ["o3", "o1", "o2", "o0"]

    def test_snapshot_unaffected_by_later_commits(self, store: Store) -> None:
        """A snapshot is a copy: later commits do not show through it."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        snap = store.snapshot()
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
            tx.update(ORDERS, order("o1", status=OrderStatus.PAID, version=1))
        assert snap.rows(ORDERS) == [order("o1")]
        assert snap.get(ORDERS, "o2") is None
        assert len(store.snapshot().rows(ORDERS)) == 2

    def test_next_seq_increments(self, store: Store) -> None:
        """Each named sequence gives increasing numbers on its own, across transactions
        (a store may skip numbers: the port allows gaps), starting above 0."""
        with store.transaction() as tx:
            audit = [tx.next_seq("audit"), tx.next_seq("audit")]
            stock = [tx.next_seq("stock")]
            orders = [tx.next_seq("order")]
        with store.transaction() as tx:
            audit.append(tx.next_seq("audit"))
            stock.append(tx.next_seq("stock"))
            orders.append(tx.next_seq("order"))
        for drawn in (audit, stock, orders):
            assert drawn[0] > 0 and drawn == sorted(set(drawn)), drawn

    def test_nested_transaction_raises(self, store: Store) -> None:
        """Opening a transaction inside another in the same thread is a RuntimeError."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            with pytest.raises(RuntimeError), store.transaction():
                pass
        assert store.snapshot().get(ORDERS, "o1") == order("o1")

    def test_before_commit_failure_leaves_nothing(self, store: Store) -> None:
        """Wrapped for fault injection, an OperationalError before the commit applies
        leaves the store as it was."""
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        before = self.state(store)
        faulty = FaultyStore(store, _Faults(before=OperationalError("disk full")))
        with pytest.raises(OperationalError), faulty.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
            tx.insert(PAYMENTS, payment("p1", "pi_1"))
        assert self.state(store) == before
        faulty.faults = None
        with faulty.transaction() as tx:
            tx.insert(ORDERS, order("o2"))

    def test_after_commit_unknown_leaves_everything(self, store: Store) -> None:
        """Wrapped for fault injection, a CommitUnknown after the commit applied: the
        caller sees an error, the data is in."""
        faulty = FaultyStore(store, _Faults(after=CommitUnknown("connection lost")))
        with pytest.raises(CommitUnknown), faulty.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
            tx.insert(PAYMENTS, payment("p1", "pi_1"))
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o1") == order("o1")
            assert [p.id for p in tx.find(PAYMENTS, "provider_intent_id", "pi_1")] == ["p1"]


__all__ = ["StoreContract", "order", "payment", "refund"]
