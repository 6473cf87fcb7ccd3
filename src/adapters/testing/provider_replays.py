"""The provider contract's replays of the calls that move money: a refund and a cancel
sent again under their key (docs.stripe.com/api/idempotent_requests). paycore retries
each of them under the key it stored before the first try, so a provider that ignores
the key there refunds twice or refuses its own retry. Every driver runs these: they
need no optional driver member.

``capture_intent`` has no replay case: :class:`paycore.ports.CreateIntent` makes only
intents that capture on confirm, so no intent the port can make has anything to
capture (``test_capture_needs_requires_capture``), and paycore never captures.
"""

from __future__ import annotations

import pytest

from paycore.errors import ProviderIdempotencyMismatch
from paycore.listing import all_refunds

from .provider_case import ContractCase


class ReplayCases:
    """Mixed into :class:`paycore_adapters.testing.ProviderContract`."""

    def test_a_refund_replayed_under_its_key_returns_the_first_refund(
        self, c: ContractCase
    ) -> None:
        """The same refund sent again under its key returns the first refund and moves
        no money: the intent holds one refund, and the rest of its amount is still
        refundable."""
        pi = c.paid(1000)
        first = c.refund(pi.id, 300, "refund")
        again = c.refund(pi.id, 300, "refund")
        assert (again.id, again.amount, again.intent_id) == (first.id, 300, pi.id)
        assert [x.id for x in all_refunds(c.provider, pi.id)] == [first.id]
        rest = c.refund(pi.id, 700, "refund-rest")
        assert rest.id != first.id
        refunded = sorted(x.amount for x in all_refunds(c.provider, pi.id))
        assert refunded == [300, 700], f"refunded {refunded} of 1000"

    def test_a_refund_key_reused_with_another_amount_is_a_mismatch(self, c: ContractCase) -> None:
        """A refund's key sent with another amount is refused and refunds nothing."""
        pi = c.paid(1000)
        first = c.refund(pi.id, 300, "refund")
        with pytest.raises(ProviderIdempotencyMismatch):
            c.refund(pi.id, 400, "refund")
        assert [x.id for x in all_refunds(c.provider, pi.id)] == [first.id]

    def test_a_cancel_replayed_under_its_key_returns_the_first_result(
        self, c: ContractCase
    ) -> None:
        """A cancel sent again under its key returns the first result (a provider that
        ran it again would refuse to cancel a canceled intent)."""
        pi = c.create()
        key = c.key("cancel")
        first = c.provider.cancel_intent(pi.id, idempotency_key=key)
        assert first.status == "canceled"
        assert c.provider.cancel_intent(pi.id, idempotency_key=key) == first
        assert c.provider.retrieve_intent(pi.id).status == "canceled"
