"""A run on a machine of its own (a service's wiring) prints a replay that runs that
machine: the command line would run the default wiring and find nothing."""

from __future__ import annotations

import shlex

import pytest

from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import _python_replay, run_chaos
from paycore_adapters.harness.world import World

pytestmark = pytest.mark.slow


class CountedShop(PaycoreMachine):
    """The default wiring, counting the worlds it makes."""

    worlds = 0

    def make_world(self) -> World:
        CountedShop.worlds += 1  # on this class, not the run's subclass
        return super().make_world()


def test_the_replay_names_the_machine_and_every_option() -> None:
    command = (
        "paycore chaos --seed 3 --examples 5 --steps 7 --bug S1 --no-stories --store postgresql"
        ' --server "$PAYCORE_HARNESS_POSTGRES" --provider emulator'
    )
    assert _python_replay(command, CountedShop) == (
        f"python -c 'import os; from {__name__} import CountedShop; "
        "from paycore_adapters.harness.runner import run_chaos; "
        "run_chaos(machine=CountedShop, seed=3, examples=5, steps=7, bug='S1', "
        "with_stories=False, store='postgresql', "
        "server=os.environ[\"PAYCORE_HARNESS_POSTGRES\"], provider='emulator').check()'"
    )


def test_a_machine_defined_in_a_function_is_named_as_not_importable() -> None:
    class Local(PaycoreMachine):
        pass

    replay = _python_replay("paycore chaos --seed 0 --examples 1 --steps 1", Local)
    assert replay.endswith(
        "(test_a_machine_defined_in_a_function_is_named_as_not_importable"
        ".<locals>.Local must be importable from its module to replay)"
    )


def test_the_replay_of_a_run_on_its_own_machine_runs_that_machine() -> None:
    report = run_chaos(seed=2, examples=2, steps=3, machine=CountedShop, with_stories=False)
    assert report.replay.startswith("python -c ")
    assert run_chaos(seed=2, examples=2, steps=3, with_stories=False).replay.startswith("paycore")
    code = shlex.split(report.replay)[2]
    before = CountedShop.worlds
    exec(code, {})  # the printed replay, run as printed
    assert CountedShop.worlds > before
