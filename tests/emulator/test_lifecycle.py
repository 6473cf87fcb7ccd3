"""The bare stripe SDK against the emulator: a payment's whole life, lists, search and
an account, each answer shaped as Stripe's object."""

from __future__ import annotations

import stripe

from paycore_adapters.emulator import Emulator

from .conftest import ACCOUNT, create, raw


def test_create_confirm_refund_with_the_sdk(emu: Emulator, client: stripe.StripeClient) -> None:
    pi = create(client, "k_create")
    assert (pi.object, pi.status, pi.amount, pi.currency) == (
        "payment_intent",
        "requires_payment_method",
        2500,
        "usd",
    )
    assert pi.metadata.to_dict() == {"order_id": "ord_1"}
    assert pi.transfer_data.destination == ACCOUNT and pi.on_behalf_of == ACCOUNT
    assert pi.created == emu.model.clock.now() // 1000  # seconds, not the model's ms
    assert pi.client_secret and pi.client_secret.startswith(f"{pi.id}_secret_")

    done = client.v1.payment_intents.confirm(
        pi.id, {"payment_method": "pm_card_visa"}, {"idempotency_key": "k_confirm"}
    )
    assert (done.status, done.amount_received, done.payment_method) == (
        "succeeded",
        2500,
        "pm_card_visa",
    )
    assert emu.model.retrieve_intent(pi.id).status == "succeeded"  # the model's own state

    refund = client.v1.refunds.create(
        {"payment_intent": pi.id, "amount": 1000, "reason": "requested_by_customer"},
        {"idempotency_key": "k_refund"},
    )
    assert (refund.object, refund.status, refund.amount, refund.currency) == (
        "refund",
        "succeeded",
        1000,
        "usd",
    )
    assert refund.reason == "requested_by_customer" and refund.payment_intent == pi.id
    assert client.v1.refunds.retrieve(refund.id).amount == 1000
    rest = client.v1.refunds.create({"payment_intent": pi.id}, {"idempotency_key": "k_rest"})
    assert rest.amount == 1500  # no amount: what is left
    page = client.v1.refunds.list({"payment_intent": pi.id, "limit": 1})
    assert [r.id for r in page.data] == [rest.id] and page.has_more is True
    assert emu.model.transfer_reversed(refund.id) == 1000


def test_cancel_and_capture_answer_the_model(client: stripe.StripeClient) -> None:
    pi = create(client, "k_c1")
    canceled = client.v1.payment_intents.cancel(pi.id, None, {"idempotency_key": "k_c2"})
    assert canceled.status == "canceled"
    try:
        client.v1.payment_intents.capture(pi.id, None, {"idempotency_key": "k_c3"})
    except stripe.InvalidRequestError as e:
        assert e.http_status == 400 and e.code == "payment_intent_unexpected_state"
    else:
        raise AssertionError("a canceled intent was captured")


def test_lists_are_newest_first_and_paged_by_cursor(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    clock = emu.model.clock
    start_s = clock.now() // 1000
    ids = []
    for n in range(5):
        ids.append(create(client, f"k_list_{n}").id)
        clock.advance(1000)  # type: ignore[attr-defined]
    first = client.v1.payment_intents.list({"created": {"gte": start_s}, "limit": 2})
    assert first.object == "list" and first.url == "/v1/payment_intents"
    assert [p.id for p in first.data] == ids[::-1][:2] and first.has_more
    second = client.v1.payment_intents.list(
        {"created": {"gte": start_s}, "limit": 2, "starting_after": first.data[-1].id}
    )
    assert [p.id for p in second.data] == ids[::-1][2:4]
    window = client.v1.payment_intents.list({"created": {"gte": start_s + 1, "lt": start_s + 3}})
    assert [p.id for p in window.data] == [ids[2], ids[1]] and not window.has_more


def test_search_waits_out_the_lag_then_pages(emu: Emulator, client: stripe.StripeClient) -> None:
    made = [create(client, f"k_s{n}", metadata={"order_id": "ord_s"}).id for n in range(3)]
    create(client, "k_other", metadata={"order_id": "ord_other"})
    query = "metadata['order_id']:'ord_s'"
    assert client.v1.payment_intents.search({"query": query}).data == []  # not indexed yet
    emu.model.clock.advance(emu.model.search_lag_ms)  # type: ignore[attr-defined]
    first = client.v1.payment_intents.search({"query": query, "limit": 2})
    assert first.object == "search_result" and first.has_more and first.next_page
    rest = client.v1.payment_intents.search({"query": query, "limit": 2, "page": first.next_page})
    assert [p.id for p in [*first.data, *rest.data]] == made[::-1] and not rest.has_more


def test_account_and_raw_http(emu: Emulator, client: stripe.StripeClient) -> None:
    acct = client.v1.accounts.retrieve(ACCOUNT)
    assert (acct.object, acct.charges_enabled) == ("account", True)
    assert acct.capabilities.to_dict() == {"card_payments": "active", "transfers": "active"}
    status, headers, body = raw(
        emu,
        "POST",
        "/v1/payment_intents",
        {
            "amount": "900",
            "currency": "eur",
            "transfer_data[destination]": ACCOUNT,
            "automatic_payment_methods[enabled]": "true",
            "metadata[order_id]": "ord_raw",
        },
        idempotency_key="k_raw",
    )
    assert status == 200 and headers["request-id"].startswith("req_")
    assert headers["idempotency-key"] == "k_raw"
    assert (body["currency"], body["metadata"], body["on_behalf_of"]) == (
        "eur",
        {"order_id": "ord_raw"},
        None,
    )
    assert body["automatic_payment_methods"]["allow_redirects"] == "always"
    status, _, got = raw(emu, "GET", f"/v1/payment_intents/{body['id']}")
    assert status == 200 and got["id"] == body["id"]
