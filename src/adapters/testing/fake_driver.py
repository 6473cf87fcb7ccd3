"""The provider contract's driver for :class:`~paycore_adapters.fake_provider.FakeProvider`."""

from __future__ import annotations

from paycore.ports import PaymentProvider, ProviderEvent, RefundView

from ..fake_methods import DECLINE_LIMIT
from ..fake_provider import FakeProvider
from ..memory import ManualClock


class FakeDriver:
    """Drives the fake's far side through its helpers (a :class:`ProviderDriver`).

    It sets up two accounts, one that can charge and one that Stripe disabled (a case
    puts others in the states it needs: :meth:`set_account_state`), and (unless the
    fake has one) the fake's confirmation limit (:data:`fake_methods.DECLINE_LIMIT`).
    """

    CHARGING = "acct_contract"
    BLOCKED = "acct_contract_blocked"

    def __init__(self, fake: FakeProvider) -> None:
        self.fake = fake
        fake.set_account(self.CHARGING)
        fake.disable_account(self.BLOCKED)
        if fake.decline_limit is None:
            fake.decline_limit = DECLINE_LIMIT

    def charging_account(self) -> str:
        return self.CHARGING

    def blocked_account(self) -> str:
        return self.BLOCKED

    def set_account_state(
        self,
        account: str,
        *,
        charges_enabled: bool = True,
        card_payments: str = "active",
        transfers: str = "active",
        disabled_reason: str | None = None,
    ) -> None:
        self.fake.set_account(
            account,
            charges_enabled=charges_enabled,
            card_payments=card_payments,
            transfers=transfers,
            disabled_reason=disabled_reason,
        )

    def transfer_reversed(self, refund_id: str) -> int:
        return self.fake.transfer_reversed(refund_id)

    def complete_action(self, intent_id: str, *, success: bool) -> None:
        self.fake.complete_action(intent_id, success=success)

    def settle(self, intent_id: str, *, success: bool) -> None:
        self.fake.settle(intent_id, success=success)

    def cancel_while_processing(self, intent_id: str) -> None:
        """The provider cancels a processing payment itself (Stripe: "in rare cases")."""
        self.fake.cancel_while_processing(intent_id)

    @property
    def decline_limit(self) -> int | None:
        """How many declined confirmations the fake takes before it cancels the intent."""
        return self.fake.decline_limit

    def hold_refunds(self) -> None:
        self.fake.refunds_settle_immediately = False

    def settle_refund(self, refund_id: str, *, success: bool) -> None:
        self.fake.settle_refund(refund_id, success=success)

    def fail_refund(self, refund_id: str) -> None:
        """The bank returns a refund that had succeeded (a closed card)."""
        self.fake.fail_refund(refund_id)

    def searchable(self) -> None:
        """Wait out the fake's search lag: its clock moves on by ``search_lag_ms`` (Stripe:
        "data is searchable in under 1 minute", docs.stripe.com/search)."""
        if self.fake.search_lag_ms > 0:
            self.pass_time(self.fake.search_lag_ms)

    @property
    def search_lag_ms(self) -> int:
        """How long the fake keeps a new intent out of search (the contract's lag case
        asserts it is missing that long; a driver over Stripe cannot promise a lag)."""
        return self.fake.search_lag_ms

    def pass_seconds(self, seconds: int) -> None:
        """Move the fake's clock on (the listing cases need intents of other seconds)."""
        clock = self.fake._clock  # the driver is the fake's far side: it may turn its clock
        if not isinstance(clock, ManualClock):
            raise TypeError("the fake's clock is not a ManualClock: time cannot be moved")
        clock.advance(seconds * 1000)

    def pass_time(self, ms: int) -> None:
        """Time passes for the fake: its clock must be one that can be moved on."""
        advance = getattr(self.fake.clock, "advance", None)
        if advance is None:
            raise TypeError("the fake's clock cannot be moved on: give it a ManualClock")
        advance(ms)

    def refund_as_sent(
        self, intent_id: str, amount: int, key: str, *, reverse_transfer: bool | None
    ) -> RefundView:
        """Stripe's refund request as a caller other than the port may make it, sending
        ``reverse_transfer`` only when it is not None (Stripe's default: false)."""
        return self.fake.create_refund(
            intent_id,
            amount=amount,
            reason=None,
            metadata={},
            idempotency_key=key,
            reverse_transfer=bool(reverse_transfer),
        )

    def disputed_payment(self, provider: PaymentProvider, intent_id: str, key: str) -> str:
        """Pay ``intent_id`` through ``provider`` (the port under test) and have its
        charge disputed on the model (:mod:`..fake_disputes`); the dispute's id."""
        provider.confirm_intent(
            intent_id, payment_method="pm_card_visa", return_url=None, idempotency_key=key
        )
        return self.fake.open_dispute(intent_id)

    def take_events(self) -> list[ProviderEvent]:
        """The events the fake sent since the last call."""
        return self.fake.take_events()

    def hold_request(self) -> None:
        """The fake's next keyed request stays in flight (:mod:`..fake_inflight`)."""
        self.fake.hold_next()

    def release_requests(self) -> None:
        self.fake.release_requests()

    def save_500_next(self, *, applied: bool) -> None:
        self.fake.fail_next_with_500(applied=applied)
