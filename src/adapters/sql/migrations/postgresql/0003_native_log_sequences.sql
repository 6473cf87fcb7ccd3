-- paycore schema, version 3: the audit log's and the stock movements' keys come from
-- sequence objects, a block of 1,000 numbers per draw, no longer from rows of
-- paycore_sequences that nearly every writing transaction updated (SERIALIZABLE ran
-- those transactions one at a time). Each starts after the last number its row gave.

CREATE SEQUENCE "paycore_audit_seq" INCREMENT BY 1000;

CREATE SEQUENCE "paycore_stock_seq" INCREMENT BY 1000;

SELECT setval('paycore_audit_seq', value + 1, false)
FROM paycore_sequences WHERE name = 'audit';

SELECT setval('paycore_stock_seq', value + 1, false)
FROM paycore_sequences WHERE name = 'stock';

DELETE FROM paycore_sequences WHERE name IN ('audit', 'stock');
