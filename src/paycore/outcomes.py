"""What ``handle_webhook`` tells the endpoint about one verified event.

Every outcome is an acknowledgement: the endpoint answers 2xx and the provider
stops redelivering. A verified event paycore cannot use (a kind it does not
handle, no object id, an object the provider does not know, an object that is
not this store's) is *ignored* with its reason, never retried as if the
provider were down: a retry could not change the answer.
"""

from __future__ import annotations

import enum


class WebhookOutcome(enum.StrEnum):
    #: The event was taken and the provider's current state of its object recorded.
    PROCESSED = "processed"
    #: The event id was already taken: nothing was done again.
    DUPLICATE = "duplicate"
    #: The event is about an object kind paycore does not handle (charges, customers).
    UNSUPPORTED_OBJECT_KIND = "ignored:unsupported_object_kind"
    #: The event names no object, so there is nothing to look up.
    MISSING_OBJECT_ID = "ignored:missing_object_id"
    #: The provider definitely does not know the event's object.
    NOT_FOUND = "ignored:not_found"
    #: The object exists but belongs to no payment or refund of this store.
    NOT_OURS = "ignored:not_ours"
    #: A dispute event whose object paycore cannot read (no payment intent, amount,
    #: currency, reason or status of the expected type).
    UNUSABLE_DISPUTE = "ignored:unusable_dispute"

    @property
    def ignored(self) -> bool:
        """True when the event was acknowledged without changing anything."""
        return self.value.startswith("ignored:")
