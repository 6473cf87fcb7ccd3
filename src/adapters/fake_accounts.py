"""The fake provider's connected accounts: their states, the charges they refuse, and
the transfers their refunds reverse.

Stripe's account object (docs.stripe.com/api/accounts/object) says whether an account
can take charges in several fields, not one: ``charges_enabled``, the status of each
capability (``capabilities.card_payments``, ``capabilities.transfers``: ``active``,
``inactive`` or ``pending``) and, for a disabled account, ``requirements.disabled_reason``.
paycore makes destination charges (``transfer_data[destination]``, with ``on_behalf_of``
the same account unless told otherwise: docs.stripe.com/connect/destination-charges), so
the fake refuses a create or a confirm whose account could not receive the transfer or
(``on_behalf_of``) could not take card payments. :class:`FakeAccounts` sits between the
books (:class:`~paycore_adapters.fake_ledger.FakeLedger`) and the port
(:class:`~paycore_adapters.fake_provider.FakeProvider`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from paycore.errors import ProviderNotFound
from paycore.ports import CAPABILITY_STATUSES, AccountView, Clock

from .fake_ledger import FakeLedger, invalid_request

#: Stripe's ``requirements.disabled_reason`` values (docs.stripe.com/api/accounts/object,
#: ``requirements.disabled_reason``; the platform-rejection values of newer API versions
#: included: docs.stripe.com/changelog/endive/2026-09-30/platform-rejection-reasons).
DISABLED_REASONS = frozenset(
    {
        "action_required.requested_capabilities",
        "listed",
        "other",
        "platform_paused",
        "rejected.fraud",
        "rejected.incomplete_verification",
        "rejected.listed",
        "rejected.other",
        "rejected.platform_fraud",
        "rejected.platform_other",
        "rejected.platform_terms_of_service",
        "rejected.terms_of_service",
        "requirements.past_due",
        "requirements.pending_verification",
        "under_review",
    }
)

#: Stripe's code for a destination whose ``transfers`` capability is not active
#: (docs.stripe.com/error-codes#insufficient-capabilities-for-transfer).
NO_TRANSFERS = "insufficient_capabilities_for_transfer"

#: The states a seller's account goes through when it cannot take paycore's charges,
#: by name: what the contract cases and the harness's world try, one after another.
BLOCKED_STATES: tuple[tuple[str, Mapping[str, Any]], ...] = (
    (
        "charges disabled (requirements past due)",
        {
            "charges_enabled": False,
            "card_payments": "inactive",
            "transfers": "inactive",
            "disabled_reason": "requirements.past_due",
        },
    ),
    ("card payments inactive", {"card_payments": "inactive"}),
    ("card payments pending", {"card_payments": "pending"}),
    ("transfers inactive", {"transfers": "inactive"}),
    ("transfers pending", {"transfers": "pending"}),
)


class AccountStateInvalid(ValueError):
    """A connected account's state that Stripe never shows (an unknown capability
    status or disabled reason); nothing was changed."""


def account_view(
    account: str,
    *,
    charges_enabled: bool = True,
    card_payments: str = "active",
    transfers: str = "active",
    disabled_reason: str | None = None,
) -> AccountView:
    """An account in the given state, checked against the values Stripe shows."""
    if not isinstance(account, str) or not account.startswith("acct_"):
        raise AccountStateInvalid(f"an account id starts with 'acct_', got {account!r}")
    if not isinstance(charges_enabled, bool):
        raise AccountStateInvalid(f"charges_enabled must be True or False, got {charges_enabled!r}")
    for name, status in (("card_payments", card_payments), ("transfers", transfers)):
        if status not in CAPABILITY_STATUSES:
            raise AccountStateInvalid(
                f"{name} must be one of {sorted(CAPABILITY_STATUSES)}, got {status!r}"
            )
    if disabled_reason is not None and disabled_reason not in DISABLED_REASONS:
        raise AccountStateInvalid(f"unknown requirements.disabled_reason {disabled_reason!r}")
    return AccountView(account, charges_enabled, card_payments, transfers, disabled_reason)


class FakeAccounts(FakeLedger):
    """The fake's connected accounts, on top of its books."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        #: refund id -> the amount of its charge's transfer it reversed
        self._reversals: dict[str, int] = {}

    # --- the dashboard side (not part of the port) ---------------------------------

    def set_account(
        self,
        account: str,
        *,
        charges_enabled: bool = True,
        card_payments: str = "active",
        transfers: str = "active",
        disabled_reason: str | None = None,
    ) -> AccountView:
        """Put the connected account ``account`` in a state (every part of it active by
        default), as Stripe's onboarding and reviews would; intents already made keep
        what they were made with, and are charged (or refused) by the state at confirm."""
        view = account_view(
            account,
            charges_enabled=charges_enabled,
            card_payments=card_payments,
            transfers=transfers,
            disabled_reason=disabled_reason,
        )
        with self._lock:
            self._accounts[account] = view
        return view

    def disable_account(self, account: str, reason: str = "requirements.past_due") -> AccountView:
        """Stripe disables the account: no charges, both capabilities inactive, and why."""
        return self.set_account(
            account,
            charges_enabled=False,
            card_payments="inactive",
            transfers="inactive",
            disabled_reason=reason,
        )

    def block_next(self, account: str) -> str:
        """Move ``account`` to the blocked state after its current one in
        :data:`BLOCKED_STATES` (the first when it is in none of them), and name it: a
        seller that keeps losing its charges goes through every way of losing them."""
        with self._lock:
            current = self._accounts.get(account)
            states = [account_view(account, **kw) for _, kw in BLOCKED_STATES]
            at = states.index(current) + 1 if current in states else 0
            name, kwargs = BLOCKED_STATES[at % len(BLOCKED_STATES)]
            self.set_account(account, **kwargs)
            return name

    def transfer_reversed(self, refund_id: str) -> int:
        """How much of its charge's transfer the refund ``refund_id`` took back from the
        seller's account (0: none)."""
        with self._lock:
            self._refund(refund_id)
            return self._reversals.get(refund_id, 0)

    # --- port: accounts ----------------------------------------------------------------

    def retrieve_account(self, account: str) -> AccountView:
        """Stripe's ``GET /v1/accounts/:id`` (docs.stripe.com/api/accounts/retrieve); an
        account the platform does not have is not found (unsourced: Stripe may answer a
        permission error for an account that is not the platform's)."""

        def run() -> AccountView:
            view = self._accounts.get(account)
            if view is None:
                raise ProviderNotFound(f"No such account: '{account}'", account=account)
            return view

        return self._read("retrieve_account", run)

    # --- internals ---------------------------------------------------------------------

    def _refuse_charge(self, account: str, on_behalf_of: bool) -> None:
        """Raise as Stripe refuses a destination charge to ``account``.

        A destination needs the ``transfers`` capability active
        (docs.stripe.com/connect/account-capabilities, "Transfers"; code
        ``insufficient_capabilities_for_transfer``, docs.stripe.com/error-codes). Made
        ``on_behalf_of`` it, the account is the settlement merchant and must take card
        payments: ``charges_enabled`` and ``card_payments`` active
        (docs.stripe.com/connect/destination-charges, "settlement merchant"); the code of
        that refusal is unsourced, so the fake gives none. An unknown destination is not
        found (its message is unsourced).

        An intent with no destination (``account`` empty: the emulator's create without
        ``transfer_data``, a shop charging its own account) makes no transfer and is not
        refused here: whether the shop's own account may charge is not modelled.
        """
        if not account:
            return
        view = self._accounts.get(account)
        if view is None:
            raise ProviderNotFound(f"No such destination: '{account}'", account=account)
        if view.transfers != "active":
            raise invalid_request(
                f"The destination account {account} cannot receive transfers: its transfers "
                f"capability is {view.transfers}.",
                error_code=NO_TRANSFERS,
                param="transfer_data[destination]",
                account=account,
            )
        if on_behalf_of and not (view.charges_enabled and view.card_payments == "active"):
            raise invalid_request(
                f"The account {account} cannot take card payments as the settlement merchant "
                f"(charges_enabled {view.charges_enabled}, card_payments {view.card_payments}).",
                param="on_behalf_of",
                account=account,
                disabled_reason=view.disabled_reason,
            )

    def _reverse_transfer(self, refund_id: str, amount: int) -> None:
        """A refund of a destination charge made with ``reverse_transfer=true`` takes the
        transfer back with it by the refund's amount (docs.stripe.com/connect/
        destination-charges, "Issue refunds"); without it the seller keeps the funds."""
        self._reversals[refund_id] = amount

    # --- state (the explorer's and the saved file's) -----------------------------------

    def clone(self, clock: Clock) -> Self:
        with self._lock:
            twin = super().clone(clock)
            twin._reversals = dict(self._reversals)
        return twin

    def state_key(self) -> object:
        with self._lock:
            return (super().state_key(), self._reversals)

    def books(self) -> dict[str, Any]:
        with self._lock:
            return {**super().books(), "reversals": dict(self._reversals)}

    def load_books(self, books: Mapping[str, Any]) -> None:
        with self._lock:
            super().load_books(books)
            self._reversals = dict(books["reversals"])
