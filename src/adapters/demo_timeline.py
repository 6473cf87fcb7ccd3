"""The demo's timeline: one line per step, its result or its paycore error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

import attrs

from paycore.errors import PaycoreError
from paycore.service import CheckoutResult, JobReport, PaymentResult, RefundResult

from .demo_days import DAY_MS
from .memory import EPOCH_MS, Wiring


class Timeline:
    """The day as it is told: who did what, when (the shop opens at 09:00), and with
    what result."""

    def __init__(self, w: Wiring, out: TextIO, day: int = 1) -> None:
        self.w = w
        self.out = out
        self.day = day

    def session(self, name: str) -> str:
        """``name``'s checkout session on this day (day 1: ``cs_ana_00000000001``)."""
        return f"cs_{name}_" + str(self.day).zfill(14 - len(name))

    def say(self, who: str, what: str, result: object = "") -> None:
        t = (self.w.clock.now() - EPOCH_MS - (self.day - 1) * DAY_MS) // 1000
        stamp = f"{9 + t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"
        arrow = f"  -> {result}" if result != "" else ""
        self.out.write(f"{stamp}  {who:<10} {what}{arrow}\n")

    def section(self, title: str) -> None:
        self.out.write(f"\n== {title}\n")

    def attempt(self, who: str, what: str, fn: Callable[[], Any], *, quiet: bool = False) -> Any:
        """``fn()``'s result, said on the timeline (``quiet``: only if it fails); a
        paycore error is said there too, and gives None: the day goes on to its report."""
        try:
            result = fn()
        except PaycoreError as exc:
            self.say(who, what, short(exc))
            return None
        if not quiet:
            self.say(who, what, short(result))
        return result


def short(result: object) -> str:
    """A result or a paycore error as one line of the timeline."""
    if isinstance(result, PaycoreError):
        return f"{type(result).__name__} [{result.code}]: {result.message}"
    if isinstance(result, CheckoutResult):
        again = ", replayed" if result.replayed else ""
        return f"order {result.order_id}, payment {result.payment_id} ({result.status}{again})"
    if isinstance(result, PaymentResult):
        extra = f", declined: {result.declined}" if result.declined else ""
        extra += f", next action {result.next_action_url}" if result.next_action_url else ""
        return f"payment {result.payment_id} {result.status}{extra}"
    if isinstance(result, RefundResult):
        return f"refund {result.refund_id} of {result.amount} {result.status}"
    if isinstance(result, JobReport):
        fields = attrs.asdict(result)
        failed = ", ".join(fields.pop("failed"))
        done = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fields.items())
        return done + (f"; failed: {failed}" if failed else "")
    return str(result)
