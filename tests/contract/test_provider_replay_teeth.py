"""The provider contract's replay cases have teeth: a provider that sends each refund (or
each cancel) under a fresh key, so that a retry runs again, fails them."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pytest

from paycore.errors import ProviderError
from paycore.ports import IntentView, RefundView
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.testing import FakeDriver
from paycore_adapters.testing.provider_case import ContractCase
from paycore_adapters.testing.provider_replays import ReplayCases

_fresh = itertools.count()


class RefundKeyless(FakeProvider):
    """Forgets a refund's key: a retried refund refunds again."""

    def create_refund(
        self,
        intent_id: str,
        *,
        amount: int,
        reason: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> RefundView:
        fresh = f"fresh-{next(_fresh)}"
        return super().create_refund(
            intent_id, amount=amount, reason=reason, metadata=metadata, idempotency_key=fresh
        )


class CancelKeyless(FakeProvider):
    """Forgets a cancel's key: a retried cancel meets a canceled intent."""

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView:
        return super().cancel_intent(intent_id, idempotency_key=f"fresh-{next(_fresh)}")


@pytest.mark.parametrize(
    ("make", "case"),
    [
        (RefundKeyless, "test_a_refund_replayed_under_its_key_returns_the_first_refund"),
        (RefundKeyless, "test_a_refund_key_reused_with_another_amount_is_a_mismatch"),
        (CancelKeyless, "test_a_cancel_replayed_under_its_key_returns_the_first_result"),
    ],
)
def test_a_provider_that_forgets_keys_fails_the_replays(
    make: type[FakeProvider], case: str
) -> None:
    provider = make(ManualClock())
    c = ContractCase(provider, FakeDriver(provider))
    # the case's assertion, its pytest.raises unmet, or the provider refusing the retry
    with pytest.raises((AssertionError, pytest.fail.Exception, ProviderError)):
        getattr(ReplayCases(), case)(c)


def test_the_honest_fake_passes_the_replays() -> None:
    for case in [n for n in dir(ReplayCases) if n.startswith("test_")]:
        provider = FakeProvider(ManualClock())
        getattr(ReplayCases(), case)(ContractCase(provider, FakeDriver(provider)))
