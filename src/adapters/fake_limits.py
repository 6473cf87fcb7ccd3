"""Stripe's limits on what a request may carry, as the fake provider enforces them: charge
amounts per currency, metadata, how long and how long-lived an idempotency key is, and how
long its search lags behind writes.

Each limit names the Stripe page (docs.stripe.com) or stripe-python parameter it follows.
"""

from __future__ import annotations

from collections.abc import Mapping

from paycore.errors import ProviderInvalidRequest

#: Stripe keeps an idempotency key at least 24 hours and may prune it any time after:
#: "Keys are eligible to be removed from the system automatically after they're at least
#: 24 hours old, and a new request is generated if a key is reused after the original has
#: been pruned" (docs.stripe.com/api/idempotent_requests, docs.stripe.com/idempotency).
#: The fake is as harsh as Stripe may be: it replays a key for this guaranteed day and
#: forgets it as soon as it is older, so a reuse then runs as a new request. A caller that
#: resends an old key instead of first asking what its request made is caught at once;
#: nothing may count on a key being forgotten either, and paycore does not.
IDEMPOTENCY_KEPT_MS = 86_400_000
#: How long after a write the fake's search shows it. Stripe's search is eventually
#: consistent: "Under normal operating conditions, data is searchable in under 1 minute.
#: Propagation of new or updated data could be delayed during an outage" (up to an hour,
#: docs.stripe.com/api/payment_intents/search), and search must not be used in
#: read-after-write flows; the list endpoints do not lag (docs.stripe.com/search, "Data
#: freshness"). The fake takes the usual minute; a test may set a longer lag, or none.
SEARCH_LAG_MS = 60_000
#: Stripe: "Idempotency keys are up to 255 characters long" (docs.stripe.com/idempotency).
IDEMPOTENCY_KEY_MAX = 255
#: Minimum charge per currency in minor units (docs.stripe.com/currencies
#: #minimum-and-maximum-charge-amounts; "The minimum amount is $0.50 US or equivalent in
#: charge currency", stripe-python's PaymentIntentService.CreateParams.amount). KRW and
#: ZAR are not in Stripe's table: the fake takes a fixed equivalent of $0.50.
MINIMUM_CHARGE = {
    "AUD": 50, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500, "DKK": 250, "EUR": 50,
    "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50, "KRW": 700, "MXN": 1000,
    "NOK": 300, "NZD": 50, "PLN": 200, "SEK": 300, "SGD": 50, "USD": 50, "ZAR": 1000,
}  # fmt: skip
#: "The amount value supports up to eight digits" (stripe-python, same parameter).
MAXIMUM_CHARGE = 99_999_999
#: Currencies whose amounts are whole units: ¥50 is 50 (docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset({"JPY", "KRW"})


def check_amount(amount: int, currency: str) -> None:
    """Stripe's limits on a charge's amount: ``amount_too_small`` below the currency's
    minimum, ``amount_too_large`` past eight digits (docs.stripe.com/error-codes)."""
    minimum = MINIMUM_CHARGE.get(currency.upper(), 50)
    if amount < minimum:
        raise ProviderInvalidRequest(
            f"Amount must be at least {minimum} in the minor unit of {currency.lower()}.",
            param="amount",
            error_code="amount_too_small",
            minimum=minimum,
        )
    if amount > MAXIMUM_CHARGE:
        raise ProviderInvalidRequest(
            f"Amount must be no more than {MAXIMUM_CHARGE} (eight digits).",
            param="amount",
            error_code="amount_too_large",
            maximum=MAXIMUM_CHARGE,
        )


def check_metadata(metadata: Mapping[str, str]) -> None:
    """Stripe's metadata limits: 50 keys, keys of at most 40 characters without ``[`` or
    ``]``, values of at most 500 characters (docs.stripe.com/api/metadata)."""
    if len(metadata) > 50:
        raise ProviderInvalidRequest("Metadata may hold at most 50 keys.", param="metadata")
    for k, v in metadata.items():
        if not k or len(k) > 40 or "[" in k or "]" in k:
            raise ProviderInvalidRequest(
                f"Invalid metadata key {k!r}: 1 to 40 characters, without '[' or ']'.",
                param=f"metadata[{k}]",
            )
        if len(v) > 500:
            raise ProviderInvalidRequest(
                f"Invalid metadata value for {k!r}: at most 500 characters.",
                param=f"metadata[{k}]",
            )
