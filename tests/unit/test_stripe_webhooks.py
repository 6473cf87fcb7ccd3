"""Stripe webhook intake: the SDK's verification with rotated secrets and a tolerance, a
2xx for every verified event, a 400 and no change for anything else, no secret shown."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from tests.support import make_shop

from paycore import schema as s
from paycore.errors import InvalidInput, OperationalError
from paycore.flows.checkout import CartItem
from paycore.ports import ProviderEvent
from paycore_adapters import signing
from paycore_adapters.memory import Wiring
from paycore_adapters.stripe_webhooks import StripeWebhookIntake, sign_for_test

NEW = "whsec_new_0123456789abcdef"
OLD = "whsec_old_fedcba9876543210"


def paid() -> tuple[Wiring, list[ProviderEvent]]:
    """A confirmed payment whose events have not been delivered yet."""
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_hook0001", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    return w, w.provider.take_events()


def signed(body: bytes, *secrets: str, at: int | None = None) -> str:
    """A header with one v1 signature per secret, as Stripe signs while a secret rolls."""
    t = int(time.time()) if at is None else at
    headers = [sign_for_test(body, secret, t) for secret in secrets]
    return ",".join([headers[0]] + [h.split(",", 1)[1] for h in headers[1:]])


def inbox(w: Wiring) -> list[str]:
    return sorted(row.event_id for row in w.store.snapshot().rows(s.INBOX))


def event_body(w: Wiring, events: list[ProviderEvent]) -> tuple[str, bytes]:
    (ev,) = [e for e in events if e.type == "payment_intent.succeeded"]
    return ev.id, signing.to_payload(ev)


def test_a_verified_event_is_taken_once_then_a_duplicate() -> None:
    w, events = paid()
    event_id, body = event_body(w, events)
    intake = StripeWebhookIntake(w.service, [NEW])
    first = intake.receive(body, signed(body, NEW))
    assert (first.status, first.outcome, first.event_id) == (200, "processed", event_id)
    again = intake.receive(body, signed(body, NEW))
    assert (again.status, again.outcome) == (200, "duplicate")
    assert event_id in inbox(w)


@pytest.mark.parametrize(
    ("secrets", "signers"),
    [([NEW, OLD], [OLD]), ([NEW, OLD], [NEW]), ([NEW], [NEW, OLD]), ([OLD], [NEW, OLD])],
)
def test_any_current_secret_admits_a_delivery(secrets: list[str], signers: list[str]) -> None:
    """While a secret rolls, either secret verifies (docs.stripe.com/webhooks)."""
    w, events = paid()
    _, body = event_body(w, events)
    answer = StripeWebhookIntake(w.service, secrets).receive(body, signed(body, *signers))
    assert answer.acknowledged, answer


def refused_without_change(w: Wiring, body: bytes, header: str | None, outcome: str) -> None:
    before = w.store.snapshot()
    answer = StripeWebhookIntake(w.service, [NEW]).receive(body, header)
    assert (answer.status, answer.outcome) == (400, outcome)
    assert w.store.snapshot() == before


def test_a_signature_by_a_retired_secret_is_refused() -> None:
    w, events = paid()
    _, body = event_body(w, events)
    refused_without_change(w, body, signed(body, OLD), "refused:signature")


def test_a_stale_timestamp_is_refused_as_a_replay() -> None:
    w, events = paid()
    _, body = event_body(w, events)
    header = signed(body, NEW, at=int(time.time()) - 301)
    refused_without_change(w, body, header, "refused:stale_timestamp")


def test_a_changed_body_is_refused() -> None:
    w, events = paid()
    _, body = event_body(w, events)
    header = signed(body, NEW)
    refused_without_change(w, body.replace(b"succeeded", b"canceled"), header, "refused:signature")


@pytest.mark.parametrize("header", [None, "", "t=abc,v1=00", "v1=" + "0" * 64, "garbage"])
def test_a_missing_or_malformed_header_is_refused(header: str | None) -> None:
    w, events = paid()
    _, body = event_body(w, events)
    expected = "refused:no_signature" if not header else "refused:signature"
    refused_without_change(w, body, header, expected)


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"type": "payment_intent.succeeded"}', b"\xff\xfe"]
)
def test_a_signed_body_that_is_not_an_event_is_refused(body: bytes) -> None:
    w, _ = paid()
    header = "t=1,v1=00" if body == b"\xff\xfe" else signed(body, NEW)
    refused_without_change(w, body, header, "refused:malformed")


def test_a_signed_event_of_a_type_paycore_does_not_use_is_acknowledged_and_not_kept() -> None:
    w, _ = paid()
    doc = {
        "id": "evt_customer_1",
        "type": "customer.created",
        "created": 1,
        "data": {"object": {"object": "customer", "id": "cus_1"}},
    }
    body = json.dumps(doc).encode()
    before = w.store.snapshot()
    answer = StripeWebhookIntake(w.service, [NEW]).receive(body, signed(body, NEW))
    assert (answer.status, answer.outcome) == (200, "ignored:unused_type")
    assert w.store.snapshot() == before


def test_a_store_failure_asks_for_a_redelivery(monkeypatch: pytest.MonkeyPatch) -> None:
    w, events = paid()
    _, body = event_body(w, events)

    def down(event: ProviderEvent) -> Any:
        raise OperationalError("the database is away")

    monkeypatch.setattr(w.service, "handle_webhook", down)
    answer = StripeWebhookIntake(w.service, [NEW]).receive(body, signed(body, NEW))
    assert (answer.status, answer.outcome, answer.acknowledged) == (500, "failed:store", False)


def test_no_secret_in_repr_answers_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    w, events = paid()
    _, body = event_body(w, events)
    intake = StripeWebhookIntake(w.service, [NEW, OLD])
    with caplog.at_level(logging.DEBUG):
        answers = [
            intake.receive(body, signed(body, NEW)),
            intake.receive(body, signed(body, "whsec_someone_else")),
            intake.receive(b"x", signed(b"x", NEW, at=1)),
        ]
    shown = repr(intake) + repr(answers) + caplog.text
    assert "hidden" in repr(intake)
    for secret in (NEW, OLD):
        assert secret not in shown


@pytest.mark.parametrize(
    ("secrets", "tolerance"), [([], 300), ([""], 300), (["  "], 300), ([NEW], 0), ([NEW], True)]
)
def test_bad_configuration_is_refused(secrets: list[str], tolerance: Any) -> None:
    w, _ = paid()
    with pytest.raises(InvalidInput):
        StripeWebhookIntake(w.service, secrets, tolerance_s=tolerance)


@pytest.mark.parametrize("given", [NEW, None, signing.Secret(NEW), NEW.encode(), {NEW}])
def test_secrets_are_a_list_never_one_string(given: Any) -> None:
    """One secret given bare is refused: read as a sequence, its characters would each
    be a secret, so that Stripe's deliveries were refused and one signed under "w" (a
    character of every secret) accepted."""
    w, events = paid()
    with pytest.raises(InvalidInput) as caught:
        StripeWebhookIntake(w.service, given)
    assert caught.value.fields["field"] == "secrets"
    _, body = event_body(w, events)
    assert StripeWebhookIntake(w.service, [NEW]).receive(body, signed(body, NEW)).acknowledged


def high_bytes() -> list[str]:
    """Every byte 0x80-0xff, as the app reads a header (latin-1): one text per byte."""
    return [bytes([b]).decode("latin-1") for b in range(0x80, 0x100)]


@pytest.mark.parametrize("char", high_bytes())
def test_a_non_ascii_byte_in_the_signature_is_a_bad_signature(
    char: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK compares with hmac.compare_digest, which raises TypeError on non-ASCII text
    (stripe/_util.py secure_compare): the intake refuses such a header before the SDK."""
    w, events = paid()
    _, body = event_body(w, events)
    now = int(time.time())
    genuine = signed(body, NEW, at=now)
    with caplog.at_level(logging.DEBUG):
        refused_without_change(w, body, f"t={now},v1={'0' * 63}{char}", "refused:signature")
        refused_without_change(w, body, f"{genuine},v1={char * 64}", "refused:signature")
        refused_without_change(w, body, f"t={now}{char},v1={'0' * 64}", "refused:signature")
    assert {r.levelname for r in caplog.records} == {"WARNING"}


@pytest.mark.parametrize(
    "header",
    [
        "".join(high_bytes()),  # nothing but garbage
        "\x80\xff,\xfe=\xfd",
        "t=\u00b2,v1=" + "0" * 64,  # a digit int() does not take
        "t=\u0661\u0662,v1=" + "0" * 64,  # digits int() takes but Stripe never sends
        "t=1,v1=" + "0" * 63 + "\u00e9",
        "t=1,v1=\ud800",  # a lone surrogate
        "t=1, v1=" + "0" * 64,
        "t=1,t=2,v1=" + "0" * 64,
        "t=1,v1=" + "0" * 63,  # one hex digit short
        "t=1,v1=" + "0" * 63 + "G",
        "t=1,v0=" + "0" * 64,  # no v1 at all
        "=,=,=",
        ",,,",
    ],
)
def test_a_header_that_is_not_a_signature_header_is_a_bad_signature(header: str) -> None:
    """Whatever the header holds, the answer is 400 refused:signature and nothing changes."""
    w, events = paid()
    _, body = event_body(w, events)
    refused_without_change(w, body, header, "refused:signature")


def test_a_well_formed_header_with_other_schemes_is_still_verified() -> None:
    """Stripe may add a v0 (test mode) signature beside v1: the v1 signature decides."""
    w, events = paid()
    _, body = event_body(w, events)
    header = signed(body, NEW) + ",v0=" + "0" * 64
    answer = StripeWebhookIntake(w.service, [NEW]).receive(body, header)
    assert (answer.status, answer.outcome) == (200, "processed")
