"""A refund's ``reverse_transfer`` as the emulator reads it off the wire: Stripe's boolean,
false when not sent (stripe-python 16.1.0 ``stripe/params/_refund_create_params.py``)."""

from __future__ import annotations

import pytest
import stripe

from paycore_adapters.emulator import Emulator

from .conftest import create, raw


def paid(emu: Emulator, client: stripe.StripeClient) -> str:
    pi = create(client, "k_pi")
    client.v1.payment_intents.confirm(
        pi.id, {"payment_method": "pm_card_visa"}, {"idempotency_key": "k_pay"}
    )
    return str(pi.id)


def test_a_bad_boolean_is_refused_and_makes_no_refund(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    """``reverse_transfer=yes`` is 400 ``invalid_request_error`` on that parameter; the
    key stays free, and the same key with ``true`` then makes the refund, reversed."""
    pi = paid(emu, client)
    form = {"payment_intent": pi, "amount": "500", "reverse_transfer": "yes"}
    status, _, body = raw(emu, "POST", "/v1/refunds", form, idempotency_key="k_re")
    assert status == 400
    assert (body["error"]["type"], body["error"]["param"]) == (
        "invalid_request_error",
        "reverse_transfer",
    )
    assert emu.model.refunds() == []
    status, _, body = raw(
        emu, "POST", "/v1/refunds", {**form, "reverse_transfer": "true"}, idempotency_key="k_re"
    )
    assert status == 200 and emu.model.transfer_reversed(body["id"]) == 500


def test_the_same_key_with_another_reverse_transfer_is_a_mismatch(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    """``reverse_transfer`` is one of the request's parameters: a key first used without
    it is refused with it (docs.stripe.com/api/idempotent_requests), and reverses nothing."""
    pi = paid(emu, client)
    first = client.v1.refunds.create(
        {"payment_intent": pi, "amount": 400}, {"idempotency_key": "k_r1"}
    )
    with pytest.raises(stripe.IdempotencyError):
        client.v1.refunds.create(
            {"payment_intent": pi, "amount": 400, "reverse_transfer": True},
            {"idempotency_key": "k_r1"},
        )
    again = client.v1.refunds.create(
        {"payment_intent": pi, "amount": 400}, {"idempotency_key": "k_r1"}
    )
    assert again.id == first.id and len(emu.model.refunds()) == 1
    assert emu.model.transfer_reversed(first.id) == 0
