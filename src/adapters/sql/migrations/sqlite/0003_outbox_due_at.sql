-- paycore schema, version 3: an outbox message is taken by the outbox job only once it is
-- due. A run moves the moment on while it sends the message (so a run of another instance
-- passes it over) and a failed send puts it off by the retry's backoff. Messages queued
-- before this version are due at once.

ALTER TABLE "outbox" ADD COLUMN "due_at" INTEGER NOT NULL DEFAULT 0;
