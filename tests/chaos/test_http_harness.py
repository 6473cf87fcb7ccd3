"""The harness over HTTP (``paycore chaos --provider emulator``): paycore's service talks
to the faithful model through the Stripe adapter and the emulator, with faults on the
wire besides the port's; the seeded bugs that live in provider handling are caught
there too."""

from __future__ import annotations

import pytest
from tests.support import run_shape

from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.runner import run_chaos

pytestmark = pytest.mark.slow


def test_a_run_over_http_is_clean_with_wire_faults_firing() -> None:
    report = run_chaos(seed=0, examples=80, provider="emulator")
    assert report.error is None and report.violations == []
    wire = {k: n for k, n in report.counts.items() if k.startswith("wire_")}
    assert sum(wire.values()) > 0, report.counts
    assert report.faults["provider_fail_after"] > 0  # the port's faults go on as well


def test_a_seed_gives_one_run_over_http() -> None:
    """Wire faults follow the requests, not the order examples ran in: a seed replays."""
    first = run_chaos(seed=3, examples=25, provider="emulator")
    assert run_shape(first) == run_shape(run_chaos(seed=3, examples=25, provider="emulator"))


@pytest.mark.parametrize("bug_id", ["F1", "F2", "F3", "L1"])
def test_provider_handling_bugs_are_caught_over_http(bug_id: str) -> None:
    for seed in range(3):
        report = run_chaos(seed=seed, bug=bug_id, shrink=False, provider="emulator")
        if report.violations or report.error:
            break
    assert report.error is None, report.error
    violated = {v.invariant for v in report.violations}
    assert violated & set(BUGS[bug_id].expected), (bug_id, violated)


def test_an_unknown_provider_face_is_refused() -> None:
    with pytest.raises(ValueError, match="no harness provider"):
        run_chaos(seed=0, examples=1, provider="localstripe")
