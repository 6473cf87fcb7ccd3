"""A deeply nested JSON body makes ``json.loads`` raise RecursionError, which is not a
ValueError: the fake provider's saved books (``paycore check --fake-books``) and a
signed webhook delivery each let it escape as a raw traceback (the webhook app answered
500 ``failed:internal``, so the provider would redeliver it for days). Now the books are
unreadable (one line, exit 2) and the delivery is refused as malformed (400)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.support import cli, make_shop

from paycore.errors import WebhookSignatureInvalid
from paycore_adapters import fake_state, signing
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.stripe_webhooks import StripeWebhookIntake, sign_for_test

SECRET = "whsec_deep_0123456789abcdef"
DEEP = "[" * 200_000 + "]" * 200_000


def event(inner: str) -> bytes:
    """A payment_intent.succeeded event whose object holds ``inner`` (raw JSON)."""
    head = '{"id":"evt_deep","type":"payment_intent.succeeded","created":1,"data":{"object":'
    return (head + '{"object":"payment_intent","id":"pi_deep","x":' + inner + "}}}").encode()


def test_deep_fake_books_are_unreadable() -> None:
    with pytest.raises(fake_state.FakeStateUnreadable, match="cannot read"):
        fake_state.loads(DEEP, FakeProvider(ManualClock()), ManualClock())


def test_check_with_deep_fake_books_is_one_line_and_exit_2(tmp_path: Path) -> None:
    books = tmp_path / "deep.json"
    books.write_text(DEEP)
    store = f"sqlite:{tmp_path / 'shop.db'}"  # a real store: `memory` is refused first
    assert cli("migrate", "--store", store)[0] == 0
    code, out, err = cli("check", "--store", store, "--fake-books", str(books))
    assert (code, out) == (2, "")
    assert err.startswith("error: file_unreadable: cannot read the fake provider's books")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("body", [DEEP.encode(), event(DEEP), event("[" * 5000 + "]" * 5000)])
def test_a_signed_deep_body_is_refused_as_malformed(body: bytes) -> None:
    w = make_shop()
    intake = StripeWebhookIntake(w.service, [SECRET])
    before = w.store.fingerprint()
    answer = intake.receive(body, sign_for_test(body, SECRET, int(time.time())))
    assert (answer.status, answer.outcome) == (400, "refused:malformed")
    assert w.store.fingerprint() == before


def test_from_payload_refuses_a_deep_body() -> None:
    with pytest.raises(WebhookSignatureInvalid, match="not a provider event"):
        signing.from_payload(event(DEEP))
    json.loads(event("[]"))  # the same event, shallow, is JSON
    assert signing.from_payload(event("[]")).object_id == "pi_deep"
