"""The seeded-bug catalog: one switch per seed finding, re-creating the old service's flaw.

Each switch is a context manager that patches paycore for the duration of a
harness run and restores it on exit. Production code has no flag, branch or hook
for them: the flaws exist only inside ``switched_on``, which lives in this
test-support package. The harness must catch every one
(``tests/chaos/test_seeded_bugs.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import attrs

Patch = Callable[[], AbstractContextManager[None]]


@attrs.frozen
class SeededBug:
    """One switch: the finding it re-creates and the invariants expected to catch it."""

    id: str
    finding: str
    #: Invariants expected to catch it (any one suffices).
    expected: tuple[str, ...]
    patch: Patch
    #: Unique constraints the flaw does without, as (table, fields): a store that
    #: enforces constraints itself (a SQL schema) is built without them while it is on.
    drops: tuple[tuple[str, tuple[str, ...]], ...] = ()


BUGS: dict[str, SeededBug] = {}
#: The switches on now (``switched_on``), innermost last.
ACTIVE: list[SeededBug] = []


def seeded(
    id: str, finding: str, *expected: str, drops: tuple[tuple[str, tuple[str, ...]], ...] = ()
) -> Callable[[Patch], Patch]:
    """Register the decorated switch in :data:`BUGS` under ``id``."""

    def register(fn: Patch) -> Patch:
        BUGS[id] = SeededBug(id, finding, expected, fn, drops)
        return fn

    return register


def dropped_constraints() -> set[tuple[str, tuple[str, ...]]]:
    """The unique constraints the switches on now do without."""
    return {drop for bug in ACTIVE for drop in bug.drops}


@contextmanager
def switched_on(bug_id: str) -> Iterator[None]:
    """Re-create one seed flaw until the block ends."""
    try:
        bug = BUGS[bug_id]
    except KeyError:
        raise ValueError(f"no seeded bug {bug_id!r}; known: {', '.join(BUGS)}") from None
    with bug.patch():
        ACTIVE.append(bug)
        try:
            yield
        finally:
            ACTIVE.remove(bug)
