"""Provider contract cases for what each of paycore's flows makes the provider do and
send: the webhook event types of a cancel, a 3-D Secure payment and a processing one,
refunds down to the exact remainder and past it, the three refund reasons, and a refund
that fails after it succeeded. :class:`~paycore_adapters.testing.ProviderContract`
includes them.

Event cases need the driver's ``take_events()``, and the late refund failure its
``fail_refund(refund_id)`` (the bank reversing a refund that had succeeded); a driver
without them makes those cases expected failures with the reason, never skips.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from paycore.errors import ProviderInvalidRequest
from paycore.listing import all_refunds

from .provider_amounts import events_of, types_of
from .provider_case import PROCESSING, THREE_DS, ContractCase

#: Stripe's refund reasons (docs.stripe.com/api/refunds/create#create_refund-reason).
REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _fail_refund(c: ContractCase) -> Callable[[str], None]:
    fail: Callable[[str], None] | None = getattr(c.driver, "fail_refund", None)
    if fail is None:
        pytest.xfail("the driver cannot make a succeeded refund fail (fail_refund)")
    return fail


class FlowCases:
    """The cases; they use the ``c`` fixture of :class:`ProviderContract`."""

    # --- events per flow: docs.stripe.com/api/events/types ------------------------------

    def test_a_cancel_sends_payment_intent_canceled(self, c: ContractCase) -> None:
        """Canceling an open intent sends ``payment_intent.canceled`` and no charge
        event: no charge was attempted."""
        take = events_of(c)
        pi = c.create()
        take()
        c.provider.cancel_intent(pi.id, idempotency_key=c.key("cancel"))
        assert types_of(take(), pi.id) == ["payment_intent.canceled"]

    def test_three_d_secure_sends_requires_action_then_the_outcome(self, c: ContractCase) -> None:
        """A card that needs authentication sends ``payment_intent.requires_action``;
        passing sends ``payment_intent.succeeded`` and ``charge.succeeded``, failing
        ``payment_intent.payment_failed`` (the charge is not attempted, so no
        ``charge.failed``: docs.stripe.com/payments/3d-secure)."""
        take = events_of(c)
        passed, failed = c.create(order="a"), c.create(order="b")
        take()
        for pi in (passed, failed):
            c.confirm(pi.id, THREE_DS, f"k-{pi.id}")
        assert types_of(take(), passed.id, failed.id) == ["payment_intent.requires_action"] * 2
        c.driver.complete_action(passed.id, success=True)
        assert types_of(take(), passed.id) == ["payment_intent.succeeded", "charge.succeeded"]
        c.driver.complete_action(failed.id, success=False)
        assert types_of(take(), failed.id) == ["payment_intent.payment_failed"]

    def test_a_processing_payment_sends_processing_then_the_outcome(self, c: ContractCase) -> None:
        """A payment that settles later sends ``payment_intent.processing``, then
        ``payment_intent.succeeded`` when the network pays
        (docs.stripe.com/payments/payment-intents/verifying-status)."""
        take = events_of(c)
        pi = c.create()
        take()
        c.confirm(pi.id, PROCESSING, "k")
        assert [e.type for e in take() if e.object_id == pi.id] == ["payment_intent.processing"]
        c.driver.settle(pi.id, success=True)
        assert [e.type for e in take() if e.object_id == pi.id] == ["payment_intent.succeeded"]

    # --- refunds: docs.stripe.com/api/refunds/create ------------------------------------

    def test_a_partial_refund_then_the_exact_remainder_then_nothing(self, c: ContractCase) -> None:
        """Partial refunds may add up to exactly what was received; once the charge is
        fully refunded another refund is refused with ``charge_already_refunded``
        (docs.stripe.com/error-codes#charge-already-refunded), and the refused request
        makes no refund."""
        pi = c.paid(1000)
        first = c.refund(pi.id, 250, "r1")
        rest = c.refund(pi.id, 750, "r2")
        with pytest.raises(ProviderInvalidRequest) as caught:
            c.refund(pi.id, 1, "r3")
        assert caught.value.fields.get("error_code") == "charge_already_refunded"
        assert [r.id for r in all_refunds(c.provider, pi.id)] == [rest.id, first.id]
        assert sum(r.amount for r in (first, rest)) == pi.amount_received

    def test_each_of_stripes_refund_reasons_is_taken(self, c: ContractCase) -> None:
        """A refund's ``reason`` is ``duplicate``, ``fraudulent`` or
        ``requested_by_customer``, or none; anything else is refused and makes nothing
        (docs.stripe.com/api/refunds/create#create_refund-reason)."""
        pi = c.paid(1000)
        made = [c.refund(pi.id, 100, f"r-{reason}", reason=reason) for reason in REASONS]
        made.append(c.refund(pi.id, 100, "r-none"))
        with pytest.raises(ProviderInvalidRequest):
            c.refund(pi.id, 100, "r-other", reason="changed_mind")
        assert {r.id for r in all_refunds(c.provider, pi.id)} == {r.id for r in made}

    def test_a_refund_can_fail_after_it_succeeded(self, c: ContractCase) -> None:
        """The bank may return a refund that had succeeded (a closed card): it becomes
        ``failed`` with a ``failure_reason``, Stripe sends ``refund.failed`` and
        ``charge.refund.updated``, and its amount may be refunded again
        (docs.stripe.com/refunds#failed-refunds)."""
        fail = _fail_refund(c)
        take = events_of(c)
        pi = c.paid(1000)
        rf = c.refund(pi.id, 1000, "r1")
        assert rf.status == "succeeded"
        take()
        fail(rf.id)
        failed = c.provider.retrieve_refund(rf.id)
        assert failed.status == "failed" and failed.failure_reason
        assert [(e.type, e.object_kind) for e in take() if e.object_id == rf.id] == [
            ("refund.failed", "refund"),
            ("charge.refund.updated", "refund"),
        ]
        again = c.refund(pi.id, 1000, "r2")
        assert again.status == "succeeded"
