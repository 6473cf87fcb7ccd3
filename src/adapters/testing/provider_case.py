"""What a provider contract case works with: the driver of the provider's far side, and
the case's provider, driver and names unique to the run."""

from __future__ import annotations

import uuid
from typing import Protocol

import attrs

from paycore.listing import intents_between
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView, PaymentProvider, RefundView

#: Stripe's test payment methods (docs.stripe.com/testing#cards): one that succeeds,
#: one declined, one that needs 3-D Secure.
VISA = "pm_card_visa"
DECLINED = "pm_card_chargeDeclined"
THREE_DS = "pm_card_threeDSecure2Required"
#: SEPA Direct Debit's test methods (docs.stripe.com/payments/sepa-debit/accept-a-payment,
#: "Test the integration"): the intent is ``processing``, then ``succeeded`` (PROCESSING)
#: or back to ``requires_payment_method`` (PROCESSING_FAILS), after at least three
#: minutes. No card stays processing: Stripe has no such card test method.
PROCESSING = "pm_successDelayed_de"
PROCESSING_FAILS = "pm_failedDelayed_de"


class NotSupportedByBackend(Exception):
    """The backend behind a driver cannot do what a case asks of its far side (an
    emulator without connected accounts, say); ``reason`` says what is missing. A case
    that meets it fails, and the backend's test module marks that case as an expected
    failure with the same reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderDriver(Protocol):
    """The provider's far side, which a contract case needs and the port does not offer."""

    def charging_account(self) -> str:
        """An account that can take charges."""

    def blocked_account(self) -> str:
        """An account that cannot take charges."""

    def set_account_state(
        self,
        account: str,
        *,
        charges_enabled: bool = True,
        card_payments: str = "active",
        transfers: str = "active",
        disabled_reason: str | None = None,
    ) -> None:
        """Put the connected account ``account`` (a name from :meth:`ContractCase.account`)
        in this state, as onboarding and Stripe's reviews would: ``charges_enabled``, the
        ``card_payments`` and ``transfers`` capabilities' statuses and
        ``requirements.disabled_reason`` (docs.stripe.com/api/accounts/object). Against
        Stripe's test mode a driver maps the name to a test account it made."""

    def transfer_reversed(self, refund_id: str) -> int:
        """How much of its destination charge's transfer the refund ``refund_id`` took
        back from the seller's account (Stripe: the refund's ``transfer_reversal``)."""

    def complete_action(self, intent_id: str, *, success: bool) -> None:
        """The customer passes (or fails) the 3-D Secure challenge of ``intent_id``."""

    def settle(self, intent_id: str, *, success: bool) -> None:
        """The network finishes (or fails) the processing payment ``intent_id``."""

    def hold_refunds(self) -> None:
        """Refunds created from now on stay ``pending`` until :meth:`settle_refund`."""

    def settle_refund(self, refund_id: str, *, success: bool) -> None:
        """The network pays back (or fails) the pending refund ``refund_id``."""

    def searchable(self) -> None:
        """Return once intents created so far show up in search (Stripe's search lags
        about a minute, up to an hour in incidents: docs.stripe.com/search, "Data
        freshness"), by waiting or by moving the provider's clock on; a provider whose
        search does not lag returns at once."""


class HoldingDriver(Protocol):
    """What a driver offers, optionally, for the concurrency cases
    (:mod:`paycore_adapters.testing.provider_concurrency`); one without them makes those
    cases expected failures."""

    def hold_request(self) -> None:
        """The provider's next keyed request starts and stays in flight (its caller gets
        no answer) until :meth:`release_requests`."""

    def release_requests(self) -> None:
        """Every request held in flight finishes, oldest first."""

    def save_500_next(self, *, applied: bool) -> None:
        """The provider's next keyed request ends in a 500 saved under its key, having
        made its effect (``applied``) or not."""


@attrs.define
class ContractCase:
    """One case's provider and driver, and names unique to the run."""

    provider: PaymentProvider
    driver: ProviderDriver
    run: str = attrs.field(factory=lambda: uuid.uuid4().hex[:12])

    def key(self, name: str) -> str:
        return f"contract-{self.run}-{name}"

    def order(self, name: str = "o1") -> str:
        return f"ord-{self.run}-{name}"

    def account(self, name: str) -> str:
        """A connected account's name unique to the run (see ``set_account_state``)."""
        return f"acct_contract_{self.run}_{name}"

    def create(
        self, amount: int = 1000, order: str = "o1", account: str | None = None
    ) -> IntentView:
        account = account or self.driver.charging_account()
        req = CreateIntent(Money(amount, "EUR"), account, {"order_id": self.order(order)})
        return self.provider.create_intent(req, idempotency_key=self.key(f"create-{order}"))

    def confirm(self, intent_id: str, method: str | None, key: str) -> IntentView:
        return self.provider.confirm_intent(
            intent_id, payment_method=method, return_url=None, idempotency_key=self.key(key)
        )

    def paid(self, amount: int = 1000, order: str = "o1") -> IntentView:
        return self.confirm(self.create(amount, order).id, VISA, f"confirm-{order}")

    def mine(self, since: int) -> list[IntentView]:
        """This run's intents created at or after ``since`` (ms), newest first, read page
        by page from the provider's ``created`` window (in seconds, rounded down)."""
        prefix = self.order("")
        return [
            i
            for i in intents_between(self.provider, since // 1000)
            if i.created >= since and i.metadata.get("order_id", "").startswith(prefix)
        ]

    def refund(
        self, intent_id: str, amount: int, key: str, reason: str | None = None
    ) -> RefundView:
        return self.provider.create_refund(
            intent_id, amount=amount, reason=reason, metadata={}, idempotency_key=self.key(key)
        )
