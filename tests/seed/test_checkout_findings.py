"""Regression tests for the seed's checkout findings S1-S4, S8, S11, S12, S15 and S16.

Each class replays one finding of ``/work/shared/seed/FINDINGS.md`` with real fault
injection (the fake provider's ``fault`` hook, the memory store's ``faults``), asserts
paycore's guarantee, and checks safety invariants during and every invariant after
``quiesce``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from tests.support import (
    SESSION,
    SESSION_2,
    begin_checkout,
    flow_of,
    make_shop,
    quiesce,
    step,
    with_config,
)

from paycore import schema as s
from paycore.errors import (
    CheckoutError,
    CheckoutSessionExpired,
    CheckoutSessionReused,
    CommitUnknown,
    FlowPending,
    IntegrityError,
    InvalidCheckoutSession,
    OperationalError,
    OutOfStock,
    PaycoreError,
    ProductUnavailable,
    ProviderError,
    ProviderInvalidRequest,
    ProviderUnavailable,
    SellerCannotCharge,
)
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.service import PaymentService
from paycore.status import FlowStatus, OrderStatus, PaymentStatus, ReservationStatus
from paycore_adapters.memory import Wiring

MUG, TEE = [CartItem("p_mug", 1)], CartItem("p_tee", 1)
LIVE = {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}


class StoreFaults:
    """Fails commit n (from 1) when ``fail(n)``: before it applies, or ``after`` (answer lost)."""

    def __init__(self, fail: Callable[[int], bool], after: bool = False) -> None:
        self.fail, self.after, self.n, self.fired = fail, after, 0, 0

    def before_commit(self) -> None:
        self.hit(after=False)

    def after_commit(self) -> None:
        self.hit(after=True)

    def hit(self, after: bool) -> None:
        self.n += after == self.after
        if after == self.after and self.fail(self.n):
            self.fired += 1
            raise (CommitUnknown if after else OperationalError)("injected: database went away")


class ProviderFaults:
    """Rules for the fake provider's hook: on (call, phase), run ``then``, raise ``exc``."""

    def __init__(self) -> None:
        self.rules: list[list[Any]] = []

    def on(self, call: str, phase: str, *, times: int | None = None, **how: Any) -> ProviderFaults:
        """``exc`` (default ProviderUnavailable, None for no error) and ``then`` (a side effect)."""
        exc = how.get("exc", ProviderUnavailable)
        self.rules.append([call, phase, times, exc, how.get("then")])
        return self

    def __call__(self, call: str, phase: str, key: str | None) -> None:
        for rule in self.rules:
            if rule[:2] == [call, phase] and rule[2] != 0:
                rule[2] = None if rule[2] is None else rule[2] - 1
                if rule[4] is not None:
                    rule[4]()
                if rule[3] is not None:
                    raise rule[3](f"injected {phase} {call}")


def assert_safe(w: Wiring, *kinds: Any) -> None:
    bad = w.violations(*(kinds or ["safety"]))
    assert not bad, "\n".join(map(str, bad))


def assert_settled(w: Wiring) -> None:
    quiesce(w)
    assert_safe(w, "safety", "convergence")


def orders(w: Wiring, session: str = SESSION) -> list[Any]:
    return [o for o in w.store.snapshot().rows(s.ORDERS) if o.checkout_session_id == session]


def payment_of(w: Wiring, session: str = SESSION) -> Any:
    (order,) = orders(w, session)
    return w.store.snapshot().get(s.PAYMENTS, order.payment_id)


def intents(w: Wiring, session: str = SESSION, live: bool = False) -> list[Any]:
    views = [v for v in w.provider.intents() if v.metadata["checkout_session_id"] == session]
    return [v for v in views if v.status in LIVE] if live else views


def stock(w: Wiring, sku: str = "SKU-MUG") -> Any:
    return w.store.snapshot().get(s.STOCK, f"s1/{sku}")


def reservations(w: Wiring, order_id: str) -> list[Any]:
    return [r for r in w.store.snapshot().rows(s.RESERVATIONS) if r.order_id == order_id]


def recover(w: Wiring, rounds: int = 10) -> None:
    """Let leases and backoffs lapse and run the recovery worker; faults stay as they are."""
    for _ in range(rounds):
        w.clock.advance(w.service.config.backoff_cap_ms + w.service.config.lease_ms)
        w.service.run_recovery()
        assert_safe(w)


def worker(w: Wiring, name: str) -> PaymentService:
    """Another service instance (another process) on the same store and provider."""
    parts = (w.store, w.provider, w.clock, w.alerts, w.notifier, w.service.config)
    return PaymentService(*parts, name)


def assert_closed_without_charge(w: Wiring) -> None:
    """Order kept but canceled, payment ended, stock released, nothing chargeable left."""
    (order,) = orders(w)
    assert order.status is OrderStatus.CANCELED
    assert payment_of(w).status in (PaymentStatus.CANCELED, PaymentStatus.FAILED)
    assert {r.status for r in reservations(w, order.id)} == {ReservationStatus.RELEASED}
    assert (stock(w).held, intents(w, live=True)) == (0, [])


def lose_intent_write(w: Wiring) -> Any:
    """Step a checkout until the provider created its intent; fail the commit recording it."""
    fid = begin_checkout(w)
    step(w, fid)  # nothing blocks the seller's account, so the create_intent call at once
    (created,) = intents(w)
    w.store.faults = StoreFaults(lambda n: n == 1)
    with pytest.raises(OperationalError):
        step(w, fid)
    w.store.faults = None
    # Nothing was recorded since the flow began: recovery checks the seller again and
    # repeats the create with the same key (or asks first, once the key may be forgotten).
    assert (payment_of(w).status, flow_of(w, fid).step) == (PaymentStatus.CREATING, "check_seller")
    assert_safe(w)
    return created


def lost_then_unanswered(faults: ProviderFaults) -> ProviderFaults:
    """The first create makes the intent and its answer is lost; the replay of its key
    then gets no answer either (so the checkout must look the intent up)."""
    return faults.on(
        "create_intent",
        "after",
        times=1,
        then=lambda: faults.on("create_intent", "before", times=1),
    )


def lost_response_then_list_down(w: Wiring) -> None:
    """The intent is created but its response lost, and the replay unanswered; the list
    fails until the flow gives up (here at its first transient failure: a retry horizon
    of zero)."""
    with_config(w, retry_horizon_ms=0)
    faults = lost_then_unanswered(ProviderFaults())
    w.provider.fault = faults.on("list_intents", "before", times=1)


class Request:
    """One create_payment_intent request, executed one step at a time on its own worker."""

    def __init__(self, w: Wiring, svc: PaymentService, session: str) -> None:
        self.w, self.svc, self.session = w, svc, session
        self.fid: str | None = None
        self.error: CheckoutError | None = None
        self.done = False

    def op(self) -> None:
        eng = self.svc.engine
        if self.fid is None:
            try:
                self.fid = self.svc.start_checkout(self.session, MUG)
            except CheckoutError as exc:
                self.error, self.done = exc, True
                # S4: refused only while someone else really holds the unit
                assert not isinstance(exc, OutOfStock) or stock(self.w).available == 0
            return
        eng.step(self.fid)
        flow = flow_of(self.w, self.fid)
        self.done = flow.status is not FlowStatus.ACTIVE and not eng.has_inflight(self.fid)


def run_schedules(make: Callable[[], tuple[Wiring, Request, Request]], n: int) -> Any:
    """Every distinct interleaving of n ops of each request (finished ones skipped), drained."""
    for pos in itertools.combinations(range(2 * n), n):
        w, a, b = make()
        schedule = [(a if i in pos else b) for i in range(2 * n)] + [a, b] * 20
        for req in schedule:
            if not req.done:
                req.op()
                assert_safe(w)
        assert a.done and b.done
        yield w, a, b


class TestS01IncompleteRollback:
    """S1: a provider intent never outlives a failed local write: it is canceled, or
    recorded so that recovery cancels or adopts it."""

    def test_failed_write_of_created_intent_raises_and_recovery_adopts_it(self, shop):
        """The commit recording a new intent fails: the step raises, recovery adopts that intent."""
        created = lose_intent_write(shop)
        shop.clock.advance(shop.service.config.lease_ms + 1)
        assert shop.service.run_recovery() == (1, 0)
        payment = payment_of(shop)
        assert (payment.status, payment.provider_intent_id) == (PaymentStatus.OPEN, created.id)
        assert [v.id for v in intents(shop)] == [created.id]
        res = shop.service.create_payment_intent(SESSION, MUG)
        assert (res.order_id, res.payment_id, res.replayed) == (payment.order_id, payment.id, True)
        assert_settled(shop)

    def test_intent_with_lost_response_is_canceled_when_checkout_gives_up(self, shop):
        """Response lost, its replay unanswered and the list down until give-up: the call
        raises, recovery cancels it."""
        # The rounds of ``recover`` as they were timed before the lease grew to minutes
        # (each round waits a lease): the list is still down when the checkout gives up.
        with_config(shop, retry_horizon_ms=30 * 60_000, lease_ms=30_000)
        faults = lost_then_unanswered(ProviderFaults())
        shop.provider.fault = faults.on("list_intents", "before", times=6)
        with pytest.raises(FlowPending):
            shop.service.create_payment_intent(SESSION, MUG)
        (created,) = intents(shop, live=True)
        recover(shop)
        assert_closed_without_charge(shop)
        assert payment_of(shop).provider_intent_id == created.id
        assert [v.status for v in intents(shop)] == ["canceled"]
        assert_settled(shop)

    def test_recovery_after_provider_forgot_the_key_adopts_the_original_intent(self):
        """Recovery resumed after 24 h (keys forgotten) adopts the intent, never makes a second."""
        w = make_shop()
        created = lose_intent_write(w)
        w.clock.advance(w.service.config.provider_key_retention_ms + 1)
        w.service.run_recovery()
        assert [v.id for v in intents(w, live=True)] == [created.id]
        assert payment_of(w).provider_intent_id == created.id
        assert_settled(w)


class TestS02OrderTransaction:
    """S2: order, lines, reservations and the flow's recovery point commit in one local
    transaction."""

    def test_first_step_commit_failure_leaves_store_unchanged(self, shop):
        """A failed commit of the first step leaves the store byte-for-byte as it was."""
        before = shop.store.fingerprint()
        shop.store.faults = StoreFaults(lambda n: n == 1)
        with pytest.raises(OperationalError):
            shop.service.create_payment_intent(SESSION, MUG)
        assert shop.store.fingerprint() == before
        assert sum(shop.provider.calls.values()) == 0
        shop.store.faults = None
        assert shop.service.create_payment_intent(SESSION, MUG).replayed is False
        assert_settled(shop)

    def test_failure_inside_first_step_rolls_back_earlier_lines(self, shop):
        """A line out of stock undoes the holds of the lines reserved before it."""
        before = shop.store.fingerprint()
        with pytest.raises(OutOfStock):
            shop.service.create_payment_intent(SESSION, [*MUG, CartItem("p_tee", 6)])
        assert shop.store.fingerprint() == before
        assert stock(shop).held == 0
        assert_settled(shop)

    def test_first_step_writes_everything_in_one_commit(self, shop):
        """Order, lines, reservations, payment and flow appear together in one commit."""
        commits = shop.store.stats["commits"]
        fid = begin_checkout(shop, qty=2)
        assert shop.store.stats["commits"] == commits + 1
        (order,) = orders(shop)
        (res,) = reservations(shop, order.id)
        assert [(ln.sku, ln.quantity) for ln in order.lines] == [(res.sku, res.quantity)]
        assert (res.quantity, res.status, stock(shop).held) == (2, ReservationStatus.HELD, 2)
        assert payment_of(shop).status is PaymentStatus.CREATING
        assert flow_of(shop, fid).params["order_id"] == order.id
        assert_safe(shop)

    def test_crash_after_first_step_is_finished_by_recovery(self, shop):
        """The recovery point committed with the order lets recovery create the intent."""
        fid = begin_checkout(shop)
        step(shop, fid)  # the seller's account answered, then the worker crashes
        shop.service.engine.forget_inflight()
        assert_safe(shop)
        shop.clock.advance(shop.service.config.lease_ms + 1)
        shop.service.run_recovery()
        assert payment_of(shop).status is PaymentStatus.OPEN
        assert len(intents(shop)) == 1
        assert_settled(shop)


class TestS03NoOrderDeletion:
    """S3: orders are never deleted; they move to a terminal state only after the provider
    intent can no longer be charged."""

    def test_order_canceled_only_after_its_intent_is_canceled(self, shop):
        """Creation keeps failing: stepwise, the order outlives every step and closes last."""
        lost_response_then_list_down(shop)
        fid = begin_checkout(shop)
        seen_live = False
        for _ in range(100):
            step(shop, fid)
            assert_safe(shop)
            (order,) = orders(shop)  # never deleted
            live = intents(shop, live=True)
            seen_live |= bool(live)
            if order.status is OrderStatus.CANCELED:
                assert live == []
            if flow_of(shop, fid).status is not FlowStatus.ACTIVE:
                break
        assert seen_live
        assert flow_of(shop, fid).status is FlowStatus.FAILED
        assert_closed_without_charge(shop)
        assert [v.status for v in intents(shop)] == ["canceled"]
        assert_settled(shop)

    def test_provider_down_for_creation_compensates_after_bounded_retries(self, shop):
        """Creation times out every time (no effect): bounded retries, then order closed."""
        shop.provider.fault = ProviderFaults().on("create_intent", "before")
        with pytest.raises(PaycoreError):
            shop.service.create_payment_intent(SESSION, MUG)
        recover(shop, rounds=20)  # each new key waits out create_landing_ms first
        assert shop.provider.calls["create_intent"] <= 2 * shop.service.config.max_attempts
        assert_closed_without_charge(shop)


class TestS04AtomicReservation:
    """S4: reservation and order are one atomic step; concurrent buyers of the last unit
    cannot both hold it."""

    @pytest.mark.parametrize("refused", [False, True], ids=["both-ok", "first-create-refused"])
    def test_concurrent_buyers_of_last_unit_never_both_hold_it(self, refused):
        """Every interleaving of two checkouts of the last unit: at most one ever holds it."""

        def make() -> tuple[Wiring, Request, Request]:
            w = make_shop(stock=1)
            if refused:  # the first intent is refused: that buyer must give the unit back
                w.provider.fault = ProviderFaults().on(
                    "create_intent", "before", times=1, exc=ProviderInvalidRequest
                )
            return w, Request(w, w.service, SESSION), Request(w, worker(w, "w2"), SESSION_2)

        for w, a, b in run_schedules(make, 6):
            assert (stock(w).on_hand, stock(w).committed) == (1, 0)
            assert all(isinstance(r.error, OutOfStock) for r in (a, b) if r.error)
            assert all(orders(w, r.session) == [] for r in (a, b) if r.error)
            alive = [r for r in (a, b) if r.error is None]
            open_ = [r for r in alive if payment_of(w, r.session).status is PaymentStatus.OPEN]
            assert len(open_) == stock(w).held == (len(open_) if refused else 1)
            assert_settled(w)


class TestS08DuplicateCheckout:
    """S8: one checkout session yields at most one order and one live provider intent,
    enforced by a unique constraint, whatever the interleaving."""

    @pytest.mark.parametrize("lost_response", [False, True], ids=["clean", "response-lost"])
    def test_two_requests_for_one_session_in_every_interleaving(self, lost_response):
        """Two workers run create_payment_intent for one session: one order, one intent."""

        def make() -> tuple[Wiring, Request, Request]:
            w = make_shop()
            if lost_response:
                w.provider.fault = ProviderFaults().on("create_intent", "after", times=1)
            return w, Request(w, w.service, SESSION), Request(w, worker(w, "w2"), SESSION)

        for w, a, b in run_schedules(make, 6):
            assert (a.error, b.error, a.fid) == (None, None, b.fid)
            payment = payment_of(w)  # exactly one order
            assert payment.status is PaymentStatus.OPEN
            assert [v.id for v in intents(w)] == [payment.provider_intent_id]
            assert stock(w).held == 1
            res_a = a.svc.create_payment_intent(SESSION, MUG)
            assert res_a == b.svc.create_payment_intent(SESSION, MUG)
            assert (res_a.payment_id, res_a.replayed) == (payment.id, True)
            assert_settled(w)

    @pytest.mark.parametrize("steps_done", range(5))
    def test_same_session_with_another_cart_is_rejected_at_any_point(self, shop, steps_done):
        """A second request with another cart fails with CheckoutSessionReused, changing nothing."""
        fid = begin_checkout(shop)
        step(shop, fid, steps_done)
        before = shop.store.fingerprint()
        with pytest.raises(CheckoutSessionReused) as info:
            worker(shop, "worker-2").create_payment_intent(SESSION, [CartItem("p_mug", 2)])
        assert info.value.fields["order_id"] == orders(shop)[0].id
        assert shop.store.fingerprint() == before
        res = shop.service.create_payment_intent(SESSION, MUG)
        assert res.status == "open"
        assert (len(orders(shop)), len(intents(shop)), stock(shop).held) == (1, 1, 1)
        assert_settled(shop)

    def test_one_order_per_session_is_a_store_constraint(self, shop):
        """A second order row for the same session cannot commit, even bypassing the check."""
        begin_checkout(shop)
        (order,) = orders(shop)
        before = shop.store.fingerprint()
        dup = attrs.evolve(order, id="ord_dup", payment_id="pay_dup")
        with pytest.raises(IntegrityError):
            shop.service.engine.transact(lambda u: u.tx.insert(s.ORDERS, dup))
        assert shop.store.fingerprint() == before


class TestS11SellerRecheck:
    """S11: the seller's ability to take charges is re-checked immediately before the
    provider call; failure releases everything."""

    @pytest.mark.parametrize("where", ["provider", "both"])
    def test_seller_disabled_after_first_step_gets_no_intent(self, shop, where):
        """Disabled at the provider between the first transaction and the charge:
        SellerCannotCharge, no intent, everything released."""

        def disable() -> None:
            if where in ("local", "both"):
                shop.service.set_charges_enabled("s1", False)
            if where in ("provider", "both"):
                shop.provider.disable_account("acct_1")

        shop.provider.fault = ProviderFaults().on(
            "retrieve_account", "before", times=1, exc=None, then=disable
        )
        with pytest.raises(SellerCannotCharge):
            shop.service.create_payment_intent(SESSION, MUG)
        assert shop.provider.calls["create_intent"] == 0
        assert intents(shop) == []
        assert_closed_without_charge(shop)
        assert payment_of(shop).status is PaymentStatus.FAILED
        assert_settled(shop)

    def test_seller_switched_off_here_mid_checkout_gets_no_usable_intent(self, shop):
        """Switched off in the shop (not at the provider) after the first transaction: the
        provider's yes lets the create go, and the transaction that would record the
        intent sees the switch: SellerCannotCharge, the intent canceled before anyone got
        its secret, everything released."""
        shop.provider.fault = ProviderFaults().on(
            "retrieve_account",
            "before",
            times=1,
            exc=None,
            then=lambda: shop.service.set_charges_enabled("s1", False),
        )
        with pytest.raises(SellerCannotCharge):
            shop.service.create_payment_intent(SESSION, MUG)
        (intent,) = intents(shop)
        assert intent.status == "canceled"
        assert payment_of(shop).client_secret is None
        assert_closed_without_charge(shop)
        assert_settled(shop)

    def test_seller_disabled_between_check_and_create_releases_everything(self, shop):
        """Disabled just after the check: the provider refuses, the call raises, all released."""
        disable = lambda: shop.provider.disable_account("acct_1")  # noqa: E731
        shop.provider.fault = ProviderFaults().on("create_intent", "before", exc=None, then=disable)
        with pytest.raises(ProviderError) as info:
            shop.service.create_payment_intent(SESSION, MUG)
        assert info.value.fields["reason"] == ProviderInvalidRequest.code
        assert intents(shop) == []
        assert_closed_without_charge(shop)
        assert payment_of(shop).status is PaymentStatus.FAILED
        assert_settled(shop)

    def test_disabled_seller_is_refused_before_anything_is_written(self, shop):
        """A seller already disabled: SellerCannotCharge and the store is unchanged."""
        shop.service.set_charges_enabled("s1", False)
        before = shop.store.fingerprint()
        with pytest.raises(SellerCannotCharge):
            shop.service.create_payment_intent(SESSION, MUG)
        assert shop.store.fingerprint() == before
        assert sum(shop.provider.calls.values()) == 0


class TestS12ProductSnapshot:
    """S12: price, seller and SKU are snapshotted into the order lines at reservation;
    products are soft-deleted."""

    @pytest.mark.parametrize("steps_done", range(5))
    @pytest.mark.parametrize("change", ["delete", "reprice"])
    def test_catalog_change_mid_payment_keeps_the_snapshot(self, shop, change, steps_done):
        """Deleted or repriced at any step: lines, amount and charge keep the snapshot."""
        fid = begin_checkout(shop, qty=2)
        (order,) = orders(shop)
        step(shop, fid, steps_done)
        if change == "delete":
            shop.service.delete_product("p_mug")
        else:
            shop.service.set_price("p_mug", Money(99, "EUR"))
        res = shop.service.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
        paid = shop.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
        assert paid.status == "succeeded"
        after = shop.service.order(order.id)
        assert after.lines == order.lines
        assert (after.lines[0].unit_price, after.lines[0].name) == (Money(1250, "EUR"), "Mug")
        assert after.total == Money(2500, "EUR") and after.status is OrderStatus.PAID
        (intent,) = intents(shop)
        assert (intent.amount, intent.amount_received) == (2500, 2500)
        assert (stock(shop).committed, stock(shop).held) == (2, 0)
        assert_settled(shop)

    def test_repriced_product_charges_new_checkouts_the_new_price(self, shop):
        """A new price applies to checkouts made after it, never to an open order."""
        first = shop.service.create_payment_intent(SESSION, MUG)
        shop.service.set_price("p_mug", Money(990, "EUR"))
        assert shop.store.snapshot().get(s.PRODUCTS, "p_mug").price == Money(990, "EUR")
        assert shop.service.create_payment_intent(SESSION, MUG).order_id == first.order_id
        second = shop.service.create_payment_intent(SESSION_2, MUG)
        assert shop.service.order(first.order_id).total == Money(1250, "EUR")
        assert shop.service.order(second.order_id).total == Money(990, "EUR")
        assert [i.amount for i in shop.provider.intents()] == [1250, 990]
        assert_settled(shop)

    def test_deleted_product_stays_and_only_new_checkouts_are_refused(self, shop):
        """Soft delete: the row stays, its open session replays, new ones get ProductUnavailable."""
        first = shop.service.create_payment_intent(SESSION, MUG)
        shop.service.delete_product("p_mug")
        assert shop.store.snapshot().get(s.PRODUCTS, "p_mug").deleted
        assert shop.service.create_payment_intent(SESSION, MUG).order_id == first.order_id
        before = shop.store.fingerprint()
        with pytest.raises(ProductUnavailable):
            shop.service.create_payment_intent(SESSION_2, MUG)
        assert shop.store.fingerprint() == before
        assert shop.provider.calls["retrieve_account"] == 1
        assert_settled(shop)


BAD_SESSIONS = ["", "short", "x" * 15, "y" * 129, "cs test 000000001", "cs_test_00000001!"]
BAD_SESSIONS += ["cs_tëst_000000001", None, 12345678901234567, b"cs_test_000000001"]
BAD_SESSIONS += ["cs_test_00000001\n"]
OTHER_CARTS = {"more": [CartItem("p_mug", 2)], "other": [CartItem("p_tee", 1)]}
OTHER_CARTS["extra"] = [*MUG, CartItem("p_tee", 1)]


class TestS15SessionValidation:
    """S15: session ids are validated; reuse with a different cart is rejected with a clear
    error; sessions expire."""

    @pytest.mark.parametrize("session", BAD_SESSIONS)
    def test_malformed_session_id_is_rejected(self, shop, session):
        """A malformed id raises InvalidCheckoutSession and changes nothing anywhere."""
        before = shop.store.fingerprint()
        with pytest.raises(InvalidCheckoutSession):
            shop.service.create_payment_intent(session, MUG)
        assert shop.store.fingerprint() == before
        assert sum(shop.provider.calls.values()) == 0

    @pytest.mark.parametrize("session", ["a" * 16, "Z-_9" * 32])
    def test_well_formed_boundary_session_ids_are_accepted(self, shop, session):
        """Ids of exactly 16 and 128 allowed characters are accepted."""
        assert shop.service.create_payment_intent(session, MUG).status == "open"
        assert_settled(shop)

    @pytest.mark.parametrize("cart", OTHER_CARTS.values(), ids=OTHER_CARTS.keys())
    def test_reuse_with_a_different_cart_is_rejected(self, shop, cart):
        """Another cart on a used session raises CheckoutSessionReused naming the session."""
        shop.service.create_payment_intent(SESSION, MUG)
        before = shop.store.fingerprint()
        with pytest.raises(CheckoutSessionReused) as info:
            shop.service.create_payment_intent(SESSION, cart)
        assert info.value.fields["checkout_session_id"] == SESSION
        assert shop.store.fingerprint() == before
        assert_settled(shop)

    def test_same_cart_spelled_differently_is_a_replay(self, shop):
        """Split or reordered lines of the same cart replay the checkout instead of failing."""
        first = shop.service.create_payment_intent(SESSION, [CartItem("p_mug", 2), TEE])
        again = shop.service.create_payment_intent(
            SESSION, [TEE, CartItem("p_mug", 1), CartItem("p_mug", 1)]
        )
        assert (again.order_id, again.replayed) == (first.order_id, True)
        assert_settled(shop)

    def test_replay_after_session_ttl_is_rejected(self, shop):
        """A replay at the TTL works; one millisecond later it raises CheckoutSessionExpired."""
        first = shop.service.create_payment_intent(SESSION, MUG)
        shop.clock.advance(shop.service.config.checkout_session_ttl_ms)
        assert shop.service.create_payment_intent(SESSION, MUG).order_id == first.order_id
        shop.clock.advance(1)
        before = shop.store.fingerprint()
        with pytest.raises(CheckoutSessionExpired) as info:
            shop.service.create_payment_intent(SESSION, MUG)
        assert info.value.fields["checkout_session_id"] == SESSION
        assert shop.store.fingerprint() == before
        assert_settled(shop)


class TestS16NoSuccessWithoutDurability:
    """S16: no operation reports success unless its local state is durable."""

    def test_failed_commit_is_never_reported_as_success(self):
        """Each commit of a checkout in turn fails: the call raises, and a retry is exact."""
        clean = make_shop()
        clean.store.faults = counter = StoreFaults(lambda n: False)
        clean.service.create_payment_intent(SESSION, MUG)
        total = counter.n  # the commits that write (a read-only one has nothing to lose)
        assert total >= 2  # the first step and the recorded intent, at least
        for k in range(1, total + 1):
            w = make_shop()
            w.store.faults = faults = StoreFaults(lambda n, k=k: n == k)
            with pytest.raises(OperationalError):
                w.service.create_payment_intent(SESSION, MUG)
            w.store.faults = None
            assert faults.fired == 1
            assert_safe(w)
            retry = w.service.create_payment_intent(SESSION, MUG)
            payment = w.service.payment(retry.payment_id)
            assert (payment.status, retry.status) == (PaymentStatus.OPEN, "open"), k
            assert [v.id for v in intents(w)] == [payment.provider_intent_id], k
            assert len(orders(w)) == 1
            assert_settled(w)

    def test_ambiguous_commit_of_first_step_raises_and_retry_returns_it(self, shop):
        """The first commit lands but its answer is lost: raise, then the retry finds it."""
        shop.store.faults = StoreFaults(lambda n: n == 1, after=True)
        with pytest.raises(CommitUnknown):
            shop.service.create_payment_intent(SESSION, MUG)
        shop.store.faults = None
        assert payment_of(shop).status is PaymentStatus.CREATING
        res = shop.service.create_payment_intent(SESSION, MUG)
        assert (res.order_id, res.status) == (orders(shop)[0].id, "open")
        assert_settled(shop)

    @pytest.mark.parametrize("after_call", ["retrieve_account", "create_intent"])
    def test_recovery_finishes_checkout_after_store_outage_following_a_provider_call(
        self, shop, after_call
    ):
        """The store dies right after a provider call: the call raises, recovery alone finishes."""
        outage = StoreFaults(lambda n: n > 0)
        down = lambda: setattr(shop.store, "faults", outage)  # noqa: E731
        shop.provider.fault = ProviderFaults().on(after_call, "after", exc=None, then=down)
        with pytest.raises(OperationalError):
            shop.service.create_payment_intent(SESSION, MUG)
        shop.store.faults = shop.provider.fault = None
        shop.clock.advance(shop.service.config.lease_ms + 1)
        shop.service.run_recovery()
        assert payment_of(shop).status is PaymentStatus.OPEN
        assert_settled(shop)
