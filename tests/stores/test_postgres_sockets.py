"""The PostgreSQL store on a socket numbered past ``select()``'s 1,024, and what an
error of no driver's becomes while a transaction ends."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tests.stores.conftest import OpenStore

from paycore.errors import CommitUnknown, OperationalError
from paycore.schema import INSTALLATION, ORDERS
from paycore_adapters.sql import postgres_pipe
from paycore_adapters.testing.rows import order

#: select() refuses descriptors from here on (FD_SETSIZE).
FD_SETSIZE = 1024


@pytest.fixture
def high_descriptors() -> Iterator[None]:
    """Every descriptor below ``FD_SETSIZE`` taken while the test opens its store, so
    that the store's connections get numbers past it (as in a process holding many
    files or sockets); given back after."""
    taken: list[int] = []
    try:
        while not taken or taken[-1] < FD_SETSIZE:
            taken.append(os.open(os.devnull, os.O_RDONLY))
        os.close(taken.pop())  # the first free number is now FD_SETSIZE or past it
        yield
    finally:
        for fd in taken:
            os.close(fd)


def test_a_socket_numbered_past_1024_works(stores: OpenStore, high_descriptors: None) -> None:
    """Writes committed in the pipeline, a read-only transaction committed on its own
    and a snapshot, all on a connection whose socket is numbered 1,024 or more."""
    store = stores(max_size=1)
    with store.transaction() as tx:
        assert tx.conn.pgconn.socket >= FD_SETSIZE  # type: ignore[attr-defined]
        tx.insert(ORDERS, order("o1"))
    with store.transaction() as tx:  # a read, then COMMIT sent alone
        assert tx.get(ORDERS, "o1") == order("o1")
        tx.get(INSTALLATION, "this")
    assert sorted(store.snapshot().tables[ORDERS.name]) == ["o1"]


class TestAnErrorOfNoDriver:
    def test_after_the_commit_was_queued_it_is_commit_unknown(
        self, stores: OpenStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Writes and their COMMIT sent in one pipeline, then waiting for the results
        fails with an error psycopg did not raise: the commit may have happened."""
        store = stores()

        def broken(*args: object) -> object:
            raise ValueError("filedescriptor out of range in select()")

        with monkeypatch.context() as patch:
            patch.setattr(postgres_pipe, "_results", broken)
            with pytest.raises(CommitUnknown, match="out of range"), store.transaction() as tx:
                tx.insert(ORDERS, order("o1"))
        with store.transaction() as tx:  # the connection cut mid-exchange was replaced
            tx.insert(ORDERS, order("o2"))
        assert "o2" in store.snapshot().tables[ORDERS.name]

    def test_a_commit_sent_alone_is_commit_unknown_too(
        self, stores: OpenStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A transaction that only read commits with COMMIT alone; waiting for its
        answer fails with an error psycopg did not raise: CommitUnknown."""
        store = stores()
        with store.transaction() as tx:
            tx.get(ORDERS, "o0")  # prepares the statement: the next read sends no prepare

        def broken(pg: object) -> object:
            raise ValueError("filedescriptor out of range in select()")

        with pytest.raises(CommitUnknown, match="out of range"), store.transaction() as tx:
            tx.get(ORDERS, "o0")
            monkeypatch.setattr(postgres_pipe, "_result", broken)
        monkeypatch.undo()
        with store.transaction() as tx:  # the connection cut mid-exchange was replaced
            assert tx.get(ORDERS, "o0") is None

    def test_before_the_commit_was_queued_it_is_operational(
        self, stores: OpenStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Preparing the first write's statement fails with an error psycopg did not
        raise, before the COMMIT behind it was queued: nothing was committed, an
        OperationalError, and the row is not there."""
        store = stores()

        def broken(sql: str) -> bytes:
            raise RuntimeError("no statement")

        with monkeypatch.context() as patch:
            patch.setattr(postgres_pipe, "numbered", broken)
            refused = pytest.raises(OperationalError, match="no statement")
            with refused as raised, store.transaction() as tx:
                tx.insert(ORDERS, order("o1"))
        assert not isinstance(raised.value, CommitUnknown)
        with stores().transaction() as tx:
            assert tx.get(ORDERS, "o1") is None
