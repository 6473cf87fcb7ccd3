"""Drive the public :class:`~paycore.service.PaymentService` and check what it returns.

The model starts most operations below the service (one transaction, then steps), so
what a caller sees is checked here: each call goes through the service's own method,
and its answer is compared with the durable state it claims to describe.

- A malformed checkout session id is refused with ``InvalidCheckoutSession`` and
  nothing changes.
- A checkout result is returned only for a checkout whose flow succeeded, and names
  the order and payment of that very session, with their status and client secret.
  A session whose checkout is dead, failed or still running must raise (its error,
  or ``FlowPending``), never look like a normal result.
- A payment or refund result states the status stored for that payment or refund.
- Any error is a typed ``PaycoreError``; an error from input checks changes nothing.

A wrong answer is recorded as a violation of ``service-answers`` (a check of the
harness: it compares an answer with the state, which no store invariant sees).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paycore import schema as s
from paycore.errors import InvalidInput, PaycoreError
from paycore.flows.checkout import CartItem, flow_id_for
from paycore.invariants import Violation
from paycore.service import CheckoutResult, PaymentResult, RefundResult
from paycore.status import FlowStatus

from .world import METHODS, PRODUCTS, World

ID = "service-answers"
#: Session ids the service must refuse (too short, bad characters, too long, empty).
BAD_SESSIONS = ("cs_short", "cs_harness_bad id!", "x" * 129, "")
CALLS = ("checkout", "bad_session", "confirm", "cancel", "refund")


def call(world: World, code: int) -> None:
    """One service call (``code`` picks the method and its arguments), checked."""
    arg, which = divmod(code, len(CALLS))
    name = CALLS[which]
    world.count("service_calls")
    if name == "checkout":
        _checkout(world, arg, PRODUCTS[arg % len(PRODUCTS)])
    elif name == "bad_session":
        _bad_session(world, BAD_SESSIONS[arg % len(BAD_SESSIONS)])
    else:
        pid = world.payment_id(arg)
        if pid is None:
            return
        svc = world.w.service
        if name == "confirm":
            method = METHODS[arg // 2 % len(METHODS)]
            _payment(
                world, f"confirm {pid} with {method}", pid, lambda: svc.confirm_payment(pid, method)
            )
        elif name == "cancel":
            _payment(world, f"cancel {pid}", pid, lambda: svc.cancel_payment(pid))
        else:
            key = f"svc-rk-{arg % 3}"
            _refund(world, pid, key, lambda: svc.create_refund(pid, 100, None, key))


def _wrong(world: World, subject: str, detail: str) -> None:
    world.findings.append(Violation(ID, subject, detail))


def _attempt(world: World, label: str, fn: Callable[[], Any]) -> tuple[Any, PaycoreError | None]:
    try:
        result = fn()
    except PaycoreError as exc:
        world.say(f"service: {label} -> {exc.code}")
        return None, exc
    world.say(f"service: {label} -> {result!r}")
    return result, None


def _checkout(world: World, session_no: int, product: str) -> None:
    session = world.session(session_no)
    cart = [CartItem(product, 1)]
    result, err = _attempt(
        world,
        f"create_payment_intent {session} {product}",
        lambda: world.w.service.create_payment_intent(session, cart),
    )
    snap = world.view()
    flow = snap.get(s.FLOWS, flow_id_for(session))
    if err is not None:
        if flow is not None and flow.status is FlowStatus.SUCCEEDED and err.code == "flow_pending":
            _wrong(world, session, "a finished checkout was answered as still pending")
        return
    assert isinstance(result, CheckoutResult)
    if flow is None or flow.status is not FlowStatus.SUCCEEDED:
        state = "missing" if flow is None else flow.status.value
        _wrong(world, session, f"a normal checkout result for a checkout whose flow is {state}")
        return
    payment = snap.get(s.PAYMENTS, result.payment_id)
    if payment is None or payment.checkout_session_id != session:
        _wrong(world, session, f"result names payment {result.payment_id} of another session")
        return
    if (result.order_id, result.status) != (payment.order_id, payment.status.value):
        _wrong(world, session, f"result says {result.status}, payment is {payment.status.value}")
    if result.client_secret != payment.client_secret:
        _wrong(world, session, "result carries a client secret that is not its payment's")


def _bad_session(world: World, session: str) -> None:
    before = world.w.store.stats["writes"]
    result, err = _attempt(
        world,
        f"create_payment_intent with a malformed session ({len(session)} characters)",
        lambda: world.w.service.create_payment_intent(session, [CartItem(PRODUCTS[1], 1)]),
    )
    if err is None or not isinstance(err, InvalidInput):
        _wrong(world, repr(session[:20]), f"a malformed session id was answered {result or err!r}")
    elif world.w.store.stats["writes"] != before:
        _wrong(world, repr(session[:20]), "a refused session id changed the store")


def _payment(world: World, label: str, pid: str, fn: Callable[[], PaymentResult]) -> None:
    result, err = _attempt(world, label, fn)
    if err is not None:
        return
    assert isinstance(result, PaymentResult)
    payment = world.view().get(s.PAYMENTS, pid)
    if payment is None or result.status != payment.status.value:
        stored = "missing" if payment is None else payment.status.value
        _wrong(world, pid, f"{label} answered {result.status}, the payment is {stored}")
    elif result.requires_action != (payment.status.value == "requires_action"):
        _wrong(world, pid, f"{label} answered requires_action={result.requires_action}")


def _refund(world: World, pid: str, key: str, fn: Callable[[], RefundResult]) -> None:
    result, err = _attempt(world, f"create_refund {pid} 100 key={key}", fn)
    if err is not None:
        return
    assert isinstance(result, RefundResult)
    refund = world.view().get(s.REFUNDS, result.refund_id)
    if refund is None or refund.payment_id != pid:
        _wrong(world, pid, f"refund result names {result.refund_id}, not a refund of {pid}")
    elif (result.amount, result.status) != (refund.amount.amount, refund.status.value):
        _wrong(
            world,
            refund.id,
            f"answered {result.amount} {result.status}, stored {refund.amount.amount} "
            f"{refund.status.value}",
        )
