"""Which 404, 401 and 403 answers are Stripe's refusals, through the real SDK with a stub
network (:mod:`tests.stripe_wire`).

Only a refusal Stripe spelled out is definite (``paycore_adapters.stripe_errors``). A
404, 401 or 403 whose body is not Stripe's error object (``{"error": {"type": ...}}``,
docs.stripe.com/api/errors) came from something else on the way (a proxy, a load
balancer, a gateway's HTML page, an empty body): it says nothing about whether the request
reached Stripe and took effect, so it is ambiguous. A flow that read such a 404 as "no
such intent" could end a checkout, or free its stock, while the intent lives; one that
read such a 403 on a refund's create as "refused" would free the refund's amount while
the money may be going back."""

from __future__ import annotations

from typing import Any

import pytest
from tests.stripe_wire import KEY, Wire, error

from paycore import errors as E
from paycore_adapters.stripe_provider import StripeProvider

HTML = b"<html><head><title>404 Not Found</title></head><body>nginx</body></html>"


def _provider(wire: Wire) -> StripeProvider:
    return StripeProvider.from_settings(KEY, max_network_retries=0, http_client=wire)


def _retrieve(status: int, body: Any) -> E.ProviderError:
    wire = Wire()
    wire.answer(status, body)
    with pytest.raises(E.ProviderError) as caught:
        _provider(wire).retrieve_intent("pi_3Abc")
    return caught.value


def _refund(status: int, body: Any) -> E.ProviderError:
    wire = Wire()
    wire.answer(status, body)
    with pytest.raises(E.ProviderError) as caught:
        _provider(wire).create_refund(
            "pi_3Abc", amount=500, reason=None, metadata={}, idempotency_key="k"
        )
    return caught.value


# Stripe's own refusals: the error object with its type (docs.stripe.com/api/errors;
# "resource_missing": "The ID provided is not valid", docs.stripe.com/error-codes).
STRIPES_404 = error(
    404,
    type="invalid_request_error",
    code="resource_missing",
    param="intent",
    message="No such payment_intent: 'pi_3Abc'",
)[1]
STRIPES_401 = error(401, type="invalid_request_error", message="Invalid API Key provided")[1]
STRIPES_403 = error(403, type="invalid_request_error", message="The provided key does not")[1]

NOT_STRIPES = [
    pytest.param(HTML, id="an HTML page"),
    pytest.param(b"", id="an empty body"),
    pytest.param({"message": "Not Found"}, id="a gateway's JSON"),
    pytest.param({"error": {"message": "no route"}}, id="an error object without type"),
    pytest.param({"error": {"type": "api_error"}}, id="an error of another type"),
]


class TestA404:
    def test_with_stripes_error_object_is_not_found(self) -> None:
        """Stripe said the intent does not exist: definite."""
        err = _retrieve(404, STRIPES_404)
        assert type(err) is E.ProviderNotFound and err.outcome == "definite"
        assert (err.fields["error_code"], err.fields["http_status"]) == ("resource_missing", 404)

    @pytest.mark.parametrize("body", NOT_STRIPES)
    def test_without_it_is_ambiguous(self, body: Any) -> None:
        """A 404 not from Stripe says nothing about the intent: look again."""
        err = _retrieve(404, body)
        assert type(err) is E.ProviderUnavailable and err.outcome == "ambiguous"
        assert err.retryable and err.fields["http_status"] == 404

    @pytest.mark.parametrize("body", NOT_STRIPES)
    def test_without_it_on_a_refund_create_is_not_a_refusal(self, body: Any) -> None:
        """The refund may have been made: its amount must not be freed yet."""
        err = _refund(404, body)
        assert type(err) is E.ProviderUnavailable and err.outcome == "ambiguous"


def test_an_error_body_the_sdk_itself_cannot_read_is_ambiguous() -> None:
    """``{"error": "..."}`` on a 404 makes the SDK fail with AttributeError (it reads a
    string ``error`` as OAuth's, then as an object: stripe-python 16.1.0,
    ``_api_requestor.py`` ``specific_v1_api_error``): the port takes no vendor error."""
    for status in (401, 403, 404):
        err = _refund(status, {"error": "not_found"})
        assert type(err) is E.ProviderUnavailable and err.outcome == "ambiguous"
        assert err.fields["error_type"] == "AttributeError"


class TestA401Or403:
    @pytest.mark.parametrize(("status", "body"), [(401, STRIPES_401), (403, STRIPES_403)])
    def test_with_stripes_error_object_is_a_configuration_error(
        self, status: int, body: Any
    ) -> None:
        """Stripe refused the key before doing anything: definite, and no retry helps."""
        err = _refund(status, body)
        assert type(err) is E.ProviderConfigurationError
        assert (err.outcome, err.retryable, err.fields["http_status"]) == (
            "definite",
            False,
            status,
        )

    @pytest.mark.parametrize("status", [401, 403])
    @pytest.mark.parametrize("body", NOT_STRIPES)
    def test_without_it_is_ambiguous(self, status: int, body: Any) -> None:
        """A proxy's or gateway's 401/403 (an HTML page, an empty body) is not Stripe's
        refusal: the request may have passed it before, so the flows look first."""
        err = _refund(status, body)
        assert type(err) is E.ProviderUnavailable and err.outcome == "ambiguous"
        assert err.fields["http_status"] == status


def test_a_400_coded_rate_limit_is_a_rate_limit() -> None:
    """Stripe once sent rate limits as 400 with code ``rate_limit``; the SDK still raises
    RateLimitError for them (stripe-python 16.1.0, ``stripe/_api_requestor.py``,
    ``specific_v1_api_error``): retried after a pause, not a refusal of the request."""
    body = error(400, type="invalid_request_error", code="rate_limit", message="Too many")[1]
    err = _refund(400, body)
    assert type(err) is E.ProviderRateLimited and err.retryable
