"""Seeded bugs re-creating the seed's checkout flaws (registered into ``bugs.BUGS``).

Each switch re-creates one flaw of the old service (S1-S9 of
``/work/shared/seed/FINDINGS.md``) inside paycore's flows with
``unittest.mock.patch`` for the duration of a harness run, and restores the
code on exit. The rest of paycore keeps running, so the invariants see the
damage the flaw does rather than an exception. A name is patched where it is
looked up: a module that did ``from x import f`` holds its own reference, so
that module is patched, and a flow's step table (``FlowDef.steps``) holds the
step functions themselves, so it is patched with ``mock.patch.dict``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast
from unittest import mock

import attrs

from paycore import jobs
from paycore import schema as s
from paycore.config import Config
from paycore.errors import (
    CommitUnknown,
    OperationalError,
    PaycoreError,
    ProviderError,
    ProviderInvalidRequest,
)
from paycore.flows import checkout, payments, refunds, sync
from paycore.flows.checkout import CartItem
from paycore.flows.engine import (
    Advance,
    Engine,
    Local,
    Remote,
    StepReport,
    StepSpec,
    create_flow,
    key,
    step,
)
from paycore.flows.steps import CancelStep, CheckoutStep
from paycore.machines import FLOW, ORDER, PAYMENT, RESERVATION
from paycore.money import Money
from paycore.ports import IntentView
from paycore.records import Flow, Payment, Refund, Reservation, Stock
from paycore.schema import Table
from paycore.status import FlowStatus, OrderStatus, PaymentStatus, ReservationStatus
from paycore.unit import Unit, evolve

from .bugs import BugStep, force_stock, patched, seeded, steps_patched

P = PaymentStatus
HELD = ReservationStatus.HELD
StepFn = Callable[[Unit, Flow], Advance]

# The real functions, taken at import, before any switch replaces them.
_KEY = key
_BEGIN = checkout.begin
_FLOW_ID_FOR = checkout.flow_id_for
_CREATE_FLOW = create_flow
_CREATE = checkout._create
_ABORT_SEARCH = checkout._after_abort_search
_BEGIN_CANCEL = payments.begin_cancel
_SETTLE = payments._settle
_CONFIRM_REFUSED = payments._confirm_refused
_UNIQUE_VALUES = Table.unique_values
_COMMIT_STEP = Engine._commit_step


# --- helpers shared by the switches ----------------------------------------------------


class _UnitView:
    """A :class:`Unit` that drops some writes: the bug writes them elsewhere, or never.

    Everything else goes to the real unit, so the wrapped paycore code runs unchanged.
    """

    def __init__(
        self,
        u: Unit,
        *,
        skip: frozenset[str] = frozenset(),
        no_stock: bool = False,
        unseen: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self._u = u
        self._skip = skip  # tables whose inserts are dropped
        self._no_stock = no_stock  # drop stock counter changes
        self._unseen = unseen  # (table, field) lookups that find nothing

    def __getattr__(self, name: str) -> Any:
        return getattr(self._u, name)

    def create(self, table: Table[Any], record: Any, machine: Any = None) -> Any:
        if table.name in self._skip:
            return record
        return self._u.create(table, record, machine)

    def change_stock(self, seller_id: str, sku: str, **changes: Any) -> Any:
        if self._no_stock:
            return self._u.stock(seller_id, sku)
        return self._u.change_stock(seller_id, sku, **changes)

    def find(self, table: Table[Any], field: str, value: object) -> list[Any]:
        if (table.name, field) in self._unseen:
            return []
        return self._u.find(table, field, value)


def _as_unit(view: _UnitView) -> Unit:
    return cast(Unit, view)


_release_held = sync.release_held


def _oldest(views: Sequence[IntentView]) -> list[IntentView]:
    return sorted(views, key=lambda v: (v.created, v.id))


# --- S1 ---------------------------------------------------------------------------------


def _s1_create(flow: Flow) -> Remote[IntentView]:
    """An unanswered create is not resolved by asking the provider what it made: it is
    simply tried again (and with ``_s1``'s keys, that is a new request)."""
    return attrs.evolve(_CREATE(flow), ask=None)


def _s1_after_abort_search(u: Unit, flow: Flow, views: list[IntentView]) -> Advance:
    """The rollback releases the stock and closes the order as if no intent existed: what
    the search found is neither canceled nor recorded (old lines 258-275)."""
    return _ABORT_SEARCH(u, flow, [])


@seeded(
    "S1",
    "a created intent whose local write failed is neither adopted nor canceled: a retried "
    "create after a lost answer (crash, failed commit) uses a new idempotency key and makes "
    "another intent, and the rollback closes the order without canceling what it finds",
    "one-live-intent-per-session",
)
@contextmanager
def _s1() -> Iterator[None]:
    attempt = itertools.count(1)

    def fresh_key(flow: Flow, step: str) -> str:
        if step == "create":
            # Nothing ties the call to the checkout: each attempt is a new request.
            return f"{flow.id}:create:attempt-{next(attempt)}"
        return _KEY(flow, step)

    with (
        patched(
            ("paycore.flows.checkout.key", fresh_key),
            ("paycore.flows.checkout._after_abort_search", _s1_after_abort_search),
        ),
        steps_patched(checkout.DEF, replace={CheckoutStep.CREATE: _s1_create}),
    ):
        yield


# --- S2 ---------------------------------------------------------------------------------


def _s2_begin(
    u: Unit, config: Config, session_id: str, cart: Sequence[CartItem], owner: str
) -> str:
    """``createOrder`` commits the order, its lines and reservations; the payment record
    is not part of that transaction."""
    return _BEGIN(
        _as_unit(_UnitView(u, skip=frozenset({s.PAYMENTS.name}))), config, session_id, cart, owner
    )


def _s2_payment(u: Unit, flow: Flow) -> Payment:
    """``storePaymentIntent``: the payment record is written when the checkout first needs
    it (recording the intent, or rolling back), in a later transaction than its order."""
    p = u.get(s.PAYMENTS, flow.params["payment_id"])
    if p is not None:
        return p
    prm = flow.params
    payment = Payment(
        id=prm["payment_id"],
        order_id=prm["order_id"],
        checkout_session_id=prm["session_id"],
        seller_account=prm["account"],
        amount=Money(prm["amount"], prm["currency"]),
        created_at=u.now,
        lock_owner=flow.id,
    )
    return u.create(s.PAYMENTS, payment, PAYMENT)


def _s2_janitor(engine: Engine) -> list[str]:
    """``jobs.janitor``, stepping over an order that has no payment (it has nothing to
    cancel at the provider); the real one asserts that every order has its payment."""

    def body(u: Unit) -> list[str]:
        started: list[str] = []
        for order in u.find(s.ORDERS, "status", OrderStatus.PENDING):
            if order.expires_at > u.now or len(started) >= engine.config.job_batch:
                continue
            payment = u.get(s.PAYMENTS, order.payment_id)
            if payment is None:
                continue
            if payment.status is P.PROCESSING:
                jobs._maybe_unhold(u, engine.config.processing_hold_ms, order.expires_at, order.id)
                continue
            if sync.claimed(u, payment) or payment.status is P.CREATING:
                continue
            fid = payments.begin_cancel(u, payment.id, None, 0, reason="expired")
            if fid is not None:
                started.append(fid)
        return started

    started: list[str] = engine.transact(body)
    return started


@seeded(
    "S2",
    "order and payment are written in separate transactions: the order (with its lines and "
    "stock holds) commits first, the payment record only once the intent is recorded, so "
    "until then, or forever if that write never happens, the order has no payment",
    "one-order-per-session",
    "hold-tied-to-payment",
)
@contextmanager
def _s2() -> Iterator[None]:
    with patched(
        ("paycore.flows.checkout.begin", _s2_begin),
        ("paycore.flows.checkout._payment", _s2_payment),
        ("paycore.jobs.janitor", _s2_janitor),
    ):
        yield


# --- S3 ---------------------------------------------------------------------------------


def _s3_create(flow: Flow) -> Remote[IntentView]:
    """Any failure after the order exists rolls the checkout back (the old catch block),
    even an unanswered create that may well have made the intent."""
    return attrs.evolve(_CREATE(flow), ask=CheckoutStep.ABORT)


def _s3_after_abort_search(u: Unit, flow: Flow, views: list[IntentView]) -> Advance:
    """The rollback closes the order without canceling the intent: the intent is recorded
    on the payment (its client secret is out) and stays chargeable."""
    payment = checkout._payment(u, flow)
    for view in _oldest(views):
        if payment.provider_intent_id in (None, view.id):
            payment = sync.apply_intent(u, payment, view)
    payment = u.save(s.PAYMENTS, payment, lock_owner=None)
    if payment.status is P.SUCCEEDED:
        return Advance(done={"order_id": payment.order_id, "payment_id": payment.id})
    order = sync.order_of(u, payment)
    _release_held(u, order.id)
    if payment.status is P.CREATING:
        u.move(s.PAYMENTS, payment, PAYMENT, "creation_failed")
    if ORDER.allows(order.status, "cancel"):
        u.move(s.ORDERS, order, ORDER, "cancel")
    code = flow.data.get("error", "provider_unavailable")
    return Advance(
        failed=ProviderError(
            f"checkout {flow.params['session_id']} rolled back ({code})", reason=code
        )
    )


def _s3_begin_cancel(
    u: Unit, payment_id: str, owner: str | None, lease_until: int, reason: str = "requested"
) -> str | None:
    """The order is closed first: its stock is freed and it is canceled in the transaction
    that starts the cancel; the provider is asked only afterwards, and may refuse (the
    customer paid meanwhile) or never be reached."""
    flow_id = _BEGIN_CANCEL(u, payment_id, owner, lease_until, reason)
    if flow_id is not None:
        order = sync.order_of(u, payments.load_payment(u, payment_id))
        _release_held(u, order.id, "expire" if reason == "expired" else "release")
        if order.status is OrderStatus.PENDING:
            u.move(s.ORDERS, order, ORDER, "cancel")
            u.notify(order.id, "order_canceled")
    return flow_id


@seeded(
    "S3",
    "orders are closed while their intent can still be charged: the checkout's rollback "
    "closes the order (stock freed, order canceled) and leaves the intent it finds live, "
    "and a cancel (requested, or the janitor's for an expired checkout) closes the order "
    "before the provider cancel, which may then fail or be refused",
    "closed-order-not-chargeable",
    "order-matches-payment",
)
@contextmanager
def _s3() -> Iterator[None]:
    with (
        patched(
            ("paycore.flows.checkout._after_abort_search", _s3_after_abort_search),
            ("paycore.flows.payments.begin_cancel", _s3_begin_cancel),
            ("paycore.jobs.begin_cancel", _s3_begin_cancel),
        ),
        steps_patched(checkout.DEF, replace={CheckoutStep.CREATE: _s3_create}),
    ):
        yield


# --- S4 ---------------------------------------------------------------------------------


class _S4Begin(_UnitView):
    """``begin``'s unit under S4: the availability check reads a count that does not see
    what other checkouts hold (what a concurrent request read before their holds landed),
    and nothing is held in the order's transaction."""

    def stock(self, seller_id: str, sku: str) -> Stock:
        return evolve(self._u.stock(seller_id, sku), {"held": 0})


def _s4_begin(
    u: Unit, config: Config, session_id: str, cart: Sequence[CartItem], owner: str
) -> str:
    view = _S4Begin(u, skip=frozenset({s.RESERVATIONS.name}), no_stock=True)
    return _BEGIN(_as_unit(view), config, session_id, cart, owner)


def _s4_create_flow(
    u: Unit, flow_id: str, kind: str, step: str, params: object = None, **lease: Any
) -> Flow:
    """The checkout starts with a ``reserve`` step of its own."""
    if kind == "checkout" and step == CheckoutStep.CHECK_SELLER:
        step = BugStep.RESERVE
    return _CREATE_FLOW(u, flow_id, kind, step, params, **lease)


def _s4_reserve(u: Unit, flow: Flow) -> Advance:
    """``reserveStock``, apart from the order: every line is held, unconditionally, on the
    strength of the check made when the order was written."""
    order = u.get(s.ORDERS, flow.params["order_id"])
    assert order is not None
    for i, line in enumerate(order.lines):
        force_stock(u, line.seller_id, line.sku, held=line.quantity)
        r = Reservation(
            f"{order.id}/{i}",
            order.id,
            line.sku,
            line.quantity,
            order.expires_at,
            line=i,
            seller_id=line.seller_id,
        )
        u.create(s.RESERVATIONS, r, RESERVATION)
    return Advance(to=CheckoutStep.CHECK_SELLER)


@seeded(
    "S4",
    "stock is reserved apart from the order and without an atomic availability check: the "
    "check made with the order does not see other checkouts' holds (as two concurrent "
    "requests would not), and the hold is taken in a later step without checking again, so "
    "several buyers hold the last unit",
    "no-oversell",
    "stock-conserved",
)
@contextmanager
def _s4() -> Iterator[None]:
    with (
        patched(
            ("paycore.flows.checkout.begin", _s4_begin),
            ("paycore.flows.checkout_begin.create_flow", _s4_create_flow),
        ),
        steps_patched(
            checkout.DEF,
            add={BugStep.RESERVE: step(lambda flow: Local(_s4_reserve), CheckoutStep.CHECK_SELLER)},
        ),
    ):
        yield


# --- S5 ---------------------------------------------------------------------------------


def _unlock(payment: Payment, flow: Flow) -> dict[str, Any]:
    return {"lock_owner": None} if payment.lock_owner == flow.id else {}


def _s5_after_cancel(u: Unit, flow: Flow, view: IntentView) -> Advance:
    """``updatePaymentIntentStatus(canceled)``: the payment alone; stock and order follow
    in steps of their own."""
    payment = payments._mine(u, flow)
    if payment.status not in PAYMENT.terminal:
        u.move(
            s.PAYMENTS,
            payment,
            PAYMENT,
            "cancel",
            provider_status=view.status,
            **_unlock(payment, flow),
        )
    elif _unlock(payment, flow):
        u.save(s.PAYMENTS, payment, lock_owner=None)
    return Advance(to=BugStep.RELEASE_STOCK)


def _s5_release(u: Unit, flow: Flow) -> Advance:
    """Release the stock; "cancellation should succeed even if release fails"."""
    payment = payments._mine(u, flow)
    trigger = "expire" if flow.params.get("reason") == "expired" else "release"
    try:
        _release_held(u, payment.order_id, trigger)
    except PaycoreError as exc:
        return Advance(to=BugStep.CLOSE_ORDER, data={"release_error": exc.code})
    return Advance(to=BugStep.CLOSE_ORDER)


def _s5_close(u: Unit, flow: Flow) -> Advance:
    """``updateOrderStatus(canceled)``, last and on its own."""
    payment = payments._mine(u, flow)
    order = sync.order_of(u, payment)
    if order.status is OrderStatus.PENDING:
        u.move(s.ORDERS, order, ORDER, "cancel")
        u.notify(order.id, "order_canceled")
    return Advance(done=payments._status(payment))


@seeded(
    "S5",
    "cancel is done in pieces: after the provider cancel, the payment status, the stock "
    "release and the order status are written in separate transactions, so in between (and "
    "for good if a piece fails) the payment is canceled while its stock is held and its "
    "order still pending",
    "hold-tied-to-payment",
    "no-stale-hold",
    "stock-kept-for-live-payment",
)
@contextmanager
def _s5() -> Iterator[None]:
    steps: dict[str, StepSpec] = {
        BugStep.RELEASE_STOCK: step(lambda flow: Local(_s5_release), BugStep.CLOSE_ORDER),
        BugStep.CLOSE_ORDER: step(lambda flow: Local(_s5_close)),
    }
    with (
        patched(("paycore.flows.payments._after_cancel", _s5_after_cancel)),
        steps_patched(
            payments.CANCEL,
            add=steps,
            edges={CancelStep.CALL: [BugStep.RELEASE_STOCK]},
        ),
    ):
        yield


# --- S6 ---------------------------------------------------------------------------------


def _s6_begin_refund(
    u: Unit,
    payment_id: str,
    amount: int | None,
    reason: str | None,
    idem_key: str,
    *,
    restock: bool = False,
) -> Refund:
    """The old ``createRefund``: look the payment up and refund. No check of its status or
    of what is still refundable, and the caller's key deduplicates nothing."""
    payment = payments.load_payment(u, payment_id)
    want = payment.amount.amount if amount is None else amount
    fresh = f"{idem_key}:call-{u.tx.next_seq('seeded-bug-s6')}"
    return refunds.open_refund(
        u, payment, amount=want, reason=reason, idempotency_key=fresh, restock=restock
    )


@seeded(
    "S6",
    "refunds are not validated or idempotent: any amount is accepted whatever the payment's "
    "status and earlier refunds, a repeated request (same idempotency key) refunds again, "
    "and a retried provider call uses a new key",
    "refunds-within-captured",
)
@contextmanager
def _s6() -> Iterator[None]:
    attempt = itertools.count(1)

    def fresh_key(flow: Flow, step: str) -> str:
        return f"{flow.id}:{step}:attempt-{next(attempt)}"

    with patched(
        ("paycore.flows.refunds.begin_refund", _s6_begin_refund),
        ("paycore.flows.refunds.key", fresh_key),
    ):
        yield


# --- S7 ---------------------------------------------------------------------------------


def _s7_after_cancel(u: Unit, flow: Flow, view: IntentView) -> Advance:
    """Record the cancellation (payment and order canceled); the stock release is left to
    a follow-up step of its own."""
    payment = payments._mine(u, flow)
    if payment.status not in PAYMENT.terminal:
        payment = u.move(
            s.PAYMENTS,
            payment,
            PAYMENT,
            "cancel",
            provider_status=view.status,
            **_unlock(payment, flow),
        )
        order = sync.order_of(u, payment)
        if order.status is OrderStatus.PENDING:
            u.move(s.ORDERS, order, ORDER, "cancel")
            u.notify(order.id, "order_canceled")
    elif _unlock(payment, flow):
        payment = u.save(s.PAYMENTS, payment, lock_owner=None)
    return Advance(to=BugStep.RELEASE_STOCK, data={"s7_status": payment.status.value})


def _s7_release(u: Unit, flow: Flow, answer: None) -> Advance:
    """The inventory service's answer: release the stock; an error is logged and forgotten
    ("Don't throw - cancellation should succeed even if release fails")."""
    payment = payments._mine(u, flow)
    trigger = "expire" if flow.params.get("reason") == "expired" else "release"
    try:
        _release_held(u, payment.order_id, trigger)
    except PaycoreError as exc:
        return Advance(done={**payments._status(payment), "release_error": exc.code})
    return Advance(done=payments._status(payment))


def _s7_release_step(flow: Flow) -> Remote[None]:
    """``inventoryService.releaseReservation``: a call of its own after the cancellation."""
    return Remote("release_inventory", lambda p: None, _s7_release)


def _s7_commit_step(
    self: Engine, flow_id: str, effect: str, fn: StepFn, *, expect_version: int
) -> StepReport:
    """A store failure while releasing is logged and forgotten too: the flow is finished
    without the release, nothing is kept to retry it, nobody is alerted."""
    try:
        return _COMMIT_STEP(self, flow_id, effect, fn, expect_version=expect_version)
    except OperationalError as exc:
        if isinstance(exc, CommitUnknown) or effect != "apply:release_inventory":
            raise
        ignored = f"{exc.code}: {exc.message}"

    def forget(u: Unit) -> str:
        flow = u.get(s.FLOWS, flow_id)
        if flow is None or flow.version != expect_version or flow.status is not FlowStatus.ACTIVE:
            return "lease_lost"
        u.move(s.FLOWS, flow, FLOW, "finish", result={"release_error": ignored})
        return "succeeded"

    result = self.transact(forget, flow_id)
    return StepReport(
        flow_id, "cancel", "release_stock", effect, f"{result} (release failed: {ignored})"
    )


@seeded(
    "S7",
    "the stock release after a cancellation is a separate best-effort step whose failure is "
    "logged and forgotten: the payment and order are canceled while the stock stays held, "
    "for good when the release fails",
    "hold-tied-to-payment",
    "no-stale-hold",
)
@contextmanager
def _s7() -> Iterator[None]:
    with (
        patched(("paycore.flows.payments._after_cancel", _s7_after_cancel)),
        steps_patched(
            payments.CANCEL,
            add={BugStep.RELEASE_STOCK: step(_s7_release_step)},
            edges={CancelStep.CALL: [BugStep.RELEASE_STOCK]},
        ),
        mock.patch.object(Engine, "_commit_step", _s7_commit_step),
    ):
        yield


# --- S8 ---------------------------------------------------------------------------------


@seeded(
    "S8",
    "no duplicate check for a checkout session: the existing order is not looked up and the "
    "unique constraint on the session is gone, so every request for one session makes "
    "another order, another payment and another intent",
    "one-order-per-session",
    "one-live-intent-per-session",
)
@contextmanager
def _s8() -> Iterator[None]:
    current: list[str] = []

    def flow_id_for(session_id: str) -> str:
        return current[-1] if current else _FLOW_ID_FOR(session_id)

    def begin(
        u: Unit, config: Config, session_id: str, cart: Sequence[CartItem], owner: str
    ) -> str:
        # Each request runs its own checkout flow for the session.
        n = len(u.find(s.ORDERS, "checkout_session_id", session_id))
        first = _FLOW_ID_FOR(session_id)
        current.append(first if n == 0 else f"{first}:{n + 1}")
        view = _UnitView(u, unseen=frozenset({(s.ORDERS.name, "checkout_session_id")}))
        try:
            return _BEGIN(_as_unit(view), config, session_id, cart, owner)
        finally:
            current.pop()

    def unique_values(
        self: Table[Any], record: Any
    ) -> list[tuple[tuple[str, ...], tuple[Any, ...]]]:
        out = _UNIQUE_VALUES(self, record)
        if self.name == s.ORDERS.name:
            out = [(fields, values) for fields, values in out if fields != ("checkout_session_id",)]
        return out

    with (
        patched(
            ("paycore.flows.checkout.begin", begin),
            ("paycore.flows.checkout.flow_id_for", flow_id_for),
            ("paycore.flows.checkout_begin.flow_id_for", flow_id_for),
        ),
        mock.patch.object(Table, "unique_values", unique_values),
    ):
        yield


# --- S9 ---------------------------------------------------------------------------------


def _s9_claim(u: Unit, payment: Payment, flow_id: str, **changes: object) -> Payment:
    """No lock: confirm and cancel read the payment and go ahead side by side."""
    return u.save(s.PAYMENTS, payment, **changes)


def _s9_settle(
    u: Unit, flow: Flow, view: IntentView | None, release_as: str = "release"
) -> Payment:
    """``updatePaymentIntentStatus(id, result.status)``: each call writes the status its own
    provider answer gave, over whatever the other call recorded meanwhile."""
    payment = payments._mine(u, flow)
    if view is None or payment.status not in PAYMENT.terminal:
        return _SETTLE(u, flow, view, release_as)
    target = sync.LOCAL_STATUS[view.status]
    if target is payment.status:
        return _SETTLE(u, flow, view, release_as)
    return u.save(
        s.PAYMENTS,
        payment,
        status=target,
        provider_status=view.status,
        last_error=view.last_error_code,
        **_unlock(payment, flow),
    )


def _s9_confirm_refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    """A confirm the provider refused (the intent moved on: canceled, or paid by another
    confirm) is recorded as failed over whatever was recorded meanwhile, as the old
    ``confirmPayment`` did ("Update DB to 'failed'")."""
    if isinstance(err, ProviderInvalidRequest) and not err.fields.get("param"):
        payment = payments._mine(u, flow)
        payment = u.save(
            s.PAYMENTS, payment, status=P.FAILED, last_error=err.code, **_unlock(payment, flow)
        )
        return Advance(done=payments._status(payment, declined=err.message))
    return _CONFIRM_REFUSED(u, flow, err)


@seeded(
    "S9",
    "confirm and cancel take no claim on the payment and each writes the status its own "
    "provider answer gave (a refused confirm writes 'failed'), over whatever the other one "
    "recorded meanwhile: a canceled or paid payment becomes open, failed or pending again "
    "under its closed or paid order, its stock held",
    "audit-replays",
    "order-matches-payment",
    "hold-tied-to-payment",
)
@contextmanager
def _s9() -> Iterator[None]:
    with patched(
        ("paycore.flows.payments._claim", _s9_claim),
        ("paycore.flows.payments._settle", _s9_settle),
        ("paycore.flows.payments._confirm_refused", _s9_confirm_refused),
    ):
        yield
