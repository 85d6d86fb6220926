-- Screening (issue 21): the flags a claim was set aside with, its review, and the `held` status
-- of a flagged claim kept from payments until it is released. Flags never reject: a flagged
-- claim is stored and priced like any other.
ALTER TABLE claims
    ADD COLUMN flags jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN flags_reviewed_at timestamptz,
    ADD COLUMN flags_reviewed_by text,
    ADD COLUMN flags_review_reason text,
    DROP CONSTRAINT claims_status_check,
    ADD CONSTRAINT claims_status_check CHECK (status IN ('submitted', 'voided', 'paid', 'payment_failed', 'held')),
    ADD CONSTRAINT claims_flags_review_recorded CHECK ((flags_reviewed_at IS NULL) = (flags_reviewed_by IS NULL));

-- The review queue of flagged claims: unreviewed, not voided, newest first.
CREATE INDEX claims_flagged_queue ON claims (created_at DESC, id DESC)
    WHERE flags <> '[]' AND flags_reviewed_at IS NULL AND status <> 'voided';

-- duplicate_line looks for a stored line with the same subscriber (its blind index), service
-- date and procedure.
CREATE INDEX claim_lines_service ON claim_lines (subscriber_id_index, service_date, submitted_procedure);
