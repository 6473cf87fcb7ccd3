"""The errors the command line raises of its own, beside the stores' (``stores.py``).

Each is a :class:`~paycore.errors.PaycoreError` with a code, so every command that
cannot run prints one line, ``error: CODE: message``, and exits 2 (docs/operations.md).
Defining them registers their codes (:data:`paycore.errors.ERRORS_BY_CODE`);
``docs/errors.md`` lists them with the other adapters' errors.
"""

from __future__ import annotations

from paycore.errors import InvalidInput, PaycoreError


class UsageError(InvalidInput, code="usage_error"):
    """The command was not given what it needs (a store: ``--store URL`` or
    ``PAYCORE_STORE``). Nothing was read or changed."""


class StoreHasNoSchema(InvalidInput, code="store_has_no_schema"):
    """``paycore migrate`` was given a store with no schema to migrate (a JSON file):
    migrate names a SQLite file or a PostgreSQL database."""


class FileUnreadable(PaycoreError, code="file_unreadable"):
    """A file the command was given (``--fake-books``) cannot be read as one: missing,
    not readable, or not what it should hold."""


class PortUnavailable(PaycoreError, code="port_unavailable"):
    """The port the command was to listen on cannot be taken (in use, or not allowed)."""


class SystemRefused(PaycoreError, code="system_error"):
    """The operating system refused what the command asked (a file, a folder, a socket)
    where no error of its own says more: the message gives the system's words."""

    @classmethod
    def of(cls, exc: OSError) -> SystemRefused:
        return cls(f"the system refused: {exc}", errno=exc.errno)
