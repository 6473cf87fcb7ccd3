"""`paycore demo`: a scripted shop day, ending with every invariant.

The day: two concurrent duplicate checkouts, a card payment, a 3-D Secure
payment, a decline then a retry, a cancel, a partial then a full refund, a
duplicate and a late webhook, and an abandoned checkout the janitor cleans up.

On a SQLite store (the command's default: ``sqlite:paycore-demo.db``) every run is
the next day of the same shop: the fake provider's books and the clock are kept in a
file beside the store (``fake_state``), and a run first finishes what the last one
left in flight (a run that was killed, say) before the new day opens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from paycore import schema as s
from paycore.config import MINUTE
from paycore.errors import PaycoreError, StoreError
from paycore.flows.checkout import CartItem
from paycore.invariants import INVARIANTS
from paycore.listing import intents_between, seconds_from
from paycore.money import Money
from paycore.ports import ProviderEvent
from paycore.service import CheckoutResult, RefundResult

from . import demo_days
from .demo_days import DemoStoreRefused
from .demo_timeline import Timeline, short
from .memory import Wiring, in_memory
from .stores import OpenStore, open_store, parse_url

#: The file the command runs the day on when given no store.
DEFAULT_STORE = "sqlite:paycore-demo.db"
#: The demo's seller: a JSON store holding it is a shop the demo saved.
SELLER = "ceramics"


class DemoFileRefused(StoreError, code="demo_file_refused"):
    """The demo was asked to save its made-up shop over a file it did not write (one that
    is not a store holding the demo's shop: a report, a database): nothing is written."""


def _order_status(w: Wiring, order_id: str) -> str:
    order = w.service.order(order_id)
    return "missing" if order is None else order.status.value


def _deliver(tl: Timeline, w: Wiring, *, hold_back: str = "") -> list[Any]:
    """Deliver pending webhooks; events of type ``hold_back`` are delayed (returned)."""
    delayed, delivered = [], []
    for ev in w.provider.take_events():
        if ev.type == hold_back:
            delayed.append(ev)
            continue
        delivered.append(ev)
        tl.attempt("stripe", f"webhook {ev.type} ({ev.id})", partial(w.service.handle_webhook, ev))
    return delayed + delivered


def shop_day(out: TextIO, store_url: str = "memory", *, force: bool = False) -> int:
    """Run a day on the store ``store_url`` names; return how many invariants it violated.

    ``sqlite:PATH``: the shop's next day in that file, after finishing what the last
    run left in flight (its fake provider's books beside it, ``PATH.provider.json``);
    ``memory``: a fresh shop; ``json:PATH`` or a file path: a fresh shop saved there at
    the end of the day, for `paycore flows` and `paycore attention` to read.

    Raises:
        DemoStoreRefused: a PostgreSQL URL (the demo never writes into a database).
        DemoBooksMissing: the SQLite file holds data its books beside it do not account
            for (a store the demo did not make, or books deleted).
        DemoShopMissing: the books are there, the shop's file is new or empty.
        DemoFileRefused: a JSON path naming a file that is not a shop the demo saved
            (``force`` overwrites it).
        DemoBusy: another demo run is running on the same file (nothing is read or
            written)."""
    parsed = parse_url(store_url)
    if parsed.kind == "postgresql":
        raise DemoStoreRefused(
            "the demo writes a made-up shop: it runs on a SQLite file of its own "
            f"({DEFAULT_STORE}), memory or a JSON file, never on a PostgreSQL database"
        )
    if parsed.path is None:  # memory: a shop of this process's own
        w = in_memory()
        return _day(w, Timeline(w, out), out)
    with demo_days.alone(parsed.path):  # before the store or its books are read
        if parsed.kind == "sqlite":
            return _next_day(out, store_url, parsed.path)
        if not force:
            _refuse_foreign_file(store_url, parsed.path)
        w = in_memory()
        failed = _day(w, Timeline(w, out), out)
        OpenStore(w.store, parsed.path).save()
        out.write(f"store saved to {parsed.path}\n")
        return failed


def _next_day(out: TextIO, store_url: str, path: Path) -> int:
    opened = open_store(store_url, create=True)
    try:
        fresh = demo_days.check_files(opened.store, path)
        # Tokens of this run's own: a seeded sequence would draw the last run's references.
        w = in_memory(store=opened.store, tokens=demo_days.tokens(opened.store))
        day = demo_days.resume(w, path, out, fresh=fresh)
        return _day(w, Timeline(w, out, day), out)
    finally:
        opened.close()


def _refuse_foreign_file(store_url: str, path: Path) -> None:
    """Before the day runs: a file at ``path`` must be a store holding the demo's shop
    (one it saved), or nothing may be written over it."""
    if not path.exists():
        return
    try:
        opened = open_store(store_url)
        ours = opened.store.snapshot().get(s.SELLERS, SELLER) is not None
    except PaycoreError:  # not a store file at all (a report, a database, a folder)
        ours = False
    if not ours:
        raise DemoFileRefused(
            f"{path} exists and is not a shop the demo saved: the demo does not write "
            "over it; give a new path, or add --force to overwrite it",
            path=str(path),
        )


def _day(w: Wiring, tl: Timeline, out: TextIO) -> int:
    _opening(w, tl)
    ana, late = _ana_double_clicks(w, tl)
    _ben_three_d_secure(w, tl)
    _cleo_declined_then_retries(w, tl)
    _dan_cancels(w, tl)
    _ana_returns_her_mugs(w, tl, ana, late)
    _eve_abandons(w, tl)
    return _closing(w, tl, out)


def _opening(w: Wiring, tl: Timeline) -> None:
    svc = w.service
    if w.store.snapshot().get(s.SELLERS, SELLER) is None:  # the shop's first day
        w.provider.set_account("acct_ceramics")
        svc.add_seller("ceramics", "Ceramics Co", "acct_ceramics")
        svc.add_product("mug", "ceramics", "MUG-BLUE", "Blue mug", Money(1800, "EUR"))
        svc.add_product("vase", "ceramics", "VASE-TALL", "Tall vase", Money(6400, "EUR"))
    for sku, quantity in (("MUG-BLUE", 6), ("VASE-TALL", 2)):
        restock = partial(svc.restock, "ceramics", sku, quantity)
        tl.attempt("shop", f"restock {quantity} {sku}", restock, quiet=True)
    tl.section("Opening: 6 blue mugs at 18.00 EUR, 2 tall vases at 64.00 EUR")


def _ana_double_clicks(
    w: Wiring, tl: Timeline
) -> tuple[CheckoutResult | None, ProviderEvent | None]:
    """Two concurrent requests of one session; returns Ana's checkout and the webhook
    held back until the afternoon (None for either that is not there)."""
    svc = w.service
    tl.section("Ana double-clicks 'Pay': two concurrent requests, one checkout session")
    session = tl.session("ana")
    results = _double_click(lambda: svc.create_payment_intent(session, [CartItem("mug", 2)]))
    for i, r in enumerate(results):
        tl.say("ana", f"request {i + 1}: create_payment_intent(2 mugs)", short(r))
    ana = next((r for r in results if isinstance(r, CheckoutResult)), None)
    if ana is None:
        return None, None
    # The list, not the search: Stripe's search lags behind writes (docs.stripe.com/search).
    tl.attempt(
        "paycore",
        "intents at the provider for Ana's session",
        lambda: sum(
            v.metadata.get("checkout_session_id") == session
            for v in intents_between(w.provider, seconds_from(w.clock.now()) - 60)
        ),
    )
    tl.attempt(
        "ana", "confirm with a card", lambda: svc.confirm_payment(ana.payment_id, "pm_card_visa")
    )
    seen = _deliver(tl, w, hold_back="payment_intent.created")
    succeeded = [e for e in seen if e.type == "payment_intent.succeeded"]
    if succeeded:
        again = partial(svc.handle_webhook, succeeded[0])
        tl.attempt("stripe", f"webhook {succeeded[0].type} delivered again", again)
    return ana, next((e for e in seen if e.type == "payment_intent.created"), None)


def _double_click(request: Callable[[], CheckoutResult]) -> list[CheckoutResult | PaycoreError]:
    """``request`` made twice at once, from two threads; each one's result or paycore
    error, in the threads' order (any other error is raised here)."""
    results: list[object] = [None, None]
    barrier = threading.Barrier(2)

    def click(i: int) -> None:
        barrier.wait()
        try:
            results[i] = request()
        except Exception as exc:  # handed to the caller's thread
            results[i] = exc

    threads = [threading.Thread(target=click, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done: list[CheckoutResult | PaycoreError] = []
    for r in results:
        if isinstance(r, CheckoutResult | PaycoreError):
            done.append(r)
        elif isinstance(r, Exception):  # a bug: as if the request were made here
            raise r
    return done


def _ben_three_d_secure(w: Wiring, tl: Timeline) -> None:
    svc = w.service
    tl.section("Ben pays a vase with 3-D Secure")
    ben = tl.attempt(
        "ben",
        "create_payment_intent(1 vase)",
        lambda: svc.create_payment_intent(tl.session("ben"), [CartItem("vase", 1)]),
    )
    if ben is None:
        return
    tl.attempt(
        "ben",
        "confirm with a 3-D Secure card",
        lambda: svc.confirm_payment(
            ben.payment_id,
            "pm_card_threeDSecure2Required",
            return_url="https://shop.example/return",
        ),
    )
    w.clock.advance(40_000)
    tl.attempt("ben", "authenticates with his bank", lambda: _authenticate(w, ben.payment_id))
    _deliver(tl, w)
    tl.attempt("paycore", "Ben's order", lambda: _order_status(w, ben.order_id))


def _authenticate(w: Wiring, payment_id: str) -> str:
    """The buyer passes 3-D Secure at the bank: the provider completes the intent's action;
    what went otherwise ("" if nothing)."""
    intent = w.service.payment(payment_id).provider_intent_id
    if intent is None:
        return "no intent at the provider to authenticate"
    w.provider.complete_action(intent)
    return ""


def _cleo_declined_then_retries(w: Wiring, tl: Timeline) -> None:
    svc = w.service
    tl.section("Cleo's card is declined, she retries with another")
    cleo = tl.attempt(
        "cleo",
        "create_payment_intent(1 mug)",
        lambda: svc.create_payment_intent(tl.session("cleo"), [CartItem("mug", 1)]),
    )
    if cleo is None:
        return
    tl.attempt(
        "cleo",
        "confirm with a card that is declined",
        lambda: svc.confirm_payment(cleo.payment_id, "pm_card_chargeDeclined"),
    )
    tl.attempt(
        "cleo",
        "confirm with another card",
        lambda: svc.confirm_payment(cleo.payment_id, "pm_card_visa"),
    )
    _deliver(tl, w)


def _dan_cancels(w: Wiring, tl: Timeline) -> None:
    svc = w.service
    tl.section("Dan changes his mind")
    dan = tl.attempt(
        "dan",
        "create_payment_intent(1 vase)",
        lambda: svc.create_payment_intent(tl.session("dan"), [CartItem("vase", 1)]),
    )
    if dan is None:
        return
    tl.attempt("dan", "cancel_payment", lambda: svc.cancel_payment(dan.payment_id))
    tl.attempt(
        "dan",
        "confirm after canceling",
        lambda: svc.confirm_payment(dan.payment_id, "pm_card_visa"),
    )
    _deliver(tl, w)


def _ana_returns_her_mugs(
    w: Wiring, tl: Timeline, ana: CheckoutResult | None, late: ProviderEvent | None
) -> None:
    if ana is None:  # no payment of hers to refund
        return
    svc = w.service
    pid = ana.payment_id
    tl.section("Ana returns one mug, then the other")
    requests: list[tuple[str, Callable[[], RefundResult]]] = [
        (
            "refund 18.00 EUR (key ana-r1)",
            lambda: svc.create_refund(pid, 1800, "requested_by_customer", "ana-r1"),
        ),
        (
            "same request retried (key ana-r1)",
            lambda: svc.create_refund(pid, 1800, "requested_by_customer", "ana-r1"),
        ),
        ("refund 50.00 EUR (too much)", lambda: svc.create_refund(pid, 5000, None, "ana-r2")),
        (
            "refund the rest; both mugs are back (restock)",
            lambda: svc.create_refund(pid, None, None, "ana-r3", restock=True),
        ),
    ]
    for what, request in requests:
        tl.attempt("support", what, request)
    tl.attempt("paycore", "Ana's order", lambda: _order_status(w, ana.order_id))
    _deliver(tl, w)
    if late is not None:
        tl.attempt(
            "stripe",
            f"late webhook {late.type} ({late.id}) for Ana, delayed since morning",
            partial(svc.handle_webhook, late),
        )
    tl.attempt(
        "paycore", "Ana's payment after the late webhook", lambda: svc.payment(pid).status.value
    )


def _eve_abandons(w: Wiring, tl: Timeline) -> None:
    svc = w.service
    tl.section("Eve abandons her checkout")
    eve = tl.attempt(
        "eve",
        "create_payment_intent(3 mugs)",
        lambda: svc.create_payment_intent(tl.session("eve"), [CartItem("mug", 3)]),
    )
    w.clock.advance(20 * MINUTE)
    tl.say("clock", "20 minutes later (reservations last 15)")
    tl.attempt("janitor", "run_janitor", svc.run_janitor)
    if eve is not None:
        tl.attempt(
            "paycore",
            "Eve's payment / order",
            lambda: (
                f"{svc.payment(eve.payment_id).status.value} / {_order_status(w, eve.order_id)}"
            ),
        )
    _deliver(tl, w)
    tl.attempt("jobs", "reconciler, recovery, outbox", svc.run_jobs)


def _closing(w: Wiring, tl: Timeline, out: TextIO) -> int:
    """Stock, notifications and every invariant; returns how many are violated."""
    tl.section("Closing: stock and invariants")
    snap = w.store.snapshot()
    for st in sorted(snap.tables["stock"].values(), key=lambda x: x.key):
        tl.say(
            "stock",
            f"{st.sku} of {st.seller_id}: on hand {st.on_hand}, held {st.held}, "
            f"committed {st.committed}, available {st.available}",
        )
    delivered = w.notifier.delivered
    tl.say("notify", f"{len(delivered)} notifications sent", ", ".join(sorted(delivered)))
    ledger = w.ledger()
    failed = 0
    for inv in INVARIANTS:
        bad = inv.check(snap, ledger)
        failed += bool(bad)
        out.write(f"  {'FAIL' if bad else 'ok  '}  {inv.id:<30} {inv.kind}\n")
        for v in bad:
            out.write(f"        {v}\n")
    out.write(f"\n{len(INVARIANTS) - failed} of {len(INVARIANTS)} invariants hold.\n")
    return failed
