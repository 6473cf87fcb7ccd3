"""localstripe (an independent fake Stripe server) for the tests of this folder: one server
per test session (per pytest-xdist worker), on 127.0.0.1 and a free port, emptied before
each test. A server that cannot start fails every test that needs it, in CI
(``CI=true``) and elsewhere: it is never a skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from paycore_adapters.testing.localstripe import Localstripe, LocalstripeError
from paycore_adapters.testing.localstripe_driver import API_KEY


@pytest.fixture(scope="session")
def localstripe_server() -> Iterator[Localstripe]:
    server = Localstripe()
    try:
        server.start()
    except (LocalstripeError, OSError) as err:
        pytest.fail(f"localstripe did not start: {err}")
    yield server
    server.stop()


@pytest.fixture
def ls(localstripe_server: Localstripe) -> Localstripe:
    """The session's localstripe, holding no object."""
    localstripe_server.reset()
    return localstripe_server


@pytest.fixture
def client(ls: Localstripe) -> stripe.StripeClient:
    """The bare SDK on the emptied localstripe, without the SDK's own retries."""
    return stripe.StripeClient(API_KEY, base_addresses={"api": ls.url}, max_network_retries=0)
