-- Member identifiers and people's names encrypted at rest. claimsd encrypts with AES-256-GCM
-- under keys only it holds (CLAIMS_DATA_KEYS); the database sees ciphertext and, for equality
-- lookups, a keyed blind index (HMAC-SHA256). This migration adds the encrypted columns beside
-- the plain ones; claimsd then encrypts existing rows in batches, and migration 8 drops the
-- plain columns.

-- Every data key that has encrypted something here, with a known text sealed under it: a key of
-- the same id but other bytes fails to open it, so a wrong keyring is refused at start.
CREATE TABLE data_keys (
    key_id      text PRIMARY KEY,
    check_value bytea       NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    -- Set by `claimsd keys rotate` once no value is encrypted with the key: it may then leave the keyring.
    retired_at  timestamptz
);

-- The blind index key's id and an HMAC made with it: exactly one, for the database's lifetime.
CREATE TABLE blind_index_key (
    only_one    boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    key_id      text  NOT NULL,
    fingerprint bytea NOT NULL
);

-- The id of the key that sealed a value: byte 0 is the format (1), byte 1 the id's length, then the id.
CREATE FUNCTION sealed_key_id(value bytea) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT convert_from(substring(value FROM 3 FOR get_byte(value, 1)), 'UTF8') $$;

ALTER TABLE claim_lines
    ADD COLUMN subscriber_id_sealed bytea,
    ADD COLUMN subscriber_id_index bytea,
    ALTER COLUMN subscriber_id DROP NOT NULL;

ALTER TABLE users
    ADD COLUMN full_name_sealed bytea,
    ADD COLUMN scope_subscriber_id_sealed bytea,
    ALTER COLUMN full_name DROP NOT NULL;

ALTER TABLE api_keys ADD COLUMN scope_subscriber_id_sealed bytea;

-- Rejected input is raw claims, with their members' identifiers.
ALTER TABLE rejected_claims
    ADD COLUMN raw_sealed bytea,
    ALTER COLUMN raw DROP NOT NULL;

-- A remembered response is a claim, with its members' identifiers.
ALTER TABLE idempotency_keys
    ADD COLUMN response_body_sealed bytea,
    ALTER COLUMN response_body DROP NOT NULL;
