"""Which provider face the harness's service talks to: the fake in memory, or the fake
behind paycore's emulator and the Stripe adapter (:mod:`.http_face`, imported only when
asked for: it needs the ``stripe`` and ``asgi`` extras)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager

from .stores import WiringFactory

PROVIDERS = ("fake", "emulator")
#: Over HTTP, the chance that a request meets a wire fault while faults are on.
WIRE_FAULT_RATE = 0.05


@contextmanager
def faced(
    provider: str, wiring: WiringFactory, seed: int, counts: MutableMapping[str, int]
) -> Iterator[tuple[WiringFactory, Callable[[], None]]]:
    """The run's wiring factory for ``provider``: ``fake`` (paycore calls the fake in
    memory) or ``emulator`` (over HTTP), and what turns the wire faults on once the
    prologue's stories ran (a story drives its own faults and nothing else); the wire
    faults that fired are added to ``counts`` as ``wire_<kind>`` when the run ends."""
    if provider not in PROVIDERS:
        raise ValueError(f"no harness provider {provider!r}: one of {', '.join(PROVIDERS)}")
    if provider == "fake":
        yield wiring, lambda: None
        return
    from .http_face import over_emulator  # the stripe and asgi extras, only when asked for

    with over_emulator(wiring) as (build, emulator):
        try:
            yield build, lambda: emulator.faults.scatter(WIRE_FAULT_RATE, seed)
        finally:
            for kind, n in emulator.faults.fired.items():
                counts[f"wire_{kind}"] = counts.get(f"wire_{kind}", 0) + n
