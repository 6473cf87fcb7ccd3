"""paycore.claims: a job claiming its work takes what finding it took before, on a store
that runs one writer at a time (the single-instance behaviour stays as it was)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

from paycore import claims
from paycore import schema as s
from paycore.records import Cursor, Flow
from paycore.status import FlowStatus
from paycore.unit import Unit
from paycore_adapters.memory import in_memory
from paycore_adapters.memory_store import MemoryStore


def _flow(key: str, status: FlowStatus, at: int) -> Flow:
    return Flow(key, "job", "run", created_at=0, status=status, next_run_at=at)


T = TypeVar("T")


def oracle_take(
    u: Unit, job: str, rows: Sequence[T], key: Callable[[T], str], limit: int
) -> list[T]:
    """The rule in its plainest form, over every row found: up to ``limit`` rows in key
    order, starting after the job's cursor and wrapping around to the first; the cursor
    moves to the last row taken (made by the first run that takes a row)."""
    if limit <= 0 or not rows:
        return []
    cursor = u.get(s.CURSORS, f"batch:{job}")
    ordered = sorted(rows, key=key)
    after = cursor.value if cursor is not None else None
    start = (
        0
        if after is None
        else next((i for i, row in enumerate(ordered) if key(row) > after), len(ordered))
    )
    taken = (ordered[start:] + ordered[:start])[:limit]
    last = key(taken[-1])
    if cursor is None:
        u.create(s.CURSORS, Cursor(f"batch:{job}", last))
    elif cursor.value != last:
        u.save(s.CURSORS, cursor, value=last)
    return taken


def _store(rng: random.Random) -> MemoryStore:
    store = MemoryStore()
    keys = [f"f{n:02d}" for n in rng.sample(range(40), rng.randint(0, 25))]
    with store.transaction() as tx:
        for key in keys:  # inserted in an order that is not the keys' order
            status = rng.choice([FlowStatus.ACTIVE, FlowStatus.ACTIVE, FlowStatus.DEAD])
            tx.insert(s.FLOWS, _flow(key, status, rng.randint(0, 9)))
        if rng.random() < 0.7:
            tx.insert(s.CURSORS, Cursor("batch:j", rng.choice([*keys, "f00", "f99", None])))
    return store


class TestTake:
    def test_it_takes_and_moves_the_cursor_as_the_plain_rule_does(self) -> None:
        """Over random tables and cursors, three runs in a row give what
        :func:`oracle_take` over every row found gives, and leave the same cursor."""
        for seed in range(200):
            rng = random.Random(seed)
            store = _store(rng)
            twin = MemoryStore.restore(*store.export())
            limit = rng.randint(1, 8)
            for _ in range(3):
                with store.transaction() as tx:
                    u = Unit(tx, 0)
                    got = claims.take(u, "j", s.FLOWS, "status", FlowStatus.ACTIVE, limit)
                with twin.transaction() as tx:
                    u = Unit(tx, 0)
                    rows = u.find(s.FLOWS, "status", FlowStatus.ACTIVE)
                    want = oracle_take(u, "j", rows, key=lambda f: f.id, limit=limit)
                assert got == want, seed
                assert store.snapshot().rows(s.CURSORS) == twin.snapshot().rows(s.CURSORS)

    def test_a_limit_of_zero_takes_nothing_and_writes_nothing(self) -> None:
        """No cursor is made for an empty batch."""
        store = MemoryStore()
        with store.transaction() as tx:
            tx.insert(s.FLOWS, _flow("f1", FlowStatus.ACTIVE, 0))
            assert claims.take(Unit(tx, 0), "j", s.FLOWS, "status", FlowStatus.ACTIVE, 0) == []
        assert store.snapshot().rows(s.CURSORS) == []

    def test_nothing_to_take_leaves_the_cursor_alone(self) -> None:
        """A run over no row neither fails nor writes a cursor."""
        store = MemoryStore()
        with store.transaction() as tx:
            assert claims.take(Unit(tx, 0), "j", s.FLOWS, "status", FlowStatus.ACTIVE, 3) == []
        assert store.snapshot().rows(s.CURSORS) == []

    def test_each_job_has_its_own_cursor(self) -> None:
        """Two jobs over the same rows do not move each other's place."""
        store = MemoryStore()
        with store.transaction() as tx:
            for key in ("a", "b", "c"):
                tx.insert(s.FLOWS, _flow(key, FlowStatus.ACTIVE, 0))

        def take(job: str) -> list[str]:
            with store.transaction() as tx:
                got = claims.take(Unit(tx, 0), job, s.FLOWS, "status", FlowStatus.ACTIVE, 2)
            return [f.id for f in got]

        assert take("one") == ["a", "b"]
        assert take("two") == ["a", "b"]
        assert take("one") == ["c", "a"]


class TestEach:
    def test_it_yields_each_due_row_once_in_insertion_order(self) -> None:
        """However small the first claim, the rows come as ``find`` gives them (those
        due), each once, and only as many are claimed as the caller takes."""
        for seed in range(100):
            rng = random.Random(seed)
            store = _store(rng)
            with store.transaction() as tx:
                u = Unit(tx, 5)
                found = [
                    f for f in u.find(s.FLOWS, "status", FlowStatus.ACTIVE) if f.next_run_at <= 5
                ]
                step = rng.randint(1, 4)
                each = claims.each(
                    u, s.FLOWS, "status", FlowStatus.ACTIVE, step, due=("next_run_at", 5)
                )
                assert list(each) == found, seed

    def test_rows_the_caller_changes_are_not_yielded_again(self) -> None:
        """A row changed while the caller walks (it no longer matches, so the next,
        larger claim starts elsewhere) is neither skipped over nor repeated."""
        w = in_memory()
        with w.store.transaction() as tx:
            for n in range(7):
                tx.insert(s.FLOWS, _flow(f"f{n}", FlowStatus.ACTIVE, 0))

        def walk(u: Unit) -> list[str]:
            seen = []
            for flow in claims.each(u, s.FLOWS, "status", FlowStatus.ACTIVE, 2):
                seen.append(flow.id)
                u.tx.update(s.FLOWS, attrs.evolve(flow, status=FlowStatus.DEAD, version=1))
            return seen

        assert w.service.engine.transact(walk) == [f"f{n}" for n in range(7)]
