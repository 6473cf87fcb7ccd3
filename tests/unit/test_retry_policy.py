"""The retry policy (paycore.flows.retry): transient failures until a horizon, strikes else."""

from __future__ import annotations

from typing import Any

from paycore import errors as E
from paycore.config import Config
from paycore.flows import retry

CFG = Config(max_attempts=3, retry_horizon_ms=10_000, stall_alert_after_ms=4_000)


class TestIsTransient:
    def test_no_answer_rate_limits_and_key_in_use_are_transient(self) -> None:
        """Errors the provider gets past by itself are transient."""
        for exc in (E.ProviderUnavailable, E.ProviderRateLimited, E.ProviderIdempotencyInUse):
            assert retry.is_transient(exc("x"))

    def test_answers_and_no_error_are_not(self) -> None:
        """A definite answer (refusal, not found, decline) or no error is not transient."""
        for exc in (E.ProviderInvalidRequest, E.ProviderNotFound, E.ProviderCardDeclined):
            assert not retry.is_transient(exc("x"))
        assert not retry.is_transient(None)


class TestJudge:
    def test_strikes_end_forward_progress_after_max_attempts(self) -> None:
        """Non-transient retries count strikes; the max_attempts-th gives up."""
        data: dict[str, Any] = {}
        verdicts = [retry.judge(CFG, data, now, transient=False) for now in range(3)]
        assert [v.give_up for v in verdicts] == [False, False, True]
        assert verdicts[-1].reason == "failures" and data[retry.STRIKES] == 3

    def test_transient_failures_cost_no_strike_and_end_at_the_horizon(self) -> None:
        """Any number of transient retries within the horizon; at it, give up."""
        data: dict[str, Any] = {}
        for now in range(0, 10_000, 500):
            assert not retry.judge(CFG, data, now, transient=True).give_up
        assert retry.STRIKES not in data
        verdict = retry.judge(CFG, data, 10_000, transient=True)
        assert verdict.give_up and verdict.reason == "outage"

    def test_stall_is_reported_once_per_streak(self) -> None:
        """Past the stall threshold one verdict says stalled; a new streak may again."""
        data: dict[str, Any] = {}
        stalled = [
            retry.judge(CFG, data, now, transient=True).stalled for now in (0, 3_999, 4_000, 5_000)
        ]
        assert stalled == [False, False, True, False]
        assert retry.end_streak(data) is True
        assert retry.end_streak(data) is False
        assert not retry.judge(CFG, data, 20_000, transient=True).give_up  # a new streak

    def test_fresh_data_forgets_streak_and_strikes_but_keeps_the_rest(self) -> None:
        """Starting over keeps the flow's own data."""
        data = {retry.SINCE: 1, retry.STRIKES: 2, retry.DEAD_OF: "outage", "keygen": 1}
        assert retry.fresh(data) == {"keygen": 1}
