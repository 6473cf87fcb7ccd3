"""Wrong provider settings and wrong wiring are refused where they are given, typed and
by name, instead of failing later as a provider outage.

Before: ``StripeProvider.from_settings`` took a timeout of ``"30"``, ``-1`` or NaN, a
retry count of ``-1`` or ``1.5``, a publishable key and an API base without a scheme;
every call then failed inside ``requests`` and was mapped to the retryable
``ProviderUnavailable``, so each checkout went pending with its stock held and recovery
retried it for days. ``build_service``, ``in_memory`` and ``PaymentService`` took a
config that was not a ``Config`` and a store, provider, clock or alerts without the
port's methods, which failed later, untyped or as ``provider_unavailable``. An
unexpected error from a provider adapter was logged at WARNING only."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
from tests.stripe_wire import KEY, Wire

from paycore import errors as E
from paycore.config import Config
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.service import PaymentService
from paycore.tokens import SeededTokens
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.harness.faulty import FaultyProvider
from paycore_adapters.memory import ManualClock, RecordingAlerts, RecordingNotifier, in_memory
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.runtime import build_service
from paycore_adapters.stripe_provider import StripeProvider

# --- the Stripe adapter's settings ------------------------------------------------------


@pytest.mark.parametrize("timeout", ["30", -1, 0, math.nan, math.inf, None, True, [30]])
def test_a_timeout_that_is_not_a_positive_number_is_refused(timeout: Any) -> None:
    with pytest.raises(E.InvalidInput) as refused:
        StripeProvider.from_settings(KEY, timeout_s=timeout, http_client=Wire())
    assert refused.value.fields["field"] == "timeout_s"
    assert KEY not in str(refused.value) and KEY[8:] not in repr(refused.value.fields)


@pytest.mark.parametrize("retries", [-1, 1.5, "2", None, True, 10**6])
def test_a_retry_count_that_is_not_a_whole_number_of_zero_or_more_is_refused(
    retries: Any,
) -> None:
    with pytest.raises(E.InvalidInput) as refused:
        StripeProvider.from_settings(KEY, max_network_retries=retries, http_client=Wire())
    assert refused.value.fields["field"] == "max_network_retries"


@pytest.mark.parametrize(
    "key", ["pk_test_ZQ7KXpublishable", "pk_live_ZQ7KXp", "whsec_ZQ7KXw", "ZQ7KXplain", "sk_"]
)
def test_a_key_that_is_not_a_secret_or_restricted_key_is_refused_without_showing_it(
    key: str,
) -> None:
    with pytest.raises(E.ProviderConfigurationError) as refused:
        StripeProvider.from_settings(key, http_client=Wire())
    err = refused.value
    assert err.fields["field"] == "api_key" and "STRIPE_SECRET_KEY" in err.message
    for shown in (str(err), repr(err), repr(err.fields)):
        assert "ZQ7KX" not in shown


@pytest.mark.parametrize("key", ["sk_test_ZQ7KXok", "sk_live_ZQ7KXok", "rk_live_ZQ7KXok"])
def test_secret_and_restricted_keys_are_taken(key: str) -> None:
    StripeProvider.from_settings(key, http_client=Wire())


@pytest.mark.parametrize(
    "base", ["not-a-url", "ftp://127.0.0.1", "127.0.0.1:12111", "http://", "https:///v1", 7]
)
def test_an_api_base_without_an_http_scheme_and_host_is_refused(base: Any) -> None:
    with pytest.raises(E.ProviderConfigurationError) as refused:
        StripeProvider.from_settings(KEY, api_base=base, http_client=Wire())
    assert refused.value.fields["field"] == "api_base"


def test_good_settings_are_taken() -> None:
    p = StripeProvider.from_settings(
        KEY, api_base="http://127.0.0.1:12111", timeout_s=2, max_network_retries=0
    )
    assert "127.0.0.1:12111" in repr(p)


# --- the wiring -------------------------------------------------------------------------


class _NoSend:
    pass


def _parts() -> dict[str, Any]:
    clock = ManualClock()
    return {
        "store": MemoryStore(),
        "provider": FakeProvider(clock),
        "clock": clock,
        "alerts": RecordingAlerts(),
        "notifier": RecordingNotifier(),
    }


BAD_PARTS = [
    ("store", None),
    ("store", "shop.db"),
    ("store", object()),
    ("provider", None),
    ("provider", "x"),
    ("provider", MemoryStore()),
    ("clock", None),
    ("clock", 1_767_225_600_000),
    ("alerts", None),
    ("alerts", []),
    ("notifier", None),
    ("notifier", _NoSend()),
    ("config", {"max_lines": 1}),
    ("config", "x"),
]


@pytest.mark.parametrize(("name", "value"), BAD_PARTS)
def test_the_service_refuses_a_part_without_its_port_by_name(name: str, value: Any) -> None:
    parts = _parts()
    parts[name] = value
    with pytest.raises(E.InvalidInput) as refused:
        PaymentService(**parts, tokens=SeededTokens(0))
    assert refused.value.fields["field"] == name


#: build_service takes None for a clock or alerts: the wall clock, alerts to the log.
DEFAULTED = [("clock", None), ("alerts", None)]


@pytest.mark.parametrize(
    ("name", "value"), [p for p in BAD_PARTS if p[0] != "notifier" and p not in DEFAULTED]
)
def test_build_service_refuses_a_part_without_its_port_by_name(name: str, value: Any) -> None:
    parts = _parts()
    parts[name] = value
    with pytest.raises(E.InvalidInput) as refused:
        build_service(parts.pop("store"), parts.pop("provider"), parts.pop("notifier"), **parts)
    assert refused.value.fields["field"] == name


@pytest.mark.parametrize(
    ("name", "value"),
    [("config", {"max_lines": 1}), ("config", "x"), ("store", "shop.db"), ("store", object())],
)
def test_in_memory_refuses_a_config_or_store_of_the_wrong_kind(name: str, value: Any) -> None:
    with pytest.raises(E.InvalidInput) as refused:
        in_memory(**{name: value})
    assert refused.value.fields["field"] == name


def test_a_worker_id_that_is_not_text_is_refused() -> None:
    with pytest.raises(E.InvalidInput) as refused:
        PaymentService(**_parts(), worker_id=7)  # type: ignore[arg-type]
    assert refused.value.fields["field"] == "worker_id"


def test_good_parts_are_taken() -> None:
    PaymentService(**_parts(), config=Config(), worker_id="w1", tokens=SeededTokens(0))
    in_memory(config=Config())


# --- an unexpected error from the provider's adapter ------------------------------------


def test_a_raw_error_from_the_adapter_stays_retryable_and_is_logged_at_error_once_per_flow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An adapter bug (here a TypeError on every create) must not give the checkout up:
    the call may have landed, so it stays pending and asked about; but it is logged at
    ERROR, with its stack, once for the flow, not only as a WARNING each time."""
    clock = ManualClock()
    provider = FaultyProvider(FakeProvider(clock))
    provider.set_account("acct_1")

    said = "a bug in the adapter, sk_test_ZQ7KXsecret"  # a message is never logged

    def broken(call: str, phase: str, key: str | None) -> None:
        if call == "create_intent" and phase == "before":
            raise TypeError(said)

    svc = PaymentService(
        MemoryStore(), provider, clock, RecordingAlerts(), RecordingNotifier(),
        tokens=SeededTokens(0),
    )  # fmt: skip
    svc.add_seller("s1", "Mug Shop", "acct_1")
    svc.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    svc.restock("s1", "SKU-MUG", 5)
    provider.fault = broken
    caplog.set_level(logging.WARNING, logger="paycore.flows.engine")
    with pytest.raises(E.FlowPending):
        svc.create_payment_intent("cs_test_rawerror0001", [CartItem("p_mug", 1)])
    for _ in range(3):  # recovery asks again, and meets the same bug
        clock.advance(3_600_000)
        svc.run_recovery()
    assert provider.calls["create_intent"] >= 3
    flows = svc.flows()
    assert [f.status._value_ for f in flows] == ["active"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in caplog.records]
    (err,) = errors
    assert err.flow_id == flows[0].id  # type: ignore[attr-defined]
    assert "TypeError" in err.getMessage() and "Traceback" in err.getMessage()
    assert all("ZQ7KX" not in r.getMessage() for r in caplog.records)
