"""Edges of the wiring and setting checks.

Before: ``StripeProvider.from_settings(api_base="")`` was refused as "not an http(s)
URL", without saying that leaving it out gives Stripe's own address (it had meant that
before the settings were checked); a whole number of seconds past the float range
(``10**400``) raised an untyped ``OverflowError``; ``build_service`` checked each part
twice (its own check, then ``PaymentService``'s) and had a copy of the worker id check."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from tests.stripe_wire import KEY, Wire

from paycore import errors as E
from paycore import wiring
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock, RecordingAlerts, RecordingNotifier
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.runtime import build_service
from paycore_adapters.stripe_provider import StripeProvider


@pytest.mark.parametrize("base", ["", "   "])
def test_an_empty_api_base_is_refused_saying_to_leave_it_out(base: str) -> None:
    with pytest.raises(E.ProviderConfigurationError) as refused:
        StripeProvider.from_settings(KEY, api_base=base, http_client=Wire())
    err = refused.value
    assert err.fields["field"] == "api_base"
    assert "leave it out" in err.message and "https://api.stripe.com" in err.message


def test_no_api_base_is_stripes_own() -> None:
    provider = StripeProvider.from_settings(KEY, http_client=Wire())
    assert "https://api.stripe.com" in repr(provider)


@pytest.mark.parametrize("huge", [10**400, -(10**400)], ids=["huge", "negative"])
def test_a_number_of_seconds_past_the_float_range_is_invalid_input(huge: int) -> None:
    with pytest.raises(E.InvalidInput) as refused:
        wiring.positive_seconds("timeout_s", huge)
    assert refused.value.fields["field"] == "timeout_s"
    assert "bits" in refused.value.message  # shown by its size, not its 400 digits
    with pytest.raises(E.InvalidInput) as refused:
        StripeProvider.from_settings(KEY, timeout_s=huge, http_client=Wire())
    assert refused.value.fields["field"] == "timeout_s"


def test_a_huge_provider_timeout_given_to_build_service_is_invalid_input() -> None:
    clock = ManualClock()
    with pytest.raises(E.InvalidInput) as refused:
        build_service(
            MemoryStore(), FakeProvider(clock), RecordingNotifier(), provider_timeout_s=10**400
        )
    assert refused.value.fields["field"] == "provider_timeout_s"


@pytest.mark.parametrize("defaults", [False, True])
def test_build_service_checks_each_part_once(
    monkeypatch: pytest.MonkeyPatch, defaults: bool
) -> None:
    checked: Counter[int] = Counter()
    check_part = wiring.check_part

    def counting(field: str, value: Any) -> None:
        checked[id(value)] += 1
        check_part(field, value)

    monkeypatch.setattr(wiring, "check_part", counting)
    clock = ManualClock()
    parts: dict[str, Any] = {
        "store": MemoryStore(),
        "provider": FakeProvider(clock),
        "notifier": RecordingNotifier(),
    }
    given = dict(parts)
    if not defaults:
        given |= {"clock": clock, "alerts": RecordingAlerts()}
    build_service(**given, worker_id="w1")
    assert {name: checked[id(part)] for name, part in given.items()} == dict.fromkeys(given, 1)


def test_build_service_refuses_a_worker_id_that_is_not_text() -> None:
    clock = ManualClock()
    with pytest.raises(E.InvalidInput) as refused:
        build_service(MemoryStore(), FakeProvider(clock), RecordingNotifier(), worker_id=7)  # type: ignore[arg-type]
    assert refused.value.fields["field"] == "worker_id"
