-- The sealer links batches of events instead of single events, and the sealing queue goes.
--
-- Until now every event cost a row in audit_pending (and its deletion), a link of its own in
-- audit_chain and one turn of a PL/pgSQL loop; under a load of audited reads that was most of
-- what auditing cost PostgreSQL. From here on one link (version 2) covers every event of one
-- month whose id lies in a range (after_id, through_id]: its hash is one SHA-256 over the
-- previous link's hash, the link's own fields and the fields of all its events in id order,
-- computed set-based. Links made before (version 1, one per event, event_id set) keep their
-- meaning, so chains sealed before this migration still verify, and the first batch link
-- follows the last single-event link.
--
-- Without a queue, the sealer must know up to which id every event is final: ids come from a
-- sequence when a row is formed, and a writer may still commit an event with a lower id after
-- one with a higher id is visible. So:
--   * every statement that inserts events first takes its transaction id (a statement trigger),
--     so a transaction that drew an event id already had its transaction id when it drew it;
--   * audit_mark(), run in a transaction of its own, reads the highest id drawn so far and only
--     then takes its own transaction id, and records both (audit_seal_marks);
--   * once no transaction older than a mark's that writes events is still open (one holding
--     RowExclusiveLock on audit_events, seen in pg_locks, whose transaction id is older than
--     the mark's), every event with an id up to the mark's bound is committed or rolled back,
--     and audit_seal links them.
-- Events are then sealed a moment after they commit (claimsd marks and seals every second). A
-- transaction that writes events and stays open (a long import) holds sealing back while it
-- lasts; the unsealed count and age in `claimsd audit verify` show it. Transactions that write
-- no events, here or in other databases, do not.

-- Writers wait while the old queue is drained: every event written so far is then sealed.
LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE;
SELECT audit_seal(2147483647);

ALTER TABLE audit_chain_head ADD COLUMN sealed_through bigint NOT NULL DEFAULT 0;
-- No writer is running (the lock above), so every id drawn so far belongs to a finished
-- transaction, and every committed one was sealed.
UPDATE audit_chain_head SET sealed_through = (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM audit_events_id_seq);

DROP TRIGGER audit_events_queue ON audit_events;
DROP FUNCTION audit_events_queue();
DROP TABLE audit_pending;

-- Version 2 links: event_id is NULL, event_at is the first instant of the month (UTC) the
-- link's events belong to, and the link covers that month's events with
-- after_id < id <= through_id; `events` says how many there were.
ALTER TABLE audit_chain ALTER COLUMN event_id DROP NOT NULL;
ALTER TABLE audit_chain ADD COLUMN after_id bigint, ADD COLUMN through_id bigint, ADD COLUMN events integer;
ALTER TABLE audit_chain ADD CONSTRAINT audit_chain_link_kind CHECK (
    (event_id IS NOT NULL AND after_id IS NULL AND through_id IS NULL AND events IS NULL)
    OR (event_id IS NULL AND after_id IS NOT NULL AND through_id > after_id AND events > 0));
-- Which link covers an event: the month's batch links by the end of their range.
CREATE INDEX audit_chain_batches ON audit_chain (event_at, through_id) WHERE through_id IS NOT NULL;

-- Marks: the highest event id drawn before the transaction `xid` began to seal.
CREATE TABLE audit_seal_marks (
    xid    xid8 PRIMARY KEY,
    bound  bigint NOT NULL
);

-- Takes the inserting transaction's id before any row (and its event id) is formed.
CREATE FUNCTION audit_events_take_xid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_take_xid BEFORE INSERT ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_take_xid();

-- Records a mark: the highest event id drawn so far, then this transaction's id, taken after
-- it. Must be the first thing its transaction does. Returns the bound.
CREATE FUNCTION audit_mark() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    drawn bigint;
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'audit_mark() must run first in a transaction of its own' USING ERRCODE = 'active_sql_transaction';
    END IF;
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO drawn FROM audit_events_id_seq;
    INSERT INTO audit_seal_marks (xid, bound) VALUES (pg_current_xact_id(), drawn);
    RETURN drawn;
END
$$;

-- One event's fields as hashed text (see audit_field), in a fixed order.
CREATE FUNCTION audit_event_text(
    id bigint, at timestamptz, principal text, role text, action text, resource_type text, resource_id text,
    outcome text, request_id text, client_address text, user_agent text, detail jsonb
) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT audit_field(id::text) || audit_field((extract(epoch FROM at) * 1000000)::bigint::text)
        || audit_field(principal) || audit_field(role) || audit_field(action)
        || audit_field(resource_type) || audit_field(resource_id) || audit_field(outcome)
        || audit_field(request_id) || audit_field(client_address) || audit_field(user_agent)
        || audit_field(detail::text)
$$;

-- The hash and event count of the batch link at chain position `seq` after a link whose hash
-- was `previous`, covering the events of the month starting at `month` with
-- after_id < id <= through_id.
CREATE FUNCTION audit_batch_hash(previous bytea, seq bigint, month timestamptz, after_id bigint, through_id bigint)
RETURNS TABLE (events integer, hash bytea)
LANGUAGE sql STABLE AS $$
    SELECT count(*)::integer, sha256(previous || convert_to(
        audit_field('2') || audit_field(seq::text) || audit_field((extract(epoch FROM month) * 1000000)::bigint::text)
        || audit_field(after_id::text) || audit_field(through_id::text) || audit_field(count(*)::text)
        || coalesce(string_agg(audit_event_text(
               e.id, e.at, e.principal, e.role, e.action, e.resource_type, e.resource_id,
               e.outcome, e.request_id, e.client_address, e.user_agent, e.detail), '' ORDER BY e.id), ''), 'UTF8'))
    FROM audit_events e
    WHERE e.id > after_id AND e.id <= through_id
      AND e.at >= month AND e.at < ((month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
$$;

-- Seals the events up to the newest usable mark, at most max_rows of them (oldest id first),
-- one link per month they fall in; returns how many events it sealed. Concurrent sealers take
-- turns on the head row.
CREATE OR REPLACE FUNCTION audit_seal(max_rows integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    head audit_chain_head;
    usable bigint;
    upto bigint;
    taken integer;
    month timestamptz;
    link_events integer;
    link_hash bytea;
BEGIN
    IF max_rows < 1 THEN
        RAISE EXCEPTION 'audit_seal(%): max_rows must be at least 1', max_rows USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO head FROM audit_chain_head FOR UPDATE;
    -- A mark is usable once no event writer older than it is still open. Writers hold
    -- RowExclusiveLock on audit_events until they end, and their transaction id (the lock on it
    -- has the same virtual transaction); `age` compares 32-bit ids across wraparound.
    SELECT max(m.bound) INTO usable FROM audit_seal_marks m
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_locks r JOIN pg_locks t ON t.virtualtransaction = r.virtualtransaction AND t.locktype = 'transactionid'
        WHERE r.locktype = 'relation' AND r.mode = 'RowExclusiveLock' AND r.relation = 'audit_events'::regclass
          AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND age(t.transactionid) > age(((m.xid::text::numeric % 4294967296)::bigint)::text::xid));
    IF usable IS NULL OR usable <= head.sealed_through THEN
        -- Nothing new is final yet; marks the sealer has already passed are of no more use.
        DELETE FROM audit_seal_marks m WHERE m.bound <= head.sealed_through;
        RETURN 0;
    END IF;
    SELECT count(*), max(b.id) INTO taken, upto FROM (
        SELECT e.id FROM audit_events e WHERE e.id > head.sealed_through AND e.id <= usable ORDER BY e.id LIMIT max_rows
    ) b;
    IF taken < max_rows THEN
        upto := usable;
    END IF;
    FOR month IN
        SELECT DISTINCT date_trunc('month', e.at, 'UTC') FROM audit_events e WHERE e.id > head.sealed_through AND e.id <= upto ORDER BY 1
    LOOP
        head.last_seq := head.last_seq + 1;
        SELECT h.events, h.hash INTO link_events, link_hash FROM audit_batch_hash(head.last_hash, head.last_seq, month, head.sealed_through, upto) h;
        INSERT INTO audit_chain (seq, event_id, event_at, previous_hash, hash, after_id, through_id, events)
            VALUES (head.last_seq, NULL, month, head.last_hash, link_hash, head.sealed_through, upto, link_events);
        head.last_hash := link_hash;
    END LOOP;
    UPDATE audit_chain_head SET last_seq = head.last_seq, last_hash = head.last_hash, sealed_through = upto;
    DELETE FROM audit_seal_marks m WHERE m.bound <= upto;
    RETURN taken;
END
$$;
