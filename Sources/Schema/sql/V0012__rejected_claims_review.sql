-- Review of the claims an import rejected (the operations console's review queue). An operator
-- dismisses one with a reason, or (later) corrects and resubmits it, which links it to the claim
-- it became. Reviewed rows stay, with who reviewed them, when and how; the queue is the rows not
-- reviewed yet, newest first.
ALTER TABLE rejected_claims
    ADD COLUMN reviewed_at timestamptz,
    ADD COLUMN reviewed_by text,
    ADD COLUMN review_outcome text CHECK (review_outcome IN ('dismissed', 'resubmitted')),
    ADD COLUMN review_reason text,
    ADD COLUMN resubmitted_claim_id uuid REFERENCES claims (id),
    ADD CONSTRAINT rejected_claims_review_recorded CHECK (
        (reviewed_at IS NULL) = (review_outcome IS NULL) AND (reviewed_at IS NULL) = (reviewed_by IS NULL));
CREATE INDEX rejected_claims_queue ON rejected_claims (created_at DESC, id DESC) WHERE reviewed_at IS NULL;
