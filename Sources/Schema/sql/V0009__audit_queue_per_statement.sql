-- New events are queued for the sealer once per statement instead of once per row: a group
-- commit's statement writes up to 64 claims' events, and a flush of queued reads hundreds, and
-- each row's trigger call cost an INSERT of its own (planned again each time under the
-- sessions' plan_cache_mode). The statement's new rows arrive as a transition table.
DROP TRIGGER audit_events_queue ON audit_events;
DROP FUNCTION audit_events_queue();

CREATE FUNCTION audit_events_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (id, at) SELECT id, at FROM new_events;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_queue AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_queue();
