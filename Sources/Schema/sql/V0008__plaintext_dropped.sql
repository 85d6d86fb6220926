-- The plain columns go once claimsd has encrypted every value into the columns of migration 7.
-- A database that still holds plain values (claimsd was started without CLAIMS_DATA_KEYS, or an
-- older instance wrote meanwhile) stops here, with nothing changed.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM claim_lines WHERE subscriber_id IS NOT NULL)
       OR EXISTS (SELECT 1 FROM users WHERE full_name IS NOT NULL OR scope_subscriber_id IS NOT NULL)
       OR EXISTS (SELECT 1 FROM api_keys WHERE scope_subscriber_id IS NOT NULL)
       OR EXISTS (SELECT 1 FROM rejected_claims WHERE raw IS NOT NULL)
       OR EXISTS (SELECT 1 FROM idempotency_keys WHERE response_body IS NOT NULL) THEN
        RAISE EXCEPTION 'plain member identifiers or names remain; start claimsd with CLAIMS_DATA_KEYS set so it encrypts them first';
    END IF;
END
$$;

DROP INDEX claim_lines_subscriber_id;
ALTER TABLE claim_lines
    DROP COLUMN subscriber_id,
    ALTER COLUMN subscriber_id_sealed SET NOT NULL,
    ALTER COLUMN subscriber_id_index SET NOT NULL;
-- A member lists the claims of its own subscriber id, found by its blind index.
CREATE INDEX claim_lines_subscriber_id_index ON claim_lines (subscriber_id_index);

ALTER TABLE users
    DROP COLUMN full_name,
    DROP COLUMN scope_subscriber_id,
    ALTER COLUMN full_name_sealed SET NOT NULL;

ALTER TABLE api_keys DROP COLUMN scope_subscriber_id;

ALTER TABLE rejected_claims
    DROP COLUMN raw,
    ALTER COLUMN raw_sealed SET NOT NULL;

ALTER TABLE idempotency_keys
    DROP COLUMN response_body,
    ALTER COLUMN response_body_sealed SET NOT NULL;
