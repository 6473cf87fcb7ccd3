"""Fault injection from outside: wrappers around any store and any provider.

:class:`FaultyStore` and :class:`FaultyProvider` implement the ports by calling the
adapter they wrap, and ask a fault plan (:class:`~paycore_adapters.harness.faults.FaultPlan`
in the harness, anything with the same methods in a test) whether to fail:

- a store commit that fails before it applies (``OperationalError``: nothing is
  kept), or one that applies and whose answer is lost (``CommitUnknown``: everything
  is kept). Only a transaction that wrote asks: a read-only one has nothing to lose;
- a provider call that fails before it reaches the provider (nothing happened), or
  one whose answer, value or error, is lost after the provider acted (the wrapped
  provider saved the outcome under the idempotency key, so a retry replays it).

What is not part of the port (the fake's far-side helpers, a store's counters)
reaches the wrapped adapter unchanged, reads and writes alike, so a wrapper can
stand wherever the adapter stood.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from paycore.errors import IntegrityError, ProviderError
from paycore.ports import (
    AccountView,
    CreateIntent,
    DisputeView,
    IntentView,
    ListPage,
    PaymentProvider,
    RefundView,
    Snapshot,
    Store,
    Transaction,
)
from paycore.schema import Table

from ..provider_port import secret_in

T = TypeVar("T")
R = TypeVar("R")
#: Called with (call, phase, idempotency key) before ("before") and after ("after")
#: each provider call; it fails the call by raising.
ProviderHook = Callable[[str, str, str | None], None]


class StoreFaults(Protocol):
    """What a :class:`FaultyStore` asks at each commit of a transaction that wrote."""

    def before_commit(self) -> None:
        """Called before the commit applies; may raise ``OperationalError`` (nothing committed)."""

    def after_commit(self) -> None:
        """Called after the commit applied; may raise ``CommitUnknown`` (everything committed)."""


class ProviderFaults(Protocol):
    """What a :class:`FaultyProvider` built with a plan asks around each call."""

    def provider_hook(self, call: str, phase: str, key: str | None) -> None:
        """``phase`` is ``"before"`` (raise: nothing happened) or ``"after"`` (raise: the
        call took effect and its answer is lost)."""

    # A plan may also offer ``provider_refused(call, code)``: told of every error the
    # wrapped provider itself gave (the harness counts the 409 and 429 of requests in
    # flight); a plan without it is not told.


class _Transparent:
    """Forwards what the wrapper does not define to the wrapped adapter."""

    inner: Any
    _OWN: frozenset[str] = frozenset()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in self._OWN:
            raise AttributeError(name)  # not set yet (a copy being built): never recurse
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._OWN or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)


# --- store ----------------------------------------------------------------------------


class _Tracked:
    """A transaction that notes whether it wrote and whether an integrity error poisoned it.

    Its reads are the wrapped transaction's own bound methods (set per transaction): a
    read needs no note, and every step of the harness makes a dozen of them, so they
    take no frame of this wrapper's. Writes note what they did."""

    __slots__ = ("claim", "failed", "find", "find_since", "get", "scan", "tx", "wrote")

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.wrote = False
        self.failed = False
        self.get: Callable[[Table[Any], str], Any] = tx.get
        self.find: Callable[[Table[Any], str, object], list[Any]] = tx.find
        self.find_since: Callable[..., list[Any]] = tx.find_since
        self.claim: Callable[..., list[Any]] = tx.claim
        self.scan: Callable[[Table[Any]], Iterator[Any]] = tx.scan

    def insert(self, table: Table[T], record: T) -> None:
        self._write(self.tx.insert, table, record)

    def update(self, table: Table[T], record: T) -> None:
        self._write(self.tx.update, table, record)

    def _write(self, write: Callable[[Table[T], T], None], table: Table[T], record: T) -> None:
        try:
            write(table, record)
        except IntegrityError:
            self.failed = True
            raise
        self.wrote = True

    def next_seq(self, name: str) -> int:
        value = self.tx.next_seq(name)
        self.wrote = True
        return value


class _Scope:
    """The ``with`` block of one transaction through a :class:`FaultyStore`."""

    __slots__ = ("faults", "scope", "tx")

    def __init__(self, store: Store, faults: StoreFaults | None) -> None:
        self.scope = store.transaction()
        self.faults = faults

    def __enter__(self) -> _Tracked:
        self.tx = _Tracked(self.scope.__enter__())
        return self.tx

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        faults, tx = self.faults, self.tx
        if exc_type is not None or faults is None or not tx.wrote or tx.failed:
            return self.scope.__exit__(exc_type, exc, tb)
        try:
            faults.before_commit()
        except BaseException as err:
            self.scope.__exit__(type(err), err, err.__traceback__)  # rolls back
            raise
        done = self.scope.__exit__(None, None, None)
        faults.after_commit()
        return done


class FaultyStore(_Transparent):
    """A :class:`paycore.ports.Store` that fails commits of ``store`` as ``faults`` says.

    ``faults`` may be changed or set to None (no faults) at any time; each transaction
    reads it once, when it opens. A commit fault armed (or faults switched back on) while
    a transaction is open waits for the next transaction that opens: when this one
    opened quiet, it is the wrapped store's own and nothing can fail its commit.

    Example:
        >>> from paycore_adapters.memory_store import MemoryStore
        >>> FaultyStore(MemoryStore()).inner.stats["commits"]
        0
    """

    _OWN = frozenset({"inner", "faults"})
    inner: Store

    def __init__(self, store: Store, faults: StoreFaults | None = None) -> None:
        self.inner = store
        self.faults = faults

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A transaction of ``store``, through the fault bookkeeping only when a commit
        may fail: a plan that says its commits are quiet (``quiet_commits``: nothing
        armed, between transactions) asks nothing of this one, and the wrapped store's
        own transaction is all there is to it."""
        faults = self.faults
        quiet = getattr(faults, "quiet_commits", None)
        if faults is None or (quiet is not None and quiet()):
            return self.inner.transaction()
        return _Scope(self.inner, faults)

    def snapshot(self) -> Snapshot:
        return self.inner.snapshot()


# --- provider ---------------------------------------------------------------------------


class FaultyProvider(_Transparent):
    """A :class:`paycore.ports.PaymentProvider` whose calls to ``provider`` fail as
    ``plan`` says (through its ``provider_hook``).

    ``fault`` is the hook itself and may be replaced or set to None (no faults) at
    any time; ``calls`` counts every call made through the wrapper, failed ones too.
    A read's answer is lost only when it is a value.
    """

    _OWN = frozenset(
        {"inner", "fault", "refused", "calls", "_lock", "page_cap", "refund_page_cap", "on_secret"}
    )
    inner: PaymentProvider

    def __init__(
        self,
        provider: PaymentProvider,
        plan: ProviderFaults | None = None,
        *,
        page_cap: int | None = None,
        refund_page_cap: int | None = None,
        on_secret: Callable[[str, str], None] | None = None,
    ) -> None:
        self.inner = provider
        #: told (call, field) when an error crossing the port holds a client secret
        self.on_secret = on_secret
        #: the largest page a list call asks for, whatever its caller asked (None: as asked)
        self.page_cap = page_cap
        #: the same for lists of refunds (None: ``page_cap``)
        self.refund_page_cap = refund_page_cap
        self.fault: ProviderHook | None = plan.provider_hook if plan is not None else None
        #: told of every error the wrapped provider itself gave (call, its code), if set
        self.refused: Callable[[str, str], None] | None = getattr(plan, "provider_refused", None)
        self.calls: Counter[str] = Counter()
        self._lock = threading.RLock()

    def _page(self, limit: int, cap: int | None = None) -> int:
        """The page size asked of the wrapped provider: at most ``cap`` (``page_cap`` if
        None), so that walks over several pages happen with few objects (a page shorter
        than asked for is allowed: only ``has_more`` ends a walk)."""
        cap = self.page_cap if cap is None else cap
        return limit if cap is None or limit < 1 else min(limit, cap)

    def _hook(self, call: str, phase: str, key: str | None) -> None:
        hook = self.fault
        if hook is not None:
            with self._lock:  # a plan is not thread-safe; the calls it guards may be
                hook(call, phase, key)

    def _write(self, call: str, key: str, run: Callable[[], R]) -> R:
        self.calls[call] += 1
        self._hook(call, "before", key)
        try:
            result = run()
        except ProviderError as err:
            if self.refused is not None:
                self.refused(call, err.code)
            field = secret_in(err)
            if field is not None and self.on_secret is not None:
                self.on_secret(call, field)
            self._hook(call, "after", key)  # the saved error's answer is lost too
            raise
        self._hook(call, "after", key)
        return result

    def _read(self, call: str, run: Callable[[], R]) -> R:
        self.calls[call] += 1
        self._hook(call, "before", None)
        result = run()
        self._hook(call, "after", None)
        return result

    def create_intent(self, req: CreateIntent, *, idempotency_key: str) -> IntentView:
        return self._write(
            "create_intent",
            idempotency_key,
            lambda: self.inner.create_intent(req, idempotency_key=idempotency_key),
        )

    def confirm_intent(
        self,
        intent_id: str,
        *,
        payment_method: str | None,
        return_url: str | None,
        idempotency_key: str,
    ) -> IntentView:
        return self._write(
            "confirm_intent",
            idempotency_key,
            lambda: self.inner.confirm_intent(
                intent_id,
                payment_method=payment_method,
                return_url=return_url,
                idempotency_key=idempotency_key,
            ),
        )

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView:
        return self._write(
            "cancel_intent",
            idempotency_key,
            lambda: self.inner.cancel_intent(intent_id, idempotency_key=idempotency_key),
        )

    def capture_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView:
        return self._write(
            "capture_intent",
            idempotency_key,
            lambda: self.inner.capture_intent(intent_id, idempotency_key=idempotency_key),
        )

    def retrieve_intent(self, intent_id: str) -> IntentView:
        return self._read("retrieve_intent", lambda: self.inner.retrieve_intent(intent_id))

    def search_intents(self, *, metadata_key: str, value: str) -> list[IntentView]:
        return self._read(
            "search_intents",
            lambda: self.inner.search_intents(metadata_key=metadata_key, value=value),
        )

    def list_intents(
        self,
        *,
        created_gte_s: int,
        created_lt_s: int | None = None,
        limit: int = 10,
        starting_after: str | None = None,
    ) -> ListPage[IntentView]:
        return self._read(
            "list_intents",
            lambda: self.inner.list_intents(
                created_gte_s=created_gte_s,
                created_lt_s=created_lt_s,
                limit=self._page(limit),
                starting_after=starting_after,
            ),
        )

    def create_refund(
        self,
        intent_id: str,
        *,
        amount: int,
        reason: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> RefundView:
        return self._write(
            "create_refund",
            idempotency_key,
            lambda: self.inner.create_refund(
                intent_id,
                amount=amount,
                reason=reason,
                metadata=metadata,
                idempotency_key=idempotency_key,
            ),
        )

    def retrieve_refund(self, refund_id: str) -> RefundView:
        return self._read("retrieve_refund", lambda: self.inner.retrieve_refund(refund_id))

    def list_refunds(
        self, intent_id: str, *, limit: int = 10, starting_after: str | None = None
    ) -> ListPage[RefundView]:
        return self._read(
            "list_refunds",
            lambda: self.inner.list_refunds(
                intent_id,
                limit=self._page(limit, self.refund_page_cap),
                starting_after=starting_after,
            ),
        )

    def list_disputes(
        self, *, created_gte_s: int, limit: int = 10, starting_after: str | None = None
    ) -> ListPage[DisputeView]:
        return self._read(
            "list_disputes",
            lambda: self.inner.list_disputes(
                created_gte_s=created_gte_s, limit=self._page(limit), starting_after=starting_after
            ),
        )

    def retrieve_account(self, account: str) -> AccountView:
        return self._read("retrieve_account", lambda: self.inner.retrieve_account(account))
