-- paycore schema, version 5: an outbox message is taken by the outbox job only once it is
-- due. A run moves the moment on while it sends the message (so a run of another instance
-- passes it over) and a failed send puts it off by the retry's backoff. Messages queued
-- before this version are due at once; the store always writes the column, so the
-- default that fills the existing rows is dropped again.

ALTER TABLE "outbox" ADD COLUMN "due_at" bigint NOT NULL DEFAULT 0;
ALTER TABLE "outbox" ALTER COLUMN "due_at" DROP DEFAULT;
