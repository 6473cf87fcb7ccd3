"""Sending queued notifications: a request's own messages, and the backlog.

A request sends only the messages its own transactions queued (:func:`send_own`),
once they committed, and never fails because the notifier does: a message it
could not send stays in the outbox. Everything else, what failed before and what
nobody took, belongs to the outbox job (:func:`dispatch_backlog`), which walks the
backlog a batch per run and goes on where the last run stopped.

A message is taken only once it is due (``OutboxMessage.due_at``): the run that takes
it moves that on by ``Config.lease_ms`` in the transaction that claims it, so a run of
another instance meanwhile passes it over instead of sending it too (the run starts no
send once half of that hold has passed, and hands what it did not start back to the
next run, first in line); a failed send puts it off by the retry's backoff
(``backoff_base_ms`` doubled per attempt, at most ``backoff_cap_ms``), so a notifier
that is down is not called for every message on every run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from functools import partial

from paycore import claims
from paycore import schema as s
from paycore.errors import PaycoreError
from paycore.flows.engine import Engine
from paycore.ports import Notifier
from paycore.records import OutboxMessage
from paycore.unit import Unit

#: The outbox job's name for its cursor (:mod:`paycore.claims`).
_JOB = "outbox"


def send_own(engine: Engine, notifier: Notifier, messages: Iterable[OutboxMessage]) -> int:
    """Send the given messages, as the caller's transactions committed them, each once
    here, and mark them sent. Returns how many went out.

    They are not read again first: delivery is at least once anyway (a crash between
    the send and its mark sends again), so the notifier deduplicates by message id, and
    a message the outbox job sent meanwhile is marked only once.
    A failure of the notifier, or of the store while recording the attempt, is never
    raised: the operation that queued the message has committed, and the outbox job
    sends what is left.
    """
    sent = 0
    for msg in messages:
        try:
            sent += int(_send(engine, notifier, msg))
        except PaycoreError:
            continue  # the store failed around the send: the job retries it
    return sent


def dispatch_backlog(engine: Engine, notifier: Notifier) -> int:
    """Send up to ``job_batch`` due unsent messages, going on after the last run's batch.

    Messages the notifier keeps refusing are retried after their backoff, without
    blocking the ones behind them. The batch is held for ``lease_ms`` from its take: no
    send starts once half of that has passed (``Notifier.send`` is bounded, and the other
    half is for the send under way); the messages not started are then handed back, due
    at once and first in line for the next run of any instance. Returns how many were
    sent.
    """
    lease_ms = engine.config.lease_ms
    start, batch = engine.transact(partial(_take, limit=engine.config.job_batch, lease_ms=lease_ms))
    engine.take_queued()  # what this thread queued is the backlog's now
    sent = 0
    for i, msg in enumerate(batch):
        if engine.clock.now() >= msg.due_at - lease_ms // 2:
            resume = batch[i - 1].id if i else start
            # If the store fails it, the rest wait for their hold to lapse, as before.
            with contextlib.suppress(PaycoreError):
                engine.transact(partial(_hand_back, left=batch[i:], resume_after=resume))
            break
        sent += _send(engine, notifier, msg)
    return sent


def _take(u: Unit, *, limit: int, lease_ms: int) -> tuple[str, list[OutboxMessage]]:
    """Where the job's cursor stood, and the due unsent messages of this run, each put
    off by ``lease_ms`` while it sends them: another instance's run passes them over
    until then."""
    start = claims.cursor_of(u, _JOB)
    taken = claims.take(u, _JOB, s.OUTBOX, "sent", False, limit, due=("due_at", u.now))
    return start, [u.save(s.OUTBOX, msg, due_at=u.now + lease_ms) for msg in taken]


def _hand_back(u: Unit, *, left: list[OutboxMessage], resume_after: str) -> None:
    """Release the hold on the messages a run took and did not start (those still as it
    left them), and put the cursor back after the last one it did."""
    for msg in left:
        now = u.get(s.OUTBOX, msg.id)
        if now is not None and not now.sent and now.due_at == msg.due_at:
            u.save(s.OUTBOX, now, due_at=u.now)
    claims.put_back(u, _JOB, moved_to=left[-1].id, back_to=resume_after)


def _send(engine: Engine, notifier: Notifier, msg: OutboxMessage) -> bool:
    try:
        notifier.send(msg)
    except Exception as exc:  # any notifier failure: counted, alerted when it persists
        engine.transact(
            partial(
                _bump,
                msg_id=msg.id,
                error=type(exc).__name__,
                max_attempts=engine.config.max_attempts,
                backoff=engine.backoff,
            )
        )
        return False
    engine.transact(partial(_mark_sent, msg_id=msg.id))
    return True


def _mark_sent(u: Unit, *, msg_id: str) -> None:
    msg = u.get(s.OUTBOX, msg_id)
    if msg is not None and not msg.sent:
        u.save(s.OUTBOX, msg, sent=True, attempts=msg.attempts + 1)


def _bump(
    u: Unit, *, msg_id: str, error: str, max_attempts: int, backoff: Callable[[str, int], int]
) -> None:
    msg = u.get(s.OUTBOX, msg_id)
    if msg is None or msg.sent:
        return
    attempts = msg.attempts + 1
    msg = u.save(s.OUTBOX, msg, attempts=attempts, due_at=u.now + backoff(msg.id, attempts))
    if msg.attempts >= max_attempts:
        u.alert(
            "notification_failing",
            msg.id,
            f"notification {msg.id} failed {msg.attempts} times: {error}",
            message_id=msg.id,
        )
