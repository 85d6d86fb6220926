public import FoundationEssentials
public import Postgres

/// A break in the hash chain, found by ``PostgresAuditStore/verify()``.
public struct AuditChainProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The row's fields no longer hash to its stored hash: it was changed.
        case altered
        /// The chain position after the previous row's is missing: a row was removed.
        case missing
        /// The row does not follow the previous row's hash: rows were removed or reordered.
        case relinked
        /// The newest links are gone: the sealer's head is past the last link, or differs from it.
        case truncated
        /// The link's event is gone.
        case removed
        /// An event is neither sealed nor waiting to be: it was taken off the sealing queue.
        case unqueued
    }

    public var kind: Kind
    public var sequence: Int64
    public var id: Int64?

    public var description: String {
        switch kind {
        case .altered: "row \(id.map(String.init) ?? "?") at chain position \(sequence) was changed after it was sealed"
        case .missing: "the link at chain position \(sequence) is missing (removed)"
        case .relinked: "row \(id.map(String.init) ?? "?") at chain position \(sequence) does not follow the previous link's hash"
        case .truncated: "the chain ends before position \(sequence), where the sealer left it: its newest links were removed"
        case .removed: "row \(id.map(String.init) ?? "?") at chain position \(sequence) was removed after it was sealed"
        case .unqueued: "row \(id.map(String.init) ?? "?") is neither sealed nor waiting to be: it was taken off the sealing queue"
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
    /// Rows in the chain, and its first and last positions (the first is above 1 once
    /// retention dropped old months).
    public var sealedRows: Int64
    public var firstSequence: Int64?
    public var lastSequence: Int64?
    /// Rows written but not sealed yet, and the age in seconds of the oldest of them.
    public var unsealedRows: Int64
    public var oldestUnsealedSeconds: Double?
    /// The first breaks found (at most 100).
    public var problems: [AuditChainProblem]

    public var isIntact: Bool { problems.isEmpty }
}

/// The audit trail in PostgreSQL (tables and functions of migration V0006): rows appended in
/// batches or inside another transaction's statement, sealed into a hash chain, verified.
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
    @discardableResult
    public func seal(limit: Int = 10_000) async throws -> Int {
        let rows = try await client.query("SELECT audit_seal(\(limit)) AS sealed").rows
        return try rows.first?.decode("sealed", as: Int.self) ?? 0
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

    /// Walks the whole chain in the database: recomputes every link's hash from its event,
    /// checks each link follows the one before and that the newest is where the sealer left the
    /// head, and that every event is either sealed or waiting to be.
    public func verify() async throws -> AuditChainReport {
        let summary = try await client.query(
            """
            SELECT (SELECT count(*) FROM audit_chain) AS sealed,
                   (SELECT min(seq) FROM audit_chain) AS first_seq,
                   (SELECT max(seq) FROM audit_chain) AS last_seq,
                   (SELECT count(*) FROM audit_pending) AS unsealed,
                   (SELECT extract(epoch FROM now() - min(at))::float8 FROM audit_pending) AS oldest_unsealed,
                   h.last_seq AS head_seq,
                   h.last_hash IS NOT DISTINCT FROM (SELECT hash FROM audit_chain WHERE seq = h.last_seq) AS head_matches
            FROM audit_chain_head h
            """
        ).rows
        guard let row = summary.first else { throw AuditTrailError.noChainHead }
        var report = AuditChainReport(
            sealedRows: try row.decode("sealed"), firstSequence: try row.decodeIfPresent("first_seq"), lastSequence: try row.decodeIfPresent("last_seq"),
            unsealedRows: try row.decode("unsealed"), oldestUnsealedSeconds: try row.decodeIfPresent("oldest_unsealed"), problems: [])
        let breaks = try await client.query(
            """
            WITH walk AS (
                SELECT c.seq, c.event_id, e.id IS NULL AS gone,
                       e.id IS NOT NULL AND audit_row_hash(c.previous_hash, c.seq, e) = c.hash AS hash_ok,
                       lag(c.seq) OVER w AS before_seq, lag(c.hash) OVER w AS before_hash, c.previous_hash
                FROM audit_chain c LEFT JOIN audit_events e ON e.id = c.event_id AND e.at = c.event_at
                WINDOW w AS (ORDER BY c.seq)
            )
            SELECT seq, event_id,
                   CASE WHEN gone THEN 'removed'
                        WHEN NOT hash_ok THEN 'altered'
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
            // A removed link shows as a gap before the link after it: report the missing position.
            report.problems.append(
                kind == .missing
                    ? AuditChainProblem(kind: .missing, sequence: sequence - 1, id: nil) : AuditChainProblem(kind: kind, sequence: sequence, id: try line.decode("event_id")))
        }
        let headSequence: Int64 = try row.decode("head_seq")
        if headSequence > 0, report.problems.count < 100, try !(row.decodeIfPresent("head_matches", as: Bool.self) ?? false) {
            report.problems.append(AuditChainProblem(kind: .truncated, sequence: headSequence, id: nil))
        }
        // An event neither sealed nor waiting was taken off the sealing queue by hand.
        let orphans = try await client.query(
            """
            SELECT e.id FROM audit_events e
            WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id AND c.event_at = e.at)
              AND NOT EXISTS (SELECT 1 FROM audit_pending p WHERE p.id = e.id)
            ORDER BY e.id LIMIT \(max(0, 100 - report.problems.count))
            """
        ).rows
        for orphan in orphans {
            report.problems.append(AuditChainProblem(kind: .unqueued, sequence: 0, id: try orphan.decode("id")))
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
