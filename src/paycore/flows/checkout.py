"""create_payment_intent: order, lines, reservations and payment in one step, then the intent.

Steps: ``begin`` (one transaction: order + lines + reservations + payment +
flow, S2/S4) -> ``check_seller`` (provider: the seller's account, right before the
charge, read by :func:`paycore.connect.charge_blocker`, S11) -> ``create`` (provider:
create the intent with a key derived from the flow) -> recorded. The check's yes needs
no record: the engine makes the create call at once (``Remote.then``), and the
transaction that records the intent checks the seller's local switch too (switched off
meanwhile: the intent is canceled before anyone gets its secret). Only the first check
goes on at once; a check run again records its answer first. A check run again after a
create whose answer was lost (a crash, a store failure) may end the checkout with an
intent out there: it looks first (``abort``); the first check, and any after the first
one's answer was recorded (a retry), know that nothing was sent, and close at once.

An ambiguous answer (timeout, lost answer, 5xx) goes to ``replay``: the same request
under the same key. The provider answers it with the first request's result, or, if
the first never arrived, makes the intent now; either way one intent at most. Only when
the replay is ambiguous too (the key replays a saved 500, the provider is still away)
does ``find`` decide, from the provider's list by ``created`` window (from the checkout's
start to the landing bound after its last create request), which does not lag; search
lags a minute and more (docs.stripe.com/search, "Data freshness"), so an empty search
proves nothing and is never asked. ``find`` concludes "nothing was made" (a new key
generation) only once ``Config.create_landing_ms`` passed since the last request and the
list still shows no intent of this payment; a request landing even later leaves an
intent no payment records, which the reconciler cancels.

Giving up goes to ``abort``, which lists the same window and cancels any intent it finds
before releasing stock and closing the order (S1, S3). When it finds none and a create may
still be on its way (a give-up or an operator's abandon while a create went unanswered), it
waits as ``find`` does, until ``landing_ms`` passed since the last create went out; only an
abort that follows a refusal of the first request under a create key (not of its API key)
closes on an empty list at once. A cancel refused for good is a strike (it ends dead).

Both adopt or cancel only an intent that is this payment's in full
(:func:`paycore.flows.identity.intent_is_payments`): ids repeat across stores and
restores, so metadata naming the payment proves nothing.
"""

from __future__ import annotations

import attrs

from paycore import schema as s
from paycore.connect import charge_blocker
from paycore.errors import (
    ProviderCircuitOpen,
    ProviderConfigurationError,
    ProviderError,
    ProviderIdempotencyMismatch,
    ProviderNotFound,
    SellerCannotCharge,
)
from paycore.flows.cart import (
    SESSION_RE,
    CartItem,
    check_session_id,
    fingerprint,
    normalize_cart,
)
from paycore.flows.checkout_begin import CHECKED, RUN_AGAIN, begin, flow_id_for, run_again
from paycore.flows.checkout_close import cancel_found, close
from paycore.flows.checkout_window import LOOKBACK_S, SENT_BY, Found
from paycore.flows.checkout_window import lookup as _lookup
from paycore.flows.checkout_window import sent_by as _sent_by
from paycore.flows.engine import Advance, FlowDef, Remote, key, step
from paycore.flows.identity import identity, intent_is_payments
from paycore.flows.params import CheckoutParams, params_of
from paycore.flows.steps import CheckoutStep as Step
from paycore.flows.sync import CANCELABLE, apply_intent, order_of
from paycore.machines import PAYMENT
from paycore.money import Money
from paycore.ports import AccountView, CreateIntent, IntentView
from paycore.records import Flow, Payment
from paycore.shown import shown_id
from paycore.status import PaymentStatus
from paycore.unit import Unit

__all__ = [
    "DEF",
    "LOOKBACK_S",
    "SESSION_RE",
    "CartItem",
    "Step",
    "begin",
    "check_session_id",
    "fingerprint",
    "flow_id_for",
    "normalize_cart",
    "run_again",
]


#: ``Flow.data``: the abort came from an answered create (refused at ``create``, not its
#: API key): none can land later.
ANSWERED = "creates_answered"
#: ``Flow.data``: the first check may have sent a create whose answer was lost (a check
#: run again ends the checkout, or goes on to ``replay``); an ambiguous answer records
#: ``last_error`` (the engine's policy), and ``find`` records :data:`SENT_BY`.
UNANSWERED = "create_unanswered"


# --- steps ----------------------------------------------------------------------

_close = close  # the checkout's end (paycore.flows.checkout_close)


def _prm(flow: Flow) -> CheckoutParams:
    return params_of(CheckoutParams, flow)


def _payment(u: Unit, flow: Flow) -> Payment:
    p = u.get(s.PAYMENTS, _prm(flow).payment_id)
    assert p is not None
    return p


def _check_seller(flow: Flow) -> Remote[AccountView]:
    """Only the first check goes on at once to the create (``Remote.then``): see
    :data:`CHECKED`. Every error comes to :func:`_check_refused` (``best_effort``)."""
    account = _prm(flow).account
    again = flow.data.get(RUN_AGAIN) is True  # the apply reads the flow as stored

    def run(f: Flow) -> Flow:
        return run_again(f) if again else f

    return Remote(
        "retrieve_account",
        lambda p: p.retrieve_account(account),
        lambda u, f, view: _after_check(u, run(f), view),
        refused=lambda u, f, err: _check_refused(u, run(f), err),
        best_effort=True,
        then=_go_on if _first(run(flow)) and flow.data.get(CHECKED) is not True else None,
    )


def _first(flow: Flow) -> bool:
    """The flow as its checkout began it (never stepped, claimed or replayed since): a
    run that does not go on from its own commit takes the flow, bumping its version."""
    return flow.version == 0 and flow.data.get(RUN_AGAIN) is not True


def _check_refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    """An open circuit (the provider is away) ends the checkout. An account the provider
    does not know can take no charge: the checkout ends as the seller's. Settings the
    provider refuses (the key, or an account the key may not charge) no retry mends: the
    checkout ends and an operator is alerted. Each ends as :func:`_end_check` says. Any
    other error is retried as the engine's policy would (the first check's: CHECKED)."""
    if isinstance(err, ProviderCircuitOpen):
        return _end_check(u, flow, err.code)
    if isinstance(err, ProviderConfigurationError):
        account = _prm(flow).account
        u.alert(
            "provider_configuration",
            account,
            f"the provider refused paycore's settings for account {shown_id(account)}: "
            f"{err.message}",
        )
        return _end_check(u, flow, err.code, err.message)
    if isinstance(err, ProviderNotFound):
        account = shown_id(_prm(flow).account)
        why = f"the provider refused to show account {account} ({err.code})"
        return _end_check(u, flow, SellerCannotCharge.code, why)
    return Advance(retry=err.code, data={CHECKED: True} if _first(flow) else {})


def _end_check(u: Unit, flow: Flow, code: str, blocker: str | None = None) -> Advance:
    """The seller check ends the checkout. The first check sent nothing, nor did any
    after it once its answer was recorded (:data:`CHECKED`): close at once, without
    asking the provider (which may well be down). Otherwise the first check may have
    gone on at once to a create whose answer was lost (a crash, a store failure): look
    for that intent first (``abort``), never leave it to the reconciler as an orphan."""
    if _first(flow) or flow.data.get(CHECKED) is True:
        return _close(u, flow, _payment(u, flow), code, blocker)
    why = {"error": code, **({"blocker": blocker} if blocker else {})}
    return Advance(to=Step.ABORT, data={**why, UNANSWERED: True})


def _go_on(view: AccountView) -> Step | None:
    """Nothing stops the charge at the provider: charge at once (the answer needs no
    record)."""
    return Step.CREATE if charge_blocker(view) is None else None


def _after_check(u: Unit, flow: Flow, view: AccountView) -> Advance:
    blocker = charge_blocker(view)
    if blocker is None and _seller_enabled(u, flow):
        if _first(flow) or flow.data.get(CHECKED) is True:
            return Advance(to=Step.CREATE)
        # The first check may have sent a create whose answer was lost: send it again as
        # a replay (it keeps the key's clock, so a forgotten key asks first).
        return Advance(to=Step.REPLAY, data={UNANSWERED: True})
    why = blocker or "the seller is switched off in the shop"
    return _end_check(u, flow, SellerCannotCharge.code, why)


def _seller_enabled(u: Unit, flow: Flow) -> bool:
    """The shop's own switch for the seller (the provider's account is read by
    ``check_seller``: :func:`paycore.connect.charge_blocker`)."""
    seller = u.get(s.SELLERS, _prm(flow).seller_id)
    return seller is not None and seller.charges_enabled


def _create(flow: Flow) -> Remote[IntentView]:
    return _create_call(flow, ask=Step.REPLAY)


def _replay(flow: Flow) -> Remote[IntentView]:
    """The create again, same request and same key: the provider replays the first
    request's result, or makes the intent if the first never arrived
    (docs.stripe.com/api/idempotent_requests)."""
    return _create_call(flow, ask=Step.FIND)


def _create_call(flow: Flow, ask: Step) -> Remote[IntentView]:
    prm = _prm(flow)
    req = CreateIntent(
        amount=Money(prm.amount, prm.currency),
        account=prm.account,
        metadata={
            "checkout_session_id": prm.session_id,
            "order_id": prm.order_id,
            "payment_id": prm.payment_id,
            **identity(prm.installation, prm.reference),
        },
        description=f"order {prm.order_id}",
    )
    k = key(flow, "create")
    return Remote(
        "create_intent",
        lambda p: p.create_intent(req, idempotency_key=k),
        _after_create,
        ask=ask,
        refused=_create_refused,
    )


def _settled(u: Unit, flow: Flow) -> Advance | None:
    """At ``create`` and ``replay``, before anything is sent (``FlowDef.settled``): a
    payment that holds its intent already is never sent a create again; the checkout
    ends as its adoption would (the seller switched off: ``abort`` cancels the intent)."""
    payment = _payment(u, flow)
    if payment.provider_intent_id is None:
        return None
    if not _seller_enabled(u, flow):
        return Advance(to=Step.ABORT, data={"error": SellerCannotCharge.code})
    if payment.lock_owner == flow.id:
        payment = u.save(s.PAYMENTS, payment, lock_owner=None)
    return Advance(done={"order_id": payment.order_id, "payment_id": payment.id}, reply=payment)


def _after_create(u: Unit, flow: Flow, view: IntentView) -> Advance:
    payment = _payment(u, flow)
    if not _is_mine(u, flow, view, payment):
        # Never expected (the key is this installation's): keep away from it.
        return Advance(to=Step.ABORT, data={"error": "intent_mismatch"})
    return _adopt(u, flow, view, payment)


def _create_refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    if isinstance(err, ProviderIdempotencyMismatch):
        # The key answers for another request: this create never ran under it. The list
        # says what exists; a new key generation follows once nothing can still land.
        return Advance(to=Step.FIND, data={"last_error": err.code})
    # A refusal at ``create`` is its answer: nothing sent can land later (the abort waits
    # for none). Not a refused API key, checked before the idempotency key (it says
    # nothing of a request sent before), nor at ``replay`` (it follows a lost answer).
    sure = flow.step == Step.CREATE and not isinstance(err, ProviderConfigurationError)
    return Advance(to=Step.ABORT, data={"error": err.code, **({ANSWERED: True} if sure else {})})


def _adopt(u: Unit, flow: Flow, view: IntentView, payment: Payment) -> Advance:
    if not _seller_enabled(u, flow):
        # Switched off since the checkout began: the intent is never handed out; the
        # abort cancels it and releases the stock (S11).
        return Advance(to=Step.ABORT, data={"error": SellerCannotCharge.code})
    payment = apply_intent(u, payment, view, lock_owner=None)  # the claim ends in the same write
    return Advance(done={"order_id": payment.order_id, "payment_id": payment.id}, reply=payment)


def _is_mine(u: Unit, flow: Flow, view: IntentView, payment: Payment) -> bool:
    """Is ``view`` this checkout's intent? ``payment``: the flow's payment, read once."""
    return intent_is_payments(view, payment, order_of(u, payment), _prm(flow).installation)


def _mine(u: Unit, flow: Flow, views: Found) -> Found:
    """The listed intents that are this payment's, oldest first (ties in ``created``,
    which is whole seconds, by id); others are left alone."""
    found = sorted(views, key=lambda v: (v.created, v.id))
    payment = _payment(u, flow)
    return [v for v in found if _is_mine(u, flow, v, payment)]


def _find(flow: Flow) -> Remote[Found]:
    return attrs.evolve(_lookup(flow, _after_find), refused=_find_unanswered, best_effort=True)


def _find_unanswered(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    """Any list error is retried, as the engine's policy would; the window is recorded
    for an abort that a give-up starts."""
    return Advance(retry=err.code, data={SENT_BY: _sent_by(flow)})


def _after_find(u: Unit, flow: Flow, views: Found) -> Advance:
    found = _mine(u, flow, views)
    if found:
        return _adopt(u, flow, found[0], _payment(u, flow))
    since = _sent_by(flow)
    if u.answered_at() - since < _prm(flow).landing_ms:  # when the list was read
        # The replay's request, or the first, may still be on its way: wait (no strike:
        # the provider is away, nothing is wrong with the request).
        why = "no intent listed yet; a request may still land"
        return Advance(retry=why, transient=True, data={SENT_BY: since})
    # None landed by now: the earlier attempts had no effect, so a new key generation is
    # safe (the old key may replay a saved 5xx forever). It counts as a retry, so a
    # provider that keeps failing ends in compensation.
    return Advance(
        to=Step.CREATE,
        retry="no intent found after an unanswered create",
        data={"keygen": flow.data.get("keygen", 0) + 1, SENT_BY: None},
    )


def _abort(flow: Flow) -> Remote[Found]:
    return _lookup(flow, _after_abort_lookup)


def _after_abort_lookup(u: Unit, flow: Flow, views: Found) -> Advance:
    found = _mine(u, flow, views)
    live = [v for v in found if v.status in CANCELABLE]
    window = {SENT_BY: _sent_by(flow)}  # abort comes back after these: same window
    if live:
        return Advance(to=Step.CANCEL_FOUND, data={"cancel_id": live[0].id, **window})
    payment = _payment(u, flow)
    recorded = payment.provider_intent_id
    if not found and recorded is None and _may_still_land(u, flow):
        # As ``find`` waits: a create sent and never answered may land yet; releasing
        # the stock now would leave its intent to the reconciler (no strike: nothing is
        # wrong with the request).
        why = "no intent listed yet; a create may still land"
        return Advance(retry=why, transient=True, data=window)
    unlisted = recorded is not None and recorded not in {v.id for v in found}
    if unlisted and payment.status not in PAYMENT.terminal:
        # An intent the payment records (its secret may be out) must be ended even when
        # the list did not return it (made outside the window: the provider's clock).
        return Advance(to=Step.SYNC_RECORDED, data={"recorded": recorded, **window})
    for view in found:
        if payment.provider_intent_id in (None, view.id):
            payment = apply_intent(u, payment, view)
    if payment.status is PaymentStatus.PROCESSING:
        return Advance(retry="intent is processing; waiting for it to settle")
    return _close(u, flow, u.save(s.PAYMENTS, payment, lock_owner=None))


def _may_still_land(u: Unit, flow: Flow) -> bool:
    """May a create request of this checkout still land (the list read at
    ``u.answered_at()``)? When one went unanswered (an ambiguous answer, a ``find``, a
    lost answer before a seller check ended the checkout), until ``landing_ms`` passed
    since the last went out; never after the create's refusal (:data:`ANSWERED`)."""
    data = flow.data
    if data.get(ANSWERED) is True:
        return False
    if "last_error" not in data and SENT_BY not in data and data.get(UNANSWERED) is not True:
        return False
    return u.answered_at() - _sent_by(flow) < _prm(flow).landing_ms


def _sync_recorded(flow: Flow) -> Remote[IntentView]:
    return Remote(
        "retrieve_intent", lambda p: p.retrieve_intent(flow.data["recorded"]), _after_sync_recorded
    )


def _after_sync_recorded(u: Unit, flow: Flow, view: IntentView) -> Advance:
    payment = apply_intent(u, _payment(u, flow), view)
    if view.status in CANCELABLE:
        return Advance(to=Step.CANCEL_FOUND, data={"cancel_id": view.id})
    if payment.status is PaymentStatus.PROCESSING:
        return Advance(retry="intent is processing; waiting for it to settle")
    return Advance(to=Step.ABORT)


DEF = FlowDef(
    kind="checkout",
    steps={
        Step.CHECK_SELLER: step(_check_seller, Step.CREATE, Step.REPLAY, Step.ABORT),
        Step.CREATE: step(_create, Step.REPLAY, Step.ABORT),
        Step.REPLAY: step(_replay, Step.FIND, Step.ABORT),
        Step.FIND: step(_find, Step.CREATE, Step.ABORT),
        Step.ABORT: step(_abort, Step.CANCEL_FOUND, Step.SYNC_RECORDED),
        Step.CANCEL_FOUND: step(cancel_found, Step.ABORT),
        Step.SYNC_RECORDED: step(_sync_recorded, Step.CANCEL_FOUND, Step.ABORT),
    },
    give_up=Step.ABORT,
    ask_first={Step.CREATE: Step.FIND, Step.REPLAY: Step.FIND},
    resends=frozenset({Step.REPLAY}),
    settled={Step.CREATE: _settled, Step.REPLAY: _settled},
)
