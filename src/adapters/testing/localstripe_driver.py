"""The provider contract's driver over localstripe's HTTP (:mod:`.localstripe`).

What localstripe 1.15.10 lets a driver do, read from its ``localstripe/resources.py``:

- **3-D Secure**: a card that needs it (``4000002760003184`` and five others) leaves the
  intent ``requires_action``; ``POST /v1/payment_intents/{id}/_authenticate`` with the
  intent's ``client_secret`` and ``success`` passes or fails the challenge (what
  Stripe.js does against Stripe, docs.stripe.com/payments/3d-secure).
- **SEPA debits** settle by themselves half a second after the confirmation, succeeded
  or failed by IBAN (``DE62370400440532013001`` fails): :meth:`settle` waits for that
  and checks the outcome is the one asked for.

What it cannot do, each raising :class:`NotSupportedByBackend`: connected accounts (it
has no ``/v1/accounts``), refunds that stay pending or fail (each refund succeeds when
made), a search index (no ``/v1/payment_intents/search``). It has no way to hold a
request in flight or to answer one with a saved 500, so this driver has none of
:class:`~.provider_case.HoldingDriver`'s methods and the concurrency cases mark
themselves expected failures.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

from .provider_case import NotSupportedByBackend

API_KEY = "sk_test_localstripe"  # localstripe takes any key that starts with sk_
SETTLE_TIMEOUT_S = 10.0  # its SEPA debits settle 0.5 s after the confirmation

NO_CONNECT = "localstripe has no connected accounts (no /v1/accounts, no transfer_data)"
NO_PENDING_REFUNDS = "localstripe's refunds succeed when made: none is pending or fails"
NO_SEARCH = "localstripe has no search (no /v1/payment_intents/search)"


class LocalstripeDriver:
    """The far side of a localstripe server at ``url`` (a :class:`ProviderDriver`)."""

    ACCOUNT = "acct_localstripe"  # a name only: localstripe keeps no accounts

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def __repr__(self) -> str:
        return f"LocalstripeDriver(url={self.url!r})"

    def _call(self, method: str, path: str, form: dict[str, str] | None = None) -> Any:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {API_KEY}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def charging_account(self) -> str:
        return self.ACCOUNT

    def blocked_account(self) -> str:
        raise NotSupportedByBackend(NO_CONNECT)

    def set_account_state(
        self,
        account: str,
        *,
        charges_enabled: bool = True,
        card_payments: str = "active",
        transfers: str = "active",
        disabled_reason: str | None = None,
    ) -> None:
        raise NotSupportedByBackend(NO_CONNECT)

    def transfer_reversed(self, refund_id: str) -> int:
        raise NotSupportedByBackend(NO_CONNECT)

    def complete_action(self, intent_id: str, *, success: bool) -> None:
        """Passes or fails the challenge through localstripe's ``_authenticate``."""
        intent = self._call("GET", f"/v1/payment_intents/{intent_id}")
        if intent.get("status") != "requires_action":
            raise NotSupportedByBackend(
                f"{intent_id} is {intent.get('status')}, not requires_action"
            )
        form = {"client_secret": intent["client_secret"], "success": "true" if success else "false"}
        self._call("POST", f"/v1/payment_intents/{intent_id}/_authenticate", form)

    def settle(self, intent_id: str, *, success: bool) -> None:
        """Waits (at most ``SETTLE_TIMEOUT_S``) for localstripe to settle the debit itself;
        the outcome was fixed by the IBAN, so one other than ``success`` cannot be made."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        status = self._call("GET", f"/v1/payment_intents/{intent_id}").get("status")
        while status == "processing" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = self._call("GET", f"/v1/payment_intents/{intent_id}").get("status")
        settled = "succeeded" if success else "requires_payment_method"
        if status != settled:
            raise NotSupportedByBackend(
                f"localstripe settles a debit by its IBAN: {intent_id} is {status}, not {settled}"
            )

    def hold_refunds(self) -> None:
        raise NotSupportedByBackend(NO_PENDING_REFUNDS)

    def settle_refund(self, refund_id: str, *, success: bool) -> None:
        raise NotSupportedByBackend(NO_PENDING_REFUNDS)

    def searchable(self) -> None:
        raise NotSupportedByBackend(NO_SEARCH)
