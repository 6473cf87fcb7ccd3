"""What stories do between their actions: run what is runnable, deliver what was sent,
run every job (shared by :mod:`.stories` and the modules of stories beside it)."""

from __future__ import annotations

from .world import JOBS, World


def drain(world: World, rounds: int = 200) -> None:
    """Run every runnable flow and deliver every webhook, until nothing is left to do."""
    for _ in range(rounds):
        if world.step(0):
            continue
        world.pull_webhooks()
        if not world.pending:
            return
        world.deliver(0)


def jobs(world: World) -> None:
    for which in range(len(JOBS)):
        world.job(which)
    drain(world)
