"""The Stripe adapter's ``api_base`` setting, checked when the adapter is built."""

from __future__ import annotations

from urllib.parse import urlsplit

from paycore.errors import ProviderConfigurationError
from paycore.shown import shown


def check_base(api_base: object) -> None:
    """Refuse an ``api_base`` that is not an http(s) URL with a host: ``requests`` would
    refuse every request built on it, and the refusal would come only with the first
    call. An empty one is no address: left out (None) is Stripe's own."""
    if isinstance(api_base, str) and not api_base.strip():
        why = "api_base is empty: leave it out (None) for Stripe's own https://api.stripe.com"
        raise ProviderConfigurationError(why, setting="api_base", field="api_base")
    try:
        parts = urlsplit(api_base) if isinstance(api_base, str) else None
        host = parts.hostname if parts is not None else None
    except ValueError:  # an unclosed [ of an IPv6 address, a port out of range
        parts = host = None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ProviderConfigurationError(
            f"api_base must be an http:// or https:// URL with a host, as "
            f"https://api.stripe.com, not {shown(api_base)}",
            setting="api_base",
            field="api_base",
        )
