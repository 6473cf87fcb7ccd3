"""A PostgreSQL store carried across fork(): the child is refused with what to do, and
the parent's server sessions go on untouched."""

from __future__ import annotations

import pytest
from tests.stores.conftest import OpenStore
from tests.stores.forked import in_child

from paycore.errors import OperationalError
from paycore.schema import ORDERS
from paycore_adapters.testing.rows import order


def _refusal(work: object) -> str:
    try:
        work()  # type: ignore[operator]
    except OperationalError as exc:
        return str(exc)
    return "not refused"


class TestFork:
    def test_a_forked_child_is_refused_and_the_parent_goes_on(self, stores: OpenStore) -> None:
        """The child's transaction, snapshot and read of the sequences are refused with
        an OperationalError saying to open the store after forking; its close() leaves
        the parent's sessions open, so the parent's next transactions work."""
        store = stores(max_size=1)
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))

        def child() -> dict[str, object]:
            def write() -> None:
                with store.transaction() as tx:
                    tx.insert(ORDERS, order("o_child"))

            said = [_refusal(write), _refusal(store.snapshot), _refusal(store.sequences)]
            store.close()
            return {"refused": ["open the store after forking" in s for s in said]}

        assert in_child(child) == {"refused": [True, True, True]}
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o1") == order("o1")
            assert tx.get(ORDERS, "o_child") is None
            tx.insert(ORDERS, order("o2"))
        assert sorted(store.snapshot().tables[ORDERS.name]) == ["o1", "o2"]


def test_the_refusal_does_not_hide_a_store_opened_in_the_child(stores: OpenStore) -> None:
    """A store opened in the child itself works there."""
    stores()  # the parent opens its store first

    def child() -> dict[str, object]:
        fresh = stores()
        with fresh.transaction() as tx:
            tx.insert(ORDERS, order("o_child"))
        fresh.close()
        return {"done": True}

    assert in_child(child) == {"done": True}
    with stores().transaction() as tx:
        assert tx.get(ORDERS, "o_child") == order("o_child")


pytestmark = pytest.mark.usefixtures("migrated_postgres_dsn")
