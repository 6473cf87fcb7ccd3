"""The typed params of each flow kind.

A flow's params are fixed when it starts. They persist as a plain dict
(``Flow.params``), so the store holds no code's types and flows recorded by an
earlier version keep loading; a step reads them through :func:`params_of`, which
gives the record of its kind (a key it does not know is ignored, a key an older
flow lacks takes its default).
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from paycore.records import Flow

P = TypeVar("P")


@attrs.frozen
class CheckoutParams:
    session_id: str
    order_id: str
    payment_id: str
    seller_id: str
    account: str
    amount: int
    currency: str
    reference: str
    #: the installation the flow runs for (set when it is recorded)
    installation: str = ""


@attrs.frozen
class ConfirmParams:
    payment_id: str
    intent_id: str
    payment_method: str | None = None
    return_url: str | None = None
    #: the installation the flow runs for (set when it is recorded)
    installation: str = ""


@attrs.frozen
class CancelParams:
    payment_id: str
    intent_id: str
    #: "requested", or "expired" for the janitor's cancel (its stock is "expired")
    reason: str = "requested"
    #: the installation the flow runs for (set when it is recorded)
    installation: str = ""


@attrs.frozen
class RefundParams:
    refund_id: str
    intent_id: str
    amount: int
    reason: str | None
    order_id: str
    reference: str | None = None
    #: the installation the flow runs for (set when it is recorded)
    installation: str = ""


@attrs.frozen
class WebhookParams:
    event_id: str
    object_kind: str
    object_id: str
    #: the version of the object's payment when the event was taken (None: no payment)
    seen_version: int | None = None
    #: the installation the flow runs for (set when it is recorded)
    installation: str = ""


@attrs.frozen
class OrphanParams:
    intent_id: str
    #: the installation the flow runs for (set when it is recorded)
    installation: str = ""


_NAMES: dict[type, frozenset[str]] = {}


def params_of(cls: type[P], flow: Flow) -> P:
    """``flow``'s params as a ``cls`` record."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = frozenset(a.name for a in attrs.fields(cls))  # type: ignore[arg-type]
    return cls(**{k: v for k, v in flow.params.items() if k in names})


def to_plain(params: Any) -> dict[str, Any]:
    """How a params record is stored: a plain dict of plain values."""
    return attrs.asdict(params, recurse=False)
