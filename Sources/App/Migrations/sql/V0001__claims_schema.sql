-- Claims, their lines and the transactional outbox.
-- Money is NUMERIC(14,2): exact, never binary floating point.

CREATE TABLE claims (
    id                     uuid PRIMARY KEY,
    external_claim_number  text,
    status                 text        NOT NULL DEFAULT 'submitted'
        CHECK (status IN ('submitted', 'voided', 'paid', 'payment_failed')),
    provider_npi           char(10)    NOT NULL,
    net_fee                numeric(14, 2) NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE claim_lines (
    claim_id            uuid          NOT NULL REFERENCES claims (id) ON DELETE CASCADE,
    line_number         integer       NOT NULL CHECK (line_number > 0),
    service_date        date          NOT NULL,
    submitted_procedure text          NOT NULL,
    quadrant            text,
    group_id            text          NOT NULL,
    subscriber_id       text          NOT NULL,
    provider_npi        char(10)      NOT NULL,
    provider_fees       numeric(14, 2) NOT NULL,
    allowed_fees        numeric(14, 2) NOT NULL,
    member_coinsurance  numeric(14, 2) NOT NULL,
    member_copay        numeric(14, 2) NOT NULL,
    net_fee             numeric(14, 2) NOT NULL,
    PRIMARY KEY (claim_id, line_number)
);

-- Every change to a claim writes one event here in the same transaction; consumers read in
-- sequence order and remember the last sequence they applied.
CREATE TABLE outbox_events (
    sequence      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    claim_id      uuid          NOT NULL,
    event_type    text          NOT NULL,
    provider_npi  char(10)      NOT NULL,
    net_fee_delta numeric(14, 2) NOT NULL,
    created_at    timestamptz   NOT NULL DEFAULT now()
);
