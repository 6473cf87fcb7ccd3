"""A provider step resumed once its key may be forgotten asks first (F4).

Stripe keeps an idempotency key at least 24 hours and may prune it any time after; a
reused key then runs as a new request (docs.stripe.com/api/idempotent_requests). The
fake forgets a key as soon as it is older than a day, the harshest Stripe allows, so a
step that resends an old key instead of asking what its first request made is caught:
seeded bug F4 re-creates that flaw.
"""

from __future__ import annotations

from tests.seed.test_checkout_findings import intents, lose_intent_write, payment_of
from tests.support import make_shop

from paycore_adapters.fake_limits import IDEMPOTENCY_KEPT_MS
from paycore_adapters.harness.bugs import switched_on
from paycore_adapters.memory import Wiring


def resumed_a_day_later() -> tuple[Wiring, str]:
    """A checkout whose intent was made and whose recording commit failed, resumed by
    recovery a millisecond after the provider may forget the create's key; the intent."""
    w = make_shop()
    created = lose_intent_write(w)
    w.clock.advance(IDEMPOTENCY_KEPT_MS + 1)
    w.service.run_recovery()
    return w, created.id


class TestF04OldKeyNotResent:
    """F4: a step resumed after its key may be forgotten asks the provider first."""

    def test_paycore_counts_on_a_key_no_longer_than_the_fake_keeps_it(self) -> None:
        """paycore's retention (``Config.provider_key_retention_ms``) is the day the fake
        (and Stripe) keeps a key, no more."""
        assert make_shop().service.config.provider_key_retention_ms == IDEMPOTENCY_KEPT_MS

    def test_recovery_a_day_later_adopts_the_intent_it_made(self) -> None:
        """Resumed past the retention, the checkout finds and adopts its intent: one
        intent at the provider, the one the payment records, and the invariants hold."""
        w, created = resumed_a_day_later()
        assert [v.id for v in intents(w, live=True)] == [created]
        assert payment_of(w).provider_intent_id == created
        assert not w.violations("safety")

    def test_with_the_old_key_resent_a_second_intent_is_made_and_caught(self) -> None:
        """With F4 on, the create is resent under its forgotten key: the fake runs it as
        a new request, a second live intent for the session, which the invariants name."""
        with switched_on("F4"):
            w, created = resumed_a_day_later()
        live = [v.id for v in intents(w, live=True)]
        assert len(live) == 2 and created in live
        assert "one-live-intent-per-session" in {v.invariant for v in w.violations("safety")}
