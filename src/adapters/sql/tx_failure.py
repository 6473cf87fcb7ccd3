"""How a store error fails a SQL transaction for good (:mod:`.transaction`).

The port promises that a transaction a store error ended rolled back whole. A caller
may catch the error inside the ``with`` block and go on; the transaction must not: on
SQLite the writes sent before the error would be committed at the block's end, on
PostgreSQL the server has aborted the transaction and answers its ``COMMIT`` with
``ROLLBACK``. So whatever escapes a call that reaches the driver (:func:`fails_it`) is
kept as the transaction's failure: every later call raises it again
(:func:`rolled_back`), and the block's end rolls back and raises it, as it does for an
integrity error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from paycore.errors import IntegrityError, OperationalError, StoreError

F = TypeVar("F", bound=Callable[..., Any])


class _Failing(Protocol):
    failed: StoreError | None


def rolled_back(err: StoreError) -> StoreError:
    """What a later call in the transaction ``err`` failed raises, and the block's end
    if the caller caught ``err``: an error of the same kind, which says so (a conflict
    stays a conflict, to run again; a value the store cannot hold stays DataError)."""
    if isinstance(err, IntegrityError):
        return err.rolled_back()
    return type(err)(f"transaction rolled back: {err.message}", **err.fields)


def failure(exc: BaseException) -> StoreError:
    """The port's error a transaction keeps for ``exc``, which escaped one of its driver
    calls: ``exc`` if it is one, else an OperationalError naming it (a driver error the
    store did not translate, an interrupt in the middle of an exchange)."""
    if isinstance(exc, StoreError):
        return exc
    return OperationalError(f"the transaction failed: {exc!r}")


def fails_it(method: F, passes: tuple[type[BaseException], ...] = ()) -> F:
    """``method`` of a transaction, such that whatever escapes it (but ``passes``: an
    error its caller turns into the transaction's failure itself) fails the
    transaction, keeping the first failure."""

    @functools.wraps(method)
    def call(self: _Failing, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except passes:
            raise
        except BaseException as exc:
            if self.failed is None:
                self.failed = failure(exc)
            raise

    return call  # type: ignore[return-value]
