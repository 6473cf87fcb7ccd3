"""The typed params of each flow kind.

A flow's params are fixed when it starts. They persist as a plain dict
(``Flow.params``), so the store holds no code's types and flows recorded by an
earlier version keep loading; a step reads them through :func:`params_of`, which
gives the record of its kind (a key it does not know is ignored, a key an older
flow lacks takes its default).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter
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
    #: ``Config.create_landing_ms`` when the checkout began: how long after an unanswered
    #: create's last request an empty list proves that no intent was made
    landing_ms: int = 300_000


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


#: ``Config.create_landing_ms``'s default: the landing window of a refund flow recorded
#: before refunds recorded the config's (``RefundParams.landing_ms``), and of one opened
#: for a payment whose checkout recorded none (:mod:`paycore.flows.refund_landing`).
REFUND_LANDING_MS = 300_000


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
    #: ``Config.create_landing_ms`` when the refund was opened: how long after an
    #: unanswered call's last request an empty list of refunds proves that no refund was
    #: made (:mod:`paycore.flows.refund_landing` says where it comes from)
    landing_ms: int = REFUND_LANDING_MS


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


@attrs.frozen
class BatchParams:
    """A job flow's params: the keys of the rows it goes through, chosen when it starts."""

    keys: list[str] = attrs.field(factory=list)
    #: the installation the flow runs for (set when it is recorded)
    installation: str = ""


@attrs.frozen
class ReconcileParams:
    """The reconciler's walk: the window's start and where the last run stopped."""

    since: int
    start: str | None = None
    limit: int = 0
    #: the installation the flow runs for (set when it is recorded)
    installation: str = ""


_NAMES: dict[type, frozenset[str]] = {}
#: Params records already built, by (kind, params dict): steps ask for them many times
#: per transaction, and a flow's later versions share its params dict (never changed
#: in place). Each entry keeps its dict alive, so an id is never taken for another's.
_BUILT: dict[tuple[type, int], tuple[Mapping[str, Any], Any]] = {}
_BUILT_MAX = 1024


def params_of(cls: type[P], flow: Flow) -> P:
    """``flow``'s params as a ``cls`` record."""
    params = flow.params
    hit = _BUILT.get((cls, id(params)))
    if hit is not None and hit[0] is params:
        built: P = hit[1]  # no typing.cast: a call of its own, on a hot path
        return built
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = frozenset(a.name for a in attrs.fields(cls))  # type: ignore[arg-type]
    record = cls(**{k: v for k, v in params.items() if k in names})
    _keep(params, record)
    return record


def remember_params(flow: Flow, record: object) -> None:
    """Keep ``record`` as what :func:`params_of` gives for ``flow``, whose params are
    ``to_plain(record)`` (a copy of them): the flow's first step then builds nothing."""
    _keep(flow.params, record)


def _keep(params: Mapping[str, Any], record: object) -> None:
    if len(_BUILT) >= _BUILT_MAX:
        _BUILT.clear()
    _BUILT[(type(record), id(params))] = (params, record)


_PLAIN: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def to_plain(params: Any) -> dict[str, Any]:
    """How a params record is stored: a plain dict of plain values."""
    cls = type(params)
    plain = _PLAIN.get(cls)
    if plain is None:
        names = tuple(a.name for a in attrs.fields(cls))
        plain = _PLAIN[cls] = (names, attrgetter(*names))
    names, values = plain
    if len(names) == 1:
        return {names[0]: values(params)}
    return dict(zip(names, values(params), strict=True))
