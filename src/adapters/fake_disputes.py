"""The fake provider's disputes: the far side's control that opens and closes one.

Stripe's behaviour, with its sources:

- A dispute is the customer's bank taking a card payment back; the object names the
  ``charge`` and its ``payment_intent``, the ``amount`` and lowercase ``currency``, a
  ``reason``, a ``status`` and ``evidence_details.due_by`` (seconds), and its id is
  ``du_...`` (docs.stripe.com/api/disputes/object; stripe-python 16.1.0
  ``stripe/_dispute.py``).
- Its events carry the dispute as their object: ``charge.dispute.created`` "whenever a
  customer disputes a charge with their bank", ``charge.dispute.funds_withdrawn`` "when
  funds are removed from your account due to a dispute", ``charge.dispute.closed`` when
  its status "changes to won or lost", and ``charge.dispute.funds_reinstated`` "when funds
  are reinstated to your account after a dispute is closed"
  (docs.stripe.com/api/events/types).
- An inquiry (``warning_needs_response``) takes no money until it becomes a chargeback
  (docs.stripe.com/disputes/how-disputes-work): the fake sends no ``funds_withdrawn``.
- A refund of a charge that was charged back is refused with ``charge_disputed``, "The
  charge you're attempting to refund has been charged back"
  (docs.stripe.com/error-codes#charge-disputed; the code is in stripe-python 16.1.0's
  ``stripe/_payment_intent.py`` list of error codes). An inquiry's charge can still be
  refunded (``is_charge_refundable``, docs.stripe.com/api/disputes/object). Unsourced:
  whether a refund is taken once a chargeback is closed; the fake keeps refusing it.
- Unsourced: the due date when none is given; the fake uses 7 days after it opened.
- Unsourced for Stripe: whether a chargeback after a closed inquiry updates that
  dispute or comes as a new one (Square's Disputes API says either may happen). The
  fake lets a closed inquiry's intent be disputed again, as a new dispute; both are
  listed.
"""

from __future__ import annotations

from typing import Any

from paycore.ports import DisputeView, ListPage, ProviderEvent

from .fake_ledger import FakeLedger, StoredIntent, charge_id, invalid_request
from .fake_paging import DEFAULT_LIMIT, in_window, page

DUE_S = 7 * 24 * 3600
REASON = "fraudulent"


class FakeDisputes(FakeLedger):
    """The customer's bank disputing a succeeded payment, and deciding the dispute."""

    def open_dispute(
        self,
        intent_id: str,
        *,
        reason: str = REASON,
        amount: int | None = None,
        due_by_s: int | None = None,
        inquiry: bool = False,
    ) -> str:
        """The bank disputes the succeeded intent's charge (all of it unless ``amount``);
        returns the dispute's id. ``inquiry``: a warning, no money taken yet."""
        with self._lock:
            it = self._intent(intent_id)
            closed_inquiry = it.dispute is not None and it.dispute["status"] == "warning_closed"
            if it.view.status != "succeeded" or (it.dispute is not None and not closed_inquiry):
                raise invalid_request(f"PaymentIntent {intent_id} cannot be disputed now.")
            if it.dispute is not None:  # a new dispute after a closed inquiry: both listed
                self._earlier().append(it.dispute)
            now = self._clock.now() // 1000
            it.dispute = {
                "id": f"du_{self._next('du'):06d}",
                "object": "dispute",
                "payment_intent": intent_id,
                "amount": it.view.amount if amount is None else amount,
                "currency": it.view.currency.lower(),
                "reason": reason,
                "status": "warning_needs_response" if inquiry else "needs_response",
                "evidence_details": {"due_by": now + DUE_S if due_by_s is None else due_by_s},
                "created": now,
            }
            self._send_dispute("charge.dispute.created", it.dispute)
            if not inquiry:
                self._send_dispute("charge.dispute.funds_withdrawn", it.dispute)
            return str(it.dispute["id"])

    def close_dispute(self, dispute_id: str, *, won: bool) -> None:
        """The bank decides: ``won`` for the shop (the money comes back) or lost."""
        with self._lock:
            mine = [i for i in self._intents.values() if (i.dispute or {}).get("id") == dispute_id]
            if not mine:
                raise invalid_request(f"No such dispute: '{dispute_id}'")
            it = mine[0]
            assert it.dispute is not None
            warning = str(it.dispute["status"]).startswith("warning_")
            status = ("warning_closed" if warning else "won") if won else "lost"
            it.dispute = {**it.dispute, "status": status}
            self._send_dispute("charge.dispute.closed", it.dispute)
            if won and not warning:
                self._send_dispute("charge.dispute.funds_reinstated", it.dispute)

    def list_disputes(
        self,
        *,
        created_gte_s: int | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
    ) -> ListPage[DisputeView]:
        """Stripe's ``GET /v1/disputes`` (docs.stripe.com/api/disputes/list): newest first,
        ``created[gte]`` in seconds, paged as :func:`fake_paging.page`; each dispute as it
        is now (its object, as its last event sent it)."""

        def run() -> ListPage[DisputeView]:
            found = [it.dispute for it in self._intents.values() if it.dispute is not None]
            found += self._earlier()
            found.sort(key=lambda d: str(d["id"]), reverse=True)  # ids count up: newest first
            views = [DisputeView(str(d["id"]), int(d["created"]) * 1000, dict(d)) for d in found]
            return page(
                views,
                lambda v: in_window(v.created // 1000, gte=created_gte_s),
                kind="dispute",
                limit=limit,
                starting_after=starting_after,
                ending_before=None,
            )

        return self._read("list_disputes", run)

    def _earlier(self) -> list[dict[str, Any]]:
        """The disputes an intent had before its current one (closed inquiries)."""
        earlier: list[dict[str, Any]] = self.__dict__.setdefault("_earlier_disputes", [])
        return earlier

    def _refuse_charged_back(self, it: StoredIntent) -> None:
        """A refund of a charge that was charged back is refused (charge_disputed)."""
        dispute = it.dispute
        if dispute is not None and not str(dispute["status"]).startswith("warning_"):
            # docs.stripe.com/error-codes#charge-disputed
            msg = f"Charge {charge_id(it)} has been charged back; cannot issue a refund."
            raise invalid_request(msg, error_code="charge_disputed")

    def _send_dispute(self, type_: str, dispute: dict[str, Any]) -> None:
        n, now = self._next("evt"), self._clock.now() // 1000
        snapshot = dict(dispute)
        event = ProviderEvent(
            f"evt_{n:06d}", type_, now, "dispute", dispute["id"], dispute["status"], snapshot
        )
        self._events.append(event)
        self._undelivered.append(event)
