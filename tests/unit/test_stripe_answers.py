"""A 2xx answer of the wrong shape, for every call the Stripe adapter makes: the only
outcomes are a well-typed view or a ``ProviderError``, never another exception.

Stripe answered 2xx, so the request may have landed; an answer the adapter cannot read
as the object the call returns (``{}`` for an intent, an ``amount`` that is a string, a
list without ``data``, a refund where an intent was asked for) is ambiguous
(``ProviderUnavailable``, "not understood"), and the flows look before acting again.
Shapes are Stripe's (docs.stripe.com/api/payment_intents/object,
docs.stripe.com/api/refunds/object, docs.stripe.com/api/accounts/object,
docs.stripe.com/api/pagination, docs.stripe.com/api/pagination/search); the real SDK
talks to a stub network (:mod:`tests.stripe_wire`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.stripe_wire import KEY, Wire, intent, page, refund

from paycore import errors as E
from paycore.money import Money
from paycore.ports import AccountView, CreateIntent, IntentView, ListPage, RefundView
from paycore_adapters.stripe_provider import StripeProvider


class Adapter(StripeProvider):
    """The adapter with Connect, and beside it ``own``, the same network's without."""

    own: StripeProvider


class SameAnswer(Wire):
    """A network that gives one answer to every request (a search reads every page)."""

    def __init__(self) -> None:
        super().__init__()
        self.body: Any = None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.answer(200, self.body)
        return super().request(*args, **kwargs)


ACCOUNT = {
    "id": "acct_1",
    "object": "account",
    "charges_enabled": True,
    "capabilities": {"card_payments": "active", "transfers": "active"},
    "requirements": {"disabled_reason": None},
}
SEARCH = {
    "object": "search_result",
    "data": [intent()],
    "has_more": False,
    "next_page": None,
    "url": "/v1/payment_intents/search",
}
REQ = CreateIntent(Money(1250, "EUR"), "acct_1", {"order_id": "o1"})

Call = Callable[[Adapter], Any]
#: Each call the adapter makes: its well-formed answer, and how it is called.
CALLS: dict[str, tuple[Any, Call]] = {
    "create_intent": (intent(), lambda p: p.create_intent(REQ, idempotency_key="k")),
    "confirm_intent": (
        intent(status="succeeded"),
        lambda p: p.confirm_intent(
            "pi_3Abc", payment_method="pm", return_url=None, idempotency_key="k"
        ),
    ),
    "cancel_intent": (
        intent(status="canceled"),
        lambda p: p.cancel_intent("pi_3Abc", idempotency_key="k"),
    ),
    "capture_intent": (intent(), lambda p: p.capture_intent("pi_3Abc", idempotency_key="k")),
    "retrieve_intent": (intent(), lambda p: p.retrieve_intent("pi_3Abc")),
    "search_intents": (SEARCH, lambda p: p.search_intents(metadata_key="order_id", value="o1")),
    "list_intents": (page(intent()), lambda p: p.list_intents(created_gte_s=0)),
    "create_refund": (
        refund(),
        lambda p: p.create_refund(
            "pi_3Abc", amount=500, reason=None, metadata={}, idempotency_key="k"
        ),
    ),
    "retrieve_refund": (refund(), lambda p: p.retrieve_refund("re_1")),
    "list_refunds": (page(refund()), lambda p: p.list_refunds("pi_3Abc")),
    "retrieve_account": (ACCOUNT, lambda p: p.retrieve_account("acct_1")),
    # Without Connect: GET /v1/account, the key's own (stripe/_account_service.py).
    "retrieve_account (own)": (ACCOUNT, lambda p: p.own.retrieve_account("acct_1")),
}

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**64), max_value=2**64),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.sampled_from(["pi_3Abc", "re_1", "list", "payment_intent", "refund", "eur", "12"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def bent(draw: st.DrawFn, good: Any) -> Any:
    """``good`` with some of its fields (at any depth) dropped or replaced by any JSON."""
    if isinstance(good, list):
        return [draw(bent(item)) for item in good]
    if not isinstance(good, Mapping) or not draw(st.booleans()):
        return draw(json_values) if draw(st.integers(0, 3)) == 0 else good
    out: dict[str, Any] = {}
    for name, value in good.items():
        choice = draw(st.integers(0, 4))
        if choice == 0:
            continue  # dropped
        out[name] = draw(json_values) if choice == 1 else draw(bent(value))
    return out


def _text(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _opt(value: object) -> bool:
    return value is None or isinstance(value, str)


def _well_typed(view: object) -> bool:
    """The view holds what its type says: paycore reads these fields as they are typed."""
    if isinstance(view, (list, tuple)):
        return all(_well_typed(v) for v in view)
    if isinstance(view, ListPage):
        return isinstance(view.has_more, bool) and _well_typed(view.data)
    meta = getattr(view, "metadata", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        return False
    if isinstance(view, IntentView):
        texts = (view.id, view.status, view.currency)
        whole = (view.amount, view.amount_received, view.created)
        opts = (view.client_secret, view.last_error_code, view.next_action_url)
        rest = (view.cancellation_reason, view.account)
        return all(map(_text, texts)) and all(map(_whole, whole)) and all(map(_opt, opts + rest))
    if isinstance(view, RefundView):
        # A refund's status is nullable at Stripe: read as "" (a status paycore does not
        # know, so the local one stands), never as None or another type.
        opts = (view.failure_reason, view.pending_reason)
        status = isinstance(view.status, str)
        return _text(view.id) and status and _whole(view.amount) and all(map(_opt, opts))
    if isinstance(view, AccountView):
        return (
            _text(view.id) and isinstance(view.charges_enabled, bool) and _opt(view.disabled_reason)
        )
    return False


@pytest.fixture(scope="module")
def wired() -> tuple[SameAnswer, Adapter]:
    wire = SameAnswer()
    adapter = Adapter.from_settings(KEY, max_network_retries=0, http_client=wire)
    own = StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire, connect=False)
    assert isinstance(adapter, Adapter)
    adapter.own = own
    return wire, adapter


ANSWERS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_well_formed_answer_converts(name: str, wired: tuple[SameAnswer, Adapter]) -> None:
    """The strategy's starting point is an answer the adapter reads (else it proves little)."""
    wire, provider = wired
    wire.body, call = CALLS[name]
    assert _well_typed(call(provider))


@pytest.mark.parametrize("name", sorted(CALLS))
@ANSWERS
@given(data=st.data())
def test_any_2xx_answer_is_a_view_or_a_provider_error(
    name: str, wired: tuple[SameAnswer, Adapter], data: st.DataObject
) -> None:
    """Any JSON in place of the call's answer: a well-typed view, or a ProviderError."""
    wire, provider = wired
    good, call = CALLS[name]
    wire.body = data.draw(st.one_of(json_values, bent(good)), label="answer")
    try:
        view = call(provider)
    except E.ProviderError as err:
        assert err.outcome == "ambiguous" or isinstance(err, E.ProviderConfigurationError)
        return
    assert _well_typed(view), view


WRONG = [
    pytest.param("retrieve_intent", {}, id="an intent as {}"),
    pytest.param("create_intent", intent(amount="1250"), id="an intent's amount a string"),
    pytest.param("create_intent", intent(amount=True), id="an intent's amount a boolean"),
    pytest.param("confirm_intent", intent(created=1.5e9), id="an intent's created a float"),
    pytest.param("cancel_intent", refund(), id="a refund for an intent"),
    pytest.param(
        "retrieve_intent", intent(metadata={"order_id": 7}), id="a metadata value a number"
    ),
    pytest.param("retrieve_intent", intent(id=""), id="an empty id"),
    pytest.param("list_intents", {"object": "list", "has_more": False}, id="a list without data"),
    pytest.param("list_intents", page(intent(), has_more="no"), id="has_more a string"),
    pytest.param("list_refunds", page(intent()), id="a list of intents for refunds"),
    pytest.param("search_intents", [intent()], id="a JSON array for a search"),
    pytest.param("create_refund", refund(amount=-5), id="a negative refund amount"),
    pytest.param(
        "retrieve_account", {**ACCOUNT, "charges_enabled": "yes"}, id="charges_enabled text"
    ),
]


@pytest.mark.parametrize(("name", "body"), WRONG)
def test_a_2xx_of_the_wrong_shape_is_ambiguous_and_says_so(
    name: str, body: Any, wired: tuple[SameAnswer, Adapter]
) -> None:
    """Not a refusal: Stripe answered 2xx, the request may have landed."""
    wire, provider = wired
    wire.body = body
    with pytest.raises(E.ProviderError) as caught:
        CALLS[name][1](provider)
    assert type(caught.value) is E.ProviderUnavailable
    assert "not understood" in caught.value.message and caught.value.retryable


def test_a_search_whose_pages_do_not_end_is_ambiguous(wired: tuple[SameAnswer, Adapter]) -> None:
    """A search whose every page says there is more, with the same cursor, would be read
    forever: the adapter stops at the repeated cursor."""
    wire, provider = wired
    wire.body = {**SEARCH, "has_more": True, "next_page": "page_2"}
    with pytest.raises(E.ProviderUnavailable):
        provider.search_intents(metadata_key="order_id", value="o1")


@pytest.mark.parametrize("name", ["create_refund", "retrieve_refund"])
def test_a_refund_whose_status_is_null_is_read(
    name: str, wired: tuple[SameAnswer, Adapter]
) -> None:
    """Stripe documents a refund's ``status`` as nullable (stripe-python 16.1.0
    ``stripe/_refund.py``): such an answer is read, with no status paycore knows, not
    refused as not understood (which would hold the refund's amount for nothing)."""
    wire, provider = wired
    wire.body = refund(status=None)
    view = CALLS[name][1](provider)
    assert (view.id, view.status) == ("re_1", "")
