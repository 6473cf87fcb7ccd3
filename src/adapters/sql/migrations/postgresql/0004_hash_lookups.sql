-- paycore schema, version 4: a hash index beside the btree of every lookup of one row by an
-- identifier (each table's key, each field unique on its own, reservations and refunds by
-- their order or payment). A serializable transaction locks the index pages it reads; the
-- identifiers are sequential, so in a btree every transaction read and wrote the same
-- rightmost leaf page and PostgreSQL refused most concurrent ones. The lookups use the
-- hash indexes (cheaper for equality), whose buckets spread the identifiers.

CREATE INDEX "sellers_id_hash" ON "sellers" USING hash ("id") WITH (fillfactor = 25);
CREATE INDEX "products_id_hash" ON "products" USING hash ("id") WITH (fillfactor = 25);
CREATE INDEX "stock_key_hash" ON "stock" USING hash ("key") WITH (fillfactor = 25);
CREATE INDEX "orders_id_hash" ON "orders" USING hash ("id") WITH (fillfactor = 25);
CREATE INDEX "orders_checkout_session_id_hash" ON "orders" USING hash ("checkout_session_id") WITH (fillfactor = 25);
CREATE INDEX "reservations_id_hash" ON "reservations" USING hash ("id") WITH (fillfactor = 25);
CREATE INDEX "reservations_order_id_hash" ON "reservations" USING hash ("order_id") WITH (fillfactor = 25);
CREATE INDEX "payments_id_hash" ON "payments" USING hash ("id") WITH (fillfactor = 25);
CREATE INDEX "payments_provider_intent_id_hash" ON "payments" USING hash ("provider_intent_id") WITH (fillfactor = 25);
CREATE INDEX "payments_order_id_hash" ON "payments" USING hash ("order_id") WITH (fillfactor = 25);
CREATE INDEX "refunds_id_hash" ON "refunds" USING hash ("id") WITH (fillfactor = 25);
CREATE INDEX "refunds_provider_refund_id_hash" ON "refunds" USING hash ("provider_refund_id") WITH (fillfactor = 25);
CREATE INDEX "refunds_payment_id_hash" ON "refunds" USING hash ("payment_id") WITH (fillfactor = 25);
CREATE INDEX "flows_id_hash" ON "flows" USING hash ("id") WITH (fillfactor = 25);
CREATE INDEX "outbox_id_hash" ON "outbox" USING hash ("id") WITH (fillfactor = 25);
CREATE INDEX "inbox_event_id_hash" ON "inbox" USING hash ("event_id") WITH (fillfactor = 25);
CREATE INDEX "orphans_provider_intent_id_hash" ON "orphans" USING hash ("provider_intent_id") WITH (fillfactor = 25);
CREATE INDEX "cursors_name_hash" ON "cursors" USING hash ("name") WITH (fillfactor = 25);
CREATE INDEX "alerts_id_hash" ON "alerts" USING hash ("id") WITH (fillfactor = 25);
CREATE INDEX "job_health_name_hash" ON "job_health" USING hash ("name") WITH (fillfactor = 25);
CREATE INDEX "installation_key_hash" ON "installation" USING hash ("key") WITH (fillfactor = 25);
