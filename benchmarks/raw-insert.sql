-- pgbench script: the rows claimsd writes for one POST /api/v1/claims (a claim, 4 lines, its
-- provider's share, its outbox event under the ordering lock) as one auto-committed statement, the way claimsd sends
-- them, with no HTTP, JSON or validation: the raw INSERT+COMMIT rate for the same rows. The
-- subscriber id is stored as claimsd stores it, sealed and with its blind index: here bytes of
-- the same sizes (a 10-character id sealed is 47 bytes with a 7-character key id, nonce and tag; the index
-- is an HMAC-SHA256).
\set npi random(1000000000, 1000000299)
WITH new_claim AS (
    INSERT INTO claims (id, external_claim_number, status, provider_npi, net_fee, line_count, service_date_from, service_date_to,
                        warnings, ignored_fields, created_at, updated_at)
    VALUES (gen_random_uuid(), 'raw', 'submitted', :npi, 265.10, 4, '2018-03-28', '2018-03-28', '[]', '[]', now(), now())
    RETURNING id),
new_lines AS (
    INSERT INTO claim_lines (claim_id, line_number, service_date, submitted_procedure, quadrant, group_id, subscriber_id_sealed, subscriber_id_index, provider_npi,
                             provider_fees, allowed_fees, member_coinsurance, member_copay, net_fee)
    SELECT id, n, '2018-03-28', 'D434' || n, 'UR', 'GRP-1000', decode(repeat('5a', 47), 'hex'), sha256('3730189502'), :npi, 100.00 + n / 100.0, 50.00, 16.25, 0, 66.25 + n / 100.0
    FROM new_claim, generate_series(1, 4) AS n),
new_shares AS (
    INSERT INTO claim_provider_shares (claim_id, provider_npi, net_fee, counts) SELECT id, :npi, 265.10, true FROM new_claim),
ordering AS (SELECT pg_advisory_xact_lock(7164208212675097972))
INSERT INTO outbox_events (claim_id, event_type, provider_npi, net_fee_delta, provider_claims_delta, net_fee, status, provider_net_fee)
SELECT id, 'claim.created', :npi, 265.10, 1, 265.10, 'submitted', 265.10 FROM new_claim, ordering;
