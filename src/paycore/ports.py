"""Ports: what paycore needs from the world, as small protocols.

Adapters implement these; fakes for tests implement the same protocols and
raise the same errors. No vendor type crosses a port.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar

import attrs

from paycore.money import Money
from paycore.records import OutboxMessage
from paycore.schema import Table

T = TypeVar("T")


# --- store ------------------------------------------------------------------


class Transaction(Protocol):
    """One atomic unit of work. Leaving the ``with`` block by an exception rolls back."""

    def get(self, table: Table[T], key: str) -> T | None: ...

    def insert(self, table: Table[T], record: T) -> None:
        """Add a row. A duplicate key or unique value raises IntegrityError: here, or
        (a store that sends its writes together) by the next ``find``/``find_since``/
        ``scan`` of the table or the end of the block at the latest; either way the
        transaction is rolled back whole."""

    def update(self, table: Table[T], record: T) -> None:
        """Replace a row; ``record.version`` must be the stored version plus one (else
        IntegrityError, raised as ``insert`` raises it)."""

    def find(self, table: Table[T], field: str, value: object) -> list[T]:
        """Rows whose indexed ``field`` equals ``value``, in insertion order."""

    def find_since(
        self,
        table: Table[T],
        field: str,
        value: object,
        time_field: str,
        since: int,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[T]:
        """Rows whose ``field`` equals ``value`` and whose ``time_field`` is at least
        ``since``, in insertion order; the pair must be one of ``table.ranges``. With
        ``after``, in key order from the first key greater than ``after`` (a job's
        cursor; ``""`` for the first); with ``limit``, at most that many (a positive
        count, else ValueError): a job reads its batch, not the whole window."""

    def claim(
        self,
        table: Table[T],
        field: str,
        value: object,
        limit: int,
        *,
        due: tuple[str, int] | None = None,
        after: str | None = None,
    ) -> list[T]:
        """Up to ``limit`` rows whose indexed ``field`` (or key) equals ``value``, that
        this transaction now holds until it ends: how a job takes its batch of work.

        A row another open transaction holds is skipped, never waited for, so several
        instances running one job at once take different rows. ``due`` is a (time
        field, moment) pair: only rows whose time field is at most the moment. Rows come
        in insertion order; with ``after``, in key order from the first key greater
        than ``after`` (a job's cursor).

        A store that runs one writing transaction at a time (memory, SQLite) holds every
        row already: there ``claim`` is ``find`` with those filters and a limit. A
        store that runs transactions at once (PostgreSQL) locks the rows it returns and
        skips the ones others locked (``FOR UPDATE SKIP LOCKED``); what holding a row
        keeps out is the store's isolation as ever, so a claimer may still be refused
        with :class:`paycore.errors.StoreConflict` and run again.

        Raises:
            ValueError: ``field`` is neither indexed nor the key, ``limit`` is below 1,
                or the ``due`` field is not one of the record's fields.
        """

    def scan(self, table: Table[T]) -> Iterator[T]:
        """Every row, in insertion order (for small tables and jobs)."""

    def next_seq(self, name: str) -> int:
        """The next value of a named sequence (gaps allowed, never reused)."""


class SnapshotView(Protocol):
    """What the invariants read: one consistent view of every table at one instant.

    :class:`Snapshot` holds every row in memory; a SQL store's streamed view
    (``PostgresStore.streamed`` / ``SQLiteStore.streamed``) reads the rows through a
    cursor in batches, inside one read transaction, and looks rows up by key in it.
    """

    def rows(self, table: Table[T]) -> Iterable[T]:
        """Every row of ``table``; iterate it as often as needed (each pass reads anew).
        A view whose rows come lazily (not as a list) gives the audit log in sequence
        order; a list may be in any order."""

    def get(self, table: Table[T], key: str) -> T | None:
        """The row of ``table`` with key ``key`` (none: no such row)."""


@attrs.frozen
class Snapshot:
    """A consistent, immutable view of every table at one instant, held in memory (a
    :class:`SnapshotView`)."""

    tables: Mapping[str, Mapping[str, Any]]

    def rows(self, table: Table[T]) -> list[T]:
        return list(self.tables.get(table.name, {}).values())

    def get(self, table: Table[T], key: str) -> T | None:
        return self.tables.get(table.name, {}).get(key)


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]:
        """Begin a unit of work; it commits when the block ends without error."""

    def snapshot(self) -> Snapshot: ...


# --- payment provider --------------------------------------------------------


@attrs.frozen(weakref_slot=False)
class IntentView:
    """A provider payment intent as paycore sees it (Stripe's statuses)."""

    id: str
    status: str
    amount: int
    currency: str
    amount_received: int
    created: int
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    client_secret: str | None = attrs.field(default=None, repr=False)
    last_error_code: str | None = None
    next_action_url: str | None = None
    #: Why it was canceled, when Stripe says: ``automatic`` when Stripe itself canceled it
    #: (stripe-python 16.1.0, ``stripe/_payment_intent.py``, ``cancellation_reason``).
    cancellation_reason: str | None = None
    #: The account the charge pays: a destination charge's connected account (Stripe's
    #: ``transfer_data.destination``, docs.stripe.com/connect/destination-charges), or
    #: ``""`` when the request named none. None when the view does not say: Stripe's
    #: object of a charge with no transfer (a shop without Connect, its own account's)
    #: names no account, and other builders may leave it out.
    account: str | None = None


#: A provider refund's statuses (Stripe: docs.stripe.com/api/refunds/object); the ones that
#: have not settled yet, and the ones that count against what its intent captured (a
#: failed or canceled refund gave the money back to the shop).
REFUND_UNSETTLED = frozenset({"pending", "requires_action"})
REFUND_LIVE = REFUND_UNSETTLED | {"succeeded"}


@attrs.frozen
class RefundView:
    id: str
    intent_id: str
    amount: int
    status: str
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    failure_reason: str | None = None
    #: Why a ``pending`` refund waits: ``charge_pending`` while the payment it refunds has
    #: not settled (a bank debit still processing), ``processing``, ``insufficient_funds``
    #: (docs.stripe.com/api/refunds/object, ``pending_reason``).
    pending_reason: str | None = None
    #: Whether the refund took its charge's transfer back from the seller's account:
    #: Stripe's ``transfer_reversal``, "the transfer reversal object if the accompanying
    #: transfer reverses. This is only applicable if the charge was created using the
    #: destination parameter" (stripe-python 16.1.0 ``stripe/_refund.py``;
    #: docs.stripe.com/api/refunds/object), an id or null. True: reversed. False: a
    #: destination charge's refund that reversed nothing (sent without
    #: ``reverse_transfer=true``, Stripe's default for a dashboard's refund): the
    #: platform's balance paid the customer and the seller kept the amount. None: not
    #: known (an adapter that does not read it), or no transfer to reverse (a shop
    #: without Connect charges its own account).
    transfer_reversed: bool | None = None


@attrs.frozen
class ListPage(Generic[T]):
    """One page of a provider list: ``data`` newest first, ``has_more`` when older
    objects follow its last one (Stripe's list object)."""

    data: tuple[T, ...]
    has_more: bool


@attrs.frozen
class DisputeView:
    """A provider dispute as listed (Stripe: docs.stripe.com/api/disputes/object): its id,
    when it was made (milliseconds, as ``IntentView.created``) and the object as sent,
    which paycore reads as it reads a dispute event's (:mod:`paycore.flows.disputes`)."""

    id: str
    created: int
    snapshot: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen
class CreateIntent:
    """A payment intent to make: a destination charge to the seller's account ``account``
    (Stripe's ``transfer_data[destination]``), settled as that account's when
    ``on_behalf_of`` (Stripe's ``on_behalf_of``, the same account). The charge and
    every object of it stay on the platform's account, where listing, search and
    webhooks see them (docs.stripe.com/connect/destination-charges)."""

    amount: Money
    account: str
    metadata: Mapping[str, str]
    description: str = ""
    #: Whether the intent may take payment methods that redirect the customer. Stripe then
    #: refuses a confirmation without ``return_url``; an adapter sends
    #: ``automatic_payment_methods[allow_redirects]=never`` when this is False
    #: (docs.stripe.com/api/payment_intents/confirm, ``return_url``).
    allow_redirects: bool = False
    #: Made on behalf of ``account`` (the settlement merchant), not only to it (see the
    #: class docstring and :func:`paycore.connect.charge_blocker`).
    on_behalf_of: bool = True


#: A capability's statuses on Stripe's account object (docs.stripe.com/api/accounts/object,
#: ``capabilities``): only ``active`` lets the account do what the capability covers
#: (docs.stripe.com/connect/account-capabilities).
CAPABILITY_STATUSES = frozenset({"active", "inactive", "pending"})


@attrs.frozen
class AccountView:
    """A seller's connected account as paycore sees it (Stripe's account object,
    docs.stripe.com/api/accounts/object): whether it may take charges, the status of
    its ``card_payments`` and ``transfers`` capabilities, and, when it is disabled,
    ``requirements.disabled_reason``. :func:`paycore.connect.charge_blocker` reads it."""

    id: str
    charges_enabled: bool
    card_payments: str
    transfers: str
    disabled_reason: str | None = None
    #: The API key's own account (a shop without Connect): its payments are charged on
    #: it directly, no transfer follows, so its ``transfers`` capability does not matter.
    own: bool = False


@attrs.frozen
class ProviderEvent:
    """A provider notification, after the adapter verified its signature."""

    id: str
    type: str
    created: int
    object_kind: str  # "payment_intent", "refund" or "dispute"
    object_id: str
    status: str | None = None
    #: The event's object as sent, for a ``dispute`` only (paycore reads a dispute from
    #: its event: :mod:`paycore.flows.disputes`); None for any other kind.
    snapshot: Mapping[str, Any] | None = attrs.field(default=None, hash=False)


class PaymentProvider(Protocol):
    """Every call either returns a view or raises a :class:`paycore.errors.ProviderError`.

    Mutating calls take an idempotency key: the same key with the same
    parameters returns the first result; different parameters is an error.
    A declined confirmation raises ``ProviderCardDeclined`` whose
    ``fields["intent"]`` is the intent after the decline. Stripe's error carries that
    intent with its client secret; an adapter drops the secret before the error crosses
    the port (``paycore_adapters.provider_port``).
    """

    def create_intent(self, req: CreateIntent, *, idempotency_key: str) -> IntentView: ...

    def confirm_intent(
        self,
        intent_id: str,
        *,
        payment_method: str | None,
        return_url: str | None,
        idempotency_key: str,
    ) -> IntentView: ...

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView: ...

    def capture_intent(self, intent_id: str, *, idempotency_key: str) -> IntentView: ...

    def retrieve_intent(self, intent_id: str) -> IntentView: ...

    def search_intents(self, *, metadata_key: str, value: str) -> list[IntentView]: ...

    def list_intents(
        self,
        *,
        created_gte_s: int,
        created_lt_s: int | None = None,
        limit: int = 10,
        starting_after: str | None = None,
    ) -> ListPage[IntentView]:
        """One page of the intents created in ``[created_gte_s, created_lt_s)``, in
        seconds since the epoch (Stripe's ``created[gte]``/``created[lt]``), newest first.

        ``starting_after`` is the id of the last intent of the previous page: the next
        page holds older intents, so a walk goes back in time and a new intent appears
        at the head of the list (Stripe: docs.stripe.com/api/pagination). ``limit`` is
        at most 100. Walk on while ``has_more``, whatever a page's length; an unknown
        cursor raises ``ProviderNotFound``. A walk that must not miss an intent made in
        the second its window starts or ends lets windows overlap by a second and
        de-duplicates by id (:mod:`paycore.listing`).
        """

    def create_refund(
        self,
        intent_id: str,
        *,
        amount: int,
        reason: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> RefundView:
        """Refund ``amount`` of the intent's charge. paycore's charges are destination
        charges (:class:`CreateIntent`), so the refund takes the seller's transfer back
        with it: an adapter over Stripe sends ``reverse_transfer=true``
        (docs.stripe.com/connect/destination-charges, "Issue refunds")."""

    def retrieve_refund(self, refund_id: str) -> RefundView: ...

    def list_refunds(
        self, intent_id: str, *, limit: int = 10, starting_after: str | None = None
    ) -> ListPage[RefundView]:
        """One page of the intent's refunds, newest first, paged as :meth:`list_intents`
        (Stripe: docs.stripe.com/api/refunds/list, 10 a page unless asked): read every
        page (:func:`paycore.listing.all_refunds`), or a refund is missed."""

    def list_disputes(
        self, *, created_gte_s: int, limit: int = 10, starting_after: str | None = None
    ) -> ListPage[DisputeView]:
        """One page of the disputes created since ``created_gte_s`` (seconds), newest first,
        paged as :meth:`list_intents` (Stripe: ``GET /v1/disputes``,
        docs.stripe.com/api/disputes/list, ``created[gte]``, 10 a page unless asked)."""

    def retrieve_account(self, account: str) -> AccountView:
        """The seller's connected account as it is now (Stripe's ``GET /v1/accounts/:id``,
        docs.stripe.com/api/accounts/retrieve); an unknown account raises
        ``ProviderNotFound``."""


# --- clock, alerts, notifications -------------------------------------------


class Clock(Protocol):
    def now(self) -> int:
        """Milliseconds since the Unix epoch."""


class Alerts(Protocol):
    def alert(self, kind: str, message: str, **fields: Any) -> None:
        """Tell an operator something needs a human (dead letters, orphans)."""


class Notifier(Protocol):
    def send(self, message: OutboxMessage) -> None:
        """Deliver one notification; ``message.id`` is its deduplication key (a message
        may be sent more than once: a retry, two instances' outbox rounds at once).

        Called in the thread of the request or job that queued it, after its commit:
        keep it bounded (a timeout of a few seconds, or hand the message to a queue and
        return). Raise only for what a retry can mend; a message refused for good is
        logged and dropped here, or the outbox retries it every round."""


class Tokens(Protocol):
    def token(self) -> str:
        """A new random token (letters and digits), never repeated in practice."""
