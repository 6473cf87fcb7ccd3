"""The key's age a resumed step judges is one clock's time read against another's now:
from half the provider's retention on, and for a step time ahead of now beyond the clock
tolerance, the step asks first (:mod:`paycore.flows.asking`)."""

from __future__ import annotations

import pytest

from paycore.config import HOUR, MINUTE, Config, clock_tolerance_ms
from paycore.flows.asking import asks_first_from_ms
from paycore_adapters.clock_skew import tolerance_ms


@pytest.mark.parametrize(
    "config",
    [Config(), Config(max_clock_skew_ms=1_000), Config(max_clock_skew_ms=0), Config(lease_ms=HOUR)],
)
def test_the_core_and_the_clock_check_use_one_tolerance(config: Config) -> None:
    assert clock_tolerance_ms(config) == tolerance_ms(config)


def test_a_step_asks_first_from_half_the_retention() -> None:
    assert asks_first_from_ms(Config()) == 12 * HOUR
    # never later than the retention less a lease (the rule before clocks counted)
    short = Config(provider_key_retention_ms=8 * MINUTE, lease_ms=5 * MINUTE)
    assert asks_first_from_ms(short) == 3 * MINUTE
