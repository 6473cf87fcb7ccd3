"""paycore's one rule for whether a seller's connected account can take its charges."""

from __future__ import annotations

import pytest

from paycore.connect import charge_blocker
from paycore.ports import AccountView

ACTIVE = AccountView("acct_1", True, "active", "active", None)


def test_an_active_account_has_no_blocker() -> None:
    assert charge_blocker(ACTIVE) is None
    assert charge_blocker(ACTIVE, on_behalf_of=False) is None


def test_disabled_charges_say_why() -> None:
    """Charges disabled: the blocker names Stripe's disabled reason, or that none was given."""
    view = AccountView("acct_1", False, "inactive", "inactive", "requirements.past_due")
    assert charge_blocker(view) == (
        "charges are disabled on account acct_1 (requirements.past_due)"
    )
    bare = AccountView("acct_1", False, "active", "active", None)
    assert charge_blocker(bare) == "charges are disabled on account acct_1 (no reason given)"


@pytest.mark.parametrize("status", ["inactive", "pending"])
def test_transfers_not_active_blocks_every_destination_charge(status: str) -> None:
    view = AccountView("acct_1", True, "active", status, None)
    expected = f"the transfers capability of account acct_1 is {status}"
    assert charge_blocker(view) == charge_blocker(view, on_behalf_of=False) == expected


@pytest.mark.parametrize("status", ["inactive", "pending"])
def test_card_payments_count_only_on_behalf_of_the_account(status: str) -> None:
    """The settlement merchant must take card payments; a plain destination charge
    needs only the transfer."""
    view = AccountView("acct_1", True, status, "active", None)
    assert charge_blocker(view) == f"the card_payments capability of account acct_1 is {status}"
    assert charge_blocker(view, on_behalf_of=False) is None
    disabled = AccountView("acct_1", False, status, "active", "under_review")
    assert charge_blocker(disabled, on_behalf_of=False) is None


@pytest.mark.parametrize("status", ["inactive", "pending"])
def test_the_shops_own_account_needs_no_transfers(status: str) -> None:
    """Without Connect the charge is on the key's own account: no transfer follows."""
    own = AccountView("acct_own", True, "active", status, own=True)
    assert charge_blocker(own) is None
    assert charge_blocker(AccountView("acct_own", True, "inactive", status, own=True)) == (
        "the card_payments capability of account acct_own is inactive"
    )
    disabled = AccountView("acct_own", False, "active", status, "under_review", own=True)
    assert charge_blocker(disabled) == "charges are disabled on account acct_own (under_review)"
