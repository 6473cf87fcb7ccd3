"""The checkout's look-ups (``find``, ``abort``) list only the window in which its own
creates can have made an intent: from ``checkout.LOOKBACK_S`` before the checkout began to
the landing bound and ``LOOKBACK_S`` after the last create went out. A look-up made long
after (a worker died, the provider was away for hours) does not walk every intent the
account made since.

Each test drives the flow step by step (``step`` runs one engine step: a provider call, or
the transaction that applies its answer) on a provider that counts what its list returns.
"""

from __future__ import annotations

from typing import Any

from tests.chaos.test_checkout_paths import FID, PAY, PI_1, PI_2, fail_in_turn, intent_status
from tests.support import begin_checkout, converged, flow_of, make_shop, step, with_config

from paycore.errors import ProviderUnavailable
from paycore.flows import checkout
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView, ListPage
from paycore.status import FlowStatus, PaymentStatus
from paycore_adapters.memory import Wiring

MINUTE = 60_000
HOUR = 60 * MINUTE
#: The provider's clock may run this far ahead of paycore's (ms).
SKEW_MS = checkout.LOOKBACK_S * 1000


class Listing:
    """What each page of the provider's intent list returned: (its window, the ids)."""

    def __init__(self, w: Wiring) -> None:
        self.pages: list[tuple[tuple[int | None, int | None], list[str]]] = []
        real = w.provider.list_intents

        def list_intents(**kwargs: Any) -> ListPage[IntentView]:
            page = real(**kwargs)
            window = (kwargs.get("created_gte_s"), kwargs.get("created_lt_s"))
            self.pages.append((window, [v.id for v in page.data]))
            return page

        w.provider.list_intents = list_intents  # type: ignore[method-assign]

    def listed(self) -> list[str]:
        return [i for _, ids in self.pages for i in ids]


def busy_account(w: Wiring, count: int, every_ms: int) -> list[str]:
    """Another shop on the same account makes ``count`` intents, one every ``every_ms``."""
    made = []
    for n in range(count):
        w.clock.advance(every_ms)
        req = CreateIntent(Money(900, "EUR"), "acct_1", {"shop": "the other one"})
        made.append(w.provider.create_intent(req, idempotency_key=f"other-shop-{n}").id)
    return made


def to_find_with_nothing_made(w: Wiring) -> int:
    """The create and its replay get no answer and neither reached the provider: the flow
    is at ``find``. Returns when it got there (the last create went out before)."""
    begin_checkout(w)
    fail_in_turn(w, ("create_intent", "before"), ("create_intent", "before"))
    step(w, FID, 4)  # create, replay: no answer -> find
    assert flow_of(w, FID).step == "find"
    return w.clock.now()


class TestLookupWindow:
    def test_a_find_long_after_its_create_reads_only_its_window(self) -> None:
        """A day after its unanswered creates (its worker died), ``find`` lists one page:
        the 250 intents the account made since fall after its window and are never read."""
        w = make_shop(stock=1)
        sent_by = to_find_with_nothing_made(w)
        w.clock.advance(checkout_landing(w) + SKEW_MS + 1_000)
        others = busy_account(w, 250, every_ms=5 * MINUTE)
        w.clock.advance(HOUR)
        listing = Listing(w)
        step(w, FID, 2)  # find: nothing of its own in its window -> create again
        assert len(listing.pages) == 1
        assert listing.listed() == []
        (gte, lt), _ = listing.pages[0]
        assert lt is not None and gte is not None
        assert lt * 1000 <= sent_by + checkout_landing(w) + SKEW_MS + 1_000
        assert all(w.provider.retrieve_intent(i).created >= lt * 1000 for i in others)
        assert flow_of(w, FID).step == "create" and flow_of(w, FID).data["keygen"] == 1

    def test_an_abort_after_an_outage_at_find_reads_only_its_window(self) -> None:
        """``find`` cannot list for the whole retry horizon (the provider is away for this
        shop) and gives up into ``abort``; the account meanwhile made 250 intents. The
        abort's list reads the window of the creates, not the hours of the outage."""
        w = with_config(make_shop(stock=1), retry_horizon_ms=2 * HOUR)
        sent_by = to_find_with_nothing_made(w)

        def list_away(name: str, phase: str, key: str | None) -> None:
            if name == "list_intents" and phase == "before":
                raise ProviderUnavailable("list_intents: timeout (before)")

        w.provider.fault = list_away
        window_end = sent_by + checkout_landing(w) + SKEW_MS + 1_000
        others: list[str] = []
        for _ in range(100):  # bounded: the horizon ends it in about 20 retries
            flow = flow_of(w, FID)
            if flow.step != "find":
                break
            if flow.next_run_at > w.clock.now():
                w.clock.advance(flow.next_run_at - w.clock.now())
            if not others and w.clock.now() > window_end:
                others = busy_account(w, 250, every_ms=1_000)
            step(w, FID, 2)
        assert flow_of(w, FID).step == "abort"
        assert len(others) == 250
        w.provider.fault = None
        listing = Listing(w)
        step(w, FID, 2)  # abort: nothing of its own listed -> close
        assert len(listing.pages) == 1 and listing.listed() == []
        (_, lt), _ = listing.pages[0]
        assert lt is not None and lt * 1000 <= window_end
        assert flow_of(w, FID).status is FlowStatus.FAILED
        assert w.service.payment(PAY).status is PaymentStatus.FAILED

    def test_an_intent_landing_at_the_edge_of_the_window_is_adopted(self) -> None:
        """The first create's request is held on its way and lands at the last
        millisecond the window admits (the landing bound, plus a provider clock
        ``LOOKBACK_S`` ahead, in the provider's whole seconds): ``find`` lists it and
        adopts it; no second intent."""
        w = make_shop(stock=1)
        sent_by = landing_at_the_edge(w, past_by_ms=0)
        listing = Listing(w)
        step(w, FID, 2)  # find: the held create lands, and is listed
        assert listing.listed() == [PI_1]
        assert w.provider.retrieve_intent(PI_1).created // 1000 == (
            (sent_by + checkout_landing(w) + SKEW_MS) // 1000
        )
        assert flow_of(w, FID).status is FlowStatus.SUCCEEDED
        assert [v.id for v in w.provider.intents()] == [PI_1]
        assert w.service.payment(PAY).provider_intent_id == PI_1

    def test_an_intent_landing_past_the_window_is_left_to_the_reconciler(self) -> None:
        """One millisecond later the provider stamps the next second, outside the window:
        ``find`` does not list it, creates under a new key, and the reconciler cancels the
        late intent as an orphan."""
        w = make_shop(stock=1)
        landing_at_the_edge(w, past_by_ms=1)
        listing = Listing(w)
        step(w, FID, 2)  # find: the held create lands outside the window -> create again
        assert listing.listed() == []
        assert flow_of(w, FID).step == "create"
        step(w, FID, 2)  # create under the new key
        assert w.service.payment(PAY).provider_intent_id == PI_2
        assert w.service.run_reconciler()[0] == 1
        w.service.run_recovery()
        assert intent_status(w, PI_1) == "canceled"
        converged(w)


def checkout_landing(w: Wiring) -> int:
    return w.service.config.create_landing_ms


def landing_at_the_edge(w: Wiring, past_by_ms: int) -> int:
    """The first create is held at the provider and lands ``past_by_ms`` after the last
    millisecond of the find's window; the replay gets no answer. The clock then stands
    at that moment, the flow at ``find``. Returns when the last create went out."""
    begin_checkout(w)
    start = w.clock.now()
    assert start % 1000 == 0  # the landing bound ends on a whole second: rounding shows
    edge = start + checkout_landing(w) + SKEW_MS + 999  # the window's last millisecond
    w.provider.hold_next("create_intent", lands_after_ms=edge + past_by_ms - start)
    step(w, FID, 2)  # create: held at the provider, no answer -> replay
    fail_in_turn(w, ("create_intent", "before"))
    step(w, FID, 2)  # replay: no answer -> find
    assert flow_of(w, FID).step == "find"
    assert w.provider.held_requests() != []
    w.clock.advance(edge + past_by_ms - w.clock.now())
    return start
