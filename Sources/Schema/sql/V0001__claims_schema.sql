-- Claims, their lines, the transactional outbox, idempotency keys and rejected input.
-- Money is NUMERIC(14,2): exact, never binary floating point.

CREATE TABLE claims (
    id                     uuid PRIMARY KEY,              -- UUIDv7: time-ordered
    external_claim_number  text,
    status                 text           NOT NULL DEFAULT 'submitted'
        CHECK (status IN ('submitted', 'voided', 'paid', 'payment_failed')),
    provider_npi           char(10)       NOT NULL,
    net_fee                numeric(14, 2) NOT NULL,
    line_count             integer        NOT NULL CHECK (line_count > 0),
    service_date_from      date           NOT NULL,
    service_date_to        date           NOT NULL,
    warnings               jsonb          NOT NULL DEFAULT '[]',
    ignored_fields         jsonb          NOT NULL DEFAULT '[]',
    created_at             timestamptz    NOT NULL DEFAULT now(),
    updated_at             timestamptz    NOT NULL DEFAULT now()
);

-- The list endpoint pages by id (newest first) within each filter.
CREATE INDEX claims_provider_npi_id ON claims (provider_npi, id);
CREATE INDEX claims_status_id ON claims (status, id);
CREATE INDEX claims_service_date_from ON claims (service_date_from, id);

CREATE TABLE claim_lines (
    claim_id            uuid           NOT NULL REFERENCES claims (id) ON DELETE CASCADE,
    line_number         integer        NOT NULL CHECK (line_number > 0),
    service_date        date           NOT NULL,
    submitted_procedure text           NOT NULL,
    quadrant            text,
    group_id            text           NOT NULL,
    subscriber_id       text           NOT NULL,
    provider_npi        char(10)       NOT NULL,
    provider_fees       numeric(14, 2) NOT NULL,
    allowed_fees        numeric(14, 2) NOT NULL,
    member_coinsurance  numeric(14, 2) NOT NULL,
    member_copay        numeric(14, 2) NOT NULL,
    net_fee             numeric(14, 2) NOT NULL,
    PRIMARY KEY (claim_id, line_number)
);

-- Every change to a claim writes events here in the same transaction. Writers take a
-- transaction-scoped advisory lock just before inserting, so sequences commit in order and a
-- consumer that remembers the last sequence it applied never skips one.
CREATE TABLE outbox_events (
    sequence      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    claim_id      uuid           NOT NULL,
    event_type    text           NOT NULL,
    provider_npi  char(10)       NOT NULL,
    net_fee_delta numeric(14, 2) NOT NULL,
    net_fee       numeric(14, 2) NOT NULL,   -- the claim's net fee after the change
    status        text           NOT NULL,   -- the claim's status after the change
    created_at    timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX outbox_events_claim_id ON outbox_events (claim_id, sequence);

-- A POST with an Idempotency-Key stores its response here in the claim's transaction.
CREATE TABLE idempotency_keys (
    key             text PRIMARY KEY,
    request_hash    text        NOT NULL,
    response_status integer     NOT NULL,
    response_body   text        NOT NULL,
    claim_id        uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Input that failed validation during bulk import, kept for review with its violations.
CREATE TABLE rejected_claims (
    id                    uuid PRIMARY KEY,
    import_id             uuid        NOT NULL,
    external_claim_number text,
    source                text        NOT NULL,   -- e.g. "csv line 17" or "ndjson line 3"
    raw                   jsonb       NOT NULL,
    violations            jsonb       NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_claims_import_id ON rejected_claims (import_id);
