-- The screening lookup inside the insert (issue 20). The writer that stores new claims in groups
-- used to look up their lines in one statement and insert them in a second: two round trips
-- per group, on the path of every POST. Now it screens a group as if none of its lines were
-- claimed and inserts it in one statement that also calls no_line_claimed() once, before a
-- claim is written: true when no stored claim, not voided, holds any of the lines; otherwise it
-- raises SQLSTATE CL001, the statement stores nothing, and the writer looks the lines up and
-- stores the group as before. The lookup sees the same snapshot the insert does.
CREATE FUNCTION no_line_claimed(subscribers bytea[], procedures text[], quadrants text[], days date[])
RETURNS boolean LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM claimed_line_positions(subscribers, procedures, quadrants, days)) THEN
        RAISE EXCEPTION 'a line of these claims is held by a stored claim' USING ERRCODE = 'CL001',
            HINT = 'screen the claims again with the lines looked up (claimed_line_positions)';
    END IF;
    RETURN true;
END
$$;
