"""paycore's payment provider port on Stripe, through the official SDK's ``StripeClient``.

Every call goes through ``client.v1`` (stripe-python 16.x). What the adapter adds to the
SDK, and why:

- **Idempotency.** Every mutating call sends the port's key as ``Idempotency-Key``
  (``options={"idempotency_key": ...}``): paycore's keys are deterministic per step, so
  a retry after a lost answer replays the first request's result
  (docs.stripe.com/api/idempotent_requests). The SDK's own retries reuse that key.
- **Retries.** ``max_network_retries`` is 2 by default: a dropped connection, a 409, or
  a 5xx that Stripe marks ``Stripe-Should-Retry: true`` is tried again at once under the
  same key, which the SDK does with short sleeps and which Stripe asks for
  (docs.stripe.com/error-low-level#idempotency); ``Stripe-Should-Retry: false`` stops it
  (stripe-python 16.1.0, ``stripe/_http_client.py``, ``_should_retry``). What is still
  unanswered then reaches the flows as an ambiguous error, and they retry durably on
  their own schedule, under the same key, with their own look-ups. The harness and the
  tests pass 0 so that every retry is the flows'.
- **Errors.** Each SDK exception becomes the port's typed error
  (:mod:`paycore_adapters.stripe_errors`), with no secret in it.
- **Units.** Seconds, lower-case currencies and Stripe's object shapes are converted at
  this edge (:mod:`paycore_adapters.stripe_convert`).
- **Answers.** Each answer is read strictly as the object its call returns: a 2xx of
  another shape (``{}`` for an intent, an ``amount`` that is a string, a list without
  ``data``, a refund where an intent was asked for) is :class:`ProviderUnavailable`,
  "not understood", since the request may have landed; no other exception leaves a call.
  A search whose pages do not end (a cursor that comes back) is stopped the same way.
- **Charges.** ``connect=True`` (the default): destination charges for a marketplace's
  sellers on Connect (``transfer_data[destination]``, ``on_behalf_of``, refunds with
  ``reverse_transfer``). ``connect=False``: a shop without Connect, charging its own
  account; each intent and refund names no other account, and ``retrieve_account``
  reads the key's own account (``GET /v1/account``) and refuses any other.
- **Lists.** Every list the port reads is one page as the port asks (newest first,
  ``created`` window, ``starting_after``); :mod:`paycore.listing` walks the pages. Search
  reads every page of its results.

The API key comes from the caller or ``STRIPE_SECRET_KEY``; it is never logged, and
neither this object's repr nor any error it raises shows it. The SDK logs each answer's
body to the ``stripe`` logger (at debug level), bodies that hold client secrets and,
for a 401, part of the key: the adapter puts a redacting filter on that logger. The
SDK's own console output (``stripe.log`` or ``STRIPE_LOG`` set to ``debug``/``info``)
is printed, not logged, and cannot be filtered: leave both unset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import stripe

from paycore import wiring
from paycore.errors import ProviderCardDeclined, ProviderConfigurationError
from paycore.ports import (
    AccountView,
    CreateIntent,
    DisputeView,
    IntentView,
    ListPage,
    RefundView,
)

from .provider_port import without_secret
from .secret_text import unusable
from .signing import Secret
from .stripe_base import check_base
from .stripe_convert import (
    NotUnderstood,
    account_view,
    create_params,
    dispute_view,
    intent_view,
    list_page,
    refund_view,
    search_page,
    search_query,
)
from .stripe_errors import (
    install_log_redaction,
    not_understood,
    sdk_failure,
    to_provider_error,
    unreadable_answer,
)

T = TypeVar("T")

KEY_ENV = "STRIPE_SECRET_KEY"
DEFAULT_RETRIES = 2
DEFAULT_TIMEOUT_S = 30.0
#: The most ``max_network_retries`` may be: each retry sleeps up to 5 s (the SDK's
#: ``MAX_DELAY``) and runs a whole timeout; the flows retry on their own schedule.
MAX_RETRIES = 10
#: The prefixes of the keys that can make server calls: secret and restricted keys
#: (docs.stripe.com/keys: ``sk_test_``/``sk_live_``, ``rk_test_``/``rk_live_``; a
#: publishable key, ``pk_``, is for the browser and cannot).
KEY_KINDS = ("sk_", "rk_")
SEARCH_PAGE = 100  # the most a search page holds (docs.stripe.com/api/pagination/search)


class StripeProvider:
    """:class:`paycore.ports.PaymentProvider` on a ``stripe.StripeClient``."""

    def __init__(
        self, client: stripe.StripeClient, *, api_base: str | None = None, connect: bool = True
    ) -> None:
        install_log_redaction()
        self._client = client
        self._api_base = api_base or "https://api.stripe.com"
        self._connect = connect

    @classmethod
    def from_settings(
        cls,
        api_key: str | Secret | None = None,
        *,
        api_base: str | None = None,
        max_network_retries: int = DEFAULT_RETRIES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http_client: stripe.HTTPClient | None = None,
        connect: bool = True,
    ) -> StripeProvider:
        """An adapter with its own client: the key given, else ``$STRIPE_SECRET_KEY``;
        ``api_base`` points it elsewhere than Stripe (an emulator on 127.0.0.1), left out
        for Stripe's own; ``connect=False`` charges the key's own account instead of
        sellers' connected accounts (see the module's docstring). The key is wrapped at
        once (:class:`~paycore_adapters.signing.Secret`), handed only to the SDK client.

        Raises:
            ProviderConfigurationError: no key, a key that is not a secret (``sk_``) or
                restricted (``rk_``) key, or an ``api_base`` that is empty or not an
                http(s) URL with a host (``field`` names it; the key is never shown).
            InvalidInput: ``timeout_s`` not a finite positive number, or
                ``max_network_retries`` not a whole number from 0 to 10."""
        key = _key(api_key if api_key is not None else os.environ.get(KEY_ENV))
        del api_key  # from here on the key is a Secret in every frame of this call
        retries = wiring.whole_number("max_network_retries", max_network_retries, high=MAX_RETRIES)
        timeout = wiring.positive_seconds("timeout_s", timeout_s)
        if api_base is not None:
            check_base(api_base)
        client = stripe.StripeClient(
            key.reveal(),
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=retries,
            http_client=http_client or stripe.RequestsClient(timeout=timeout),
        )
        return cls(client, api_base=api_base, connect=connect)

    def __repr__(self) -> str:
        return f"StripeProvider(api_base={self._api_base!r}, connect={self._connect})"

    # --- the calls ----------------------------------------------------------------

    def _refund_view(self, answer: object) -> RefundView:
        """A refund as the port's view; its transfer reversal read only with Connect
        (without, there is no transfer: ``RefundView.transfer_reversed`` None)."""
        return refund_view(answer, connect=self._connect)

    def _call(self, run: Callable[[], object], view: Callable[[object], T]) -> T:
        """One request through the SDK, and its answer as the port's view: the view, or the
        port's error. An answer ``view`` does not understand is ambiguous: Stripe answered
        2xx, so the request may have landed.

        The error is raised after the ``except`` that met the failure, so that it has no
        context: the SDK's frames hold the API key (its request headers), and an error
        tracker that records each frame's locals would record it (docs/stripe.md,
        "Secrets")."""
        try:
            answer = run()
        except stripe.StripeError as err:
            failure = to_provider_error(err)
        except UnicodeDecodeError:
            failure = unreadable_answer()
        except Exception as exc:  # the SDK failed on its own: the port takes no vendor error
            failure = sdk_failure(exc)
        else:
            try:
                return view(answer.to_dict() if isinstance(answer, stripe.StripeObject) else answer)
            except Exception as exc:  # NotUnderstood, or any other: never a vendor's error
                failure = not_understood(exc, _status(answer))
        raise failure

    @staticmethod
    def _keyed(key: str) -> Any:
        return {"idempotency_key": key}

    def create_intent(self, req: CreateIntent, *, idempotency_key: str) -> IntentView:
        pis = self._client.v1.payment_intents
        params = create_params(req, connect=self._connect)
        return self._call(
            lambda: pis.create(params, self._keyed(idempotency_key)),  # type: ignore[arg-type]
            intent_view,
        )

    def confirm_intent(
        self,
        intent_id: str,
        *,
        payment_method: str | None,
        return_url: str | None,
        idempotency_key: str,
    ) -> IntentView:
        params: dict[str, Any] = {}
        if payment_method is not None:
            params["payment_method"] = payment_method
        if return_url is not None:
            params["return_url"] = return_url
        pis = self._client.v1.payment_intents
        try:
            return self._call(
                lambda: pis.confirm(intent_id, params, self._keyed(idempotency_key)),  # type: ignore[arg-type]
                intent_view,
            )
        except ProviderCardDeclined as declined:
            if "intent" not in declined.fields:
                # The port promises the intent after a decline; Stripe's error carries
                # it, and when it does not the intent is read.
                intent = without_secret(self.retrieve_intent(intent_id))
                declined.fields.update(intent=intent, intent_id=intent.id)
            raise

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView:
        pis = self._client.v1.payment_intents
        return self._call(
            lambda: pis.cancel(intent_id, None, self._keyed(idempotency_key)), intent_view
        )

    def capture_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView:
        pis = self._client.v1.payment_intents
        return self._call(
            lambda: pis.capture(intent_id, None, self._keyed(idempotency_key)), intent_view
        )

    def retrieve_intent(self, intent_id: str) -> IntentView:
        pis = self._client.v1.payment_intents
        return self._call(lambda: pis.retrieve(intent_id), intent_view)

    def search_intents(self, *, metadata_key: str, value: str) -> list[IntentView]:
        """Every page of Stripe's search (``next_page`` until ``has_more`` is false).
        Search lags writes by up to a minute, more in an outage (docs.stripe.com/search,
        "Data freshness"): paycore takes an empty answer as a hint, never as proof."""
        pis = self._client.v1.payment_intents
        params: dict[str, Any] = {"query": search_query(metadata_key, value), "limit": SEARCH_PAGE}
        found: list[IntentView] = []
        cursors: set[str] = set()
        for _ in range(SEARCH_PAGE):  # bounded: a checkout's search finds one or two intents
            intents, following = self._call(
                lambda: pis.search(dict(params)),  # type: ignore[arg-type]
                search_page,
            )
            found.extend(intents)
            if following is None:
                return found
            if following in cursors:
                break
            cursors.add(following)
            params["page"] = following
        raise not_understood(
            NotUnderstood(
                f"the search's pages did not end (a cursor came back, or over {SEARCH_PAGE} pages)"
            ),
            None,
        )

    def list_intents(
        self,
        *,
        created_gte_s: int,
        created_lt_s: int | None = None,
        limit: int = 10,
        starting_after: str | None = None,
    ) -> ListPage[IntentView]:
        created: dict[str, int] = {"gte": created_gte_s}
        if created_lt_s is not None:
            created["lt"] = created_lt_s
        params = _page_params({"created": created, "limit": limit}, starting_after)
        pis = self._client.v1.payment_intents
        return self._call(
            lambda: pis.list(params),  # type: ignore[arg-type]
            lambda answer: list_page(answer, intent_view),
        )

    def create_refund(
        self,
        intent_id: str,
        *,
        amount: int,
        reason: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> RefundView:
        """A refund of a destination charge takes the seller's transfer back with it
        (``reverse_transfer``, docs.stripe.com/connect/destination-charges, "Issue
        refunds"); without Connect there is no transfer, and the parameter is not sent
        ("Boolean indicating whether the transfer should be reversed when refunding this
        charge", docs.stripe.com/api/refunds/create)."""
        params: dict[str, Any] = {
            "payment_intent": intent_id,
            "amount": amount,
            "metadata": dict(metadata),
        }
        if self._connect:
            params["reverse_transfer"] = True
        if reason is not None:
            params["reason"] = reason
        refunds = self._client.v1.refunds
        return self._call(
            lambda: refunds.create(params, self._keyed(idempotency_key)),  # type: ignore[arg-type]
            self._refund_view,
        )

    def retrieve_refund(self, refund_id: str) -> RefundView:
        refunds = self._client.v1.refunds
        return self._call(lambda: refunds.retrieve(refund_id), self._refund_view)

    def list_refunds(
        self, intent_id: str, *, limit: int = 10, starting_after: str | None = None
    ) -> ListPage[RefundView]:
        params = _page_params({"payment_intent": intent_id, "limit": limit}, starting_after)
        refunds = self._client.v1.refunds
        return self._call(
            lambda: refunds.list(params),  # type: ignore[arg-type]
            lambda answer: list_page(answer, self._refund_view),
        )

    def list_disputes(
        self, *, created_gte_s: int, limit: int = 10, starting_after: str | None = None
    ) -> ListPage[DisputeView]:
        """``GET /v1/disputes`` (docs.stripe.com/api/disputes/list; the SDK's
        ``disputes.list``, stripe-python 16.1.0 ``stripe/_dispute_service.py``)."""
        params = _page_params({"created": {"gte": created_gte_s}, "limit": limit}, starting_after)
        found = self._client.v1.disputes
        return self._call(
            lambda: found.list(params),  # type: ignore[arg-type]
            lambda answer: list_page(answer, dispute_view),
        )

    def retrieve_account(self, account: str) -> AccountView:
        """With Connect, the seller's connected account (``GET /v1/accounts/:id``,
        docs.stripe.com/api/accounts/retrieve). Without, the one account the shop charges
        is the key's own: ``GET /v1/account`` (the SDK's ``accounts.retrieve_current``,
        stripe-python 16.1.0 ``stripe/_account_service.py``) reads it, as Stripe shows it,
        and an ``account`` that is not its id is refused with
        :class:`ProviderConfigurationError`: a seller configured with another account
        cannot be charged in this mode, and no retry changes that."""
        accounts = self._client.v1.accounts
        if self._connect:
            return self._call(lambda: accounts.retrieve(account), account_view)
        own = self._call(accounts.retrieve_current, account_view)
        if own.id != account:
            raise ProviderConfigurationError(
                f"account {account} is not this API key's own Stripe account ({own.id}): "
                "without Connect (connect=False) every seller's provider account must be "
                f"{own.id}; set it so, or charge sellers' accounts with connect=True",
                account=account,
                own_account=own.id,
                setting="connect",
            )
        return attrs.evolve(own, own=True)  # charged directly: no transfer follows


def _page_params(params: dict[str, Any], starting_after: str | None) -> dict[str, Any]:
    """A list call's parameters, with the page cursor when there is one
    (docs.stripe.com/api/pagination: ``starting_after`` gives the objects after it)."""
    return params if starting_after is None else {**params, "starting_after": starting_after}


def _status(answer: object) -> int | None:
    """The HTTP status of the answer the SDK made ``answer`` of (its ``last_response``)."""
    code = getattr(getattr(answer, "last_response", None), "code", None)
    return code if isinstance(code, int) else None


def _key(value: str | Secret | None) -> Secret:
    """The API key as a Secret: refused when blank, and when it holds whitespace, a control
    character or anything else no Stripe key holds (:func:`secret_text.unusable`): sent as
    it stands, ``requests`` refuses the header before anything goes out and the SDK's
    message quotes it. The refusal names the setting, never the key."""
    if isinstance(value, str) and value.strip():
        value = Secret(value)
    if not isinstance(value, Secret):
        raise ProviderConfigurationError(
            f"no Stripe API key: pass api_key or set {KEY_ENV}", setting=KEY_ENV, field="api_key"
        )
    why = unusable(value.reveal())
    if why is not None:
        raise ProviderConfigurationError(
            f"the Stripe API key (api_key or {KEY_ENV}) {why}", setting=KEY_ENV, field="api_key"
        )
    if not value.reveal().startswith(KEY_KINDS) or len(value.reveal()) <= 3:
        raise ProviderConfigurationError(
            f"the Stripe API key (api_key or {KEY_ENV}) is not a secret key (sk_...) or a "
            "restricted key (rk_...): a publishable key (pk_...) or a webhook signing "
            "secret (whsec_...) cannot make server calls",
            setting=KEY_ENV,
            field="api_key",
        )
    return value
