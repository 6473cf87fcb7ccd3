"""Objects on the provider account that this paycore installation did not make.

A real account holds more than paycore's intents: another store's (its own
``pay_000001`` and ``ord_000001``, so its metadata collides with this store's),
invoices, payment links and a previous system's payments. :func:`plant` puts one
on the fake provider's account, with faults off, so a scenario or a model can
check that paycore neither adopts nor changes any of them.
"""

from __future__ import annotations

import pickle
from collections import Counter
from typing import Any

from paycore.money import Money
from paycore.ports import REFUND_LIVE, CreateIntent, IntentView, RefundView

from ..fake_provider import FakeProvider

#: Every kind of foreign object :func:`plant` can make.
KINDS = ("other_store", "invoice", "payment_link", "previous_system")
#: The other store's installation id (never this store's: those are ``inst_<hex>``).
OTHER_STORE = "inst_another_store"
#: What a foreign intent asks: 1.50 EUR, never the price of anything in the harness shop.
AMOUNT = 150


def metadata(kind: str, n: int) -> dict[str, str]:
    """The metadata of the ``n``-th foreign intent of ``kind``: ids collide with paycore's."""
    local = {
        "payment_id": f"pay_{n:06d}",
        "order_id": f"ord_{n:06d}",
        "checkout_session_id": f"cs_foreign_{kind}_{n:06d}",
    }
    if kind == "other_store":
        return {**local, "paycore_installation": OTHER_STORE, "paycore_reference": f"pref_{n}"}
    if kind == "invoice":
        return {"invoice": f"in_{n:06d}"}
    if kind == "payment_link":
        return {"payment_link": f"plink_{n:06d}"}
    if kind == "previous_system":
        return local
    raise ValueError(f"unknown foreign kind {kind!r}; one of {', '.join(KINDS)}")


def plant(
    provider: FakeProvider, kind: str, n: int, *, account: str = "acct_1", paid: bool = True
) -> IntentView:
    """Create (and, if ``paid``, pay) one foreign intent on ``account``, faults off."""
    req = CreateIntent(Money(AMOUNT, "EUR"), account, metadata(kind, n), f"{kind} {n}")
    view = provider.create_intent(req, idempotency_key=f"foreign-{kind}-{n}")
    if paid:
        view = provider.customer_confirm(view.id, "pm_card_visa")
    return view


#: What the harness's world finds on its account before the shop's first checkout:
#: (kind, n, paid). Another store's ``pay_000001`` to ``pay_000003`` collide with the
#: shop's first payments; the rest carry no paycore identity at all.
CROWD = (
    ("other_store", 1, True),
    ("other_store", 2, False),
    ("other_store", 3, True),
    ("invoice", 1, True),
    ("payment_link", 1, False),
    ("previous_system", 2, True),
)


def plant_crowd(provider: FakeProvider) -> list[IntentView]:
    """Plant every intent of :data:`CROWD`; their webhooks are not delivered.

    A provider in a state the crowd was planted on before (in this process) is given a
    copy of the books that planting left (:meth:`FakeProvider.load_books`) and the calls
    it made: the same ids, objects, saved keys and events, for less than planting again
    (every world of a run starts on the same fresh account). Only the fake itself is
    copied so: a subclass may keep state its books do not hold."""
    before = _state(provider) if type(provider) is FakeProvider else None
    if before is None:
        return list(_plant_all(provider))
    for seen, books, calls, planted in _PLANTED:
        if seen == before:
            provider.load_books({**books, "intents": [it.copy() for it in books["intents"]]})
            provider.calls.update(calls)
            return list(planted)
    counted = Counter(provider.calls)
    planted = _plant_all(provider)
    calls = Counter(provider.calls)
    calls.subtract(counted)
    _PLANTED[:] = [(before, provider.books(), +calls, planted)]
    return list(planted)


def _plant_all(provider: FakeProvider) -> tuple[IntentView, ...]:
    planted = tuple(plant(provider, kind, n, paid=paid) for kind, n, paid in CROWD)
    provider.take_events()
    return planted


#: The last planting: the provider's state before it, its books and calls after, and the
#: intents planted (one entry: a run's worlds all start alike).
_PLANTED: list[tuple[bytes, dict[str, Any], Counter[str], tuple[IntentView, ...]]] = []


def _state(provider: FakeProvider) -> bytes | None:
    """What decides what planting does on ``provider``, as bytes: its class, its clock,
    its books (the log of events included), what decides its next answers
    (:meth:`FakeProvider.state_key`) and its settings (its public attributes but the
    call counts, and whether it honours keys). None if a setting cannot be pickled (a
    hook set on the fake): it is planted on."""
    settings = sorted((k, v) for k, v in vars(provider).items() if k[0] != "_" and k != "calls")
    keys = provider.honours_idempotency_keys
    state = provider.state_key()
    books = provider.books()
    try:
        return pickle.dumps(
            (type(provider).__qualname__, provider.clock.now(), books, settings, keys, state)
        )
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


def dashboard_refund(
    provider: FakeProvider, intent_id: str, *, whole: bool, n: int
) -> RefundView | None:
    """Someone refunds a succeeded intent in the provider's dashboard (or a support tool):
    all that is left of it, or half of that. The refund carries no paycore metadata and
    no paycore key; faults are off, as the dashboard is not paycore's connection. Returns
    None when nothing is left to refund (the dashboard refuses)."""
    intent = next((i for i in provider.intents() if i.id == intent_id), None)
    if intent is None or intent.status != "succeeded":
        return None
    held = sum(
        r.amount for r in provider.refunds() if r.intent_id == intent_id and r.status in REFUND_LIVE
    )
    left = intent.amount_received - held
    if left <= 0:
        return None
    return provider.create_refund(
        intent_id,
        amount=left if whole else max(1, left // 2),
        reason=None,
        metadata={},
        idempotency_key=f"dashboard-{n}",
    )
