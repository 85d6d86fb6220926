-- pgbench script: the transaction claimsd runs for POST /api/v1/claims (claim, 4 lines in one
-- INSERT, the outbox ordering lock, the outbox event, COMMIT), with no HTTP, JSON or validation.
\set npi random(1000000000, 1000000299)
BEGIN;
INSERT INTO claims (id, external_claim_number, status, provider_npi, net_fee, line_count, service_date_from, service_date_to,
                    warnings, ignored_fields, created_at, updated_at)
VALUES (gen_random_uuid(), 'raw', 'submitted', :npi, 116.85, 4, '2018-03-28', '2018-03-28', '[]', '[]', now(), now())
RETURNING id \gset
INSERT INTO claim_lines (claim_id, line_number, service_date, submitted_procedure, quadrant, group_id, subscriber_id, provider_npi,
                         provider_fees, allowed_fees, member_coinsurance, member_copay, net_fee)
VALUES (:id, 1, '2018-03-28', 'D4341', 'UR', 'GRP-1000', '3730189502', :npi, 100.01, 50.00, 16.25, 0, 66.26),
       (:id, 2, '2018-03-28', 'D4342', 'UR', 'GRP-1000', '3730189502', :npi, 100.02, 50.00, 16.25, 0, 66.27),
       (:id, 3, '2018-03-28', 'D4343', 'UR', 'GRP-1000', '3730189502', :npi, 100.03, 50.00, 16.25, 0, 66.28),
       (:id, 4, '2018-03-28', 'D4344', 'UR', 'GRP-1000', '3730189502', :npi, 100.04, 50.00, 16.25, 0, 66.29);
SELECT pg_advisory_xact_lock(7164208212675097972);
INSERT INTO outbox_events (claim_id, event_type, provider_npi, net_fee_delta, net_fee, status)
VALUES (:id, 'claim.created', :npi, 265.10, 265.10, 'submitted');
COMMIT;
