-- paycore schema, version 4: the refund sync asks about a succeeded refund again at set
-- ages after it was made (a bank may reverse it days later, and its webhook can be lost),
-- each time it is due: the refunds of one status due by a moment are found through the
-- (status, follow_up_at) index, not by reading every refund of a long window. Succeeded
-- refunds recorded before this version are due at once (each is asked about once more),
-- but for those made more than 30 days (the default last age) before the newest refund:
-- they are past every age, and asking about years of refunds in the first runs would
-- cost a provider read each.

ALTER TABLE "refunds" ADD COLUMN "follow_up_at" INTEGER NOT NULL DEFAULT 0;
UPDATE "refunds" SET "follow_up_at" = 9223372036854775807
 WHERE "status" = 'succeeded'
   AND "created_at" < (SELECT max("created_at") FROM "refunds") - 2592000000;

CREATE INDEX "refunds_status_follow_up_at_idx" ON "refunds" ("status", "follow_up_at");
