-- Idempotency keys belong to the caller that sent them: two callers may use the same key. A key
-- older than the retention (CLAIMS_IDEMPOTENCY_RETENTION) is forgotten and purged in batches by
-- created_at. A response_status of 0 marks a reservation whose request has not finished (an
-- import under a key reserves it before its first batch and records its response at the end).
ALTER TABLE idempotency_keys ADD COLUMN scope text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (scope, key);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
