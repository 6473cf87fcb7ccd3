"""Money: an integer amount in minor units and an ISO 4217 currency code."""

from __future__ import annotations

from typing import Any

import attrs

from paycore.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency
from paycore.shown import shown

#: Currencies paycore accepts, with their number of minor-unit digits.
CURRENCIES: dict[str, int] = {
    "AUD": 2,
    "BRL": 2,
    "CAD": 2,
    "CHF": 2,
    "CZK": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "HUF": 2,
    "INR": 2,
    "JPY": 0,
    "KRW": 0,
    "MXN": 2,
    "NOK": 2,
    "NZD": 2,
    "PLN": 2,
    "SEK": 2,
    "SGD": 2,
    "USD": 2,
    "ZAR": 2,
}

#: Largest amount one payment may carry (the provider's 8-digit limit).
MAX_AMOUNT = 99_999_999

#: Smallest amount one payment may carry, per currency, in minor units: Stripe refuses a
#: charge below about $0.50 with ``amount_too_small`` (docs.stripe.com/currencies
#: #minimum-and-maximum-charge-amounts). KRW and ZAR are not in Stripe's table; their
#: figures are a fixed $0.50 equivalent. A zero-decimal currency counts whole units
#: (JPY 50 is ¥50).
MIN_CHARGE: dict[str, int] = {
    "AUD": 50,
    "BRL": 50,
    "CAD": 50,
    "CHF": 50,
    "CZK": 1500,
    "DKK": 250,
    "EUR": 50,
    "GBP": 30,
    "HKD": 400,
    "HUF": 17500,
    "INR": 50,
    "JPY": 50,
    "KRW": 700,
    "MXN": 1000,
    "NOK": 300,
    "NZD": 50,
    "PLN": 200,
    "SEK": 300,
    "SGD": 50,
    "USD": 50,
    "ZAR": 1000,
}


def check_currency(code: object) -> str:
    if not isinstance(code, str) or code.upper() != code or code not in CURRENCIES:
        raise UnknownCurrency(
            f"unknown currency {shown(code)}: use an upper-case ISO 4217 code, one of "
            f"{', '.join(sorted(CURRENCIES))}",
            currency=shown(code),
        )
    return code


def check_minor_units(amount: object, *, allow_zero: bool = False) -> int:
    """Return ``amount`` if it is a valid integer number of minor units; else
    InvalidAmount, whose ``fields["amount"]`` is the refused value as the message shows
    it (:func:`shown`: a string, short whatever the value)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(
            f"amount must be an integer number of minor units (cents), got "
            f"{type(amount).__name__} {shown(amount)}",
            amount=shown(amount),
        )
    low = 0 if allow_zero else 1
    if amount < low:
        raise InvalidAmount(
            f"amount must be at least {low} minor units, got {shown(amount)}",
            amount=shown(amount),
        )
    if amount > MAX_AMOUNT:
        raise InvalidAmount(
            f"amount {shown(amount)} exceeds the maximum of {MAX_AMOUNT} minor units",
            amount=shown(amount),
        )
    return amount


def check_charge(amount: int, currency: str) -> int:
    """Return ``amount`` if the provider would charge it in ``currency``: at least the
    currency's :data:`MIN_CHARGE` and at most :data:`MAX_AMOUNT` minor units.

    Raises:
        InvalidAmount: below the minimum (``fields["minimum"]``) or above the maximum.
    """
    minimum = MIN_CHARGE[check_currency(currency)]
    if not minimum <= amount <= MAX_AMOUNT:
        low = "below the provider's minimum charge" if amount < minimum else "above the maximum"
        raise InvalidAmount(
            f"a payment of {amount} minor units of {currency} is {low}: it must be between "
            f"{minimum} and {MAX_AMOUNT} minor units",
            amount=amount,
            currency=currency,
            minimum=minimum,
            maximum=MAX_AMOUNT,
        )
    return amount


def _check_amount(_inst: Any, _attr: Any, value: int) -> None:
    check_minor_units(value, allow_zero=True)


def _check_currency(_inst: Any, _attr: Any, value: str) -> None:
    check_currency(value)


@attrs.frozen(order=False)
class Money:
    """An amount of money; never a float.

    >>> Money(1250, "EUR") + Money(250, "EUR")
    Money(amount=1500, currency='EUR')
    """

    amount: int = attrs.field(validator=_check_amount)
    currency: str = attrs.field(validator=_check_currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency} with {other.currency}",
                left=self.currency,
                right=other.currency,
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def __str__(self) -> str:
        digits = CURRENCIES[self.currency]
        if digits == 0:
            return f"{self.amount} {self.currency}"
        whole, frac = divmod(self.amount, 10**digits)
        return f"{whole}.{frac:0{digits}d} {self.currency}"
