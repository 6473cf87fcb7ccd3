-- paycore schema, version 2: payments and refunds of one status are found from a moment
-- on (Transaction.find_since), so the jobs that look at recent successes read only them.
-- The (status, created_at) index serves lookups by status alone too: it replaces it.

DROP INDEX "payments_status_idx";

CREATE INDEX "payments_status_created_at_idx" ON "payments" ("status", "created_at");

DROP INDEX "refunds_status_idx";

CREATE INDEX "refunds_status_created_at_idx" ON "refunds" ("status", "created_at");
