"""Seeded bugs re-creating the seed's payments flaws (registered into ``bugs.BUGS``).

Each switch patches paycore's flows with ``unittest.mock.patch`` for the
duration of a harness run, so that the old service's flaw exists inside
paycore while the rest of paycore keeps running and the invariants can see
the damage. A name is patched where it is looked up: a module that did
``from x import f`` holds its own reference, so that module is patched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

from paycore import schema as s
from paycore.config import Config
from paycore.errors import (
    CommitUnknown,
    InvalidCheckoutSession,
    OperationalError,
    OutOfStock,
    ProviderError,
    ProviderInvalidRequest,
)
from paycore.flows import checkout, checkout_begin, payments, sync, webhooks
from paycore.flows.engine import (
    Advance,
    Engine,
    Local,
    Remote,
    StepReport,
    create_flow,
    key,
)
from paycore.flows.identity import identity
from paycore.flows.params import ConfirmParams, WebhookParams
from paycore.flows.steps import CheckoutStep, ConfirmStep, WebhookStep
from paycore.machines import FLOW, ORDER, PAYMENT, RESERVATION
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView, ProviderEvent
from paycore.records import Flow, Order, OutboxMessage, Payment, Reservation
from paycore.status import FlowStatus, OrderStatus, PaymentStatus, ReservationStatus
from paycore.unit import Unit

from .bugs import force_stock, patched, seeded, steps_patched

P = PaymentStatus
HELD = ReservationStatus.HELD
StepFn = Callable[[Unit, Flow], Advance]

# The real functions, taken at import, before any switch replaces them.
_APPLY_INTENT = sync.apply_intent
_ON_PAID = sync._on_paid
_BEGIN_CONFIRM = payments.begin_confirm
_BEGIN_WEBHOOK = webhooks.begin_webhook
_BEGIN_CHECKOUT = checkout.begin
_AFTER_CHECK = checkout._after_check
_CREATE_REFUSED = checkout._create_refused
_COMMIT_STEP = Engine._commit_step
_AFTER_INTENT = webhooks._after_intent


# --- helpers shared by the switches ----------------------------------------------------


def _commit_lines(u: Unit, order: Order, payment: Payment, held: Sequence[Reservation]) -> None:
    """Commit ``held`` and mark the order paid (what ``sync._on_paid`` does when all is well)."""
    for r in held:
        u.move(s.RESERVATIONS, r, RESERVATION, "commit")
        force_stock(u, r.seller_id, r.sku, held=-r.quantity, committed=r.quantity)
    u.move(s.ORDERS, order, ORDER, "pay")
    u.notify(order.id, "order_paid", amount=payment.amount.amount)


# --- S10 --------------------------------------------------------------------------------


def _s10_apply_intent(
    u: Unit, payment: Payment, view: IntentView, *, release_as: str = "release", **changes: Any
) -> Payment:
    """Record the provider's view; a success seen again runs its effects again: the old
    ``commitReservationsBySession`` and order email never asked whether the payment was
    already confirmed."""
    already = payment.status is P.SUCCEEDED
    payment = _APPLY_INTENT(u, payment, view, release_as=release_as, **changes)
    if already and view.status == "succeeded":
        order = sync.order_of(u, payment)
        for r in sync.reservations_of(u, order.id):
            if r.status is ReservationStatus.COMMITTED:
                force_stock(u, r.seller_id, r.sku, committed=r.quantity)
        n = u.tx.next_seq("seeded-bug-outbox")
        u.queued.append(f"{order.id}:order_paid:again-{n}")
        u.tx.insert(
            s.OUTBOX,
            OutboxMessage(
                id=f"{order.id}:order_paid:again-{n}",
                order_id=order.id,
                kind="order_paid",
                created_at=u.now,
                payload={"amount": payment.amount.amount},
            ),
        )
    return payment


def _s10_begin_confirm(
    u: Unit,
    payment_id: str,
    payment_method: str | None,
    return_url: str | None,
    owner: str,
    lease_until: int,
) -> str | None:
    """``begin_confirm`` without its "already succeeded" check: the client confirms again."""
    payment = payments.load_payment(u, payment_id)
    if payment.status is not P.SUCCEEDED:
        return _BEGIN_CONFIRM(u, payment_id, payment_method, return_url, owner, lease_until)
    attempt = payment.confirm_attempts + 1
    flow_id = f"confirm:{payment_id}:{attempt}"
    payments._claim(u, payment, flow_id, confirm_attempts=attempt)
    create_flow(
        u,
        flow_id,
        "confirm",
        ConfirmStep.CALL,
        ConfirmParams(payment_id, str(payment.provider_intent_id), payment_method, return_url),
        owner=owner,
        lease_until=lease_until,
    )
    return flow_id


def _s10_begin_webhook(u: Unit, event: ProviderEvent, owner: str, lease_until: int) -> str | None:
    """No inbox check: a duplicate delivery is processed again."""
    if u.get(s.INBOX, event.id) is None:
        return _BEGIN_WEBHOOK(u, event, owner, lease_until)
    flow_id = f"webhook:{event.id}:again-{u.tx.next_seq('seeded-bug-webhook')}"
    create_flow(
        u,
        flow_id,
        "webhook",
        WebhookStep.FETCH,
        WebhookParams(event.id, event.object_kind, event.object_id),
        owner=owner,
        lease_until=lease_until,
    )
    return flow_id


@seeded(
    "S10",
    "webhook and client both confirm: the inbox does not deduplicate events, confirm does not "
    "check that the payment already succeeded, and whoever sees the success commits the stock "
    "and emails the customer again",
    "effects-once",
    "stock-conserved",
)
@contextmanager
def _s10() -> Iterator[None]:
    with patched(
        ("paycore.flows.webhooks.apply_intent", _s10_apply_intent),
        ("paycore.flows.payments.apply_intent", _s10_apply_intent),
        ("paycore.flows.payments.begin_confirm", _s10_begin_confirm),
        ("paycore.flows.webhooks.begin_webhook", _s10_begin_webhook),
    ):
        yield


# --- S11 --------------------------------------------------------------------------------


def _s11_check_seller(flow: Flow) -> Local:
    """The seller was checked once, locally, when the checkout began; nothing asks again
    before the charge."""
    return Local(lambda u, f: Advance(to=CheckoutStep.CREATE))


def _s11_create_refused(u: Unit, flow: Flow, err: ProviderError) -> Advance:
    """The provider refuses the charge (the account cannot charge): the error is thrown,
    but the stock held for the order stays held."""
    if isinstance(err, ProviderInvalidRequest):
        payment = checkout._payment(u, flow)
        u.move(s.PAYMENTS, payment, PAYMENT, "creation_failed", lock_owner=None)
        return Advance(failed=err)
    return _CREATE_REFUSED(u, flow, err)


@seeded(
    "S11",
    "the seller's ability to charge is checked once when the checkout begins and not again "
    "right before the provider call; when the provider then refuses, the error is thrown "
    "with the stock still held",
    "hold-tied-to-payment",
    "order-matches-payment",
    "no-stale-hold",
)
@contextmanager
def _s11() -> Iterator[None]:
    with (
        steps_patched(checkout.DEF, replace={CheckoutStep.CHECK_SELLER: _s11_check_seller}),
        mock.patch("paycore.flows.checkout._create_refused", _s11_create_refused),
    ):
        yield


# --- S12 --------------------------------------------------------------------------------


def _active_lines(u: Unit, order: Order) -> set[int]:
    """The order's lines whose product the live catalog still sells."""
    out: set[int] = set()
    for i, line in enumerate(order.lines):
        product = u.get(s.PRODUCTS, line.product_id)
        if product is not None and not product.deleted:
            out.add(i)
    return out


def _s12_after_check(u: Unit, flow: Flow, can_charge: bool) -> Advance:
    """Price the charge from the live products, not from the order's snapshot."""
    adv = _AFTER_CHECK(u, flow, can_charge)
    if adv.to != CheckoutStep.CREATE:
        return adv
    order = u.get(s.ORDERS, flow.params["order_id"])
    assert order is not None
    amount = 0
    for line in order.lines:
        product = u.get(s.PRODUCTS, line.product_id)
        price = product.price.amount if product is not None else line.unit_price.amount
        amount += price * line.quantity
    return Advance(to=CheckoutStep.CREATE, data={**adv.data, "live_amount": amount})


def _s12_create(flow: Flow) -> Remote[IntentView]:
    """``checkout._create`` charging the live amount."""
    prm = flow.params
    req = CreateIntent(
        amount=Money(flow.data.get("live_amount", prm["amount"]), prm["currency"]),
        account=prm["account"],
        metadata={
            "checkout_session_id": prm["session_id"],
            "order_id": prm["order_id"],
            "payment_id": prm["payment_id"],
            **identity(prm["installation"], prm["reference"]),
        },
        description=f"order {prm['order_id']}",
    )
    k = key(flow, "create")
    return Remote(
        "create_intent",
        lambda p: p.create_intent(req, idempotency_key=k),
        _s12_adopt,
        ask=CheckoutStep.FIND,
        refused=checkout._create_refused,
    )


def _s12_adopt(u: Unit, flow: Flow, view: IntentView) -> Advance:
    """``checkout._after_create`` adopting what it created without checking it."""
    return checkout._adopt(u, flow, view)


def _s12_on_paid(u: Unit, payment: Payment) -> None:
    """Commit the order's lines as the live catalog shows them: a product deleted meanwhile
    is no longer sold, so its line is dropped and its stock never committed."""
    order = sync.order_of(u, payment)
    if order.status is not OrderStatus.PENDING:
        return
    active = _active_lines(u, order)
    if len(active) == len(order.lines):
        _ON_PAID(u, payment)
        return
    held = [r for r in sync.reservations_of(u, order.id) if r.status is HELD and r.line in active]
    _commit_lines(u, order, payment, held)


def _s12_on_canceled(u: Unit, payment: Payment, release_as: str) -> None:
    """Release the order's lines as the live catalog shows them: the stock of a product
    deleted meanwhile is never given back."""
    order = sync.order_of(u, payment)
    active = _active_lines(u, order)
    for r in sync.reservations_of(u, order.id):
        if r.status is HELD and r.line in active:
            u.move(s.RESERVATIONS, r, RESERVATION, release_as)
            u.change_stock(r.seller_id, r.sku, held=-r.quantity)
    if order.status is OrderStatus.PENDING:
        u.move(s.ORDERS, order, ORDER, "cancel")
        u.notify(order.id, "order_canceled")


@seeded(
    "S12",
    "order lines are read from the live product instead of the order's snapshot: a product "
    "changed or deleted mid-payment changes what is charged and what stock is committed or "
    "given back",
    "hold-tied-to-payment",
    "no-double-charge",
    "amount-matches-order",
)
@contextmanager
def _s12() -> Iterator[None]:
    with (
        patched(
            ("paycore.flows.checkout._after_check", _s12_after_check),
            ("paycore.flows.sync._on_paid", _s12_on_paid),
            ("paycore.flows.sync._on_canceled", _s12_on_canceled),
        ),
        steps_patched(checkout.DEF, replace={CheckoutStep.CREATE: _s12_create}),
    ):
        yield


# --- S14 --------------------------------------------------------------------------------


def _expire_holds(u: Unit, limit: int) -> list[str]:
    """Release the stock of every reservation past its TTL, on its clock alone: the
    payment is not canceled at the provider and the order stays open, so the customer
    can still pay."""
    released: list[str] = []
    for order in u.find(s.ORDERS, "status", OrderStatus.PENDING):
        if order.expires_at > u.now:
            continue
        for r in sync.reservations_of(u, order.id):
            if r.status is HELD and len(released) < limit:
                u.move(s.RESERVATIONS, r, RESERVATION, "expire")
                u.change_stock(r.seller_id, r.sku, held=-r.quantity)
                released.append(r.id)
    return released


def _s14_janitor(engine: Engine) -> list[str]:
    """The janitor only expires reservations (no cancel flow, no provider call)."""
    released: list[str] = engine.transact(lambda u: _expire_holds(u, engine.config.job_batch))
    return released


def _s14_begin(
    u: Unit, config: Config, session_id: str, cart: Sequence[checkout.CartItem], owner: str
) -> str:
    """Reserve stock the way the old inventory service did: a hold counts only until its
    TTL (``expirationMinutes``), so stock still held for a payment that can succeed is
    sold again once the clock has passed."""
    stale: Counter[tuple[str, str]] = Counter()
    for order in u.find(s.ORDERS, "status", OrderStatus.PENDING):
        if order.expires_at <= u.now:
            for r in sync.reservations_of(u, order.id):
                if r.status is HELD:
                    stale[r.seller_id, r.sku] += r.quantity
    for (seller, sku), n in stale.items():
        force_stock(u, seller, sku, held=-n)  # not counted while reserving ...
    flow_id = _BEGIN_CHECKOUT(u, config, session_id, cart, owner)
    for (seller, sku), n in stale.items():
        force_stock(u, seller, sku, held=n)  # ... but still held for its payment
    return flow_id


def _s14_on_paid(u: Unit, payment: Payment) -> None:
    """A success commits the order's stock whether or not it is still held for it: a line
    whose hold expired takes its units back even if they were sold meanwhile."""
    order = sync.order_of(u, payment)
    if order.status is not OrderStatus.PENDING:
        return
    current = sync.reservations_of(u, order.id)
    live = {r.line: r for r in current if r.status is HELD}
    for i, line in enumerate(order.lines):
        if i not in live:
            r = Reservation(
                f"{order.id}/{i}/{len(current)}",
                order.id,
                line.sku,
                line.quantity,
                u.now,
                line=i,
                seller_id=line.seller_id,
            )
            live[i] = u.create(s.RESERVATIONS, r, RESERVATION)
            force_stock(u, line.seller_id, line.sku, held=line.quantity)
    _commit_lines(u, order, payment, [live[i] for i in sorted(live)])


@seeded(
    "S14",
    "reservation expiry is not coordinated with the payment: the janitor releases stock on "
    "its TTL without canceling the intent first, and a payment that succeeds afterwards "
    "commits stock that was sold to someone else (oversell)",
    "no-oversell",
    "hold-tied-to-payment",
    "no-stale-hold",
    "stock-kept-for-live-payment",
)
@contextmanager
def _s14() -> Iterator[None]:
    with patched(
        ("paycore.jobs.janitor", _s14_janitor),
        ("paycore.flows.checkout.begin", _s14_begin),
        ("paycore.flows.sync._on_paid", _s14_on_paid),
    ):
        yield


# --- S15 --------------------------------------------------------------------------------


def _s15_check_session_id(session_id: object) -> str:
    """The old check: the id is present. No format, no length."""
    if not session_id or not isinstance(session_id, str):
        raise InvalidCheckoutSession("checkoutSessionId is required")
    return session_id


def _s15_begin(
    u: Unit, config: Config, session_id: str, cart: Sequence[checkout.CartItem], owner: str
) -> str:
    """A known session is reused whatever cart comes with it and however old it is: the
    session's order is re-made from the new cart, while the payment (and the intent)
    made for the first cart stay as they are."""
    existing = u.find(s.ORDERS, "checkout_session_id", session_id)
    if not existing:
        return _BEGIN_CHECKOUT(u, config, session_id, cart, owner)
    order = existing[0]
    fp = checkout.fingerprint(cart)
    if order.cart_fingerprint == fp or order.status is not OrderStatus.PENDING:
        return checkout.flow_id_for(session_id)
    lines = checkout_begin._snapshot_lines(u, cart)
    current = sync.reservations_of(u, order.id)
    for r in current:
        if r.status is HELD:
            u.move(s.RESERVATIONS, r, RESERVATION, "release")
            u.change_stock(r.seller_id, r.sku, held=-r.quantity)
    for i, line in enumerate(lines):
        stock = u.stock(line.seller_id, line.sku)
        if stock.available < line.quantity:
            raise OutOfStock(
                f"only {stock.available} of {line.sku} left, {line.quantity} asked",
                sku=line.sku,
                available=stock.available,
                requested=line.quantity,
            )
        u.change_stock(line.seller_id, line.sku, held=line.quantity)
        rid = f"{order.id}/{i}/{len(current) + i}"
        r = Reservation(
            rid,
            order.id,
            line.sku,
            line.quantity,
            order.expires_at,
            line=i,
            seller_id=line.seller_id,
        )
        u.create(s.RESERVATIONS, r, RESERVATION)
    total = Money(
        sum(line.unit_price.amount * line.quantity for line in lines), order.total.currency
    )
    u.save(s.ORDERS, order, lines=tuple(lines), total=total, cart_fingerprint=fp)
    return checkout.flow_id_for(session_id)


@seeded(
    "S15",
    "checkout session ids are barely validated: any string is accepted, a session is reused "
    "for a different cart (the order is re-made, the intent of the first cart is charged) "
    "and never expires",
    "no-double-charge",
    "amount-matches-order",
    "service-answers",
)
@contextmanager
def _s15() -> Iterator[None]:
    with patched(
        ("paycore.flows.checkout.check_session_id", _s15_check_session_id),
        ("paycore.flows.checkout.begin", _s15_begin),
    ):
        yield


# --- S16 --------------------------------------------------------------------------------


def _s16_commit_step(
    self: Engine, flow_id: str, effect: str, fn: StepFn, *, expect_version: int
) -> StepReport:
    """Record a provider call's answer; if the store fails, log it and finish the flow as a
    success anyway ("Continue - webhook will handle this")."""
    try:
        return _COMMIT_STEP(self, flow_id, effect, fn, expect_version=expect_version)
    except OperationalError as exc:
        if isinstance(exc, CommitUnknown) or not effect.startswith("apply:"):
            raise
        ignored = f"{exc.code}: {exc.message}"

    def finish(u: Unit) -> StepReport:
        flow = u.get(s.FLOWS, flow_id)
        if flow is None or flow.version != expect_version or flow.status is not FlowStatus.ACTIVE:
            return StepReport(flow_id, "?", "?", effect, "lease_lost")
        result = {k: v for k, v in flow.params.items() if k in ("order_id", "payment_id")}
        done = u.move(s.FLOWS, flow, FLOW, "finish", result={**result, "ignored_error": ignored})
        what = f"succeeded (store error ignored: {ignored})"
        return StepReport(flow_id, flow.kind, flow.step, effect, what, done)

    report: StepReport = self.transact(finish, flow_id)
    return report


def _s16_after_intent(u: Unit, flow: Flow, view: IntentView) -> Advance:
    """The webhook finds its payment by the recorded intent id only: an intent whose
    record was lost is "not ours" ("webhook will handle this" was never true)."""
    if not u.find(s.PAYMENTS, "provider_intent_id", view.id):
        return Advance(done={"matched": False})
    return _AFTER_INTENT(u, flow, view)


@seeded(
    "S16",
    "a failed local write after a provider call is logged and ignored: the flow is finished "
    "and reports success although what the provider said was never recorded",
    "success-is-durable",
    "no-stale-hold",
    "statuses-agree",
    "no-orphaned-intent",
)
@contextmanager
def _s16() -> Iterator[None]:
    with (
        mock.patch.object(Engine, "_commit_step", _s16_commit_step),
        mock.patch("paycore.flows.webhooks._after_intent", _s16_after_intent),
    ):
        yield


# --- S17 --------------------------------------------------------------------------------


def _s17_confirm_apply(
    u: Unit, payment: Payment, view: IntentView, *, release_as: str = "release", **changes: Any
) -> Payment:
    """confirm records a success on the payment only: the order stays pending and its stock
    uncommitted, for the webhook to finish."""
    if (
        not (u.flow_id or "").startswith("confirm:")
        or view.status != "succeeded"
        or payment.status in PAYMENT.terminal
        or payment.status is P.CREATING
    ):
        return _APPLY_INTENT(u, payment, view, release_as=release_as, **changes)
    details = {
        "provider_status": view.status,
        "last_error": view.last_error_code,
        "amount_received": max(payment.amount_received, view.amount_received),
        **changes,
    }
    return u.move(s.PAYMENTS, payment, PAYMENT, "succeed", **details)


def _s17_webhook_apply(
    u: Unit, payment: Payment, view: IntentView, *, release_as: str = "release", **changes: Any
) -> Payment:
    """The webhook is what pays the order (if the payment already succeeded)."""
    was = payment.status
    payment = _APPLY_INTENT(u, payment, view, release_as=release_as, **changes)
    if was is P.SUCCEEDED and view.status == "succeeded":
        sync._on_paid(u, payment)
    return payment


@seeded(
    "S17",
    "confirm updates only the payment: the order stays pending and its stock uncommitted "
    "until a webhook arrives",
    "order-matches-payment",
    "hold-tied-to-payment",
)
@contextmanager
def _s17() -> Iterator[None]:
    with patched(
        ("paycore.flows.payments.apply_intent", _s17_confirm_apply),
        ("paycore.flows.webhooks.apply_intent", _s17_webhook_apply),
    ):
        yield


# --- S18 --------------------------------------------------------------------------------


def _s18_janitor(engine: Engine) -> list[str]:
    """There is no cleanup job."""
    return []


@seeded(
    "S18",
    "no cleanup of stale payments: abandoned checkouts keep their stock held and their "
    "intents chargeable forever",
    "no-stale-hold",
)
@contextmanager
def _s18() -> Iterator[None]:
    with mock.patch("paycore.jobs.janitor", _s18_janitor):
        yield
