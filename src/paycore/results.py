"""What the service's operations return: plain records, no store rows."""

from __future__ import annotations

import attrs


@attrs.frozen
class CheckoutResult:
    order_id: str
    payment_id: str
    status: str
    client_secret: str | None = attrs.field(repr=False)
    replayed: bool = False


@attrs.frozen
class PaymentResult:
    payment_id: str
    status: str
    requires_action: bool = False
    next_action_url: str | None = None
    declined: str | None = None


@attrs.frozen
class RefundResult:
    refund_id: str
    payment_id: str
    amount: int
    status: str


@attrs.frozen
class JobReport:
    janitor_started: int = 0
    recovered: int = 0
    still_pending: int = 0
    #: Orphan flows the reconciler started (new, or reopened once the bank settled).
    orphans_started: int = 0
    refunds_synced: int = 0
    notifications_sent: int = 0
    #: The jobs of this round that failed (each failure is recorded; see job_health).
    failed: tuple[str, ...] = ()
    #: Refunds made outside paycore that the scan found and recorded this round.
    external_refunds_recorded: int = 0
    #: Orphan, refund and webhook flows dead of an outage that the reconciler revived this round.
    revived: int = 0

    @property
    def ok(self) -> bool:
        """Every job of the round ran to its end."""
        return not self.failed
