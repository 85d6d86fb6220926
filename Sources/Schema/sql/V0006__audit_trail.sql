-- The audit trail: who did what to which resource, and whether it was allowed. Append-only: the
-- database refuses UPDATE, DELETE and TRUNCATE (below), except the one update that seals a row
-- into the hash chain. Old months leave only by dropping their partition (retention).
--
-- Rows are written unsealed (no lock, so writers never wait for each other); a sealer
-- (audit_seal, run by claimsd every second) gives them, in id order, a chain position and a
-- SHA-256 over the previous row's hash and the row's own fields. Changing or removing a sealed
-- row breaks the chain, which audit_events verification (claimsd audit verify) reports.
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
    chain_seq       bigint,
    previous_hash   bytea,
    hash            bytea,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);

CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_principal ON audit_events (principal, at);
CREATE INDEX audit_events_resource ON audit_events (resource_id, at) WHERE resource_id IS NOT NULL;
CREATE INDEX audit_events_chain ON audit_events (chain_seq) WHERE chain_seq IS NOT NULL;
CREATE INDEX audit_events_unsealed ON audit_events (id) WHERE chain_seq IS NULL;

-- Rows whose month has no partition yet land here; audit_ensure_partitions keeps months ahead.
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

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

-- The hash of a row at chain position `seq` after a row whose hash was `previous`.
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

-- Seals up to max_rows unsealed rows, oldest id first; returns how many. Concurrent sealers
-- take turns on the head row.
CREATE FUNCTION audit_seal(max_rows integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    seq bigint;
    previous bytea;
    next_hash bytea;
    e audit_events;
    sealed integer := 0;
BEGIN
    SELECT last_seq, last_hash INTO seq, previous FROM audit_chain_head FOR UPDATE;
    FOR e IN SELECT * FROM audit_events WHERE chain_seq IS NULL ORDER BY id LIMIT max_rows LOOP
        seq := seq + 1;
        next_hash := audit_row_hash(previous, seq, e);
        UPDATE audit_events SET chain_seq = seq, previous_hash = previous, hash = next_hash WHERE id = e.id AND at = e.at;
        previous := next_hash;
        sealed := sealed + 1;
    END LOOP;
    UPDATE audit_chain_head SET last_seq = seq, last_hash = previous;
    RETURN sealed;
END
$$;

-- Refuses every change but sealing an unsealed row (its other fields unchanged).
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.chain_seq IS NULL AND NEW.chain_seq IS NOT NULL
        AND (NEW.id, NEW.at, NEW.principal, NEW.role, NEW.action, NEW.resource_type, NEW.resource_id, NEW.outcome,
             NEW.request_id, NEW.client_address, NEW.user_agent, NEW.detail)
            IS NOT DISTINCT FROM
            (OLD.id, OLD.at, OLD.principal, OLD.role, OLD.action, OLD.resource_type, OLD.resource_id, OLD.outcome,
             OLD.request_id, OLD.client_address, OLD.user_agent, OLD.detail)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Monthly partitions from this month to `months_ahead` months on, named audit_events_yYYYYmMM.
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
    END LOOP;
    RETURN created;
END
$$;

-- Drops the monthly partitions that end on or before `cutoff`; returns their names.
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
            RETURN NEXT partition.relname;
        END IF;
    END LOOP;
END
$$;

SELECT audit_ensure_partitions(2);
