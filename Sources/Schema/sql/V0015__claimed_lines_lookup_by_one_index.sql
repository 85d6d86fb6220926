-- The screening lookup's plan depended on statistics after all. On a table the planner believes
-- empty (a new database, or one just truncated and analyzed) every plan costs about the same, and
-- it chose to walk claim_lines' primary key and join claims by a full scan of theirs, filtering
-- each row: work that grows with the table on every call, until autovacuum analyzed it. With a
-- generic plan (migration 14) that plan was kept for the session. benchmarks/screening.sh showed
-- it as a first phase at 141 claims/s against 900 after.
--
-- Now the planner has one sensible path whatever the statistics say:
-- * claims are no longer joined: a line's claim status is read by a probe of claims' primary key
--   for the line found, so no join order or full index scan is left to choose;
-- * claim_lines_subscriber_id_index goes: claim_lines_service begins with the same column and
--   serves every lookup by subscriber, and one index fewer is one write fewer per line stored.
DROP INDEX claim_lines_subscriber_id_index;

CREATE OR REPLACE FUNCTION claimed_line_positions(subscribers bytea[], procedures text[], quadrants text[], days date[])
RETURNS SETOF integer LANGUAGE plpgsql STABLE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET enable_material = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT k.position::integer
    FROM unnest(subscribers, procedures, quadrants, days) WITH ORDINALITY AS k(subscriber, procedure, quadrant, day, position)
    CROSS JOIN LATERAL (
        SELECT 1 FROM claim_lines l
        WHERE l.subscriber_id_index = k.subscriber AND l.service_date = k.day AND l.submitted_procedure = k.procedure
          AND coalesce(l.quadrant, '') = coalesce(k.quadrant, '')
          AND (SELECT c.status FROM claims c WHERE c.id = l.claim_id) <> 'voided'
        LIMIT 1) AS found;
END
$$;
