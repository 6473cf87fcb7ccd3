"""S8: no duplicate check for a checkout session.

Each request runs its own checkout: ``checkout.begin`` is wrapped so that the
session's existing order is not found and the new flow gets an id of its own
(``flow_id_for``), and the unique constraint on ``orders.checkout_session_id`` is
dropped from the table's unique values (``Table.unique_values``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

from paycore import schema as s
from paycore.config import Config
from paycore.flows import checkout
from paycore.flows.cart import CartItem
from paycore.schema import Table
from paycore.unit import Unit

from .catalog import seeded
from .support import UnitView, patched

_BEGIN = checkout.begin
_FLOW_ID_FOR = checkout.flow_id_for
_UNIQUE_VALUES = Table.unique_values
_SESSION = ("checkout_session_id",)


def _unique_values(self: Table[Any], record: Any) -> list[tuple[tuple[str, ...], tuple[Any, ...]]]:
    out = _UNIQUE_VALUES(self, record)
    if self.name == s.ORDERS.name:
        out = [(fields, values) for fields, values in out if fields != _SESSION]
    return out


@seeded(
    "S8",
    "no duplicate check for a checkout session: the existing order is not looked up and the "
    "unique constraint on the session is gone, so every request for one session makes "
    "another order, another payment and another intent",
    "one-order-per-session",
    "one-live-intent-per-session",
    drops=((s.ORDERS.name, _SESSION),),
)
@contextmanager
def _s8() -> Iterator[None]:
    current: list[str] = []

    def flow_id_for(session_id: str) -> str:
        return current[-1] if current else _FLOW_ID_FOR(session_id)

    def begin(
        u: Unit,
        config: Config,
        session_id: str,
        cart: Sequence[CartItem],
        owner: str,
        *,
        chain: bool = False,
    ) -> tuple[str, bool]:
        # Each request runs its own checkout flow for the session.
        n = len(u.find(s.ORDERS, "checkout_session_id", session_id))
        first = _FLOW_ID_FOR(session_id)
        current.append(first if n == 0 else f"{first}:{n + 1}")
        view = UnitView(u, unseen=frozenset({(s.ORDERS.name, *_SESSION)}))
        try:
            return _BEGIN(view.unit(), config, session_id, cart, owner, chain=chain)
        finally:
            current.pop()

    with (
        patched(
            ("paycore.flows.checkout.begin", begin),
            ("paycore.flows.checkout.flow_id_for", flow_id_for),
            ("paycore.flows.checkout_begin.flow_id_for", flow_id_for),
        ),
        mock.patch.object(Table, "unique_values", _unique_values),
    ):
        yield
