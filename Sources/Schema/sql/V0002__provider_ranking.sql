-- The provider ranking and the payments saga.
--
-- provider_claims_delta: how the event changes the number of claims that count towards its
-- provider's ranking total (claims in status submitted or paid): +1 when a claim is created,
-- -1 when it is voided or its payment fails, -1/+1 when an update moves it to another provider.
-- The relay removes a provider from the ranking when its count reaches zero, so the ranking has
-- exactly the providers that SELECT … GROUP BY provider_npi over those claims has.
-- Events written before this migration keep 0: a relay starting for the first time finds no
-- applied-sequence marker in Redis and rebuilds from the claims table, so it never reads them.
ALTER TABLE outbox_events ADD COLUMN provider_claims_delta smallint NOT NULL DEFAULT 0;

-- The result the payments service reported for a claim (POST /api/v1/claims/{id}/payment):
-- one per claim, so a repeated report is recognised and answered without a second change.
CREATE TABLE payment_results (
    claim_id     uuid PRIMARY KEY REFERENCES claims (id),
    outcome      text        NOT NULL CHECK (outcome IN ('paid', 'failed')),
    reason       text,
    payment_id   text,
    sequence     bigint      NOT NULL,   -- the outbox event the report wrote
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- The PostgreSQL fallback of GET /api/v1/providers/top and the relay's rebuild both aggregate
-- the claims that count towards the ranking; this index lets them read only those rows.
CREATE INDEX claims_ranking ON claims (provider_npi, net_fee) WHERE status IN ('submitted', 'paid');
