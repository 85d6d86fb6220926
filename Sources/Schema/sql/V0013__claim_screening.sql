-- Screening (issue 21): the flags a claim was set aside with, its review, and the `held` status
-- of a flagged claim kept from payments until it is released. Flags never reject: a flagged
-- claim is stored and priced like any other.
ALTER TABLE claims
    ADD COLUMN flags jsonb NOT NULL DEFAULT '[]',
    -- Flagged and waiting for review: not reviewed, not voided. Kept by claimsd beside the flags
    -- so the queue and its counts read a small partial index, never the flags themselves.
    ADD COLUMN flags_pending boolean NOT NULL DEFAULT false,
    ADD COLUMN flags_reviewed_at timestamptz,
    ADD COLUMN flags_reviewed_by text,
    ADD COLUMN flags_review_reason text,
    DROP CONSTRAINT claims_status_check,
    ADD CONSTRAINT claims_status_check CHECK (status IN ('submitted', 'voided', 'paid', 'payment_failed', 'held')),
    ADD CONSTRAINT claims_flags_review_recorded CHECK ((flags_reviewed_at IS NULL) = (flags_reviewed_by IS NULL));

-- The review queue of flagged claims, newest first.
CREATE INDEX claims_flagged_queue ON claims (created_at DESC, id DESC) WHERE flags_pending;

-- duplicate_line looks for a stored line with the same subscriber (its blind index), service
-- date, procedure and quadrant (none as '').
CREATE INDEX claim_lines_service ON claim_lines (subscriber_id_index, service_date, submitted_procedure, (coalesce(quadrant, '')));

-- The positions (1-based) of the given lines that a stored claim, not voided, holds already:
-- one index probe per line, stopping at the first match. The plan is fixed: with statistics
-- that make a key look common (one subscriber seen thousands of times) the planner would
-- otherwise hash the whole claims table or scan claim_lines on every call, which benchmarks/
-- screening.sh showed growing with the table.
CREATE FUNCTION claimed_line_positions(subscribers bytea[], procedures text[], quadrants text[], days date[])
RETURNS SETOF integer LANGUAGE plpgsql STABLE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET enable_material = off
AS $$
BEGIN
    RETURN QUERY
    SELECT k.position::integer
    FROM unnest(subscribers, procedures, quadrants, days) WITH ORDINALITY AS k(subscriber, procedure, quadrant, day, position)
    CROSS JOIN LATERAL (
        SELECT 1 FROM claim_lines l JOIN claims c ON c.id = l.claim_id
        WHERE l.subscriber_id_index = k.subscriber AND l.service_date = k.day AND l.submitted_procedure = k.procedure
          AND coalesce(l.quadrant, '') = coalesce(k.quadrant, '') AND c.status <> 'voided'
        LIMIT 1) AS found;
END
$$;
