public import AuditTrail
public import ClaimStore
public import Claims
public import CoreMetrics
public import Foundation
import Postgres

/// A ``ClaimRepository`` that times every operation and counts PostgreSQL errors:
/// - `claimsd_postgres_operation_duration_seconds{operation}` (histogram)
/// - `claimsd_postgres_errors_total{operation,sqlstate_class}`: the SQLSTATE class (`23`
///   integrity, `40` rollback, `57` operator intervention, …) or `connection` when no statement
///   reached the server. Refusals such as "not found" are answers, not errors, and are not counted.
public struct InstrumentedClaimRepository<Base: ClaimRepository>: ClaimRepository {
    let base: Base
    let factory: any MetricsFactory
    /// One timer per operation, made once (every claim request passes through here).
    let timers: [String: CoreMetrics.Timer]

    static var operations: [String] {
        [
            "create", "find", "list", "replace", "void", "idempotency_record", "idempotency_reserve", "idempotency_complete",
            "idempotency_release", "idempotency_purge", "events", "import_batch", "record_payment", "top_providers",
            "ranking_snapshot", "outbox_position", "claimed_lines",
        ]
    }

    public init(_ base: Base, factory: any MetricsFactory) {
        self.base = base
        self.factory = factory
        self.timers = Dictionary(
            uniqueKeysWithValues: Self.operations.map { operation in
                (operation, CoreMetrics.Timer(label: "claimsd_postgres_operation_duration_seconds", dimensions: [("operation", operation)], factory: factory))
            })
    }

    func measure<Result>(_ operation: String, _ body: () async throws -> Result) async throws -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        defer { timers[operation]?.recordNanoseconds(start.duration(to: clock.now).nanoseconds) }
        do {
            return try await body()
        } catch let error as PostgresError {
            let errorClass = error.sqlStateClass ?? "connection"
            Counter(label: "claimsd_postgres_errors_total", dimensions: [("operation", operation), ("sqlstate_class", errorClass)], factory: factory)
                .increment()
            throw error
        }
    }

    public func create(_ claim: StoredClaim, idempotency: IdempotencyRecord?, audit: AuditEvent?) async throws -> IdempotencyRecord? {
        try await measure("create") { try await base.create(claim, idempotency: idempotency, audit: audit) }
    }

    public func createScreened(_ claim: StoredClaim, audit: AuditEvent?, screening: any BatchScreening) async throws -> StoredClaim {
        try await measure("create") { try await base.createScreened(claim, audit: audit, screening: screening) }
    }

    public func claimedLines(_ keys: [ClaimedLineKey]) async throws -> Set<Int> {
        try await measure("claimed_lines") { try await base.claimedLines(keys) }
    }

    public func find(id: UUID) async throws -> StoredClaim? {
        try await measure("find") { try await base.find(id: id) }
    }

    public func list(_ query: ClaimListQuery) async throws -> ClaimPage {
        try await measure("list") { try await base.list(query) }
    }

    public func replace(id: UUID, with claim: ValidatedClaim, at timestamp: String, audit: AuditEvent?) async throws -> StoredClaim {
        try await measure("replace") { try await base.replace(id: id, with: claim, at: timestamp, audit: audit) }
    }

    public func void(id: UUID, at timestamp: String, audit: AuditEvent?) async throws -> StoredClaim {
        try await measure("void") { try await base.void(id: id, at: timestamp, audit: audit) }
    }

    public func idempotencyRecord(scope: String, key: String) async throws -> IdempotencyRecord? {
        try await measure("idempotency_record") { try await base.idempotencyRecord(scope: scope, key: key) }
    }

    public func reserve(_ record: IdempotencyRecord) async throws -> IdempotencyRecord? {
        try await measure("idempotency_reserve") { try await base.reserve(record) }
    }

    public func complete(_ record: IdempotencyRecord) async throws {
        try await measure("idempotency_complete") { try await base.complete(record) }
    }

    public func release(_ record: IdempotencyRecord) async throws {
        try await measure("idempotency_release") { try await base.release(record) }
    }

    public func purgeIdempotencyKeys(limit: Int) async throws -> Int {
        try await measure("idempotency_purge") { try await base.purgeIdempotencyKeys(limit: limit) }
    }

    public func events(after sequence: Int64, limit: Int) async throws -> [OutboxEvent] {
        try await measure("events") { try await base.events(after: sequence, limit: limit) }
    }

    public func store(_ batch: ImportBatch) async throws {
        try await measure("import_batch") { try await base.store(batch) }
    }

    public func prepared(_ batch: ImportBatch) -> ImportBatch {
        base.prepared(batch)
    }

    public func recordPayment(id: UUID, report: PaymentReport, at timestamp: String, audit: AuditEvent?) async throws -> PaymentRecord {
        try await measure("record_payment") { try await base.recordPayment(id: id, report: report, at: timestamp, audit: audit) }
    }

    public func topProviders(limit: Int) async throws -> [ProviderTotal] {
        try await measure("top_providers") { try await base.topProviders(limit: limit) }
    }

    public func rankingSnapshot() async throws -> RankingSnapshot {
        try await measure("ranking_snapshot") { try await base.rankingSnapshot() }
    }

    public func outboxPosition(after sequence: Int64) async throws -> OutboxPosition {
        try await measure("outbox_position") { try await base.outboxPosition(after: sequence) }
    }
}
