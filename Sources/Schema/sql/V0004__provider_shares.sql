-- Each provider's part of each claim: the net fees of the claim's lines that name it. A claim's
-- lines may name several providers when the single_provider rule is relaxed; each line's net
-- fee then counts towards its own provider. The ranking (its PostgreSQL answer and the relay's
-- rebuild) sums this table where `counts`, which mirrors the claim's status (submitted or paid)
-- and is changed in the same transaction; one row per claim and provider, so count(*) is the
-- provider's number of claims. No foreign key: claims are never deleted, and intake would pay
-- for the check on every row.
CREATE TABLE claim_provider_shares (
    claim_id     uuid           NOT NULL,
    provider_npi char(10)       NOT NULL,
    net_fee      numeric(14, 2) NOT NULL,
    counts       boolean        NOT NULL,
    PRIMARY KEY (claim_id, provider_npi)
);

INSERT INTO claim_provider_shares (claim_id, provider_npi, net_fee, counts)
SELECT l.claim_id, l.provider_npi, sum(l.net_fee), c.status IN ('submitted', 'paid')
FROM claim_lines AS l JOIN claims AS c ON c.id = l.claim_id
GROUP BY l.claim_id, l.provider_npi, c.status;

CREATE INDEX claim_provider_shares_ranking ON claim_provider_shares (provider_npi, net_fee) WHERE counts;
DROP INDEX claims_ranking;

-- The provider's part of the claim's net fee after the change (NULL on events written before):
-- what the payments service owes that provider. net_fee stays the whole claim's.
ALTER TABLE outbox_events ADD COLUMN provider_net_fee numeric(14, 2);
