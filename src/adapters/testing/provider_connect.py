"""Provider contract cases for sellers' connected accounts and paycore's charge type.
:class:`~paycore_adapters.testing.ProviderContract` includes them.

paycore charges a seller by a destination charge (``transfer_data[destination]``, and
``on_behalf_of`` the same account unless the request says otherwise:
docs.stripe.com/connect/destination-charges). Whether the seller's account can take it
is several fields of Stripe's account object (docs.stripe.com/api/accounts/object):
``charges_enabled``, the ``card_payments`` and ``transfers`` capabilities (``active``,
``inactive``, ``pending``) and ``requirements.disabled_reason``. The cases put accounts
in each state through the driver (``set_account_state``), read them back through the
port (``retrieve_account``), check that paycore's rule
(:func:`paycore.connect.charge_blocker`) agrees with what the provider then does, and
that a refund takes the seller's transfer back (``transfer_reversed``).

Stripe's sandboxes "might not enforce some capabilities"
(docs.stripe.com/connect/account-capabilities, "Testing capabilities"): a driver over
Stripe's test mode whose accounts are not refused marks the refusal cases as expected
failures with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from paycore.connect import charge_blocker
from paycore.errors import ProviderInvalidRequest, ProviderNotFound
from paycore.money import Money
from paycore.ports import AccountView, CreateIntent

from .provider_case import VISA, ContractCase

#: Stripe's code for a destination without an active ``transfers`` capability
#: (docs.stripe.com/error-codes#insufficient-capabilities-for-transfer).
NO_TRANSFERS = "insufficient_capabilities_for_transfer"

#: Account states in which paycore's charge (on behalf of the account) is refused.
BLOCKED: dict[str, Mapping[str, Any]] = {
    "charges_disabled": {
        "charges_enabled": False,
        "card_payments": "inactive",
        "transfers": "inactive",
        "disabled_reason": "requirements.past_due",
    },
    "card_payments_inactive": {"card_payments": "inactive"},
    "card_payments_pending": {"card_payments": "pending"},
    "transfers_inactive": {"transfers": "inactive"},
    "transfers_pending": {"transfers": "pending"},
}


def _expected(account: str, state: Mapping[str, Any]) -> AccountView:
    fields: dict[str, Any] = {
        "charges_enabled": True,
        "card_payments": "active",
        "transfers": "active",
        "disabled_reason": None,
        **state,
    }
    return AccountView(account, **fields)


class ConnectCases:
    """The cases; they use the ``c`` fixture of :class:`ProviderContract`."""

    def _request(self, c: ContractCase, account: str, order: str, **kw: Any) -> CreateIntent:
        return CreateIntent(Money(1000, "EUR"), account, {"order_id": c.order(order)}, **kw)

    def test_an_active_account_shows_so_and_is_charged(self, c: ContractCase) -> None:
        """An account whose charges are enabled and whose ``card_payments`` and
        ``transfers`` capabilities are ``active`` shows no disabled reason, and a
        destination charge to it succeeds (docs.stripe.com/api/accounts/object,
        docs.stripe.com/connect/destination-charges)."""
        account = c.account("ok")
        c.driver.set_account_state(account)
        view = c.provider.retrieve_account(account)
        assert view == AccountView(account, True, "active", "active", None)
        assert charge_blocker(view) is None
        pi = c.create(account=account)
        assert c.confirm(pi.id, VISA, "pay").status == "succeeded"

    @pytest.mark.parametrize("state", sorted(BLOCKED))
    def test_a_blocked_account_shows_why_and_is_refused(self, c: ContractCase, state: str) -> None:
        """Each way an account cannot take the charge is retrieved as Stripe shows it, and
        the charge is refused, creating nothing: a destination needs ``transfers``
        ``active`` (code ``insufficient_capabilities_for_transfer``,
        docs.stripe.com/error-codes), and the settlement merchant (``on_behalf_of``)
        needs its charges enabled and ``card_payments`` ``active``
        (docs.stripe.com/connect/account-capabilities: "A capability must be active for a
        connected account to perform actions associated with that capability")."""
        account = c.account(state)
        c.driver.set_account_state(account, **BLOCKED[state])
        view = c.provider.retrieve_account(account)
        assert view == _expected(account, BLOCKED[state])
        assert charge_blocker(view) is not None
        probe = c.create(order="probe")
        with pytest.raises(ProviderInvalidRequest) as caught:
            c.create(order="blocked", account=account)
        if view.transfers != "active":
            assert caught.value.fields.get("error_code") == NO_TRANSFERS
        assert [i.id for i in c.mine(probe.created)] == [probe.id]

    def test_the_drivers_blocked_account_is_refused(self, c: ContractCase) -> None:
        """The driver's account that cannot charge shows its charges disabled, with why,
        and is refused (docs.stripe.com/api/accounts/object#account_object-charges_enabled)."""
        blocked = c.driver.blocked_account()
        view = c.provider.retrieve_account(blocked)
        assert not view.charges_enabled and view.disabled_reason
        assert charge_blocker(view) is not None
        with pytest.raises(ProviderInvalidRequest):
            c.create(account=blocked)

    def test_without_on_behalf_of_only_transfers_count(self, c: ContractCase) -> None:
        """A destination charge not made on behalf of the account needs only its
        ``transfers`` capability (docs.stripe.com/connect/account-capabilities,
        "Transfers": destination charges); made on behalf of it, ``card_payments`` must
        be active too (the settlement merchant, docs.stripe.com/connect/destination-charges)."""
        account = c.account("no_cards")
        c.driver.set_account_state(account, card_payments="inactive")
        view = c.provider.retrieve_account(account)
        assert charge_blocker(view, on_behalf_of=False) is None
        assert charge_blocker(view) is not None
        req = self._request(c, account, "plain", on_behalf_of=False)
        pi = c.provider.create_intent(req, idempotency_key=c.key("plain"))
        assert c.confirm(pi.id, VISA, "pay").status == "succeeded"
        with pytest.raises(ProviderInvalidRequest):
            c.provider.create_intent(self._request(c, account, "obo"), idempotency_key=c.key("obo"))

    def test_an_account_blocked_after_create_refuses_the_confirm(self, c: ContractCase) -> None:
        """An account that loses ``transfers`` after its intent was made: the confirm is
        refused and takes nothing; once it is active again the intent can be paid
        (unsourced: Stripe documents the refusal at create; the charge is made at
        confirm, so the fake refuses there too)."""
        account = c.account("late")
        c.driver.set_account_state(account)
        pi = c.create(account=account)
        c.driver.set_account_state(account, transfers="inactive")
        with pytest.raises(ProviderInvalidRequest):
            c.confirm(pi.id, VISA, "pay")
        after = c.provider.retrieve_intent(pi.id)
        assert (after.status, after.amount_received) == ("requires_payment_method", 0)
        c.driver.set_account_state(account)
        assert c.confirm(pi.id, VISA, "pay-again").status == "succeeded"

    def test_an_unknown_account_is_not_found(self, c: ContractCase) -> None:
        """An account the platform does not have cannot be retrieved or charged
        (``resource_missing``, docs.stripe.com/error-codes#resource-missing; the answer for
        an account that exists but is not the platform's is unsourced)."""
        account = c.account("never_made")
        with pytest.raises(ProviderNotFound):
            c.provider.retrieve_account(account)
        with pytest.raises(ProviderNotFound):
            c.create(account=account)

    def test_a_refund_reverses_the_transfer(self, c: ContractCase) -> None:
        """The port's refund of a destination charge takes back the transfer to the seller
        by its amount (the adapter sends ``reverse_transfer=true``:
        docs.stripe.com/connect/destination-charges, "Issue refunds";
        docs.stripe.com/api/transfer_reversals)."""
        pi = c.paid(1000)
        first = c.refund(pi.id, 400, "r1")
        rest = c.refund(pi.id, 600, "r2")
        assert (c.driver.transfer_reversed(first.id), c.driver.transfer_reversed(rest.id)) == (
            400,
            600,
        )

    def _refunds_as_sent(self, c: ContractCase) -> tuple[Any, Any, Any]:
        """Three refunds of one paid destination charge, sent by the driver as a request
        the port does not make: without ``reverse_transfer`` (300), with it false (200)
        and true (400). An expected failure for a driver without ``refund_as_sent``."""
        refund = getattr(c.driver, "refund_as_sent", None)
        if refund is None:
            pytest.xfail("the driver cannot send a refund of its own (refund_as_sent)")
        pi = c.paid(1000)
        unsent = refund(pi.id, 300, c.key("unsent"), reverse_transfer=None)
        refused = refund(pi.id, 200, c.key("false"), reverse_transfer=False)
        asked = refund(pi.id, 400, c.key("true"), reverse_transfer=True)
        return unsent, refused, asked

    def test_a_refund_reverses_the_transfer_only_when_asked(self, c: ContractCase) -> None:
        """Stripe reverses a destination charge's transfer only for a refund sent with
        ``reverse_transfer=true``; unsent it is false and the seller keeps the funds
        (stripe-python 16.1.0 ``stripe/params/_refund_create_params.py``;
        docs.stripe.com/connect/destination-charges, "Issue refunds"). Needs the driver's
        ``refund_as_sent`` (a request the port does not make): an expected failure
        without it."""
        unsent, refused, asked = self._refunds_as_sent(c)
        reversed_ = [c.driver.transfer_reversed(r.id) for r in (unsent, refused, asked)]
        assert reversed_ == [0, 0, 400]
        assert [r.amount for r in (unsent, refused, asked)] == [300, 200, 400]

    def test_a_refund_shows_that_it_reversed_the_transfer(self, c: ContractCase) -> None:
        """The port's refund of a destination charge shows its transfer reversal, when made,
        retrieved and listed: Stripe's refund ``transfer_reversal`` "refers to the
        transfer reversal object if the accompanying transfer reverses. This is only
        applicable if the charge was created using the destination parameter"
        (stripe-python 16.1.0 ``stripe/_refund.py``; docs.stripe.com/api/refunds/object),
        read as ``RefundView.transfer_reversed``."""
        pi = c.paid(1000)
        made = c.refund(pi.id, 400, "r1")
        listed = c.provider.list_refunds(pi.id).data
        seen = [made, c.provider.retrieve_refund(made.id), *listed]
        assert [(r.id, r.transfer_reversed) for r in seen] == [(made.id, True)] * 3

    def test_a_refund_shows_that_it_left_the_seller_the_money(self, c: ContractCase) -> None:
        """A refund of a destination charge sent without ``reverse_transfer=true`` (a
        dashboard's, a script's) shows no reversal: ``transfer_reversal`` null, read as
        ``transfer_reversed`` False, the seller kept the amount
        (docs.stripe.com/connect/destination-charges, "Issue refunds"). Needs the
        driver's ``refund_as_sent``: an expected failure without it."""
        unsent, refused, asked = self._refunds_as_sent(c)
        made = [r.transfer_reversed for r in (unsent, refused, asked)]
        read = [c.provider.retrieve_refund(r.id).transfer_reversed for r in (unsent, refused)]
        assert (made, read) == ([False, False, True], [False, False])
