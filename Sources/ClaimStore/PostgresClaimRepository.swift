public import AuditTrail
public import Claims
public import DataProtection
public import Foundation
public import Postgres
import JSONText

/// Claims in PostgreSQL: every change and its outbox events in one transaction.
public struct PostgresClaimRepository: ClaimRepository {
    let client: PostgresClient
    /// Encrypts member identifiers, rejected input and remembered responses (see ``ProtectedColumn``).
    let cipher: FieldCipher
    let insertQueue: ClaimInsertQueue
    /// Seconds an idempotency key is remembered; an older one is treated as unused.
    let idempotencyRetentionSeconds: Int64

    /// The advisory lock key that orders outbox inserts (see the outbox_events table comment).
    public static let outboxLockKey: Int64 = 0x636C_6169_6D6F_7574  // "claimout"

    /// `cipher` encrypts what ``ProtectedColumn`` lists; `insertLimits` bound how many new claims
    /// one statement stores (see ``ClaimInsertQueue``), and `writers`, when given, is the client
    /// of the queue's statements (its sessions set up with ``ClaimInsertQueue/sessionSettings``;
    /// by default they share `client`); an idempotency key older than `idempotencyRetention` is
    /// forgotten.
    public init(
        client: PostgresClient, cipher: FieldCipher, insertLimits: ClaimInsertQueue.Limits = .init(), writers: PostgresClient? = nil,
        idempotencyRetention: Duration = .seconds(86_400)
    ) {
        self.client = client
        self.cipher = cipher
        self.insertQueue = ClaimInsertQueue(client: writers ?? client, cipher: cipher, limits: insertLimits)
        self.idempotencyRetentionSeconds = max(1, idempotencyRetention.components.seconds)
    }

    public func create(_ claim: StoredClaim, idempotency: IdempotencyRecord?, audit: AuditEvent?) async throws -> IdempotencyRecord? {
        guard let record = idempotency else {
            // Gathered with the claims other requests are storing at the same moment: one
            // statement, so one round trip and its own transaction, and the outbox ordering lock
            // is held only from the event insert to the commit, never across a network wait.
            try await insertQueue.insert(claim, audit: audit)
            return nil
        }
        return try await client.withTransaction { connection in
            // Claim the key first: a concurrent request with the same key waits here until this
            // transaction ends, then finds the stored response.
            if let earlier = try await reserve(record, claimID: claim.id, on: connection) { return earlier }
            try await connection.query(Self.insertStatement(for: [claim], audit: audit.map { [$0] } ?? [], cipher: cipher))
            return nil
        }
    }

    /// New claims, their lines and their creation events in one statement, whatever their
    /// number: each column travels as one array parameter and is expanded with `unnest`, so the
    /// SQL text, and the session's prepared statement, is the same for one claim or a hundred.
    /// The events are inserted last, after taking the outbox ordering lock (see
    /// ``appendEvents(_:on:)``).
    ///
    /// `alongside`, when given, adds one more data-modifying step to the statement (before the
    /// ordering lock is taken); it receives the bind list and returns its SQL.
    ///
    /// `unclaimed`, when given, makes the statement store nothing unless no stored claim (not
    /// voided) holds any of those lines: it fails with ``claimedLineFoundState`` instead (see
    /// migration 16, `no_line_claimed`).
    static func insertStatement(
        for claims: [StoredClaim], audit: [AuditEvent], cipher: FieldCipher, unclaimed: [ClaimedLineKey] = [],
        alongside: ((inout PostgresBindList) -> String)? = nil
    ) -> PostgresQuery {
        let claimRows = claims.map(claimRow)
        let lineRows = claims.flatMap { claim in claim.lines.map { lineRow(claim.id, $0, cipher: cipher) } }
        let shares = claims.map(\.providerShares)
        let shareValueRows = zip(claims, shares).flatMap { Self.shareRows($0, $1) }
        let eventRows = zip(claims, shares).flatMap { EventDraft.created($0, $1).map(\.row) }
        var binds = PostgresBindList()
        let claimValues = binds.unnest(claimRows, types: claimTypes)
        let lineValues = binds.unnest(lineRows, types: lineTypes)
        let shareValues = binds.unnest(shareValueRows, types: shareTypes)
        let lock = binds.value(String(outboxLockKey), type: "bigint")
        // The check of `unclaimed`, computed once (a materialized step) and read by both the
        // ordering lock's step and the claims' insert: whichever runs first runs it, so it comes
        // before the lock is taken, before a sequence number is drawn and before anything is
        // written, even when no event is (every claim held). Should it raise, nothing is kept.
        let check =
            unclaimed.isEmpty
            ? "" : "checked AS MATERIALIZED (SELECT no_line_claimed(\(claimedLineArguments(unclaimed, cipher: cipher, binds: &binds))) AS unclaimed),\n"
        let claimsFilter = " WHERE (SELECT ready FROM plans)" + (unclaimed.isEmpty ? "" : " AND (SELECT unclaimed FROM checked)")
        let orderingSource = unclaimed.isEmpty ? "" : " FROM checked"
        let eventValues = binds.unnest(eventRows, types: EventDraft.types)
        let auditInsert = PostgresAuditStore.insert(audit, binds: &binds)
        let extra = alongside.map { "alongside AS (\($0(&binds)))," } ?? ""
        let sql = """
            WITH \(Self.keptForeignKeyPlans)\(check)new_claims AS (INSERT INTO claims (\(claimColumns)) SELECT * FROM \(claimValues)\(claimsFilter)),
            new_audit AS (\(auditInsert)),\(extra)
            new_lines AS (INSERT INTO claim_lines (\(lineColumns)) SELECT * FROM \(lineValues)),
            new_shares AS (INSERT INTO claim_provider_shares (\(shareColumns)) SELECT * FROM \(shareValues)),
            ordering AS (SELECT pg_advisory_xact_lock(\(lock))\(orderingSource))
            INSERT INTO outbox_events (\(EventDraft.columns))
            SELECT event.* FROM ordering, \(eventValues) AS event
            """
        return PostgresQuery(sql: sql, binds: binds.values)
    }

    /// A step of the insert statement that makes the foreign-key checks of its lines cheap.
    ///
    /// claimsd's sessions plan every statement afresh (`plan_cache_mode = force_custom_plan`,
    /// see `ServiceConfiguration.postgres`): a plan kept from when `claims` was nearly empty would
    /// scan the whole table on every later call. That also re-planned each line's foreign-key
    /// check, which PostgreSQL runs at the end of the statement: a quarter of PostgreSQL's CPU on
    /// `POST /api/v1/claims` went to planning (docs/performance.md). For the rest of the
    /// statement's transaction (nothing follows it where it is used) this step lets plans be
    /// kept and rules out sequential scans, so each session plans the check once, as a probe of
    /// `claims`' primary key, whatever the table's size then. The claims' insert reads it, so it
    /// runs before any check.
    static let keptForeignKeyPlans = "plans AS MATERIALIZED (SELECT \(keepPlansWithoutSequentialScans) AS ready),\n"

    /// Sets, for the rest of the transaction, `plan_cache_mode = auto` and `enable_seqscan = off`;
    /// true. Used by the insert (``keptForeignKeyPlans``) and by imports.
    static let keepPlansWithoutSequentialScans =
        "set_config('plan_cache_mode', 'auto', true) IS NOT NULL AND set_config('enable_seqscan', 'off', true) IS NOT NULL"

    /// The positions in `keys` of lines a stored claim that is not voided already holds: one
    /// statement for any number of keys, each an index lookup.
    public func claimedLines(_ keys: [ClaimedLineKey]) async throws -> Set<Int> {
        try await Self.claimedLines(keys, client: client, cipher: cipher)
    }

    /// ``claimedLines(_:)`` on `client`.
    static func claimedLines(_ keys: [ClaimedLineKey], client: PostgresClient, cipher: FieldCipher) async throws -> Set<Int> {
        guard !keys.isEmpty else { return [] }
        // One statement for any number of keys (migration 13's function: an index probe each).
        var binds = PostgresBindList()
        let arguments = claimedLineArguments(keys, cipher: cipher, binds: &binds)
        let found = try await client.query(PostgresQuery(sql: "SELECT claimed_line_positions(\(arguments)) AS position", binds: binds.values)).rows
        return Set(try found.map { try $0.decode("position", as: Int.self) - 1 })
    }

    /// The SQLSTATE of a statement made with ``insertStatement(for:audit:cipher:unclaimed:alongside:)``'s
    /// `unclaimed` that found one of those lines stored: it stored nothing.
    public static let claimedLineFoundState = "CL001"

    /// Binds the four array arguments of `claimed_line_positions` and `no_line_claimed` for
    /// `keys` (the subscribers' blind indexes, procedures, quadrants and service dates) and
    /// returns their placeholders, comma-separated.
    static func claimedLineArguments(_ keys: [ClaimedLineKey], cipher: FieldCipher, binds: inout PostgresBindList) -> String {
        [
            binds.value(postgresArrayLiteral(keys.map { PostgresBytes(cipher.blindIndex($0.subscriberID)).postgresText }), type: "bytea[]"),
            binds.value(postgresArrayLiteral(keys.map(\.procedure)), type: "text[]"),
            binds.value(postgresArrayLiteral(keys.map(\.quadrant)), type: "text[]"),
            binds.value(postgresArrayLiteral(keys.map { $0.serviceDate.description }), type: "date[]"),
        ].joined(separator: ", ")
    }

    /// For each of `claims`, the numbers of its lines a stored claim holds already: one lookup.
    static func claimedLines(of claims: [StoredClaim], client: PostgresClient, cipher: FieldCipher) async throws -> [Set<Int>] {
        let (keys, owners) = ClaimedLineKey.lines(of: claims)
        return ClaimedLineKey.claimed(try await claimedLines(keys, client: client, cipher: cipher), owners: owners, claims: claims.count)
    }

    public func createScreened(_ claim: StoredClaim, audit: AuditEvent?, screening: any BatchScreening) async throws -> StoredClaim {
        try await insertQueue.insert(claim, audit: audit, screening: screening)
    }

    public func find(id: UUID) async throws -> StoredClaim? {
        try await client.withConnection { try await Self.load(id: id, on: $0, lock: false, cipher: cipher) }
    }

    public func list(_ query: ClaimListQuery) async throws -> ClaimPage {
        let rows = try await client.query(Self.listStatement(query, cipher: cipher)).rows
        let items = try rows.prefix(query.limit).map(Self.summary)
        return ClaimPage(items: items, nextAfter: rows.count > query.limit ? items.last?.id : nil)
    }

    /// The list query: newest first by id (UUIDv7, so creation order), one row more than the
    /// limit to tell whether another page follows. Each filter has an index (see the schema); a
    /// member's claims are found by the blind index of its subscriber id.
    static func listStatement(_ query: ClaimListQuery, cipher: FieldCipher) -> PostgresQuery {
        var sql = "SELECT \(summaryColumns) FROM claims WHERE true"
        var binds: [String?] = []
        func bind(_ value: String) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let npi = query.providerNPI { sql += " AND provider_npi = \(bind(npi))" }
        if let status = query.status { sql += " AND status = \(bind(status.rawValue))" }
        if let from = query.serviceDateFrom { sql += " AND service_date_to >= \(bind(from.description))::date" }
        if let to = query.serviceDateTo { sql += " AND service_date_from <= \(bind(to.description))::date" }
        if let after = query.after { sql += " AND id < \(bind(after.postgresText))::uuid" }
        if let npis = query.onlyProviders {
            let set = bind(postgresArrayLiteral(npis))
            sql += " AND provider_npi = ANY(\(set)::text[])"
            sql += " AND NOT EXISTS (SELECT 1 FROM claim_provider_shares s WHERE s.claim_id = claims.id AND s.provider_npi <> ALL(\(set)::text[]))"
        }
        if let subscriber = query.onlySubscriber {
            let index = bind(PostgresBytes(cipher.blindIndex(subscriber)).postgresText) + "::bytea"
            sql += " AND id IN (SELECT claim_id FROM claim_lines WHERE subscriber_id_index = \(index))"
            sql += " AND NOT EXISTS (SELECT 1 FROM claim_lines l WHERE l.claim_id = claims.id AND l.subscriber_id_index <> \(index))"
        }
        sql += " ORDER BY id DESC LIMIT \(bind(String(query.limit + 1)))::int"
        return PostgresQuery(sql: sql, binds: binds)
    }

    public func replace(id: UUID, with claim: ValidatedClaim, at timestamp: String, audit: AuditEvent?) async throws -> StoredClaim {
        try await client.withTransaction { connection in
            guard let current = try await Self.load(id: id, on: connection, lock: true, cipher: cipher) else { throw ClaimStoreError.notFound(id) }
            guard current.status == .submitted else { throw ClaimStoreError.invalidTransition(id: id, from: current.status, action: "updated") }
            var updated = StoredClaim(id: id, claim: claim, at: current.createdAt)
            updated.updatedAt = timestamp
            let dates = updated.serviceDateRange
            try await connection.query(
                """
                UPDATE claims SET external_claim_number = \(updated.externalClaimNumber), provider_npi = \(updated.providerNPI),
                    net_fee = \(updated.netFee.description)::numeric, line_count = \(updated.lines.count),
                    service_date_from = \(dates?.lowerBound.description ?? "")::date, service_date_to = \(dates?.upperBound.description ?? "")::date,
                    warnings = \(Self.violationsJSON(updated.warnings))::jsonb, ignored_fields = \(Self.stringsJSON(updated.ignoredFields))::jsonb,
                    updated_at = \(timestamp)::timestamptz
                WHERE id = \(id)
                """)
            try await connection.query("DELETE FROM claim_lines WHERE claim_id = \(id)")
            try await Self.insertLines(of: id, updated.lines, cipher: cipher, on: connection)
            try await connection.query("DELETE FROM claim_provider_shares WHERE claim_id = \(id)")
            try await Self.insertShares(of: updated, on: connection)
            // One event per provider the claim had or has: the change of its part.
            let before = Dictionary(uniqueKeysWithValues: current.providerShares.map { ($0.providerNPI, $0.netFee) })
            let after = Dictionary(uniqueKeysWithValues: updated.providerShares.map { ($0.providerNPI, $0.netFee) })
            let events = Set(before.keys).union(after.keys).sorted().map { npi in
                EventDraft(
                    claimID: id, type: "claim.updated", providerNPI: npi, delta: (after[npi] ?? .zero) - (before[npi] ?? .zero),
                    providerClaimsDelta: (after[npi] == nil ? 0 : 1) - (before[npi] == nil ? 0 : 1), netFee: updated.netFee, status: .submitted,
                    providerNetFee: after[npi] ?? .zero)
            }
            try await Self.appendEvents(events, on: connection)
            try await Self.appendAudit(audit, on: connection)
            return updated
        }
    }

    public func void(id: UUID, at timestamp: String, audit: AuditEvent?) async throws -> StoredClaim {
        try await client.withTransaction { connection in
            guard var claim = try await Self.load(id: id, on: connection, lock: true, cipher: cipher) else { throw ClaimStoreError.notFound(id) }
            switch claim.status {
            case .voided:
                try await Self.appendAudit(audit, on: connection)
                return claim
            case .paid:
                throw ClaimStoreError.invalidTransition(id: id, from: .paid, action: "voided")
            case .held:
                // Never sent on: nothing in the ranking or the feed to take back.
                try await connection.query("UPDATE claims SET status = 'voided', updated_at = \(timestamp)::timestamptz, flags_pending = false WHERE id = \(id)")
                claim.status = .voided
                claim.updatedAt = timestamp
                try await Self.appendAudit(audit, on: connection)
                return claim
            case .submitted, .paymentFailed:
                // A failed payment already took the claim out of the ranking: nothing to subtract.
                let counted = claim.status.countsTowardsRanking
                try await connection.query("UPDATE claims SET status = 'voided', updated_at = \(timestamp)::timestamptz, flags_pending = false WHERE id = \(id)")
                if counted { try await connection.query("UPDATE claim_provider_shares SET counts = false WHERE claim_id = \(id)") }
                claim.status = .voided
                claim.updatedAt = timestamp
                try await Self.appendEvents(
                    claim.providerShares.map { share in
                        EventDraft(
                            claimID: id, type: "claim.voided", providerNPI: share.providerNPI, delta: counted ? .zero - share.netFee : .zero,
                            providerClaimsDelta: counted ? -1 : 0, netFee: claim.netFee, status: .voided, providerNetFee: share.netFee)
                    },
                    on: connection)
                try await Self.appendAudit(audit, on: connection)
                return claim
            }
        }
    }

    /// Writes `audit` (when given) in the transaction of `connection`.
    static func appendAudit(_ audit: AuditEvent?, on connection: PostgresConnection) async throws {
        try await PostgresAuditStore.append(audit.map { [$0] } ?? [], on: connection)
    }

    public func recordPayment(id: UUID, report: PaymentReport, at timestamp: String, audit: AuditEvent?) async throws -> PaymentRecord {
        try await client.withTransaction { connection in
            guard let claim = try await Self.load(id: id, on: connection, lock: true, cipher: cipher) else { throw ClaimStoreError.notFound(id) }
            if let earlier = try await Self.paymentRecord(claimID: id, status: claim.status, on: connection) {
                guard earlier.report.outcome == report.outcome else {
                    throw ClaimStoreError.paymentAlreadyReported(id: id, outcome: earlier.report.outcome)
                }
                try await Self.appendAudit(audit, on: connection)
                return earlier
            }
            guard claim.status == .submitted else {
                throw ClaimStoreError.invalidTransition(id: id, from: claim.status, action: report.outcome == .paid ? "paid" : "marked as failed")
            }
            let status = report.outcome.claimStatus
            try await connection.query("UPDATE claims SET status = \(status.rawValue), updated_at = \(timestamp)::timestamptz WHERE id = \(id)")
            // A failed payment is compensated: each provider's part leaves its ranking.
            let paid = report.outcome == .paid
            if !paid { try await connection.query("UPDATE claim_provider_shares SET counts = false WHERE claim_id = \(id)") }
            let events = claim.providerShares.map { share in
                EventDraft(
                    claimID: id, type: paid ? "claim.paid" : "claim.payment_failed", providerNPI: share.providerNPI,
                    delta: paid ? .zero : .zero - share.netFee, providerClaimsDelta: paid ? 0 : -1, netFee: claim.netFee, status: status,
                    providerNetFee: share.netFee)
            }
            let sequence = try await Self.appendEvents(events, on: connection)[0]
            try await connection.query(
                """
                INSERT INTO payment_results (claim_id, outcome, reason, payment_id, sequence, recorded_at)
                VALUES (\(id), \(report.outcome.rawValue), \(report.reason), \(report.paymentID), \(sequence), \(timestamp)::timestamptz)
                """)
            try await Self.appendAudit(audit, on: connection)
            return PaymentRecord(claimID: id, report: report, status: status, sequence: sequence, recordedAt: timestamp, isReplay: false)
        }
    }

    public func outboxPosition(after sequence: Int64) async throws -> OutboxPosition {
        let row = try await client.query(
            """
            SELECT (SELECT coalesce(max(sequence), 0) FROM outbox_events) AS latest,
                   (SELECT extract(epoch FROM clock_timestamp() - created_at)::float8 FROM outbox_events
                    WHERE sequence > \(sequence) ORDER BY sequence LIMIT 1) AS oldest_pending_age
            """
        ).rows[0]
        return OutboxPosition(latestSequence: try row.decode("latest"), oldestPendingAgeSeconds: try row.decodeIfPresent("oldest_pending_age") ?? 0)
    }

    public func topProviders(limit: Int) async throws -> [ProviderTotal] {
        try await client.query(
            """
            SELECT provider_npi, sum(net_fee)::text AS net_fee, count(*)::int AS claims FROM claim_provider_shares
            WHERE counts GROUP BY provider_npi ORDER BY sum(net_fee) DESC, provider_npi LIMIT \(limit)
            """
        ).rows.map(Self.providerTotal)
    }

    public func rankingSnapshot() async throws -> RankingSnapshot {
        try await client.withTransaction { connection in
            // One snapshot for both reads. Outbox sequences commit in order (see appendEvents), so
            // the snapshot holds exactly the events up to its highest sequence, and the claims
            // table as those events left it.
            try await connection.execute(script: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            let sequence: Int64 = try await connection.query("SELECT coalesce(max(sequence), 0) AS sequence FROM outbox_events")
                .rows[0].decode("sequence")
            let totals = try await connection.query(
                """
                SELECT provider_npi, sum(net_fee)::text AS net_fee, count(*)::int AS claims FROM claim_provider_shares
                WHERE counts GROUP BY provider_npi
                """
            ).rows.map(Self.providerTotal)
            return RankingSnapshot(sequence: sequence, totals: totals)
        }
    }

    static func providerTotal(_ row: PostgresRow) throws -> ProviderTotal {
        ProviderTotal(providerNPI: try row.decode("provider_npi"), netFee: try money(row, "net_fee"), claims: try row.decode("claims"))
    }

    static func paymentRecord(claimID: UUID, status: ClaimStatus, on connection: PostgresConnection) async throws -> PaymentRecord? {
        guard let row = try await connection.query(
            """
            SELECT outcome, reason, payment_id, sequence, \(unescaped: rfc3339("recorded_at")) AS recorded_at
            FROM payment_results WHERE claim_id = \(claimID)
            """
        ).rows.first else { return nil }
        let outcomeText: String = try row.decode("outcome")
        guard let outcome = PaymentOutcome(rawValue: outcomeText) else {
            throw PostgresError(code: .decoding, message: "unknown payment outcome \"\(outcomeText)\"")
        }
        return PaymentRecord(
            claimID: claimID, report: PaymentReport(outcome: outcome, reason: try row.decodeIfPresent("reason"), paymentID: try row.decodeIfPresent("payment_id")),
            status: status, sequence: try row.decode("sequence"), recordedAt: try row.decode("recorded_at"), isReplay: true)
    }

    public func idempotencyRecord(scope: String, key: String) async throws -> IdempotencyRecord? {
        try await client.withConnection { try await idempotencyRecord(scope: scope, key: key, on: $0) }
    }

    public func reserve(_ record: IdempotencyRecord) async throws -> IdempotencyRecord? {
        try await client.withConnection { try await reserve(record, claimID: nil, on: $0) }
    }

    public func complete(_ record: IdempotencyRecord) async throws {
        try await client.query(
            """
            UPDATE idempotency_keys SET response_status = \(record.status), response_body_sealed = \(sealedBody(record))
            WHERE scope = \(record.scope) AND key = \(record.key)
            """)
    }

    public func release(_ record: IdempotencyRecord) async throws {
        try await client.query(
            "DELETE FROM idempotency_keys WHERE scope = \(record.scope) AND key = \(record.key) AND response_status = 0")
    }

    public func purgeIdempotencyKeys(limit: Int) async throws -> Int {
        let rows = try await client.query(
            """
            WITH expired AS (
                SELECT scope, key FROM idempotency_keys
                WHERE created_at <= now() - make_interval(secs => \(idempotencyRetentionSeconds)::float8)
                ORDER BY created_at LIMIT \(limit)
            )
            DELETE FROM idempotency_keys AS k USING expired WHERE k.scope = expired.scope AND k.key = expired.key
            RETURNING 1
            """
        ).rows
        return rows.count
    }

    /// Stores `record` unless a live record holds its scope and key; then returns that one. An
    /// expired record in the way is replaced.
    func reserve(_ record: IdempotencyRecord, claimID: UUID?, on connection: PostgresConnection) async throws -> IdempotencyRecord? {
        let inserted = try await connection.query(
            """
            INSERT INTO idempotency_keys AS k (scope, key, request_hash, response_status, response_body_sealed, claim_id)
            VALUES (\(record.scope), \(record.key), \(record.requestHash), \(record.status), \(sealedBody(record)), \(claimID))
            ON CONFLICT (scope, key) DO UPDATE SET
                request_hash = EXCLUDED.request_hash, response_status = EXCLUDED.response_status,
                response_body_sealed = EXCLUDED.response_body_sealed, claim_id = EXCLUDED.claim_id, created_at = now()
            WHERE k.created_at <= now() - make_interval(secs => \(idempotencyRetentionSeconds)::float8)
            RETURNING key
            """)
        guard inserted.rows.isEmpty else { return nil }
        return try await idempotencyRecord(scope: record.scope, key: record.key, on: connection)
    }

    public func events(after sequence: Int64, limit: Int) async throws -> [OutboxEvent] {
        let rows = try await client.query(
            """
            SELECT sequence, claim_id, event_type, provider_npi, net_fee_delta::text AS delta, provider_claims_delta::int AS claims_delta,
                   net_fee::text AS net_fee, status, \(unescaped: Self.rfc3339("created_at")) AS created_at,
                   provider_net_fee::text AS provider_net_fee
            FROM outbox_events WHERE sequence > \(sequence) ORDER BY sequence LIMIT \(limit)
            """
        ).rows
        return try rows.map { row in
            OutboxEvent(
                sequence: try row.decode("sequence"), claimID: try row.decode("claim_id"), eventType: try row.decode("event_type"),
                providerNPI: try row.decode("provider_npi"), netFeeDelta: try Self.money(row, "delta"),
                providerClaimsDelta: try row.decode("claims_delta"), netFee: try Self.money(row, "net_fee"),
                status: try Self.status(row), createdAt: try row.decode("created_at"),
                providerNetFee: try row.decodeIfPresent("provider_net_fee", as: String.self).flatMap(Money.init(parsing:)))
        }
    }

    public func prepared(_ batch: ImportBatch) -> ImportBatch {
        var batch = batch
        batch.prepareRows(cipher: cipher)
        return batch
    }

    public func store(_ batch: ImportBatch) async throws {
        guard !batch.accepted.isEmpty || !batch.rejected.isEmpty else { return }
        let rows = batch.rows ?? ImportRows(batch, cipher: cipher)
        try await client.withTransaction { connection in
            // COPY checks the lines' foreign key once per row: a plan made per check (the
            // session default, see ServiceConfiguration) would cost more than the row itself.
            // Kept plans never scan `claims` whole, as in the insert (``keptForeignKeyPlans``):
            // the check's plan this session keeps may serve its inserts later.
            try await connection.query(PostgresQuery(sql: "SELECT \(Self.keepPlansWithoutSequentialScans)"))
            if !rows.claims.isEmpty {
                try await connection.copyFrom("COPY claims (\(Self.claimColumns)) FROM STDIN", rows: rows.claims)
                try await connection.copyFrom("COPY claim_lines (\(Self.lineColumns)) FROM STDIN", rows: rows.lines)
                try await connection.copyFrom("COPY claim_provider_shares (\(Self.shareColumns)) FROM STDIN", rows: rows.shares)
            }
            if !rows.rejected.isEmpty {
                try await connection.copyFrom("COPY rejected_claims (\(ImportRows.rejectedColumns)) FROM STDIN", rows: rows.rejected)
            }
            try await Self.appendAudit(batch.auditEvent, on: connection)
            guard !rows.events.isEmpty else { return }
            // Last, under the ordering lock, like every other change.
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.outboxLockKey))")
            try await connection.copyFrom("COPY outbox_events (\(EventDraft.columns)) FROM STDIN", rows: rows.events)
        }
    }

    // MARK: - SQL

    /// An import batch's rows in COPY text, one set per table.
    struct ImportRows: Sendable {
        var claims = CopyRows()
        var lines = CopyRows()
        var shares = CopyRows()
        var rejected = CopyRows()
        var events = CopyRows()

        static let rejectedColumns = "id, import_id, external_claim_number, source, raw_sealed, violations"

        init(_ batch: ImportBatch, cipher: FieldCipher) {
            for claim in batch.accepted {
                claims.append(PostgresClaimRepository.claimRow(claim))
                for line in claim.lines { lines.append(PostgresClaimRepository.lineRow(claim.id, line, cipher: cipher)) }
                let parts = claim.providerShares
                for share in PostgresClaimRepository.shareRows(claim, parts) { shares.append(share) }
                for event in EventDraft.created(claim, parts) { events.append(event.row) }
            }
            for claim in batch.rejected {
                let id = claim.id.postgresText
                let raw = cipher.seal(claim.originalJSON, context: ProtectedColumn.rejectedClaimRaw.context(id))
                rejected.append([
                    id, claim.importID.postgresText, claim.externalClaimNumber, claim.source, PostgresBytes(raw).postgresText,
                    PostgresClaimRepository.violationsJSON(claim.violations),
                ])
            }
        }
    }

    struct EventDraft {
        var claimID: UUID
        var type: String
        var providerNPI: String
        var delta: Money
        /// How the event changes the number of the provider's claims that count towards its ranking.
        var providerClaimsDelta: Int
        var netFee: Money
        var status: ClaimStatus
        /// The provider's part of the claim's net fee after the change.
        var providerNetFee: Money

        /// The events a new claim gets: each provider's part (`shares`) added to that provider.
        /// A held claim gets none until it is released (see ``FlaggedClaimReview``).
        static func created(_ claim: StoredClaim, _ shares: [ProviderShare]) -> [EventDraft] {
            guard claim.status != .held else { return [] }
            return shares.map { share in
                EventDraft(
                    claimID: claim.id, type: "claim.created", providerNPI: share.providerNPI, delta: share.netFee, providerClaimsDelta: 1,
                    netFee: claim.netFee, status: .submitted, providerNetFee: share.netFee)
            }
        }

        static let columns = "claim_id, event_type, provider_npi, net_fee_delta, provider_claims_delta, net_fee, status, provider_net_fee"
        /// The PostgreSQL types of ``columns``, in order.
        static let types = ["uuid", "text", "text", "numeric", "smallint", "numeric", "text", "numeric"]

        /// The column values in ``columns`` order, as PostgreSQL text.
        var row: [String?] {
            [
                claimID.postgresText, type, providerNPI, delta.description, String(providerClaimsDelta), netFee.description, status.rawValue,
                providerNetFee.description,
            ]
        }
    }

    static let claimColumns = """
        id, external_claim_number, status, provider_npi, net_fee, line_count, service_date_from, service_date_to, warnings, \
        ignored_fields, created_at, updated_at, flags, flags_pending
        """

    /// The PostgreSQL types of ``claimColumns``, in order.
    static let claimTypes = ["uuid", "text", "text", "text", "numeric", "int", "date", "date", "jsonb", "jsonb", "timestamptz", "timestamptz", "jsonb", "boolean"]

    static let lineColumns = """
        claim_id, line_number, service_date, submitted_procedure, quadrant, group_id, subscriber_id_sealed, subscriber_id_index, \
        provider_npi, provider_fees, allowed_fees, member_coinsurance, member_copay, net_fee
        """

    /// A line's column values in ``lineColumns`` order, as PostgreSQL text: the subscriber id
    /// encrypted for its row, and its blind index.
    static func lineRow(_ claimID: UUID, _ line: ClaimLine, cipher: FieldCipher) -> [String?] {
        let id = claimID.postgresText
        let number = String(line.lineNumber)
        let sealed = cipher.seal(line.subscriberID, context: ProtectedColumn.subscriberID.context(id, number))
        return [
            id, number, line.serviceDate.description, line.submittedProcedure, line.quadrant, line.groupID,
            PostgresBytes(sealed).postgresText, PostgresBytes(cipher.blindIndex(line.subscriberID)).postgresText, line.providerNPI,
            line.providerFees.description, line.allowedFees.description, line.memberCoinsurance.description, line.memberCopay.description,
            line.netFee.description,
        ]
    }

    /// A claim's column values in ``claimColumns`` order, as PostgreSQL text.
    static func claimRow(_ claim: StoredClaim) -> [String?] {
        let dates = claim.serviceDateRange
        return [
            claim.id.postgresText, claim.externalClaimNumber, claim.status.rawValue, claim.providerNPI, claim.netFee.description,
            String(claim.lines.count), dates?.lowerBound.description, dates?.upperBound.description,
            violationsJSON(claim.warnings), stringsJSON(claim.ignoredFields),
            claim.createdAt, claim.updatedAt, flagsJSON(claim.flags), claim.flags.isEmpty ? "f" : "t",
        ]
    }

    /// The PostgreSQL types of ``lineColumns``, in order.
    static let lineTypes = ["uuid", "int", "date", "text", "text", "text", "bytea", "bytea", "text", "numeric", "numeric", "numeric", "numeric", "numeric"]

    static func insertLines(of id: UUID, _ lines: [ClaimLine], cipher: FieldCipher, on connection: PostgresConnection) async throws {
        var binds = PostgresBindList()
        let rows = binds.unnest(lines.map { lineRow(id, $0, cipher: cipher) }, types: lineTypes)
        try await connection.query(PostgresQuery(sql: "INSERT INTO claim_lines (\(lineColumns)) SELECT * FROM \(rows)", binds: binds.values))
    }

    static let shareColumns = "claim_id, provider_npi, net_fee, counts"
    /// The PostgreSQL types of ``shareColumns``, in order.
    static let shareTypes = ["uuid", "text", "numeric", "boolean"]

    /// A claim's rows in ``shareColumns`` order: one per provider (`shares`), as PostgreSQL text.
    static func shareRows(_ claim: StoredClaim, _ shares: [ProviderShare]) -> [[String?]] {
        let counts = claim.status.countsTowardsRanking ? "t" : "f"
        return shares.map { [claim.id.postgresText, $0.providerNPI, $0.netFee.description, counts] }
    }

    static func insertShares(of claim: StoredClaim, on connection: PostgresConnection) async throws {
        var binds = PostgresBindList()
        let rows = binds.unnest(shareRows(claim, claim.providerShares), types: shareTypes)
        try await connection.query(
            PostgresQuery(sql: "INSERT INTO claim_provider_shares (\(shareColumns)) SELECT * FROM \(rows)", binds: binds.values))
    }

    /// Appends events as the transaction's last step, in one statement that first takes the
    /// outbox ordering lock: sequence numbers are drawn under the lock, which is held until
    /// commit, so sequence order is commit order.
    @discardableResult
    static func appendEvents(_ events: [EventDraft], on connection: PostgresConnection) async throws -> [Int64] {
        guard !events.isEmpty else { return [] }
        var binds = PostgresBindList()
        let lock = binds.value(String(outboxLockKey), type: "bigint")
        let rows = binds.unnest(events.map(\.row), types: EventDraft.types)
        let inserted = try await connection.query(
            PostgresQuery(
                sql: """
                    INSERT INTO outbox_events (\(EventDraft.columns))
                    SELECT event.* FROM (SELECT pg_advisory_xact_lock(\(lock))) AS ordering, \(rows) AS event
                    RETURNING sequence
                    """,
                binds: binds.values))
        return try inserted.rows.map { try $0.decode("sequence") }.sorted()
    }

    static func load(id: UUID, on connection: PostgresConnection, lock: Bool, cipher: FieldCipher) async throws -> StoredClaim? {
        let claimRows = try await connection.query(
            PostgresQuery(
                sql: "SELECT \(summaryColumns), warnings::text AS warnings, ignored_fields::text AS ignored_fields, flags::text AS flags FROM claims WHERE id = $1::uuid"
                    + (lock ? " FOR UPDATE" : ""),
                binds: [id.postgresText])
        ).rows
        guard let row = claimRows.first else { return nil }
        let summary = try summary(row)
        let lineRows = try await connection.query(
            """
            SELECT line_number, service_date::text AS service_date, submitted_procedure, quadrant, group_id, subscriber_id_sealed, provider_npi,
                   provider_fees::text AS provider_fees, allowed_fees::text AS allowed_fees, member_coinsurance::text AS member_coinsurance,
                   member_copay::text AS member_copay
            FROM claim_lines WHERE claim_id = \(id) ORDER BY line_number
            """
        ).rows
        let claimID = id.postgresText
        let lines = try lineRows.map { line in
            let number: Int = try line.decode("line_number")
            let subscriberID = try cipher.openString(
                try line.decode("subscriber_id_sealed", as: PostgresBytes.self).bytes, context: ProtectedColumn.subscriberID.context(claimID, String(number)))
            return ClaimLine(
                lineNumber: number, serviceDate: try date(line, "service_date"),
                submittedProcedure: try line.decode("submitted_procedure"), quadrant: try line.decodeIfPresent("quadrant"),
                groupID: try line.decode("group_id"), subscriberID: subscriberID, providerNPI: try line.decode("provider_npi"),
                providerFees: try money(line, "provider_fees"), allowedFees: try money(line, "allowed_fees"),
                memberCoinsurance: try money(line, "member_coinsurance"), memberCopay: try money(line, "member_copay"))
        }
        return StoredClaim(
            id: summary.id, externalClaimNumber: summary.externalClaimNumber, status: summary.status, providerNPI: summary.providerNPI,
            netFee: summary.netFee, lines: lines,
            warnings: try StoredJSON.violations(try row.decode("warnings", as: String.self)),
            ignoredFields: try StoredJSON.strings(try row.decode("ignored_fields", as: String.self)),
            createdAt: summary.createdAt, updatedAt: summary.updatedAt, flags: try StoredJSON.flags(try row.decode("flags", as: String.self)))
    }

    func idempotencyRecord(scope: String, key: String, on connection: PostgresConnection) async throws -> IdempotencyRecord? {
        guard let row = try await connection.query(
            """
            SELECT scope, key, request_hash, response_status, response_body_sealed, \(Self.rfc3339("created_at")) AS created_at
            FROM idempotency_keys
            WHERE scope = \(scope) AND key = \(key) AND created_at > now() - make_interval(secs => \(idempotencyRetentionSeconds)::float8)
            """
        ).rows.first else { return nil }
        let body = try cipher.openString(
            try row.decode("response_body_sealed", as: PostgresBytes.self).bytes, context: ProtectedColumn.idempotencyResponse.context(scope, key))
        return IdempotencyRecord(
            scope: try row.decode("scope"), key: try row.decode("key"), requestHash: try row.decode("request_hash"),
            status: try row.decode("response_status"), body: body, createdAt: try row.decode("created_at"))
    }

    /// The record's response, encrypted for its row.
    func sealedBody(_ record: IdempotencyRecord) -> PostgresBytes {
        PostgresBytes(cipher.seal(record.body, context: ProtectedColumn.idempotencyResponse.context(record.scope, record.key)))
    }

    static let summaryColumns = """
        id, external_claim_number, status, provider_npi, net_fee::text AS net_fee, line_count,
        service_date_from::text AS service_date_from, service_date_to::text AS service_date_to,
        \(rfc3339("created_at")) AS created_at, \(rfc3339("updated_at")) AS updated_at
        """

    static func rfc3339(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }

    static func summary(_ row: PostgresRow) throws -> ClaimSummary {
        ClaimSummary(
            id: try row.decode("id"), externalClaimNumber: try row.decodeIfPresent("external_claim_number"), status: try status(row),
            providerNPI: try row.decode("provider_npi"), netFee: try money(row, "net_fee"), lineCount: try row.decode("line_count"),
            serviceDateFrom: try date(row, "service_date_from"), serviceDateTo: try date(row, "service_date_to"),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }

    static func money(_ row: PostgresRow, _ column: String) throws -> Money {
        let text: String = try row.decode(column)
        guard let money = Money(parsing: text) else { throw PostgresError(code: .decoding, message: "column \"\(column)\" value \"\(text)\" is not money") }
        return money
    }

    static func date(_ row: PostgresRow, _ column: String) throws -> CalendarDate {
        let text: String = try row.decode(column)
        guard let date = CalendarDate(parsing: text) else { throw PostgresError(code: .decoding, message: "column \"\(column)\" value \"\(text)\" is not a date") }
        return date
    }

    static func status(_ row: PostgresRow) throws -> ClaimStatus {
        let text: String = try row.decode("status")
        guard let status = ClaimStatus(rawValue: text) else { throw PostgresError(code: .decoding, message: "unknown claim status \"\(text)\"") }
        return status
    }

    /// Violations as stored: a JSON array with sorted keys (see ``JSONWriter/violations(_:)``).
    static func violationsJSON(_ violations: [Violation]) -> String {
        var writer = JSONWriter(capacity: 64 + 160 * violations.count)
        writer.violations(violations)
        return writer.text
    }

    /// Flags as the `flags` column stores them: objects with `rule`, `message` and, for a
    /// line, `line`.
    static func flagsJSON(_ flags: [ClaimFlag]) -> String {
        guard !flags.isEmpty else { return "[]" }
        var writer = JSONWriter(capacity: 128 * flags.count)
        writer.flags(flags)
        return writer.text
    }

    /// A JSON array of strings, as the `ignored_fields` column stores it.
    static func stringsJSON(_ strings: [String]) -> String {
        var writer = JSONWriter(capacity: 2 + strings.reduce(0) { $0 + $1.utf8.count + 3 })
        writer.strings(strings)
        return writer.text
    }
}
