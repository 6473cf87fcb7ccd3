-- paycore schema, version 1: every table of paycore.schema, as the records declare it.
-- Written from paycore_adapters.sql.ddl; later versions are new files, never edits of this one.

CREATE TABLE "paycore_sequences" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "value" INTEGER NOT NULL
);

CREATE TABLE "sellers" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "provider_account" TEXT NOT NULL,
    "charges_enabled" INTEGER NOT NULL,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("id")
);

CREATE TABLE "products" (
    "id" TEXT NOT NULL,
    "seller_id" TEXT NOT NULL,
    "sku" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "price" INTEGER NOT NULL,
    "price_currency" TEXT NOT NULL,
    "deleted" INTEGER NOT NULL,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("id")
);

CREATE INDEX "products_seller_id_idx" ON "products" ("seller_id");

CREATE TABLE "stock" (
    "seller_id" TEXT NOT NULL,
    "sku" TEXT NOT NULL,
    "on_hand" INTEGER NOT NULL,
    "held" INTEGER NOT NULL,
    "committed" INTEGER NOT NULL,
    "version" INTEGER NOT NULL,
    "key" TEXT NOT NULL,
    PRIMARY KEY ("key")
);

CREATE TABLE "stock_movements" (
    "seq" INTEGER NOT NULL,
    "seller_id" TEXT NOT NULL,
    "sku" TEXT NOT NULL,
    "delta" INTEGER NOT NULL,
    "reason" TEXT NOT NULL,
    "at" INTEGER NOT NULL,
    "stock_key" TEXT NOT NULL,
    PRIMARY KEY ("seq")
);

CREATE INDEX "stock_movements_stock_key_idx" ON "stock_movements" ("stock_key");

CREATE TABLE "orders" (
    "id" TEXT NOT NULL,
    "checkout_session_id" TEXT NOT NULL,
    "seller_id" TEXT NOT NULL,
    "lines" TEXT NOT NULL,
    "total" INTEGER NOT NULL,
    "total_currency" TEXT NOT NULL,
    "cart_fingerprint" TEXT NOT NULL,
    "payment_id" TEXT NOT NULL,
    "created_at" INTEGER NOT NULL,
    "expires_at" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("id"),
    CONSTRAINT "orders_checkout_session_id_key" UNIQUE ("checkout_session_id")
);

CREATE INDEX "orders_status_idx" ON "orders" ("status");

CREATE TABLE "reservations" (
    "id" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,
    "sku" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "expires_at" INTEGER NOT NULL,
    "line" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "seller_id" TEXT NOT NULL,
    PRIMARY KEY ("id")
);

CREATE INDEX "reservations_order_id_idx" ON "reservations" ("order_id");

CREATE TABLE "payments" (
    "id" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,
    "checkout_session_id" TEXT NOT NULL,
    "seller_account" TEXT NOT NULL,
    "amount" INTEGER NOT NULL,
    "amount_currency" TEXT NOT NULL,
    "created_at" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "provider_intent_id" TEXT,
    "provider_status" TEXT,
    "client_secret" TEXT,
    "amount_received" INTEGER NOT NULL,
    "amount_refunded" INTEGER NOT NULL,
    "lock_owner" TEXT,
    "confirm_attempts" INTEGER NOT NULL,
    "last_error" TEXT,
    "version" INTEGER NOT NULL,
    "reference" TEXT,
    PRIMARY KEY ("id"),
    CONSTRAINT "payments_provider_intent_id_key" UNIQUE ("provider_intent_id"),
    CONSTRAINT "payments_order_id_key" UNIQUE ("order_id")
);

CREATE INDEX "payments_status_idx" ON "payments" ("status");

CREATE TABLE "refunds" (
    "id" TEXT NOT NULL,
    "payment_id" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,
    "amount" INTEGER NOT NULL,
    "amount_currency" TEXT NOT NULL,
    "reason" TEXT,
    "idempotency_key" TEXT NOT NULL,
    "created_at" INTEGER NOT NULL,
    "automatic" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "provider_refund_id" TEXT,
    "requested_amount" INTEGER,
    "external" INTEGER NOT NULL,
    "version" INTEGER NOT NULL,
    "restock" INTEGER NOT NULL,
    "reference" TEXT,
    PRIMARY KEY ("id"),
    CONSTRAINT "refunds_payment_id_idempotency_key_key" UNIQUE ("payment_id", "idempotency_key"),
    CONSTRAINT "refunds_provider_refund_id_key" UNIQUE ("provider_refund_id")
);

CREATE INDEX "refunds_payment_id_idx" ON "refunds" ("payment_id");

CREATE INDEX "refunds_status_idx" ON "refunds" ("status");

CREATE TABLE "flows" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "step" TEXT NOT NULL,
    "created_at" INTEGER NOT NULL,
    "params" TEXT NOT NULL,
    "data" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "next_run_at" INTEGER NOT NULL,
    "lease_owner" TEXT,
    "lease_until" INTEGER NOT NULL,
    "last_error" TEXT,
    "result" TEXT,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("id")
);

CREATE INDEX "flows_status_idx" ON "flows" ("status");

CREATE TABLE "audit" (
    "seq" INTEGER NOT NULL,
    "at" INTEGER NOT NULL,
    "aggregate" TEXT NOT NULL,
    "aggregate_id" TEXT NOT NULL,
    "from_status" TEXT,
    "to_status" TEXT NOT NULL,
    "trigger" TEXT NOT NULL,
    "flow_id" TEXT,
    PRIMARY KEY ("seq")
);

CREATE INDEX "audit_aggregate_id_idx" ON "audit" ("aggregate_id");

CREATE TABLE "outbox" (
    "id" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "created_at" INTEGER NOT NULL,
    "payload" TEXT NOT NULL,
    "sent" INTEGER NOT NULL,
    "attempts" INTEGER NOT NULL,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("id")
);

CREATE INDEX "outbox_sent_idx" ON "outbox" ("sent");

CREATE TABLE "inbox" (
    "event_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "object_id" TEXT NOT NULL,
    "received_at" INTEGER NOT NULL,
    "flow_id" TEXT NOT NULL,
    PRIMARY KEY ("event_id")
);

CREATE TABLE "orphans" (
    "provider_intent_id" TEXT NOT NULL,
    "found_at" INTEGER NOT NULL,
    "provider_status" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "amount" INTEGER NOT NULL,
    "checkout_session_id" TEXT,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("provider_intent_id")
);

CREATE INDEX "orphans_action_idx" ON "orphans" ("action");

CREATE TABLE "cursors" (
    "name" TEXT NOT NULL,
    "value" TEXT,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("name")
);

CREATE TABLE "alerts" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "raised_at" INTEGER NOT NULL,
    "fields" TEXT NOT NULL,
    "open" INTEGER NOT NULL,
    "count" INTEGER NOT NULL,
    "resolved_at" INTEGER,
    "resolution" TEXT,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("id")
);

CREATE INDEX "alerts_open_idx" ON "alerts" ("open");

CREATE INDEX "alerts_kind_idx" ON "alerts" ("kind");

CREATE TABLE "job_health" (
    "name" TEXT NOT NULL,
    "failures" INTEGER NOT NULL,
    "last_error" TEXT,
    "last_failed_at" INTEGER,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("name")
);

CREATE TABLE "installation" (
    "key" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "created_at" INTEGER NOT NULL,
    "version" INTEGER NOT NULL,
    PRIMARY KEY ("key")
);
