"""The harness over HTTP: paycore talks to the faithful model through the Stripe adapter
and paycore's emulator, wire faults included, while the world drives the model's far
side (customers, banks, time) directly.

:func:`over_emulator` wraps a run's wiring factory: each example's fake becomes the
model of one emulator (started once for the run, on 127.0.0.1), and the example's
service talks to it through a :class:`~paycore_adapters.stripe_provider.StripeProvider`
with no retries of its own (the flows' retries are what the harness explores). The
world's fault plan still fails calls at the port; the emulator adds faults on the wire,
scattered over the requests from a generator seeded with the run's seed, and only while
the plan is enabled (never in a world's quiet phase). The world's webhooks go the other
way in Stripe's wire format, to paycore's Stripe intake over HTTP (:mod:`.http_webhooks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import stripe

from paycore.config import Config

from ..emulator import Emulator
from ..memory import Wiring
from ..stripe_provider import StripeProvider
from .http_webhooks import StripeEndpoint
from .stores import WiringFactory

KEY = "sk_test_harness"


class HttpPort(StripeProvider):
    """The Stripe adapter on one emulator, whose scattered wire faults follow a gate, and
    the webhook endpoint the world delivers to (:class:`~.http_webhooks.StripeEndpoint`)."""

    def __init__(self, emulator: Emulator, endpoint: StripeEndpoint) -> None:
        client = stripe.StripeClient(
            KEY, base_addresses={"api": emulator.url}, max_network_retries=0
        )
        super().__init__(client, api_base=emulator.url)
        self.emulator = emulator
        self.webhook_endpoint = endpoint

    def gate_faults(self, enabled: Callable[[], bool]) -> None:
        self.emulator.faults.gate(enabled)


@contextmanager
def over_emulator(wiring: WiringFactory) -> Iterator[tuple[WiringFactory, Emulator]]:
    """``wiring`` with each example's fake served by one emulator for the run (its wire
    faults: ``emulator.faults``, scattered by the caller)."""
    emulator = Emulator(api_key=KEY).start()
    endpoint = StripeEndpoint()
    port = HttpPort(emulator, endpoint)

    def build(config: Config) -> Wiring:
        w = wiring(config)
        emulator.model = w.provider  # the examples run one after another
        # Each example meets the wire faults of one sequence from its start: Hypothesis
        # replays an example (to shrink it) and must see the same run again.
        emulator.faults.restart()
        w.port = port
        endpoint.serve(w.service, w.provider)
        return w

    try:
        yield build, emulator
    finally:
        endpoint.stop()
        emulator.stop()
