"""Whether a seller's connected account can take paycore's charges, and why not.

paycore charges a seller by a destination charge: the intent is made on the
platform's account with the seller's account as ``transfer_data[destination]`` and,
by default, as ``on_behalf_of`` (:class:`paycore.ports.CreateIntent`). Stripe then
needs the seller's account to be able to receive the transfer (its ``transfers``
capability ``active``) and, when the charge is settled as the seller's, to take card
payments (``charges_enabled`` and its ``card_payments`` capability ``active``)
(docs.stripe.com/connect/destination-charges, docs.stripe.com/connect/account-capabilities:
"A capability must be active for a connected account to perform actions associated
with that capability"). An account is not simply on or off: :func:`charge_blocker`
reads every part of it and says which one stops the charge.
"""

from __future__ import annotations

from paycore.ports import AccountView

__all__ = ["charge_blocker"]


def charge_blocker(view: AccountView, *, on_behalf_of: bool = True) -> str | None:
    """Why a destination charge to ``view``'s account would be refused, or None when
    nothing stops it.

    The answer is a short sentence for operators and error fields, the first of:
    charges disabled (with Stripe's ``requirements.disabled_reason`` when it gives one),
    the ``transfers`` capability not active (unless the account is the shop's own,
    ``AccountView.own``: its charges are direct, no transfer follows), and (only when the
    charge is made ``on_behalf_of`` the account) the ``card_payments`` capability not
    active.
    """
    if on_behalf_of and not view.charges_enabled:
        why = view.disabled_reason or "no reason given"
        return f"charges are disabled on account {view.id} ({why})"
    if not view.own and view.transfers != "active":
        return f"the transfers capability of account {view.id} is {view.transfers}"
    if on_behalf_of and view.card_payments != "active":
        return f"the card_payments capability of account {view.id} is {view.card_payments}"
    return None
