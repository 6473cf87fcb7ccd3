"""The outbox job takes a message only once it is due: a run that is sending it holds it
for ``lease_ms`` (another instance's run passes it over), a failed send puts it off by
the retry's backoff, and a run that died mid-send leaves it to a later run once its
hold lapsed."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
from tests.support import make_shop

from paycore import schema as s
from paycore.config import Config
from paycore.errors import OperationalError
from paycore.flows.checkout import CartItem
from paycore.records import OutboxMessage
from paycore_adapters.harness.faulty import FaultyStore
from paycore_adapters.memory import Wiring


class Notifier:
    """Records each call; ``before`` runs first on every call and may raise."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.before: Callable[[OutboxMessage], None] = lambda message: None

    def send(self, message: OutboxMessage) -> None:
        self.calls.append(message.id)
        self.before(message)


def shop(notifier: Notifier, **config: int) -> Wiring:
    w = make_shop(stock=20, config=Config(**config))
    w.service.notifier = notifier
    return w


def paid(w: Wiring, i: int) -> str:
    """Pay order ``i`` (its own notification is sent by the request); its message id."""
    res = w.service.create_payment_intent(f"cs_outbox_due_{i:04d}", [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    return f"{w.service.payment(res.payment_id).order_id}:order_paid"


def message(w: Wiring, msg_id: str) -> OutboxMessage:
    msg = w.store.snapshot().get(s.OUTBOX, msg_id)
    assert msg is not None
    return msg


def down(message: OutboxMessage) -> None:
    raise ConnectionError("notification API unreachable")


def test_a_failed_send_is_not_tried_again_before_its_backoff() -> None:
    notifier = Notifier()
    notifier.before = down
    w = shop(notifier, backoff_base_ms=1_000)
    msg_id = paid(w, 0)  # the request's own send fails
    failed = message(w, msg_id)
    assert (failed.sent, failed.attempts) == (False, 1)
    assert failed.due_at > w.clock.now()
    notifier.before = lambda m: None
    assert w.service.dispatch_notifications() == 0  # not due yet: the notifier is not called
    assert notifier.calls == [msg_id]
    w.clock.advance(failed.due_at - w.clock.now())
    assert w.service.dispatch_notifications() == 1
    assert notifier.calls == [msg_id, msg_id]
    assert message(w, msg_id).sent


def test_a_notifier_that_stays_down_is_called_less_and_less_often() -> None:
    """Ten minutes of outbox runs, one a second: the message is tried at 1, 2, 4, ...
    seconds' distance, not 600 times."""
    notifier = Notifier()
    notifier.before = down
    w = shop(notifier, backoff_base_ms=1_000, backoff_cap_ms=10 * 60_000)
    msg_id = paid(w, 0)
    for _ in range(600):
        w.clock.advance(1_000)
        w.service.dispatch_notifications()
    assert len(notifier.calls) == message(w, msg_id).attempts
    assert 8 <= len(notifier.calls) <= 11  # 1 + 2 + ... + 256 s < 600 s < ... + 512 s


def test_a_run_passes_over_what_another_run_is_sending() -> None:
    """While one run sends its batch, a second run (another instance's) starts: it finds
    nothing due and sends nothing; every message goes out once."""
    notifier = Notifier()
    notifier.before = down
    w = shop(notifier)
    ids = [paid(w, i) for i in range(3)]  # each request's own send fails
    w.clock.advance(w.service.config.backoff_cap_ms)
    nested: list[int] = []

    def second_run(message: OutboxMessage) -> None:
        if not nested:
            nested.append(w.service.dispatch_notifications())

    notifier.before = second_run
    calls_before = len(notifier.calls)
    assert w.service.dispatch_notifications() == 3
    assert nested == [0]
    assert sorted(notifier.calls[calls_before:]) == sorted(ids)
    assert all(message(w, i).sent for i in ids)


def test_a_run_that_died_mid_send_leaves_the_message_to_a_later_run() -> None:
    notifier = Notifier()
    notifier.before = down
    w = shop(notifier)
    msg_id = paid(w, 0)
    w.clock.advance(w.service.config.backoff_cap_ms)

    def crash(message: OutboxMessage) -> None:
        raise KeyboardInterrupt  # the process stops: nothing is recorded after the take

    notifier.before = crash
    with pytest.raises(KeyboardInterrupt):
        w.service.dispatch_notifications()
    held = message(w, msg_id)
    assert not held.sent
    assert held.due_at == w.clock.now() + w.service.config.lease_ms
    notifier.before = lambda m: None
    assert w.service.dispatch_notifications() == 0  # still held by the run that died
    w.clock.advance(w.service.config.lease_ms)
    assert w.service.dispatch_notifications() == 1
    assert message(w, msg_id).sent


def test_a_message_queued_before_due_times_existed_is_due_at_once() -> None:
    """Rows the migration filled with 0 are taken by the next run."""
    notifier = Notifier()
    notifier.before = down
    w = shop(notifier)
    msg_id = paid(w, 0)
    with w.store.transaction() as tx:
        old = message(w, msg_id)
        tx.update(s.OUTBOX, attrs.evolve(old, due_at=0, version=old.version + 1))
    notifier.before = lambda m: None
    assert w.service.dispatch_notifications() == 1


def test_a_round_slower_than_its_hold_leaves_the_rest_to_a_later_round() -> None:
    """Each send takes a minute: the round stops starting sends once half its hold
    (``lease_ms``) has passed and hands the rest back, due at once; the rounds after it
    send them. No message goes out twice; every one goes out."""
    notifier = Notifier()
    notifier.before = down
    w = shop(notifier)
    ids = [paid(w, i) for i in range(10)]  # each request's own send fails
    w.clock.advance(w.service.config.backoff_cap_ms)
    notifier.before = lambda message: w.clock.advance(60_000)
    calls_before = len(notifier.calls)
    first = w.service.dispatch_notifications()
    assert 0 < first < 10
    total, rounds = first, 1
    while total < 10 and rounds < 10:  # each round sends what half a hold allows
        total += w.service.dispatch_notifications()
        rounds += 1
    assert total == 10
    sends = notifier.calls[calls_before:]
    assert sorted(sends) == sorted(ids)  # each once
    assert all(message(w, i).sent for i in ids)


def test_what_a_round_left_unsent_goes_first_in_the_next_round() -> None:
    """A backlog larger than a batch, and a round that stops at half its hold: the
    messages it did not start are due again at once, and the next round starts with
    them (the cursor is back after the last one it sent), so the backlog goes out in
    the order it was queued and nothing waits for the cursor to come round again."""
    notifier = Notifier()
    notifier.before = down
    lease_ms = 10 * 60_000
    w = shop(notifier, job_batch=4, lease_ms=lease_ms)
    ids = [paid(w, i) for i in range(12)]  # each request's own send fails
    w.clock.advance(w.service.config.backoff_cap_ms)
    assert ids == sorted(ids)  # queued in key order
    notifier.before = lambda message: w.clock.advance(4 * 60_000)  # two fit in half a hold
    calls_before = len(notifier.calls)
    assert w.service.dispatch_notifications() == 2
    left = [i for i in ids if not message(w, i).sent]
    assert all(message(w, i).due_at <= w.clock.now() for i in left)  # no hold kept
    notifier.before = lambda message: None
    while any(not message(w, i).sent for i in ids):
        assert w.service.dispatch_notifications() > 0
    assert notifier.calls[calls_before:] == ids  # each once, in the order queued


class _FailACommit:
    """Store faults: the ``armed``-th writing commit from now fails, the rest go through."""

    def __init__(self) -> None:
        self.armed = 0

    def before_commit(self) -> None:
        if self.armed:
            self.armed -= 1
            if not self.armed:
                raise OperationalError("the store is unreachable")

    def after_commit(self) -> None:
        pass


def test_a_hand_back_the_store_refuses_leaves_the_rest_held_and_the_count_kept() -> None:
    """The hand-back is a courtesy: if its transaction fails, the round still reports
    what it sent, and what it did not start goes when its hold lapses, as before."""
    notifier = Notifier()
    notifier.before = down
    lease_ms = 10 * 60_000
    w = shop(notifier, job_batch=4, lease_ms=lease_ms)
    ids = [paid(w, i) for i in range(6)]
    w.clock.advance(w.service.config.backoff_cap_ms)
    faults = _FailACommit()
    assert isinstance(w.store, FaultyStore)
    w.store.faults = faults
    sent_marks: list[str] = []

    def slow(message: OutboxMessage) -> None:
        sent_marks.append(message.id)
        w.clock.advance(4 * 60_000)
        if len(sent_marks) == 2:
            faults.armed = 2  # this send's mark commits; the hand-back's commit fails

    notifier.before = slow
    assert w.service.dispatch_notifications() == 2  # the count survives the failure
    held = [i for i in ids[:4] if not message(w, i).sent]
    assert held and all(message(w, i).due_at > w.clock.now() for i in held)
    w.store.faults = None
    notifier.before = lambda message: None
    w.clock.advance(lease_ms)
    while any(not message(w, i).sent for i in ids):
        assert w.service.dispatch_notifications() > 0
