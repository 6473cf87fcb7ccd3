"""Reading a refund's transfer reversal from Stripe's refund object (``transfer_reversal``,
an id, the expanded object, or null; docs.stripe.com/api/refunds/object), and the
fake's and the emulator's refunds showing theirs."""

from __future__ import annotations

from typing import Any

import pytest

from paycore.money import Money
from paycore.ports import CreateIntent, RefundView
from paycore_adapters.emulator.wire import refund_json
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.stripe_convert import NotUnderstood, refund_view

BASE: dict[str, Any] = {
    "id": "re_1",
    "object": "refund",
    "amount": 500,
    "payment_intent": "pi_1",
    "status": "succeeded",
    "metadata": {},
}


@pytest.mark.parametrize(
    ("fields", "connect", "expected"),
    [
        ({"transfer_reversal": "trr_1"}, True, True),
        ({"transfer_reversal": {"id": "trr_1", "object": "transfer_reversal"}}, True, True),
        ({"transfer_reversal": None}, True, False),
        ({}, True, None),  # an object without the field: the adapter does not know
        # Without Connect, null is "no transfer" or "not reversed": the adapter cannot tell
        # which without the charge, so None; a reversal's id says it reversed, whatever
        # the adapter's setting (an account may have Connect for another integration).
        ({"transfer_reversal": None}, False, None),
        ({"transfer_reversal": "trr_1"}, False, True),
    ],
)
def test_the_stripe_adapter_reads_the_transfer_reversal(
    fields: dict[str, Any], connect: bool, expected: bool | None
) -> None:
    assert refund_view({**BASE, **fields}, connect=connect).transfer_reversed is expected


def test_a_transfer_reversal_of_another_shape_is_not_understood() -> None:
    with pytest.raises(NotUnderstood, match="transfer_reversal"):
        refund_view({**BASE, "transfer_reversal": 7})


def test_a_view_made_without_it_does_not_know() -> None:
    """Adapters that do not know leave the default: None (unknown)."""
    assert RefundView("re_1", "pi_1", 1, "succeeded").transfer_reversed is None


def test_the_fake_and_the_emulator_show_the_reversal() -> None:
    """A destination charge's refund shows whether it reversed the transfer; a charge
    with no destination (a shop's own account) has no transfer: None. The emulator's
    JSON carries Stripe's field, an id or null, which the adapter reads back."""
    fake = FakeProvider(ManualClock())
    fake.set_account("acct_1")
    paid = []
    for n, account in enumerate(["acct_1", ""]):
        pi = fake.create_intent(
            CreateIntent(Money(1000, "EUR"), account, {}), idempotency_key=f"pi{n}"
        )
        fake.confirm_intent(
            pi.id, payment_method="pm_card_visa", return_url=None, idempotency_key=f"c{n}"
        )
        paid.append(pi.id)
    kwargs: dict[str, Any] = {"reason": None, "metadata": {}}
    asked = fake.create_refund(paid[0], amount=100, idempotency_key="a", **kwargs)
    kept = fake.create_refund(
        paid[0], amount=200, idempotency_key="k", reverse_transfer=False, **kwargs
    )
    own = fake.create_refund(paid[1], amount=300, idempotency_key="o", **kwargs)
    views = [fake.retrieve_refund(r.id) for r in (asked, kept, own)]
    assert [v.transfer_reversed for v in views] == [True, False, None]
    wire = [refund_json(v)["transfer_reversal"] for v in views]
    assert wire[1:] == [None, None] and str(wire[0]).startswith("trr_")
    assert [refund_view(refund_json(v)).transfer_reversed for v in views] == [True, False, False]
