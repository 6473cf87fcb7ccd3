"""The endpoints paycore uses, each read from Stripe's parameters and run on the model.

Paths and parameters are the ones stripe-python 16.1.0 sends
(``stripe/_payment_intent_service.py``: ``/v1/payment_intents``, ``/v1/payment_intents/
{intent}``, ``.../confirm``, ``.../cancel``, ``.../capture``, ``/v1/payment_intents/
search``; ``stripe/_refund_service.py``: ``/v1/refunds``, ``/v1/refunds/{refund}``;
``stripe/_account_service.py``: ``/v1/accounts/{account}``). A parameter the model has
no place for is refused as Stripe refuses an unknown one (``parameter_unknown``), so a
request never seems to do what the emulator does not do.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paycore.errors import InvalidInput, UnknownCurrency
from paycore.money import Money
from paycore.ports import REFUND_LIVE, CreateIntent, IntentView, RefundView

from . import emulator_wire as wire
from .emulator_forms import ParamError, Params
from .fake_provider import FakeProvider

JSON = dict[str, Any]
Handler = Callable[[Params, str, tuple[str, ...]], JSON]
#: the endpoints whose requests change the model under an idempotency key
KEYED = frozenset(
    {"create_intent", "confirm_intent", "cancel_intent", "capture_intent", "create_refund"}
)
_QUOTED = r"(?P<{q}>['\"])(?P<{n}>(?:\\.|(?!(?P={q})).)*)(?P={q})"
_SEARCH = re.compile(
    r"\s*metadata\["
    + _QUOTED.format(q="q1", n="key")
    + r"\]\s*:\s*"
    + _QUOTED.format(q="q2", n="value")
    + r"\s*"
)
_ESCAPED = re.compile(r"\\(.)")
_PAGE = re.compile(r"page_([0-9]{1,9})")
SEARCH_DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    #: the endpoint's name: the model's for a keyed one, a fault's ``endpoint`` for all
    op: str


ROUTES = (
    Route("POST", re.compile(r"/v1/payment_intents"), "create_intent"),
    Route("GET", re.compile(r"/v1/payment_intents"), "list_intents"),
    Route("GET", re.compile(r"/v1/payment_intents/search"), "search_intents"),
    Route("GET", re.compile(r"/v1/payment_intents/([^/]+)"), "retrieve_intent"),
    Route("POST", re.compile(r"/v1/payment_intents/([^/]+)"), "update_intent"),
    Route("POST", re.compile(r"/v1/payment_intents/([^/]+)/confirm"), "confirm_intent"),
    Route("POST", re.compile(r"/v1/payment_intents/([^/]+)/cancel"), "cancel_intent"),
    Route("POST", re.compile(r"/v1/payment_intents/([^/]+)/capture"), "capture_intent"),
    Route("POST", re.compile(r"/v1/refunds"), "create_refund"),
    Route("GET", re.compile(r"/v1/refunds"), "list_refunds"),
    Route("GET", re.compile(r"/v1/refunds/([^/]+)"), "retrieve_refund"),
    Route("GET", re.compile(r"/v1/accounts/([^/]+)"), "retrieve_account"),
)
OPS = frozenset(r.op for r in ROUTES)


def match(method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
    """The route for a request, and the ids its path names (the search path is matched
    before ``/v1/payment_intents/{intent}``, as ``search`` is no intent's id)."""
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found and route.method == method:
            return route, found.groups()
    return None


class Endpoints:
    """The handlers, on one model. What the model does not keep of a refund (its reason
    and the second it was made) the endpoints keep beside it."""

    def __init__(self, model: FakeProvider) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._refund_extras: dict[str, tuple[str | None, int]] = {}

    def handler(self, op: str) -> Handler:
        fn: Handler = getattr(self, f"_{op}")
        return fn

    # --- wire objects ---------------------------------------------------------------

    def intent(self, view: IntentView) -> JSON:
        """``view`` with its client secret (the model's own, which never changes)."""
        record = self.model.stored_intent(view.id)
        secret = view.client_secret or record.view.client_secret
        obj = wire.intent_json(view, record)
        obj["client_secret"] = secret
        return obj

    def refund(self, view: RefundView) -> JSON:
        with self._lock:  # a refund made on the model itself: first seen now
            now = wire.seconds(self.model.clock.now())
            reason, created = self._refund_extras.setdefault(view.id, (None, now))
        currency = self.model.stored_intent(view.intent_id).view.currency
        return wire.refund_json(view, currency=currency, created_s=created, reason=reason)

    # --- payment intents -------------------------------------------------------------

    def _create_intent(self, p: Params, key: str, _: tuple[str, ...]) -> JSON:
        amount = p.integer("amount", required=True)
        currency = p.text("currency", required=True)
        destination = p.nested("transfer_data")
        account = destination.text("destination", required=True)
        destination.done()
        behalf = p.text("on_behalf_of")
        if behalf is not None and behalf != account:
            raise ParamError(
                "on_behalf_of must name the destination account (the emulator models "
                "destination charges only).",
                param="on_behalf_of",
                code="parameter_unknown",
            )
        req = CreateIntent(
            amount=_money(amount, currency),
            account=str(account),
            metadata=p.mapping("metadata"),
            description=p.text("description") or "",
            allow_redirects=_allow_redirects(p.nested("automatic_payment_methods")),
            on_behalf_of=behalf is not None,
        )
        p.done()
        return self.intent(self.model.create_intent(req, idempotency_key=key))

    def _retrieve_intent(self, p: Params, _key: str, ids: tuple[str, ...]) -> JSON:
        p.done()
        return self.intent(self.model.retrieve_intent(ids[0]))

    def _update_intent(self, p: Params, _key: str, ids: tuple[str, ...]) -> JSON:
        """An update with no parameter answers the intent; the model changes no intent
        after its creation but by its actions, so any parameter is refused."""
        p.done()
        return self.intent(self.model.retrieve_intent(ids[0]))

    def _confirm_intent(self, p: Params, key: str, ids: tuple[str, ...]) -> JSON:
        method, return_url = p.text("payment_method"), p.text("return_url")
        p.done()
        view = self.model.confirm_intent(
            ids[0], payment_method=method, return_url=return_url, idempotency_key=key
        )
        return self.intent(view)

    def _cancel_intent(self, p: Params, key: str, ids: tuple[str, ...]) -> JSON:
        p.done()
        return self.intent(self.model.cancel_intent(ids[0], idempotency_key=key))

    def _capture_intent(self, p: Params, key: str, ids: tuple[str, ...]) -> JSON:
        p.done()
        return self.intent(self.model.capture_intent(ids[0], idempotency_key=key))

    def _list_intents(self, p: Params, _key: str, _: tuple[str, ...]) -> JSON:
        created = p.nested("created")
        window = {k: created.integer(k) for k in ("gt", "gte", "lt", "lte")}
        created.done()
        limit = p.integer("limit")
        page = self.model.list_intents(
            created_gt_s=window["gt"],
            created_gte_s=window["gte"],
            created_lt_s=window["lt"],
            created_lte_s=window["lte"],
            limit=10 if limit is None else limit,
            starting_after=p.text("starting_after"),
            ending_before=p.text("ending_before"),
        )
        p.done()
        return wire.list_json(
            "/v1/payment_intents", [self.intent(v) for v in page.data], page.has_more
        )

    def _search_intents(self, p: Params, _key: str, _: tuple[str, ...]) -> JSON:
        """``metadata['key']:'value'`` only (docs.stripe.com/search, "Search query
        language"); ``page`` is the ``next_page`` of the answer before."""
        query = str(p.text("query", required=True))
        found = _SEARCH.fullmatch(query)
        if found is None:
            raise ParamError(
                "The emulator searches payment intents by one metadata value only: "
                "metadata['key']:'value'.",
                param="query",
                code=None,
            )
        limit = p.integer("limit")
        limit = SEARCH_DEFAULT_LIMIT if limit is None else limit
        if not 1 <= limit <= 100:
            raise ParamError(
                "limit must be 1 to 100.", param="limit", code="parameter_invalid_integer"
            )
        token = p.text("page")
        start = _page_offset(token)
        p.done()
        key, value = (_ESCAPED.sub(r"\1", found[n]) for n in ("key", "value"))
        hits = self.model.search_intents(metadata_key=key, value=value)
        data = [self.intent(v) for v in hits[start : start + limit]]
        more = start + limit < len(hits)
        next_page = f"page_{start + limit}" if more else None
        return wire.search_json("/v1/payment_intents/search", data, more, next_page)

    # --- refunds and accounts --------------------------------------------------------

    def _create_refund(self, p: Params, key: str, _: tuple[str, ...]) -> JSON:
        intent_id = str(p.text("payment_intent", required=True))
        amount = p.integer("amount")
        reason = p.text("reason")
        metadata = p.mapping("metadata")
        if p.boolean("reverse_transfer") is False:
            raise ParamError(
                "The emulator's refunds of destination charges always reverse the "
                "transfer (reverse_transfer=true).",
                param="reverse_transfer",
                code="parameter_unknown",
            )
        p.done()
        if amount is None:  # Stripe refunds what is left when no amount is given
            amount = self._refundable(intent_id)
        view = self.model.create_refund(
            intent_id, amount=amount, reason=reason, metadata=metadata, idempotency_key=key
        )
        with self._lock:
            now = wire.seconds(self.model.clock.now())
            self._refund_extras.setdefault(view.id, (reason, now))
        return self.refund(view)

    def _retrieve_refund(self, p: Params, _key: str, ids: tuple[str, ...]) -> JSON:
        p.done()
        return self.refund(self.model.retrieve_refund(ids[0]))

    def _list_refunds(self, p: Params, _key: str, _: tuple[str, ...]) -> JSON:
        intent_id = p.text("payment_intent")
        if intent_id is None:
            raise ParamError(
                "The emulator lists the refunds of one payment_intent only.",
                param="payment_intent",
                code="parameter_missing",
            )
        limit = p.integer("limit")
        page = self.model.list_refunds(
            intent_id,
            limit=10 if limit is None else limit,
            starting_after=p.text("starting_after"),
            ending_before=p.text("ending_before"),
        )
        p.done()
        return wire.list_json("/v1/refunds", [self.refund(r) for r in page.data], page.has_more)

    def _retrieve_account(self, p: Params, _key: str, ids: tuple[str, ...]) -> JSON:
        p.done()
        return wire.account_json(self.model.retrieve_account(ids[0]))

    def _refundable(self, intent_id: str) -> int:
        intent = self.model.stored_intent(intent_id).view
        live = [r for r in self.model.refunds() if r.intent_id == intent_id]
        return intent.amount_received - sum(r.amount for r in live if r.status in REFUND_LIVE)


def _money(amount: int | None, currency: str | None) -> Money:
    try:
        return Money(int(amount or 0), str(currency).upper())
    except InvalidInput as exc:
        param = "currency" if isinstance(exc, UnknownCurrency) else "amount"
        raise ParamError(exc.message, param=param, code=None) from None


def _allow_redirects(apm: Params) -> bool:
    """``automatic_payment_methods``: enabled (the emulator models no other way), and
    redirects allowed unless ``allow_redirects`` is ``never`` (its default is
    ``always``: stripe-python 16.1.0, ``PaymentIntent.AutomaticPaymentMethods``)."""
    if apm.boolean("enabled") is False:
        raise ParamError(
            "The emulator models automatic payment methods only.",
            param="automatic_payment_methods[enabled]",
            code="parameter_unknown",
        )
    allow = apm.text("allow_redirects")
    if allow not in (None, "always", "never"):
        raise ParamError(
            f"Invalid allow_redirects: {allow}",
            param="automatic_payment_methods[allow_redirects]",
            code=None,
        )
    apm.done()
    return allow != "never"


def _page_offset(token: str | None) -> int:
    if token is None:
        return 0
    found = _PAGE.fullmatch(token)
    if found is None:
        raise ParamError("Invalid page token.", param="page", code=None)
    return int(found[1])
