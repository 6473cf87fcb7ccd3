"""What the intake says and answers about deliveries it will not act on: the reason in
the log message itself (a plain formatter shows it), verified-but-malformed events at
ERROR with their id and type, an event that can never be stored acknowledged (Stripe
would retry it for three days for nothing), an acted-on type paycore cannot read yet
refused (a deploy within the retry window takes it), thin events named as such, a
livemode that is not the intake's acknowledged as ignored and never processed, and a
store failure after the event was recorded said as such."""

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

SECRET = "whsec_logs_0123456789abcdef"
PLAIN = logging.Formatter("%(levelname)s %(name)s %(message)s")


def paid() -> tuple[Wiring, ProviderEvent]:
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_logs0001", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    (ev,) = [e for e in w.provider.take_events() if e.type == "payment_intent.succeeded"]
    return w, ev


def doc_of(ev: ProviderEvent, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(signing.to_payload(ev))
    doc.update(changes)
    return doc


def deliver(
    intake: StripeWebhookIntake, doc: Any, caplog: pytest.LogCaptureFixture
) -> tuple[int, str, list[tuple[str, str]]]:
    """One signed delivery; the answer and each log line as a plain formatter prints it."""
    body = json.dumps(doc).encode()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="paycore_adapters"):
        answer = intake.receive(body, sign_for_test(body, SECRET, int(time.time())))
    lines = [(r.levelname, PLAIN.format(r)) for r in caplog.records]
    for _, line in lines:  # never a secret, the header or the body
        assert SECRET not in line and "v1=" not in line and body.decode() not in line
    return answer.status, answer.outcome, lines


def at(level: str, lines: list[tuple[str, str]]) -> list[str]:
    return [line for lvl, line in lines if lvl == level]


def inbox(w: Wiring) -> list[str]:
    return sorted(row.event_id for row in w.store.snapshot().rows(s.INBOX))


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "refused:no_signature"),
        ("t=1,v1=" + "0" * 64, "refused:signature"),
    ],
)
def test_a_refusal_names_its_reason_in_the_message(
    header: str | None, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    w, ev = paid()
    body = signing.to_payload(ev)
    with caplog.at_level(logging.DEBUG, logger="paycore_adapters"):
        StripeWebhookIntake(w.service, [SECRET]).receive(body, header)
    (line,) = [PLAIN.format(r) for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.startswith("WARNING") and reason in line


def test_a_stale_timestamp_names_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    w, ev = paid()
    body = signing.to_payload(ev)
    with caplog.at_level(logging.DEBUG, logger="paycore_adapters"):
        StripeWebhookIntake(w.service, [SECRET]).receive(body, sign_for_test(body, SECRET, 1))
    (line,) = [PLAIN.format(r) for r in caplog.records if r.levelno >= logging.WARNING]
    assert "refused:stale_timestamp" in line


@pytest.mark.parametrize("drop", ["created", "data"])
def test_an_acted_on_event_paycore_cannot_read_is_refused_and_logged_at_error(
    drop: str, caplog: pytest.LogCaptureFixture
) -> None:
    w, ev = paid()
    doc = doc_of(ev)
    del doc[drop]
    status, outcome, lines = deliver(StripeWebhookIntake(w.service, [SECRET]), doc, caplog)
    assert (status, outcome) == (400, "refused:malformed")  # Stripe retries; a fix takes it
    (line,) = at("ERROR", lines)
    assert ev.id in line and "payment_intent.succeeded" in line and "refused:malformed" in line
    assert inbox(w) == []


@pytest.mark.parametrize("body", [[1, 2], {"type": "payment_intent.succeeded"}, "x"])
def test_a_signed_body_that_is_not_an_event_is_logged_at_error(
    body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    w, _ = paid()
    status, outcome, lines = deliver(StripeWebhookIntake(w.service, [SECRET]), body, caplog)
    assert (status, outcome) == (400, "refused:malformed")
    (line,) = at("ERROR", lines)
    assert "refused:malformed" in line


@pytest.mark.parametrize(
    "change",
    [
        {"id": "evt_" + "x" * 300},
        {"id": "evt_\x00nul"},
        {
            "type": "payment_intent.succeeded",
            "data": {"object": {"object": "payment_intent", "id": "pi_" + "y" * 300}},
        },
    ],
    ids=["long-id", "nul-id", "long-object-id"],
)
def test_an_event_that_can_never_be_stored_is_acknowledged_with_an_error(
    change: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    w, ev = paid()
    status, outcome, lines = deliver(
        StripeWebhookIntake(w.service, [SECRET]), doc_of(ev, **change), caplog
    )
    assert (status, outcome) == (200, "ignored:unstorable")  # no point in three days of retries
    (line,) = at("ERROR", lines)
    assert "ignored:unstorable" in line and "payment_intent.succeeded" in line
    assert "x" * 100 not in line and "y" * 100 not in line  # a long id is cut short
    assert inbox(w) == []


def test_a_thin_event_is_acknowledged_and_names_snapshot_payloads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w, ev = paid()
    thin = {
        "id": "evt_thin_1",
        "object": "v2.core.event",
        "type": "v1.payment_intent.succeeded",
        "created": "2026-12-05T10:00:00.000Z",
        "livemode": False,
        "related_object": {"id": ev.object_id, "type": "payment_intent", "url": "/v1/x"},
    }
    intake = StripeWebhookIntake(w.service, [SECRET])
    for doc in (thin, dict(thin, type="payment_intent.succeeded")):
        status, outcome, lines = deliver(intake, doc, caplog)
        assert (status, outcome) == (200, "ignored:thin_event")
        (line,) = at("ERROR", lines)
        assert "snapshot" in line and "evt_thin_1" in line
    assert inbox(w) == []


@pytest.mark.parametrize(("expected", "sent"), [(False, True), (True, False), (False, None)])
def test_an_event_of_the_other_mode_is_ignored_with_a_warning(
    expected: bool, sent: bool | None, caplog: pytest.LogCaptureFixture
) -> None:
    w, ev = paid()
    doc = doc_of(ev) if sent is None else doc_of(ev, livemode=sent)
    intake = StripeWebhookIntake(w.service, [SECRET], livemode=expected)
    status, outcome, lines = deliver(intake, doc, caplog)
    assert (status, outcome) == (200, "ignored:livemode")
    (line,) = at("WARNING", lines)
    assert "ignored:livemode" in line and ev.id in line
    assert inbox(w) == []  # never processed


def test_an_event_of_the_intakes_mode_is_processed(caplog: pytest.LogCaptureFixture) -> None:
    w, ev = paid()
    intake = StripeWebhookIntake(w.service, [SECRET], livemode=False)
    status, outcome, _ = deliver(intake, doc_of(ev, livemode=False), caplog)
    assert (status, outcome) == (200, "processed")
    assert inbox(w) == [ev.id]


@pytest.mark.parametrize("bad", ["false", 0, 1])
def test_livemode_must_be_a_bool_or_none(bad: Any) -> None:
    w, _ = paid()
    with pytest.raises(InvalidInput):
        StripeWebhookIntake(w.service, [SECRET], livemode=bad)


def test_a_store_failure_after_the_event_was_recorded_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    w = make_shop()
    r = w.service.create_payment_intent("cs_test_logs0002", [CartItem("p_mug", 1)])
    payment = w.service.payment(r.payment_id)
    ev = ProviderEvent(
        "evt_after_1",
        "payment_intent.created",
        1,
        "payment_intent",
        str(payment.provider_intent_id),
    )

    def finish(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("database is locked")  # the flow's step, after the inbox

    monkeypatch.setattr(w.service, "_finish", finish)
    status, outcome, lines = deliver(StripeWebhookIntake(w.service, [SECRET]), doc_of(ev), caplog)
    assert (status, outcome) == (500, "failed:store")
    (line,) = at("ERROR", lines)
    assert "not recorded" not in line and "recorded" in line and "recovery" in line
    assert inbox(w) == [ev.id]


def test_a_store_failure_before_the_event_was_recorded_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    w, ev = paid()

    def down(event: ProviderEvent) -> Any:
        raise OperationalError("the database is away")

    monkeypatch.setattr(w.service, "handle_webhook", down)
    status, outcome, lines = deliver(StripeWebhookIntake(w.service, [SECRET]), doc_of(ev), caplog)
    assert (status, outcome) == (500, "failed:store")
    (line,) = at("ERROR", lines)
    assert "not recorded" in line and ev.id in line
