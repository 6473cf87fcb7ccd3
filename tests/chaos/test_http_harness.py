"""The harness over HTTP (``paycore chaos --provider emulator``): paycore's service talks
to the faithful model through the Stripe adapter and the emulator, with faults on the
wire besides the port's, and takes its webhooks in Stripe's wire format through the
Stripe intake over HTTP; the seeded bugs that live in provider handling are caught
there too."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from contextlib import redirect_stdout

import pytest
import stripe
from tests.support import run_shape

from paycore import schema as s
from paycore.flows.webhooks import ACTED_ON
from paycore.ports import ProviderEvent
from paycore_adapters import signing
from paycore_adapters.cli import main
from paycore_adapters.emulator.webhooks import event_body
from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.faults import FaultKind
from paycore_adapters.harness.http_face import over_emulator
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import SECRET, World
from paycore_adapters.memory import in_memory
from paycore_adapters.stripe_webhooks import TOLERANCE_S

pytestmark = pytest.mark.slow


def test_a_run_over_http_is_clean_with_wire_faults_firing() -> None:
    report = run_chaos(seed=0, examples=80, provider="emulator")
    assert report.error is None and report.violations == []
    wire = {k: n for k, n in report.counts.items() if k.startswith("wire_")}
    assert sum(wire.values()) > 0, report.counts
    assert report.faults["provider_fail_after"] > 0  # the port's faults go on as well
    # Every webhook went through the Stripe intake, and each of its answers was given.
    c = report.counts
    assert c["stripe_webhooks"] == c["webhooks"] > 0, c
    for outcome in ("processed", "duplicate", "pending", "ignored:unused_type"):
        assert c.get(f"stripe_{outcome}", 0) > 0, (outcome, c)
    for refusal in ("signature", "stale_timestamp"):
        assert c.get(f"stripe_refused:{refusal}", 0) > 0, (refusal, c)
    for kind in ("duplicate", "reordered", "late", "stale_timestamp", "bad_signature"):
        assert report.faults[f"webhook_{kind}"] > 0, (kind, report.faults)


def test_a_seed_gives_one_run_over_http() -> None:
    """Wire faults follow the requests, not the order examples ran in: a seed replays."""
    first = run_chaos(seed=3, examples=25, provider="emulator")
    assert run_shape(first) == run_shape(run_chaos(seed=3, examples=25, provider="emulator"))


@pytest.mark.parametrize("bug_id", ["F1", "F2", "F3", "L1"])
def test_provider_handling_bugs_are_caught_over_http(bug_id: str) -> None:
    for seed in range(3):
        report = run_chaos(
            seed=seed, bug=bug_id, shrink=False, provider="emulator", stop_at=BUGS[bug_id].expected
        )
        if report.violations or report.error:
            break
    assert report.error is None, report.error
    violated = {v.invariant for v in report.violations}
    assert violated & set(BUGS[bug_id].expected), (bug_id, violated)


def test_an_unknown_provider_face_is_refused() -> None:
    with pytest.raises(ValueError, match="no harness provider"):
        run_chaos(seed=0, examples=1, provider="localstripe")


# --- one world over HTTP, a delivery at a time ------------------------------------------


@pytest.fixture
def world() -> Iterator[World]:
    """A world whose service talks to the emulator and takes webhooks over HTTP, with a
    paid checkout whose events wait to be delivered."""
    with over_emulator(in_memory) as (build, _):
        w = World(wiring=build)
        w.shop(0, 1, 1, 0)
        w.pull_webhooks()
        assert w.pending
        yield w


def acted_on(world: World) -> int:
    """The index of the first waiting delivery of an event paycore acts on."""
    return next(i for i, d in enumerate(world.pending) if d.event.type.startswith("payment_"))


def object_of(world: World, event: ProviderEvent) -> object:
    views = [*world.w.provider.intents(), *world.w.provider.refunds()]
    return next((v for v in views if v.id == event.object_id), None)


def test_a_delivery_is_the_emulators_event_json_signed_as_stripe_signs(world: World) -> None:
    for d in world.pending:
        doc = json.loads(d.payload)
        assert doc["object"] == "event" and doc["type"] == d.event.type
        assert d.payload == event_body(d.event, object_of(world, d.event))  # type: ignore[arg-type]
        # The signature as the provider made it when it sent the event (simulated time).
        stripe.WebhookSignature.verify_header(d.payload.decode(), d.header, SECRET, None)
        assert d.header.startswith(f"t={world.w.clock.now() // 1000},")


def test_deliveries_go_through_the_stripe_intake_never_paycores_own_format(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With paycore's own payload, signing and verification unusable, every delivery is
    still taken: over HTTP the world does not fall back to them."""

    def unusable(*args: object) -> None:
        raise AssertionError("the world used paycore's own webhook format over HTTP")

    for name in ("to_payload", "sign", "verify", "receive"):
        monkeypatch.setattr(signing, name, unusable)
    n = len(world.pending)
    acted = {d.event.id for d in world.pending if d.event.type in ACTED_ON}
    assert acted
    while world.pending:
        world.deliver(0)
    assert world.counts["stripe_webhooks"] == world.counts["webhooks"] == n
    assert world.counts["stripe_processed"] + world.counts["stripe_ignored:unused_type"] == n
    inbox = {e.event_id for e in world.view().rows(s.INBOX)}
    assert inbox >= acted


def test_a_forged_delivery_is_refused_and_the_genuine_one_still_comes(world: World) -> None:
    world.deliver(acted_on(world), 2)
    assert world.counts.get("stripe_refused:signature") == 1
    assert "stripe_webhooks" not in world.counts
    assert world.plan.fired[FaultKind.WEBHOOK_BAD_SIGNATURE] == 1
    world.deliver(len(world.pending) - 1)  # the genuine delivery, queued again at the end
    assert world.counts["stripe_webhooks"] == 1


@pytest.mark.parametrize(("late_s", "stale"), [(TOLERANCE_S, False), (TOLERANCE_S + 1, True)])
def test_a_delivery_older_than_the_tolerance_on_the_simulated_clock_is_refused_as_stale(
    world: World, late_s: int, stale: bool
) -> None:
    """The simulated age decides, with the in-memory rule (older than the tolerance);
    the provider signs the refused delivery anew and it is taken."""
    idx = acted_on(world)
    event_id = world.pending[idx].event.id
    world.w.clock.advance(late_s * 1000)
    world.deliver(idx)
    assert world.counts.get("stripe_refused:stale_timestamp", 0) == int(stale)
    assert world.plan.fired[FaultKind.WEBHOOK_STALE] == int(stale)
    if stale:
        (again,) = [d for d in world.pending if d.event.id == event_id]
        assert again.header.startswith(f"t={world.w.clock.now() // 1000},")
        world.deliver(world.pending.index(again))
    assert world.counts["stripe_webhooks"] == 1


def test_a_store_failure_is_answered_500_and_the_event_delivered_again(world: World) -> None:
    idx = acted_on(world)
    event_id = world.pending[idx].event.id
    world.arm(FaultKind.COMMIT_FAILS)
    world.deliver(idx)
    assert world.counts["stripe_failed:store"] == 1 and "stripe_webhooks" not in world.counts
    (again,) = [d for d in world.pending if d.event.id == event_id]
    world.deliver(world.pending.index(again))
    assert world.counts["stripe_webhooks"] == 1
    assert world.counts.get("stripe_processed", 0) == 1  # nothing of the failed one was kept


def test_the_chaos_command_lists_the_stripe_intakes_answers_over_http() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["chaos", "--provider", "emulator", "--seed", "0", "--examples", "3"])
    text = out.getvalue()
    assert code == 0, text
    assert "webhooks through the Stripe intake:" in text
    assert re.search(r"stripe_webhooks +[1-9][0-9]*\n", text), text
