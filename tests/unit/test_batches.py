"""batches.take: a job's run goes on after its last batch and wraps around."""

from __future__ import annotations

from paycore import batches
from paycore import schema as s
from paycore.records import Cursor
from paycore_adapters.memory import in_memory


def runs(rows: list[str], limit: int, n: int, job: str = "job") -> list[list[str]]:
    eng = in_memory().service.engine
    out: list[list[str]] = []
    for _ in range(n):
        out.append(eng.transact(lambda u: batches.take(u, job, rows, key=str, limit=limit)))
    return out


class TestTake:
    def test_consecutive_runs_walk_the_rows_and_wrap_around(self) -> None:
        """Each run starts after the last row of the previous one, then starts over."""
        assert runs(["a", "b", "c", "d", "e"], 2, 4) == [
            ["a", "b"],
            ["c", "d"],
            ["e", "a"],
            ["b", "c"],
        ]

    def test_rows_are_taken_in_key_order_whatever_order_they_come_in(self) -> None:
        """The order of the input does not matter: the cursor is a key."""
        assert runs(["c", "a", "b"], 2, 2) == [["a", "b"], ["c", "a"]]

    def test_a_limit_larger_than_the_rows_takes_each_once(self) -> None:
        """No row is taken twice in one run."""
        assert runs(["a", "b"], 5, 2) == [["a", "b"], ["a", "b"]]

    def test_nothing_to_take_leaves_the_cursor_alone(self) -> None:
        """An empty run neither fails nor writes."""
        w = in_memory()
        assert w.service.engine.transact(lambda u: batches.take(u, "j", [], key=str, limit=3)) == []
        assert w.store.snapshot().get(s.CURSORS, "batch:j") is None

    def test_the_cursor_survives_rows_leaving_and_joining(self) -> None:
        """The cursor's row is gone: the run goes on with the next key after it."""
        w = in_memory()
        eng = w.service.engine
        first = eng.transact(lambda u: batches.take(u, "j", ["a", "b", "c"], key=str, limit=2))
        assert first == ["a", "b"]
        again = eng.transact(lambda u: batches.take(u, "j", ["a", "bb", "c"], key=str, limit=2))
        assert again == ["bb", "c"]
        assert w.store.snapshot().get(s.CURSORS, "batch:j") == Cursor("batch:j", "c", 1)

    def test_each_job_has_its_own_cursor(self) -> None:
        """Two jobs over the same rows do not move each other's place."""
        w = in_memory()
        eng = w.service.engine
        eng.transact(lambda u: batches.take(u, "one", ["a", "b", "c"], key=str, limit=2))
        two = eng.transact(lambda u: batches.take(u, "two", ["a", "b", "c"], key=str, limit=2))
        assert two == ["a", "b"]
