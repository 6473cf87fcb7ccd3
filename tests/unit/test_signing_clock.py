"""A webhook's signature is checked against a real moment: ``now_s`` must be a finite
number of seconds, or NaN would turn the replay window off (every comparison with NaN
is false) and None would be an untyped TypeError. ``sign`` takes a whole second only,
as Stripe's ``t=`` is one."""

from __future__ import annotations

import json
import time

import pytest

from paycore.errors import InvalidInput, WebhookSignatureInvalid
from paycore_adapters import signing

SECRET = "whsec_test"
NOW = int(time.time())
BODY = json.dumps(
    {
        "id": "evt_1",
        "type": "payment_intent.succeeded",
        "created": NOW,
        "data": {"object": {"id": "pi_1", "object": "payment_intent"}},
    }
).encode()


@pytest.mark.parametrize(
    "now_s", [float("nan"), float("inf"), float("-inf"), None, "1700000000", True, [NOW]]
)
def test_a_moment_that_is_not_a_finite_number_is_refused(now_s: object) -> None:
    old = signing.sign(BODY, SECRET, NOW - 10**6)
    for call in (signing.verify, signing.receive):
        with pytest.raises(InvalidInput) as caught:
            call(BODY, old, SECRET, now_s)  # type: ignore[operator]
        assert caught.value.fields.get("field") == "now_s"


def test_a_finite_moment_still_checks_the_window() -> None:
    fresh = signing.sign(BODY, SECRET, NOW)
    assert signing.receive(BODY, fresh, SECRET, NOW + 0.5).id == "evt_1"
    assert signing.receive(BODY, fresh, SECRET, NOW).id == "evt_1"
    with pytest.raises(WebhookSignatureInvalid):
        signing.verify(BODY, signing.sign(BODY, SECRET, NOW - 10**6), SECRET, float(NOW))


@pytest.mark.parametrize("stamp", [1.5, float("nan"), "1700000000", None, True, -1])
def test_sign_takes_a_whole_second_only(stamp: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        signing.sign(BODY, SECRET, stamp)  # type: ignore[arg-type]
    assert caught.value.fields.get("field") == "timestamp_s"
