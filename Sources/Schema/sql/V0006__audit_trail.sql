-- The audit trail: who did what to which resource, and whether it was allowed. Append-only: the
-- database refuses UPDATE, DELETE and TRUNCATE on the events and on their hash chain (below).
-- Old months leave only by dropping their partitions (retention).
--
-- Events are written without any lock, so writers never wait for each other; each new event is
-- also queued in audit_pending (by trigger). A sealer (audit_seal, run by claimsd every second)
-- takes the queue in id order and appends one audit_chain row per event: its chain position and
-- a SHA-256 over the previous link's hash and the event's fields. Changing or removing an event
-- or a link breaks the chain, which verification (claimsd audit verify) reports. Sealing never
-- rewrites an event, so the events table only ever grows.
CREATE SEQUENCE audit_events_id_seq;

CREATE TABLE audit_events (
    id              bigint NOT NULL DEFAULT nextval('audit_events_id_seq'),
    at              timestamptz NOT NULL DEFAULT now(),
    -- user:<uuid>, api_key:<id>, anonymous, or cli for the command line.
    principal       text NOT NULL,
    role            text,
    action          text NOT NULL,
    resource_type   text,
    resource_id     text,
    outcome         text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error')),
    request_id      text,
    client_address  text,
    user_agent      text,
    -- What else tells the event apart: the ids a list returned (bounded), its filter, a reason.
    detail          jsonb,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);

CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_principal ON audit_events (principal, at);
CREATE INDEX audit_events_resource ON audit_events (resource_id, at) WHERE resource_id IS NOT NULL;

-- Rows whose month has no partition yet land here; audit_ensure_partitions keeps months ahead.
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- Events written but not sealed yet.
CREATE TABLE audit_pending (
    id  bigint PRIMARY KEY,
    at  timestamptz NOT NULL
);

-- The chain: one link per event, in sealing order, partitioned like the events so a month's
-- links leave with its events.
CREATE TABLE audit_chain (
    seq            bigint NOT NULL,
    event_id       bigint NOT NULL,
    event_at       timestamptz NOT NULL,
    previous_hash  bytea NOT NULL,
    hash           bytea NOT NULL,
    PRIMARY KEY (seq, event_at)
) PARTITION BY RANGE (event_at);
CREATE TABLE audit_chain_default PARTITION OF audit_chain DEFAULT;

-- The sealer's position: the last chain position given and its hash.
CREATE TABLE audit_chain_head (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_seq   bigint NOT NULL,
    last_hash  bytea NOT NULL
);
INSERT INTO audit_chain_head (last_seq, last_hash) VALUES (0, '\x'::bytea);

-- One field of the hashed text: its length and itself, or '-' for NULL, so no two different
-- rows read the same.
CREATE FUNCTION audit_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IS NULL THEN '-' ELSE length(value)::text || ':' || value END
$$;

-- The hash of event `e` at chain position `seq` after a link whose hash was `previous`.
CREATE FUNCTION audit_row_hash(previous bytea, seq bigint, e audit_events) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(previous || convert_to(
        audit_field(seq::text) || audit_field(e.id::text)
        || audit_field((extract(epoch FROM e.at) * 1000000)::bigint::text)
        || audit_field(e.principal) || audit_field(e.role) || audit_field(e.action)
        || audit_field(e.resource_type) || audit_field(e.resource_id) || audit_field(e.outcome)
        || audit_field(e.request_id) || audit_field(e.client_address) || audit_field(e.user_agent)
        || audit_field(e.detail::text), 'UTF8'))
$$;

-- Every new event waits in audit_pending for the sealer.
CREATE FUNCTION audit_events_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (id, at) VALUES (NEW.id, NEW.at);
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_queue AFTER INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_queue();

-- Seals up to max_rows pending events, oldest id first; returns how many. Concurrent sealers
-- take turns on the head row.
CREATE FUNCTION audit_seal(max_rows integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    seq bigint;
    previous bytea;
    e audit_events;
    seqs bigint[] := '{}';
    ids bigint[] := '{}';
    ats timestamptz[] := '{}';
    previous_hashes bytea[] := '{}';
    hashes bytea[] := '{}';
BEGIN
    SELECT last_seq, last_hash INTO seq, previous FROM audit_chain_head FOR UPDATE;
    FOR e IN
        SELECT ev.* FROM audit_pending p JOIN audit_events ev ON ev.id = p.id AND ev.at = p.at ORDER BY p.id LIMIT max_rows
    LOOP
        seq := seq + 1;
        seqs := seqs || seq;
        ids := ids || e.id;
        ats := ats || e.at;
        previous_hashes := previous_hashes || previous;
        previous := audit_row_hash(previous, seq, e);
        hashes := hashes || previous;
    END LOOP;
    IF cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO audit_chain (seq, event_id, event_at, previous_hash, hash)
        SELECT * FROM unnest(seqs, ids, ats, previous_hashes, hashes);
    DELETE FROM audit_pending WHERE id = ANY (ids);
    UPDATE audit_chain_head SET last_seq = seq, last_hash = previous;
    RETURN cardinality(ids);
END
$$;

-- Refuses every change to the events and the chain.
CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_chain FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_no_truncate
    BEFORE TRUNCATE ON audit_chain FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Monthly partitions of the events and the chain from this month to `months_ahead` months on,
-- named audit_events_yYYYYmMM and audit_chain_yYYYYmMM; returns how many months were added.
CREATE FUNCTION audit_ensure_partitions(months_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    -- Month arithmetic on UTC wall-clock time: on timestamptz it would follow the session's zone.
    this_month timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
    month timestamp;
    name text;
    created integer := 0;
BEGIN
    FOR i IN 0..months_ahead LOOP
        month := this_month + make_interval(months => i);
        name := 'audit_events_y' || to_char(month, 'YYYY"m"MM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
                name, month AT TIME ZONE 'UTC', (month + interval '1 month') AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
        name := 'audit_chain_y' || to_char(month, 'YYYY"m"MM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF audit_chain FOR VALUES FROM (%L) TO (%L)',
                name, month AT TIME ZONE 'UTC', (month + interval '1 month') AT TIME ZONE 'UTC');
        END IF;
    END LOOP;
    RETURN created;
END
$$;

-- Drops the months (events and their links) that end on or before `cutoff`; returns the
-- events' partition names.
CREATE FUNCTION audit_drop_partitions_before(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    partition record;
    month_start timestamp;
BEGIN
    FOR partition IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_events'::regclass AND c.relname ~ '^audit_events_y[0-9]{4}m[0-9]{2}$'
        ORDER BY c.relname
    LOOP
        month_start := make_timestamp(substr(partition.relname, 15, 4)::int, substr(partition.relname, 20, 2)::int, 1, 0, 0, 0);
        IF (month_start + interval '1 month') AT TIME ZONE 'UTC' <= cutoff THEN
            EXECUTE format('DROP TABLE %I', partition.relname);
            EXECUTE format('DROP TABLE IF EXISTS %I', 'audit_chain_' || substr(partition.relname, 14));
            RETURN NEXT partition.relname;
        END IF;
    END LOOP;
END
$$;

SELECT audit_ensure_partitions(2);
