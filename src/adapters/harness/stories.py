"""Stories: scripted openings that take an example where random actions rarely go.

Some paths need a long, precise sequence (a payment settling late after its stock was
sold again, a checkout giving up after its intent was created), which thousands of
random examples never hit. An example may start with one of these stories, told with
the same actions the model uses (so it is in the timeline and checked like any other
step); the random actions then go on from the state it left. Safety is checked when
the story ends; the quiet phase checks convergence as usual. Each story is
deterministic: it leaves the same state every time.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from paycore import schema as s
from paycore.errors import ProviderUnavailable
from paycore.flows.checkout import flow_id_for
from paycore.flows.params import REFUND_LANDING_MS
from paycore.ports import CreateIntent, IntentView

from ..fake_limits import SEARCH_LAG_MS
from ..memory import Wiring
from .dimensions import second_seller
from .faults import FaultKind
from .stories_declines import declined_to_the_limit
from .stories_inflight import STORIES as IN_FLIGHT
from .story_steps import drain, jobs
from .world import BANK_OPS, METHODS, World

VISA, PROCESSING, THREE_DS = 0, METHODS.index("pm_successDelayed_de"), 2
SCARCE, PLENTY = 0, 1
#: Long enough for a flow's first retries to be due, well inside the search's lag.
RETRY_WAIT_MS = 5_000


def intent_of(world: World, payment_no: int) -> str | None:
    """The intent payment ``payment_no`` records, if any (a story told in a world with
    another configuration may not get as far as it does in the default one)."""
    pid = world.payment_id(payment_no)
    payment = world.view().get(s.PAYMENTS, pid) if pid is not None else None
    return None if payment is None else payment.provider_intent_id


def lag_search(w: Wiring, lag_ms: int = SEARCH_LAG_MS) -> Callable[[], None]:
    """Set how long the fake provider's search lags behind writes (it lags a minute
    unless told otherwise: ``FakeProvider.search_lag_ms``). Returns what puts the
    previous lag back."""
    provider = w.provider
    was = provider.search_lag_ms
    provider.search_lag_ms = lag_ms

    def restore() -> None:
        provider.search_lag_ms = was

    return restore


class LateRequests:
    """Create requests that get no answer and land at the provider later: the client
    timed out while the request was still on its way (nothing the provider documents
    bounds when such a request may still arrive). While :attr:`armed` is above zero, a
    create fails with a timeout before reaching the provider and is held;
    :meth:`land` makes the held requests arrive, in order, and stops holding."""

    def __init__(self, w: Wiring) -> None:
        self.provider = w.provider
        self.real = w.provider.create_intent
        self.held: list[tuple[CreateIntent, str]] = []
        self.armed = 0

        def create(req: CreateIntent, *, idempotency_key: str) -> IntentView:
            if self.armed > 0:
                self.armed -= 1
                self.held.append((req, idempotency_key))
                raise ProviderUnavailable("create_intent: timeout (the request lands later)")
            return self.real(req, idempotency_key=idempotency_key)

        w.provider.create_intent = create  # type: ignore[method-assign]

    def land(self) -> list[str]:
        """The held requests arrive now; the ids of the intents they answered with."""
        self.provider.create_intent = self.real  # type: ignore[method-assign]
        return [self.real(req, idempotency_key=k).id for req, k in self.held]


# --- the stories ------------------------------------------------------------------------


def late_success_after_resale(world: World) -> None:
    """A debit is still processing when its hold runs out; the last unit is sold to
    someone else; then the debit succeeds. The order is out of stock and refunded
    automatically, and support refunds it once more on top (which must be refused or
    stay within what was captured)."""
    world.shop(0, SCARCE, 1, PROCESSING)
    cfg = world.config
    world.w.clock.advance(cfg.reservation_ttl_ms + (cfg.processing_hold_ms or 0) + 1)
    world.say("clock: past the hold of the processing payment")
    jobs(world)
    world.shop(1, SCARCE, 1, VISA)
    world.customer(0, 2)  # the bank settles the first debit: success
    drain(world)
    jobs(world)
    world.begin_refund(0, None, 0)
    drain(world)


def gives_up_after_intent_created(world: World) -> None:
    """A create's answer is lost (its intent exists), the replay of its key gets no
    answer, and the provider's list stays down past a short retry horizon: the checkout
    gives up while its intent exists. Its compensation lists the intent and must cancel
    it before it releases the stock."""
    world.reconfigure(attrs.evolve(world.config, retry_horizon_ms=RETRY_WAIT_MS))
    world.begin_checkout(0, PLENTY, 1)
    fid = flow_id_for(world.session(0))
    world.arm(FaultKind.RESPONSE_LOST, "create_intent")
    world.arm(FaultKind.PROVIDER_DOWN, "create_intent")
    until_step(world, fid, "find")
    for _ in range(2):  # the look-up fails past the horizon: the checkout gives up
        world.arm(FaultKind.PROVIDER_DOWN, "list_intents")
        until_step(world, fid, "-", limit=2)  # its call, then applying the failure
        world.w.clock.advance(RETRY_WAIT_MS)
    drain(world)
    jobs(world)


def abandoned_checkout_behind_search(world: World) -> None:
    """A create's answer is lost and its replay unanswered, then the provider stays away
    past a short retry horizon through the look-up and the compensation's: the checkout
    is dead-lettered. Its intent's webhook then records the intent on the payment (no
    active flow claims it). An operator abandons the checkout while the search still
    lags: the compensation lists the intent the payment records and ends it (the search
    would not show it yet)."""
    world.reconfigure(attrs.evolve(world.config, retry_horizon_ms=RETRY_WAIT_MS))
    world.begin_checkout(0, PLENTY, 1)
    fid = flow_id_for(world.session(0))
    world.arm(FaultKind.RESPONSE_LOST, "create_intent")
    world.arm(FaultKind.PROVIDER_DOWN, "create_intent")
    until_step(world, fid, "find")
    for _ in range(4):  # the look-up, then the compensation's, fail past the horizon
        world.arm(FaultKind.PROVIDER_DOWN, "list_intents")
        until_step(world, fid, "-", limit=2)  # its call, then applying the failure
        world.w.clock.advance(RETRY_WAIT_MS)
    world.pull_webhooks()
    while world.pending:
        world.deliver(0)
    drain(world)
    world.operator_abandons(fid)
    drain(world)
    jobs(world)


def failures_before_their_webhooks(world: World) -> None:
    """The customer fails 3-D Secure: the payment opens again. A bank debit fails at the
    provider and, before its webhook arrives, the shop cancels the payment paycore still
    sees processing: the cancel flow learns from the provider that it can be canceled."""
    world.shop(0, PLENTY, 1, THREE_DS)
    world.customer(0, 1)  # fails 3-D Secure
    drain(world)
    world.shop(1, PLENTY, 1, PROCESSING)
    world.customer(1, 3)  # the debit fails; its webhook waits
    ready = set(world.runnable())
    world.begin_cancel(1)
    for fid in set(world.runnable()) - ready:  # the cancel flow, when it started
        until_step(world, fid, "-")
    drain(world)
    jobs(world)


def until_step(world: World, fid: str, step: str, limit: int = 50) -> None:
    """Step flow ``fid`` (only it) while it can run and has not reached ``step``."""
    for _ in range(limit):
        flow = world.view().get(s.FLOWS, fid)
        ready = world.runnable()
        if flow is None or flow.step == step or fid not in ready:
            return
        world.step(ready.index(fid))


def _strays(world: World) -> list[str]:
    """A checkout whose first two key generations' requests all time out and land late,
    after the checkout waited out ``create_landing_ms`` for each and went on: the third
    generation's intent is adopted, and the two that land afterwards (carrying the
    payment's metadata, owned by no payment) are returned, oldest first."""
    late = LateRequests(world.w)
    late.armed = 4  # two generations: each a create and its replay
    world.begin_checkout(0, PLENTY, 1)
    for _ in range(6):  # until the third generation's intent is adopted
        drain(world)
        if intent_of(world, 0) is not None:
            break
        world.w.clock.advance(world.config.create_landing_ms)
    world.say(f"provider: {len(late.held)} late create requests land")
    landed = set(late.land())
    adopted = intent_of(world, 0)
    return [v.id for v in world.w.provider.intents() if v.id in landed and v.id != adopted]


def _customer_pays_stray(world: World, intent_id: str, method: int) -> None:
    status = world.w.provider.retrieve_intent(intent_id).status
    if status == "requires_payment_method":
        world.quietly(lambda: world.w.provider.customer_confirm(intent_id, METHODS[method]))
        world.say(f"customer: pays the stray intent {intent_id} with an old secret")


def second_intent_for_one_payment(world: World) -> None:
    """Two intents carrying a payment's metadata are left behind (:func:`_strays`). The
    customer pays one of them (an old secret): the reconciler must refund that one and
    cancel the other."""
    stray = _strays(world)
    if stray:
        _customer_pays_stray(world, stray[0], VISA)
    jobs(world)
    jobs(world)


def stray_debit_settles_later(world: World) -> None:
    """The customer pays a stray intent (:func:`_strays`) by bank debit: when the
    reconciler's orphan flow looks, the debit is still processing, so the case waits.
    The bank settles it before the next reconciler run, which asks about the waiting
    case, reopens it and refunds the money."""
    stray = _strays(world)
    if stray:
        _customer_pays_stray(world, stray[0], PROCESSING)
    jobs(world)  # the orphan flow finds the debit processing: the case waits
    if stray:
        debit = stray[0]
        world._try(f"bank: settles {debit}", lambda: world.w.provider.settle(debit).status)
    jobs(world)


def orphan_after_the_reconciler_ran(world: World) -> None:
    """The reconciler runs first, while the account holds only others' intents (its
    cursor then stands where its walk ended); then two intents are left behind and the
    customer pays one (:func:`second_intent_for_one_payment`). The provider lists newest
    first: the reconciler's next runs must go around to the head of the list to find them
    (seeded bug L1 does not)."""
    jobs(world)
    second_intent_for_one_payment(world)


def debit_fails_then_three_d_secure(world: World) -> None:
    """Two bank debits fail. One customer is told (the payment opens again); the other
    pays again with a 3-D Secure card before any webhook arrives, and the reconciler
    finds that payment waiting for the customer."""
    world.shop(0, PLENTY, 1, PROCESSING)
    world.customer(0, 3)  # the debit fails
    drain(world)
    world.shop(1, PLENTY, 1, PROCESSING)
    world.customer(1, 3)  # the debit fails
    world.customer(1, 4)  # pays again, with 3-D Secure
    world.job(1)  # the reconciler asks about processing payments
    world.run_job_flows()  # its run and the payment sync it starts, nothing else
    world.customer(1, 0)  # passes 3-D Secure
    drain(world)


def give_up_confirm_and_cancel(world: World) -> None:
    """With a short retry horizon, a confirm and a cancel each meet an outage that outlasts
    it and give up (their compensations run)."""
    world.reconfigure(attrs.evolve(world.config, max_attempts=2, retry_horizon_ms=RETRY_WAIT_MS))
    world.begin_checkout(0, PLENTY, 1)
    world.begin_checkout(1, PLENTY, 1)
    drain(world)
    starts: list[tuple[str, Callable[[], None]]] = [
        ("confirm_intent", lambda: world.begin_confirm(0, VISA)),
        ("cancel_intent", lambda: world.begin_cancel(1)),
    ]
    for call, begin in starts:
        begin()
        for _ in range(2):
            world.arm(FaultKind.RATE_LIMITED, call)
            drain(world)
            world.w.clock.advance(RETRY_WAIT_MS)
        drain(world)
    jobs(world)


def three_d_secure_fails_then_debit(world: World) -> None:
    """The customer fails 3-D Secure, then pays by bank debit before the failure's webhook
    arrived: the payment goes from waiting for the customer to processing."""
    world.shop(0, PLENTY, 1, THREE_DS)
    world.customer(0, 1)  # fails 3-D Secure
    world.begin_confirm(0, PROCESSING)
    drain(world)


def bank_fails_a_pending_refund(world: World) -> None:
    """Refunds stay pending at the provider; the bank fails one; it needs the customer
    for the other, which the shop then cancels from its dashboard (both are told and
    alerted)."""
    world.w.provider.refunds_settle_immediately = False
    world.shop(0, PLENTY, 1, VISA)
    for n in range(2):
        world.begin_refund(0, 100, n)
        drain(world)
    first, second = 4, 4 + len(BANK_OPS)  # the customer's actions on refunds 0 and 1
    world.customer(0, first + BANK_OPS.index("bank: fails"))
    world.customer(0, second + BANK_OPS.index("bank: needs the customer for"))
    drain(world)
    world.customer(0, second + BANK_OPS.index("shop's dashboard: cancels"))
    drain(world)
    jobs(world)


def operator_revives_a_dead_refund(world: World) -> None:
    """With two attempts, a refund's create meets the provider down twice and finds
    nothing each time: out of strikes, and with no compensation to run, it is
    dead-lettered (with an alert). An operator revives it through the service once the
    provider is back, and the money goes back under the same refund."""
    world.reconfigure(attrs.evolve(world.config, max_attempts=2))
    world.shop(0, PLENTY, 1, VISA)
    world.begin_refund(0, None, 0)
    for _ in range(2):  # the call and its replay fail; past the landing, a new key (a strike)
        world.arm(FaultKind.PROVIDER_DOWN, "create_refund")
        world.arm(FaultKind.PROVIDER_DOWN, "create_refund")
        world.w.clock.advance(RETRY_WAIT_MS)
        drain(world)
        world.w.clock.advance(REFUND_LANDING_MS)
        drain(world)
    world.operator_revives()
    drain(world)
    jobs(world)


def multi_line_order(world: World) -> None:
    """Two products in one order: paid, partly refunded, then the rest refunded."""
    world.carts = [("p_scarce",), ("p_plenty", "p_scarce")]
    world.shop(0, PLENTY, 1, VISA)
    world.begin_refund(0, 250, 0)
    drain(world)
    world.begin_refund(0, None, 1)
    drain(world)


def second_seller_paid(world: World) -> None:
    """The marketplace's second seller, on a provider account of its own, sells in yen;
    its customer pays. The charge must name that seller's account as the money's
    destination, not the shop's (seeded bug H4 sends it to the first seller's)."""
    second_seller(world)
    world.carts = [("p_yen",), ("p_scarce",)]
    world.shop(0, 0, 1, VISA)
    drain(world)


def seller_blocked_at_checkout(world: World) -> None:
    """The seller's account stops taking charges: the check refuses, the payment being
    created fails, the stock comes back; charges resume and the next checkout is paid."""
    world.merchant(0)  # the seller loses charges at the provider
    world.begin_checkout(0, PLENTY, 1)
    drain(world)
    world.merchant(1)  # and regains them
    world.shop(1, PLENTY, 1, VISA)


STORIES: dict[str, Callable[[World], None]] = {
    "late_success_after_resale": late_success_after_resale,
    "gives_up_after_intent_created": gives_up_after_intent_created,
    "second_intent_for_one_payment": second_intent_for_one_payment,
    "debit_fails_then_three_d_secure": debit_fails_then_three_d_secure,
    "give_up_confirm_and_cancel": give_up_confirm_and_cancel,
    "multi_line_order": multi_line_order,
    "second_seller_paid": second_seller_paid,
    "operator_revives_a_dead_refund": operator_revives_a_dead_refund,
    "three_d_secure_fails_then_debit": three_d_secure_fails_then_debit,
    "bank_fails_a_pending_refund": bank_fails_a_pending_refund,
    "abandoned_checkout_behind_search": abandoned_checkout_behind_search,
    "failures_before_their_webhooks": failures_before_their_webhooks,
    "stray_debit_settles_later": stray_debit_settles_later,
    "orphan_after_the_reconciler_ran": orphan_after_the_reconciler_ran,
    "declined_to_the_limit": declined_to_the_limit,
    "seller_blocked_at_checkout": seller_blocked_at_checkout,
    **IN_FLIGHT,
}


def tell(world: World, n: int) -> str:
    """Play story ``n`` on a fresh world; its name."""
    name = list(STORIES)[n % len(STORIES)]
    world.say(f"story: {name}")
    world.count(f"story:{name}")
    world.telling = True  # a story arms its own faults and no others (no wire faults)
    try:
        STORIES[name](world)
    finally:
        world.telling = False
    return name
