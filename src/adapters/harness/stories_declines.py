"""A story of declines and bank debits (see :mod:`.stories`), told with the model's own
actions."""

from __future__ import annotations

from ..fake_methods import DECLINE_LIMIT
from .story_steps import drain
from .world import BANK_OPS, METHODS, World

PLENTY = 1
DECLINED, DEBIT = METHODS.index("pm_card_chargeDeclined"), METHODS.index("pm_successDelayed_de")


def declined_to_the_limit(world: World) -> None:
    """A customer's card is declined until the provider cancels the intent itself (its
    confirmation limit, ``fake_methods.DECLINE_LIMIT``): the payment is canceled and its
    stock given back. The customer then pays in a new checkout by SEPA debit, which
    settles; the shop refunds it and the bank later reverses the refund."""
    world.shop(0, PLENTY, 1, DECLINED)
    for _ in range(DECLINE_LIMIT - 1):
        world.begin_confirm(0, DECLINED)
        world.finish(0)
    world.shop(1, PLENTY, 1, DEBIT)
    world.customer(1, 2)  # the bank settles the debit
    drain(world)
    world.begin_refund(1, None, 0)
    drain(world)
    world.customer(1, 4 + BANK_OPS.index("bank: reverses"))
    drain(world)
