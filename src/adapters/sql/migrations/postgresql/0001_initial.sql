-- paycore schema, version 1: every table of paycore.schema, as the records declare it.
-- Written from paycore_adapters.sql.ddl; later versions are new files, never edits of this one.

CREATE TABLE "paycore_sequences" (
    "name" text NOT NULL PRIMARY KEY,
    "value" bigint NOT NULL
);

CREATE TABLE "sellers" (
    "id" text NOT NULL,
    "name" text NOT NULL,
    "provider_account" text NOT NULL,
    "charges_enabled" boolean NOT NULL,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("id")
);

CREATE INDEX "sellers_pos_idx" ON "sellers" ("pos");

CREATE TABLE "products" (
    "id" text NOT NULL,
    "seller_id" text NOT NULL,
    "sku" text NOT NULL,
    "name" text NOT NULL,
    "price" bigint NOT NULL,
    "price_currency" text NOT NULL,
    "deleted" boolean NOT NULL,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("id")
);

CREATE INDEX "products_seller_id_idx" ON "products" ("seller_id");

CREATE INDEX "products_pos_idx" ON "products" ("pos");

CREATE TABLE "stock" (
    "seller_id" text NOT NULL,
    "sku" text NOT NULL,
    "on_hand" bigint NOT NULL,
    "held" bigint NOT NULL,
    "committed" bigint NOT NULL,
    "version" bigint NOT NULL,
    "key" text NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("key")
);

CREATE INDEX "stock_pos_idx" ON "stock" ("pos");

CREATE TABLE "stock_movements" (
    "seq" bigint NOT NULL,
    "seller_id" text NOT NULL,
    "sku" text NOT NULL,
    "delta" bigint NOT NULL,
    "reason" text NOT NULL,
    "at" bigint NOT NULL,
    "stock_key" text NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("seq")
);

CREATE INDEX "stock_movements_stock_key_idx" ON "stock_movements" ("stock_key");

CREATE INDEX "stock_movements_pos_idx" ON "stock_movements" ("pos");

CREATE TABLE "orders" (
    "id" text NOT NULL,
    "checkout_session_id" text NOT NULL,
    "seller_id" text NOT NULL,
    "lines" jsonb NOT NULL,
    "total" bigint NOT NULL,
    "total_currency" text NOT NULL,
    "cart_fingerprint" text NOT NULL,
    "payment_id" text NOT NULL,
    "created_at" bigint NOT NULL,
    "expires_at" bigint NOT NULL,
    "status" text NOT NULL,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("id"),
    CONSTRAINT "orders_checkout_session_id_key" UNIQUE ("checkout_session_id")
);

CREATE INDEX "orders_status_idx" ON "orders" ("status");

CREATE INDEX "orders_pos_idx" ON "orders" ("pos");

CREATE TABLE "reservations" (
    "id" text NOT NULL,
    "order_id" text NOT NULL,
    "sku" text NOT NULL,
    "quantity" bigint NOT NULL,
    "expires_at" bigint NOT NULL,
    "line" bigint NOT NULL,
    "status" text NOT NULL,
    "version" bigint NOT NULL,
    "seller_id" text NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("id")
);

CREATE INDEX "reservations_order_id_idx" ON "reservations" ("order_id");

CREATE INDEX "reservations_pos_idx" ON "reservations" ("pos");

CREATE TABLE "payments" (
    "id" text NOT NULL,
    "order_id" text NOT NULL,
    "checkout_session_id" text NOT NULL,
    "seller_account" text NOT NULL,
    "amount" bigint NOT NULL,
    "amount_currency" text NOT NULL,
    "created_at" bigint NOT NULL,
    "status" text NOT NULL,
    "provider_intent_id" text,
    "provider_status" text,
    "client_secret" text,
    "amount_received" bigint NOT NULL,
    "amount_refunded" bigint NOT NULL,
    "lock_owner" text,
    "confirm_attempts" bigint NOT NULL,
    "last_error" text,
    "version" bigint NOT NULL,
    "reference" text,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("id"),
    CONSTRAINT "payments_provider_intent_id_key" UNIQUE ("provider_intent_id"),
    CONSTRAINT "payments_order_id_key" UNIQUE ("order_id")
);

CREATE INDEX "payments_status_idx" ON "payments" ("status");

CREATE INDEX "payments_pos_idx" ON "payments" ("pos");

CREATE TABLE "refunds" (
    "id" text NOT NULL,
    "payment_id" text NOT NULL,
    "order_id" text NOT NULL,
    "amount" bigint NOT NULL,
    "amount_currency" text NOT NULL,
    "reason" text,
    "idempotency_key" text NOT NULL,
    "created_at" bigint NOT NULL,
    "automatic" boolean NOT NULL,
    "status" text NOT NULL,
    "provider_refund_id" text,
    "requested_amount" bigint,
    "external" boolean NOT NULL,
    "version" bigint NOT NULL,
    "restock" boolean NOT NULL,
    "reference" text,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("id"),
    CONSTRAINT "refunds_payment_id_idempotency_key_key" UNIQUE ("payment_id", "idempotency_key"),
    CONSTRAINT "refunds_provider_refund_id_key" UNIQUE ("provider_refund_id")
);

CREATE INDEX "refunds_payment_id_idx" ON "refunds" ("payment_id");

CREATE INDEX "refunds_status_idx" ON "refunds" ("status");

CREATE INDEX "refunds_pos_idx" ON "refunds" ("pos");

CREATE TABLE "flows" (
    "id" text NOT NULL,
    "kind" text NOT NULL,
    "step" text NOT NULL,
    "created_at" bigint NOT NULL,
    "params" jsonb NOT NULL,
    "data" jsonb NOT NULL,
    "status" text NOT NULL,
    "attempts" bigint NOT NULL,
    "next_run_at" bigint NOT NULL,
    "lease_owner" text,
    "lease_until" bigint NOT NULL,
    "last_error" text,
    "result" jsonb,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("id")
);

CREATE INDEX "flows_status_idx" ON "flows" ("status");

CREATE INDEX "flows_pos_idx" ON "flows" ("pos");

CREATE TABLE "audit" (
    "seq" bigint NOT NULL,
    "at" bigint NOT NULL,
    "aggregate" text NOT NULL,
    "aggregate_id" text NOT NULL,
    "from_status" text,
    "to_status" text NOT NULL,
    "trigger" text NOT NULL,
    "flow_id" text,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("seq")
);

CREATE INDEX "audit_aggregate_id_idx" ON "audit" ("aggregate_id");

CREATE INDEX "audit_pos_idx" ON "audit" ("pos");

CREATE TABLE "outbox" (
    "id" text NOT NULL,
    "order_id" text NOT NULL,
    "kind" text NOT NULL,
    "created_at" bigint NOT NULL,
    "payload" jsonb NOT NULL,
    "sent" boolean NOT NULL,
    "attempts" bigint NOT NULL,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("id")
);

CREATE INDEX "outbox_sent_idx" ON "outbox" ("sent");

CREATE INDEX "outbox_pos_idx" ON "outbox" ("pos");

CREATE TABLE "inbox" (
    "event_id" text NOT NULL,
    "type" text NOT NULL,
    "object_id" text NOT NULL,
    "received_at" bigint NOT NULL,
    "flow_id" text NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("event_id")
);

CREATE INDEX "inbox_pos_idx" ON "inbox" ("pos");

CREATE TABLE "orphans" (
    "provider_intent_id" text NOT NULL,
    "found_at" bigint NOT NULL,
    "provider_status" text NOT NULL,
    "action" text NOT NULL,
    "amount" bigint NOT NULL,
    "checkout_session_id" text,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("provider_intent_id")
);

CREATE INDEX "orphans_action_idx" ON "orphans" ("action");

CREATE INDEX "orphans_pos_idx" ON "orphans" ("pos");

CREATE TABLE "cursors" (
    "name" text NOT NULL,
    "value" text,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("name")
);

CREATE INDEX "cursors_pos_idx" ON "cursors" ("pos");

CREATE TABLE "alerts" (
    "id" text NOT NULL,
    "kind" text NOT NULL,
    "subject" text NOT NULL,
    "message" text NOT NULL,
    "raised_at" bigint NOT NULL,
    "fields" jsonb NOT NULL,
    "open" boolean NOT NULL,
    "count" bigint NOT NULL,
    "resolved_at" bigint,
    "resolution" text,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("id")
);

CREATE INDEX "alerts_open_idx" ON "alerts" ("open");

CREATE INDEX "alerts_kind_idx" ON "alerts" ("kind");

CREATE INDEX "alerts_pos_idx" ON "alerts" ("pos");

CREATE TABLE "job_health" (
    "name" text NOT NULL,
    "failures" bigint NOT NULL,
    "last_error" text,
    "last_failed_at" bigint,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("name")
);

CREATE INDEX "job_health_pos_idx" ON "job_health" ("pos");

CREATE TABLE "installation" (
    "key" text NOT NULL,
    "id" text NOT NULL,
    "created_at" bigint NOT NULL,
    "version" bigint NOT NULL,
    "pos" bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY ("key")
);

CREATE INDEX "installation_pos_idx" ON "installation" ("pos");
