"""Stripe's REST endpoints that paycore uses, served by the faithful model.

Requests are form-encoded with Stripe's bracket notation (``metadata[order_id]=o1``,
``created[gte]=1767225600``: docs.stripe.com/api, "Form-encoded request bodies"; the
SDK encodes them so, stripe-python 16.1.0 ``stripe/_encode.py``), in the body of a POST
or the query of a GET. Each route reads its parameters, calls the model as the port
would, and returns Stripe's JSON; model errors become Stripe's error bodies
(:mod:`.wire`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from paycore.errors import ProviderInvalidRequest
from paycore.money import Money
from paycore.ports import CreateIntent

from ..fake_provider import FakeProvider
from .wire import Json, account_json, intent_json, list_json, refund_json, search_json

Form = dict[str, Any]
Handler = Callable[[FakeProvider, Form, str, str], Json]

_ID = r"([A-Za-z0-9_]+)"
#: metadata['key']:'value' (docs.stripe.com/search, "Search query language")
_QUERY = re.compile(r"^metadata\['((?:[^'\\]|\\.)*)'\]:'((?:[^'\\]|\\.)*)'$")


_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


#: A search page's size unless asked: 10, at most 100 (docs.stripe.com/api/pagination/search)
SEARCH_LIMIT = 10
_PAGE = re.compile(r"page_([0-9]{1,9})")


def parse_form(pairs: list[tuple[str, str]]) -> Form:
    """Bracketed names into nested mappings: ``a[b][c]=v`` is ``{"a": {"b": {"c": v}}}``.
    A name whose brackets do not nest cleanly (a metadata key holding ``[`` or ``]``,
    which Stripe refuses: docs.stripe.com/api/metadata) is an invalid request."""
    form: Form = {}
    for name, value in pairs:
        match = _NAME.match(name)
        if match is None:
            raise ProviderInvalidRequest(
                f"Invalid parameter name {name!r}: keys may not contain '[' or ']'",
                param=name.partition("[")[0],
            )
        keys = [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])]
        node = form
        for key in keys[:-1]:
            nxt = node.setdefault(key, {})
            if not isinstance(nxt, dict):
                raise ProviderInvalidRequest(f"Invalid parameter name {name!r}", param=keys[0])
            node = nxt
        node[keys[-1]] = value
    return form


def _int(form: Mapping[str, Any], name: str, default: int | None = None) -> int:
    raw = form.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ProviderInvalidRequest(f"Invalid integer: {raw!r}", param=name) from None


def _bool(form: Mapping[str, Any], name: str) -> bool:
    """A boolean parameter as the SDK encodes it (``true``/``false``, stripe-python 16.1.0
    ``stripe/_encode.py``); false when not sent, as Stripe's optional booleans default
    (``reverse_transfer``: ``stripe/params/_refund_create_params.py``)."""
    raw = form.get(name)
    if raw is None or raw == "false":
        return False
    if raw == "true":
        return True
    raise ProviderInvalidRequest(f"Invalid boolean: {raw!r}", param=name)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _metadata(form: Form) -> dict[str, str]:
    """The request's metadata: a flat mapping of strings (a nested key is refused, as
    Stripe refuses a key holding brackets: docs.stripe.com/api/metadata)."""
    metadata = form.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ProviderInvalidRequest(
            "Invalid metadata: keys may not contain '[' or ']'", param="metadata"
        )
    return metadata


def create_intent(m: FakeProvider, form: Form, key: str, _: str) -> Json:
    apm = form.get("automatic_payment_methods") or {}
    account = (form.get("transfer_data") or {}).get("destination", "")
    req = CreateIntent(
        Money(_int(form, "amount"), str(form.get("currency", "")).upper()),
        account,
        _metadata(form),
        description=str(form.get("description", "")),
        allow_redirects=apm.get("allow_redirects") != "never",
        on_behalf_of=bool(form.get("on_behalf_of")),
    )
    return intent_json(m.create_intent(req, idempotency_key=key))


def confirm(m: FakeProvider, form: Form, key: str, intent_id: str) -> Json:
    view = m.confirm_intent(
        intent_id,
        payment_method=form.get("payment_method"),
        return_url=form.get("return_url"),
        idempotency_key=key,
    )
    return intent_json(view)


def cancel(m: FakeProvider, form: Form, key: str, intent_id: str) -> Json:
    return intent_json(m.cancel_intent(intent_id, idempotency_key=key))


def capture(m: FakeProvider, form: Form, key: str, intent_id: str) -> Json:
    return intent_json(m.capture_intent(intent_id, idempotency_key=key))


def retrieve_intent(m: FakeProvider, form: Form, key: str, intent_id: str) -> Json:
    return intent_json(m.retrieve_intent(intent_id))


def list_intents(m: FakeProvider, form: Form, key: str, _: str) -> Json:
    created = form.get("created") or {}
    lt = created.get("lt")
    page = m.list_intents(
        created_gte_s=_int(created, "gte", 0),
        created_lt_s=None if lt is None else _int(created, "lt"),
        limit=_int(form, "limit", 10),
        starting_after=form.get("starting_after"),
    )
    return list_json("/v1/payment_intents", map(intent_json, page.data), page.has_more)


def search(m: FakeProvider, form: Form, key: str, _: str) -> Json:
    match = _QUERY.match(str(form.get("query", "")))
    if match is None:
        raise ProviderInvalidRequest(
            "the emulator searches one metadata value: metadata['key']:'value'", param="query"
        )
    limit = _int(form, "limit", SEARCH_LIMIT)
    if not 1 <= limit <= 100:
        raise ProviderInvalidRequest("limit must be 1 to 100.", param="limit")
    start = _page(form.get("page"))
    found = m.search_intents(metadata_key=_unescape(match[1]), value=_unescape(match[2]))
    more = start + limit < len(found)
    return search_json(
        "/v1/payment_intents/search",
        map(intent_json, found[start : start + limit]),
        has_more=more,
        next_page=f"page_{start + limit}" if more else None,
        total_count=len(found),
    )


def _page(token: object) -> int:
    """Where the page a search ``page`` token names begins (the emulator's tokens are
    ``page_<offset>``; Stripe's are opaque: only a ``next_page`` is passed back)."""
    if token is None:
        return 0
    found = _PAGE.fullmatch(str(token))
    if found is None:
        raise ProviderInvalidRequest(f"Invalid page token: {token!r}", param="page")
    return int(found[1])


def create_refund(m: FakeProvider, form: Form, key: str, _: str) -> Json:
    view = m.create_refund(
        str(form.get("payment_intent", "")),
        amount=_int(form, "amount"),
        reason=form.get("reason"),
        metadata=_metadata(form),
        idempotency_key=key,
        reverse_transfer=_bool(form, "reverse_transfer"),
    )
    return refund_json(view)


def list_refunds(m: FakeProvider, form: Form, key: str, _: str) -> Json:
    if not form.get("payment_intent"):
        raise ProviderInvalidRequest(
            "the emulator lists the refunds of one payment_intent", param="payment_intent"
        )
    page = m.list_refunds(
        str(form["payment_intent"]),
        limit=_int(form, "limit", 10),
        starting_after=form.get("starting_after"),
    )
    return list_json("/v1/refunds", map(refund_json, page.data), page.has_more)


def list_disputes(m: FakeProvider, form: Form, key: str, _: str) -> Json:
    """``GET /v1/disputes`` (docs.stripe.com/api/disputes/list), paged as the others;
    each dispute's object as the model keeps it (the one its events carry)."""
    created = form.get("created") or {}
    page = m.list_disputes(
        created_gte_s=_int(created, "gte", 0),
        limit=_int(form, "limit", 10),
        starting_after=form.get("starting_after"),
    )
    return list_json("/v1/disputes", (dict(d.snapshot) for d in page.data), page.has_more)


def retrieve_refund(m: FakeProvider, form: Form, key: str, refund_id: str) -> Json:
    return refund_json(m.retrieve_refund(refund_id))


def retrieve_account(m: FakeProvider, form: Form, key: str, account: str) -> Json:
    return account_json(m.retrieve_account(account))


#: (method, path pattern, handler, the endpoint's name for wire faults)
ROUTES: list[tuple[str, re.Pattern[str], Handler, str]] = [
    ("POST", re.compile(r"^/v1/payment_intents$"), create_intent, "create_intent"),
    ("GET", re.compile(r"^/v1/payment_intents$"), list_intents, "list_intents"),
    ("GET", re.compile(r"^/v1/payment_intents/search$"), search, "search_intents"),
    ("GET", re.compile(rf"^/v1/payment_intents/{_ID}$"), retrieve_intent, "retrieve_intent"),
    ("POST", re.compile(rf"^/v1/payment_intents/{_ID}/confirm$"), confirm, "confirm_intent"),
    ("POST", re.compile(rf"^/v1/payment_intents/{_ID}/cancel$"), cancel, "cancel_intent"),
    ("POST", re.compile(rf"^/v1/payment_intents/{_ID}/capture$"), capture, "capture_intent"),
    ("POST", re.compile(r"^/v1/refunds$"), create_refund, "create_refund"),
    ("GET", re.compile(r"^/v1/refunds$"), list_refunds, "list_refunds"),
    ("GET", re.compile(rf"^/v1/refunds/{_ID}$"), retrieve_refund, "retrieve_refund"),
    ("GET", re.compile(r"^/v1/disputes$"), list_disputes, "list_disputes"),
    ("GET", re.compile(rf"^/v1/accounts/{_ID}$"), retrieve_account, "retrieve_account"),
    # The API key's own account (docs.stripe.com/api/accounts/retrieve; the SDK's
    # ``accounts.retrieve_current``): the server fills in which account that is.
    ("GET", re.compile(r"^/v1/account$"), retrieve_account, "retrieve_own_account"),
]


#: The parameters each endpoint reads, a nested mapping's own keys as a set. Stripe
#: answers a parameter it does not know with 400 ``parameter_unknown``
#: (docs.stripe.com/error-codes#parameter-unknown); the emulator answers so every one it
#: does not model, Stripe's others included, so none is ever ignored in silence.
PARAMS: dict[str, Mapping[str, frozenset[str] | None]] = {
    "create_intent": {
        "amount": None,
        "currency": None,
        "automatic_payment_methods": frozenset({"enabled", "allow_redirects"}),
        "metadata": None,  # any key: Stripe's metadata (docs.stripe.com/api/metadata)
        "transfer_data": frozenset({"destination"}),
        "on_behalf_of": None,
        "description": None,
    },
    "confirm_intent": {"payment_method": None, "return_url": None},
    "list_intents": {
        "created": frozenset({"gte", "lt"}),
        "limit": None,
        "starting_after": None,
    },
    "search_intents": {"query": None, "limit": None, "page": None},
    "create_refund": {
        "payment_intent": None,
        "amount": None,
        "reason": None,
        "metadata": None,
        "reverse_transfer": None,
    },
    "list_refunds": {"payment_intent": None, "limit": None, "starting_after": None},
    "list_disputes": {"created": frozenset({"gte"}), "limit": None, "starting_after": None},
}


def unknown_param(endpoint: str, form: Form) -> str | None:
    """The first parameter of ``form`` that ``endpoint`` does not read, in Stripe's
    notation (``transfer_data[amount]``), or None."""
    known = PARAMS.get(endpoint, {})
    for name in sorted(form):
        if name not in known:
            return name
        inner, value = known[name], form[name]
        if inner is not None and isinstance(value, dict):
            extra = sorted(set(value) - inner)
            if extra:
                return f"{name}[{extra[0]}]"
    return None


def route(method: str, path: str) -> tuple[Handler, str, str] | None:
    """The handler of a request, its endpoint name, and the id in its path ('' if none)."""
    for verb, pattern, handler, endpoint in ROUTES:
        match = pattern.match(path)
        if verb == method and match is not None:
            return handler, endpoint, match.group(1) if pattern.groups else ""
    return None
