"""How long a refund flow waits for an unanswered request to land: the shop's window.

A refund whose call went unanswered may still be made when its request lands late;
the flow draws a new key only once ``RefundParams.landing_ms`` passed with no refund
of its own listed (:mod:`paycore.flows.refund_recovery`). That window is
``Config.create_landing_ms``, the one checkouts wait, recorded in the flow's params
when the refund is opened:

- a caller's refund (``create_refund``): the service's config;
- a refund a flow opens (an out-of-stock order's automatic refund, from the payment's
  sync): the window the payment's checkout recorded from the config when it began
  (:func:`for_payment`);
- the retry of a failed automatic refund: the window of the refund it retries
  (:func:`of_refund`).

:data:`~paycore.flows.params.REFUND_LANDING_MS` (the config's default) is left only
for a payment whose checkout flow recorded none (flows recorded before the window was
a setting).
"""

from __future__ import annotations

from paycore import schema as s
from paycore.flows.checkout_begin import flow_id_for
from paycore.flows.params import REFUND_LANDING_MS
from paycore.records import Payment, Refund
from paycore.unit import Unit


def flow_id(refund_id: str) -> str:
    """The flow that makes refund ``refund_id`` at the provider."""
    return f"refund:{refund_id}"


def refund_flow_id(refund: Refund) -> str:
    """The flow that makes ``refund`` at the provider."""
    return flow_id(refund.id)


def _recorded(u: Unit, flow_id_: str) -> int | None:
    flow = u.get(s.FLOWS, flow_id_)
    value = None if flow is None else flow.params.get("landing_ms")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def for_payment(u: Unit, payment: Payment) -> int:
    """The landing window recorded by ``payment``'s checkout (the config it began
    under), else the config's default."""
    recorded = _recorded(u, flow_id_for(payment.checkout_session_id))
    return REFUND_LANDING_MS if recorded is None else recorded


def of_refund(u: Unit, refund: Refund, payment: Payment) -> int:
    """The landing window ``refund``'s flow recorded (one made outside paycore has no
    flow: its payment's)."""
    recorded = _recorded(u, flow_id(refund.id))
    return for_payment(u, payment) if recorded is None else recorded
