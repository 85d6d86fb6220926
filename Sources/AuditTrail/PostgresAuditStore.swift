public import FoundationEssentials
public import Postgres

/// A break in the hash chain, found by ``PostgresAuditStore/verify()``.
public struct AuditChainProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The row's fields no longer hash to its stored hash: it was changed.
        case altered
        /// The events a batch link covers no longer hash to its stored hash: one was changed,
        /// removed, or added to its range.
        case batchAltered
        /// The chain position after the previous row's is missing: a row was removed.
        case missing
        /// The row does not follow the previous row's hash: rows were removed or reordered.
        case relinked
        /// The newest links are gone: the sealer's head is past the last link, or differs from it.
        case truncated
        /// The link's event is gone.
        case removed
        /// An event lies in the sealed part of the trail but no link covers it: it was added
        /// after its id range was sealed.
        case unlinked
    }

    public var kind: Kind
    public var sequence: Int64
    /// The event, for a single-event link or an unlinked event.
    public var id: Int64?
    /// The ids a batch link covers (within its month), for ``Kind/batchAltered``.
    public var ids: ClosedRange<Int64>?

    public init(kind: Kind, sequence: Int64, id: Int64?, ids: ClosedRange<Int64>? = nil) {
        self.kind = kind
        self.sequence = sequence
        self.id = id
        self.ids = ids
    }

    public var description: String {
        let row = id.map(String.init) ?? "?"
        switch kind {
        case .altered: return "row \(row) at chain position \(sequence) was changed after it was sealed"
        case .batchAltered:
            let range = ids.map { "ids \($0.lowerBound)–\($0.upperBound)" } ?? "its ids"
            return "the events sealed at chain position \(sequence) (\(range) of one month) were changed, removed or added to after sealing"
        case .missing: return "the link at chain position \(sequence) is missing (removed)"
        case .relinked: return "row \(row) at chain position \(sequence) does not follow the previous link's hash"
        case .truncated: return "the chain ends before position \(sequence), where the sealer left it: its newest links were removed"
        case .removed: return "row \(row) at chain position \(sequence) was removed after it was sealed"
        case .unlinked: return "row \(row) lies in the sealed part of the trail but no link covers it: it was added after sealing"
        }
    }
}

/// Why the audit trail cannot be read.
public enum AuditTrailError: Error, Sendable, Equatable, CustomStringConvertible {
    case noChainHead

    public var description: String {
        switch self {
        case .noChainHead: "audit_chain_head has no row: run `claimsd migrate` (migration 6 creates it), and never delete that row"
        }
    }
}

/// What verifying the chain found.
public struct AuditChainReport: Sendable, Equatable {
    /// Events sealed into the chain.
    public var sealedRows: Int64
    /// Links in the chain (one per event before migration 11, one per batch and month after),
    /// and its first and last positions (the first is above 1 once retention dropped old months).
    public var links: Int64
    public var firstSequence: Int64?
    public var lastSequence: Int64?
    /// Events written but not sealed yet, and the age in seconds of the oldest of them.
    public var unsealedRows: Int64
    public var oldestUnsealedSeconds: Double?
    /// The first breaks found (at most 100).
    public var problems: [AuditChainProblem]

    public var isIntact: Bool { problems.isEmpty }
}

/// The audit trail in PostgreSQL (tables and functions of migrations 6 and 11): rows appended in
/// batches or inside another transaction's statement, sealed into a hash chain in batches,
/// verified.
public struct PostgresAuditStore: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Appends `events` in one statement.
    public func append(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        try await client.withConnection { try await Self.append(events, on: $0) }
    }

    /// Appends `events` in the transaction `connection` is in, so they commit with its change.
    public static func append(_ events: [AuditEvent], on connection: PostgresConnection) async throws {
        guard !events.isEmpty else { return }
        var binds = PostgresBindList()
        let insert = insert(events, binds: &binds)
        try await connection.query(PostgresQuery(sql: insert, binds: binds.values))
    }

    /// `INSERT INTO audit_events …` for `events`, its values added to `binds`: a statement of its
    /// own, or a `WITH … AS (…)` part of another statement, so a change and its audit row commit
    /// together.
    public static func insert(_ events: [AuditEvent], binds: inout PostgresBindList) -> String {
        let values = binds.unnest(events.map(\.row), types: AuditEvent.types)
        return "INSERT INTO audit_events (\(AuditEvent.columns)) SELECT \(AuditEvent.selectList(from: "e")) FROM \(values) AS \(AuditEvent.alias("e"))"
    }

    /// Seals up to `limit` written rows into the chain, oldest first; returns how many.
    ///
    /// It first marks how far events have been drawn (`audit_mark()`, a transaction of its own),
    /// then seals up to the newest mark whose older transactions have all ended — usually this
    /// call's own mark, but one a moment older while a writer is still committing. Events written
    /// during a call are sealed by a later one.
    @discardableResult
    public func seal(limit: Int = 10_000) async throws -> Int {
        try await client.query("SELECT audit_mark()")
        let rows = try await client.query("SELECT audit_seal(\(max(1, limit))) AS sealed").rows
        return try rows.first?.decode("sealed", as: Int.self) ?? 0
    }

    /// Seals every event written before the call, at most `limit` per link, trying again every
    /// 50 ms while an older transaction anywhere in the cluster holds sealing back; gives up
    /// after `timeout` and leaves the rest to the next seal. Returns how many events it sealed.
    @discardableResult
    public func sealEverything(limit: Int = 10_000, within timeout: Duration = .seconds(30)) async throws -> Int {
        let drawn = try await client.query("SELECT audit_mark() AS drawn").rows.first?.decode("drawn", as: Int64.self) ?? 0
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var total = 0
        while true {
            let sealed = try await seal(limit: limit)
            total += sealed
            let through = try await client.query("SELECT sealed_through FROM audit_chain_head").rows.first?.decode("sealed_through", as: Int64.self)
            guard let through else { throw AuditTrailError.noChainHead }
            if through >= drawn || ContinuousClock.now >= deadline { return total }
            if sealed == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
    }

    /// Makes sure the monthly partitions from this month to `monthsAhead` months on exist;
    /// returns how many it created.
    @discardableResult
    public func ensurePartitions(monthsAhead: Int = 2) async throws -> Int {
        let rows = try await client.query("SELECT audit_ensure_partitions(\(monthsAhead)) AS created").rows
        return try rows.first?.decode("created", as: Int.self) ?? 0
    }

    /// Drops the monthly partitions that end `retentionSeconds` or more ago; returns their names.
    public func dropPartitions(olderThan retentionSeconds: Int64) async throws -> [String] {
        try await client.query(
            "SELECT audit_drop_partitions_before(now() - make_interval(secs => \(retentionSeconds)::float8)) AS name"
        ).rows.map { try $0.decode("name", as: String.self) }
    }

    /// Walks the whole chain in the database: recomputes every link's hash from its events,
    /// checks each link follows the one before and that the newest is where the sealer left the
    /// head, and that every event in the sealed part of the trail is covered by a link.
    public func verify() async throws -> AuditChainReport {
        let summary = try await client.query(
            """
            SELECT (SELECT count(*) FILTER (WHERE through_id IS NULL) + coalesce(sum(events), 0) FROM audit_chain)::bigint AS sealed,
                   (SELECT count(*) FROM audit_chain) AS links,
                   (SELECT min(seq) FROM audit_chain) AS first_seq,
                   (SELECT max(seq) FROM audit_chain) AS last_seq,
                   (SELECT count(*) FROM audit_events WHERE id > h.sealed_through) AS unsealed,
                   (SELECT extract(epoch FROM now() - min(at))::float8 FROM audit_events WHERE id > h.sealed_through) AS oldest_unsealed,
                   h.last_seq AS head_seq,
                   h.last_hash IS NOT DISTINCT FROM (SELECT hash FROM audit_chain WHERE seq = h.last_seq) AS head_matches
            FROM audit_chain_head h
            """
        ).rows
        guard let row = summary.first else { throw AuditTrailError.noChainHead }
        var report = AuditChainReport(
            sealedRows: try row.decode("sealed"), links: try row.decode("links"), firstSequence: try row.decodeIfPresent("first_seq"),
            lastSequence: try row.decodeIfPresent("last_seq"), unsealedRows: try row.decode("unsealed"),
            oldestUnsealedSeconds: try row.decodeIfPresent("oldest_unsealed"), problems: [])
        // Single-event links (before migration 11) rehash their event; batch links rehash their
        // month's events in their id range.
        let breaks = try await client.query(
            """
            WITH walk AS (
                SELECT c.seq, c.event_id, c.after_id, c.through_id,
                       c.through_id IS NULL AND e.id IS NULL AS gone,
                       CASE WHEN c.through_id IS NULL THEN e.id IS NOT NULL AND audit_row_hash(c.previous_hash, c.seq, e) = c.hash
                            ELSE b.hash = c.hash AND b.events = c.events END AS hash_ok,
                       lag(c.seq) OVER w AS before_seq, lag(c.hash) OVER w AS before_hash, c.previous_hash
                FROM audit_chain c
                LEFT JOIN audit_events e ON c.through_id IS NULL AND e.id = c.event_id AND e.at = c.event_at
                LEFT JOIN LATERAL (
                    SELECT * FROM audit_batch_hash(c.previous_hash, c.seq, c.event_at, c.after_id, c.through_id) WHERE c.through_id IS NOT NULL
                ) b ON true
                WINDOW w AS (ORDER BY c.seq)
            )
            SELECT seq, event_id, after_id, through_id,
                   CASE WHEN gone THEN 'removed'
                        WHEN NOT hash_ok THEN CASE WHEN through_id IS NULL THEN 'altered' ELSE 'batchAltered' END
                        WHEN before_seq IS NOT NULL AND seq <> before_seq + 1 THEN 'missing'
                        ELSE 'relinked' END AS problem
            FROM walk
            WHERE gone OR NOT hash_ok OR (before_seq IS NOT NULL AND (seq <> before_seq + 1 OR previous_hash IS DISTINCT FROM before_hash))
            ORDER BY seq LIMIT 100
            """
        ).rows
        for line in breaks {
            let kind = AuditChainProblem.Kind(rawValue: try line.decode("problem", as: String.self)) ?? .altered
            let sequence: Int64 = try line.decode("seq")
            let after: Int64? = try line.decodeIfPresent("after_id")
            let through: Int64? = try line.decodeIfPresent("through_id")
            let ids = after.flatMap { after in through.map { (after + 1)...$0 } }
            switch kind {
            case .missing:
                // A removed link shows as a gap before the link after it: report the missing position.
                report.problems.append(AuditChainProblem(kind: .missing, sequence: sequence - 1, id: nil))
            default:
                report.problems.append(AuditChainProblem(kind: kind, sequence: sequence, id: try line.decodeIfPresent("event_id"), ids: ids))
            }
        }
        let headSequence: Int64 = try row.decode("head_seq")
        if headSequence > 0, report.problems.count < 100, try !(row.decodeIfPresent("head_matches", as: Bool.self) ?? false) {
            report.problems.append(AuditChainProblem(kind: .truncated, sequence: headSequence, id: nil))
        }
        // An event at or below the sealed position that no link covers was added after sealing.
        let strays = try await client.query(
            """
            SELECT e.id FROM audit_events e, audit_chain_head h
            WHERE e.id <= h.sealed_through
              AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.through_id IS NULL AND c.event_id = e.id AND c.event_at = e.at)
              AND NOT EXISTS (
                  SELECT 1 FROM audit_chain c
                  WHERE c.through_id IS NOT NULL AND c.event_at = date_trunc('month', e.at, 'UTC') AND c.through_id >= e.id AND c.after_id < e.id)
            ORDER BY e.id LIMIT \(max(0, 100 - report.problems.count))
            """
        ).rows
        for stray in strays {
            report.problems.append(AuditChainProblem(kind: .unlinked, sequence: 0, id: try stray.decode("id")))
        }
        return report
    }
}

/// Which audit events to list: every filter optional, newest first, a page at a time.
public struct AuditQuery: Sendable, Equatable {
    public var principal: String?
    public var action: String?
    public var resourceID: String?
    public var outcome: AuditOutcome?
    /// Bounds on the event time: `since` inclusive, `until` exclusive.
    public var since: Date?
    public var until: Date?
    /// Only events with an id below this one (the cursor of the previous page).
    public var beforeID: Int64?
    public var limit: Int = 100

    public init() {}
}

/// An audit event as stored.
public struct AuditRecord: Sendable, Equatable {
    public var id: Int64
    public var event: AuditEvent
}

/// One page of audit events, and the id to continue below when there are more.
public struct AuditPage: Sendable, Equatable {
    public var records: [AuditRecord]
    public var nextBeforeID: Int64?
}

extension PostgresAuditStore {
    /// The events `query` selects, newest first.
    public func list(_ query: AuditQuery) async throws -> AuditPage {
        var binds = PostgresBindList()
        var conditions: [String] = []
        if let principal = query.principal { conditions.append("principal = " + binds.value(principal, type: "text")) }
        if let action = query.action { conditions.append("action = " + binds.value(action, type: "text")) }
        if let resource = query.resourceID { conditions.append("resource_id = " + binds.value(resource, type: "text")) }
        if let outcome = query.outcome { conditions.append("outcome = " + binds.value(outcome.rawValue, type: "text")) }
        // Sent as seconds since the epoch: any time the caller could write (a year 1 or an offset
        // of −23:59) is one PostgreSQL reads, where its own text input would refuse some.
        if let since = query.since { conditions.append("at >= to_timestamp(" + binds.value(String(since.timeIntervalSince1970), type: "float8") + ")") }
        if let until = query.until { conditions.append("at < to_timestamp(" + binds.value(String(until.timeIntervalSince1970), type: "float8") + ")") }
        if let before = query.beforeID { conditions.append("id < " + binds.value(String(before), type: "bigint")) }
        let limit = binds.value(String(query.limit + 1), type: "int")
        let sql = """
            SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, principal, role, action, resource_type, resource_id,
                   outcome, request_id, client_address, user_agent, detail::text AS detail
            FROM audit_events \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY id DESC LIMIT \(limit)
            """
        let rows = try await client.query(PostgresQuery(sql: sql, binds: binds.values)).rows
        let records = try rows.prefix(query.limit).map { row in
            AuditRecord(
                id: try row.decode("id"),
                event: AuditEvent(
                    at: try row.decode("at"),
                    actor: AuditActor(
                        principal: try row.decode("principal"), role: try row.decodeIfPresent("role"), requestID: try row.decodeIfPresent("request_id"),
                        clientAddress: try row.decodeIfPresent("client_address"), userAgent: try row.decodeIfPresent("user_agent")),
                    action: AuditAction(rawValue: try row.decode("action")), resourceType: try row.decodeIfPresent("resource_type"),
                    resourceID: try row.decodeIfPresent("resource_id"), outcome: AuditOutcome(rawValue: try row.decode("outcome")) ?? .error,
                    detail: try row.decodeIfPresent("detail")))
        }
        let more = rows.count > query.limit
        return AuditPage(records: records, nextBeforeID: more ? records.last?.id : nil)
    }
}
