public import AuditTrail
public import Claims
public import DataProtection
public import Foundation
import JSONText
import Postgres

/// Where a claim is in its life.
public enum ClaimStatus: String, Sendable, Codable, CaseIterable {
    case submitted
    case voided
    case paid
    case paymentFailed = "payment_failed"
    /// Flagged by screening with `CLAIMS_HOLD_FLAGGED` on: stored and priced, but not counted in
    /// the ranking nor sent to payments (no outbox event) until an operator releases it.
    case held

    /// Whether a claim in this status adds its net fee to its provider's ranking total.
    public var countsTowardsRanking: Bool { self == .submitted || self == .paid }
}

/// A claim as stored: its id, status, priced lines and history stamps.
public struct StoredClaim: Sendable, Equatable {
    public var id: UUID
    public var externalClaimNumber: String?
    public var status: ClaimStatus
    public var providerNPI: String
    public var netFee: Money
    public var lines: [ClaimLine]
    public var warnings: [Violation]
    public var ignoredFields: [String]
    /// Why screening set it aside for review; empty for most claims.
    public var flags: [ClaimFlag] = []
    /// RFC 3339 UTC with milliseconds.
    public var createdAt: String
    public var updatedAt: String

    /// A new, submitted claim made from a validated one.
    public init(id: UUID, claim: ValidatedClaim, at timestamp: String) {
        self.id = id
        self.externalClaimNumber = claim.externalClaimNumber
        self.status = .submitted
        self.providerNPI = claim.providerNPI
        self.netFee = claim.netFee
        self.lines = claim.lines
        self.warnings = claim.warnings
        self.ignoredFields = claim.ignoredFields
        self.createdAt = timestamp
        self.updatedAt = timestamp
    }

    public init(
        id: UUID, externalClaimNumber: String?, status: ClaimStatus, providerNPI: String, netFee: Money, lines: [ClaimLine],
        warnings: [Violation], ignoredFields: [String], createdAt: String, updatedAt: String, flags: [ClaimFlag] = []
    ) {
        self.flags = flags
        self.id = id
        self.externalClaimNumber = externalClaimNumber
        self.status = status
        self.providerNPI = providerNPI
        self.netFee = netFee
        self.lines = lines
        self.warnings = warnings
        self.ignoredFields = ignoredFields
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Each provider's part of the net fee, by NPI (one share unless `single_provider` is relaxed).
    public var providerShares: [ProviderShare] { ProviderShare.shares(of: lines) }

    /// The earliest and latest service dates of the lines.
    public var serviceDateRange: ClosedRange<CalendarDate>? {
        guard let first = lines.map(\.serviceDate).min(), let last = lines.map(\.serviceDate).max() else { return nil }
        return first...last
    }
}

/// A claim in a list: everything but its lines.
public struct ClaimSummary: Sendable, Equatable {
    public var id: UUID
    public var externalClaimNumber: String?
    public var status: ClaimStatus
    public var providerNPI: String
    public var netFee: Money
    public var lineCount: Int
    public var serviceDateFrom: CalendarDate
    public var serviceDateTo: CalendarDate
    public var createdAt: String
    public var updatedAt: String
}

/// Filters and position for listing claims, newest first.
public struct ClaimListQuery: Sendable, Equatable {
    public var providerNPI: String?
    public var status: ClaimStatus?
    /// Claims with a line on or after this day.
    public var serviceDateFrom: CalendarDate?
    /// Claims with a line on or before this day.
    public var serviceDateTo: CalendarDate?
    /// Only claims older than this id (the previous page's last id).
    public var after: UUID?
    public var limit: Int
    /// Only claims whose providers are all among these NPIs (a provider's own claims).
    public var onlyProviders: [String]?
    /// Only claims whose lines all belong to this subscriber id (a member's own claims).
    public var onlySubscriber: String?

    public init(
        providerNPI: String? = nil, status: ClaimStatus? = nil, serviceDateFrom: CalendarDate? = nil, serviceDateTo: CalendarDate? = nil,
        after: UUID? = nil, limit: Int = 50
    ) {
        self.providerNPI = providerNPI
        self.status = status
        self.serviceDateFrom = serviceDateFrom
        self.serviceDateTo = serviceDateTo
        self.after = after
        self.limit = limit
    }
}

/// One page of a list and the id to continue after, when there is more.
public struct ClaimPage: Sendable, Equatable {
    public var items: [ClaimSummary]
    public var nextAfter: UUID?
}

/// A stored response for an `Idempotency-Key`, or the reservation of a key whose request has
/// not finished (``status`` 0).
public struct IdempotencyRecord: Sendable, Equatable {
    /// Whose key it is: the caller that sent it (``key`` is unique per scope).
    public var scope: String
    public var key: String
    /// A digest of the request body, to tell a retry from a different request under the same key.
    public var requestHash: String
    /// The response's status, or 0 while the request is still being served.
    public var status: Int
    public var body: String
    /// When the key was first used (RFC 3339), when read back from storage.
    public var createdAt: String?

    public init(scope: String, key: String, requestHash: String, status: Int, body: String, createdAt: String? = nil) {
        self.scope = scope
        self.key = key
        self.requestHash = requestHash
        self.status = status
        self.body = body
        self.createdAt = createdAt
    }

    /// Whether the request under this key has finished and ``body`` is its response.
    public var isComplete: Bool { status != 0 }
}

/// One change event as consumers (the relay, the payments service) read it.
public struct OutboxEvent: Sendable, Equatable {
    public var sequence: Int64
    public var claimID: UUID
    public var eventType: String
    public var providerNPI: String
    public var netFeeDelta: Money
    /// How the event changes the number of the provider's claims that count towards its ranking.
    public var providerClaimsDelta: Int
    public var netFee: Money
    public var status: ClaimStatus
    public var createdAt: String
    /// The provider's part of the claim's net fee after the change: what it is owed. Nil on
    /// events written before claims could name several providers (then it is ``netFee``).
    public var providerNetFee: Money? = nil
}

/// Why a store operation did not happen.
public enum ClaimStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(UUID)
    /// The claim's status does not allow the change (e.g. re-pricing a voided claim).
    case invalidTransition(id: UUID, from: ClaimStatus, action: String)
    /// The idempotency key was already used with a different request body.
    case idempotencyKeyReused(String)
    /// The payments service already reported a different result for the claim.
    case paymentAlreadyReported(id: UUID, outcome: PaymentOutcome)

    public var description: String {
        switch self {
        case .notFound(let id): return "no claim has id \(id.uuidString.lowercased())"
        case .invalidTransition(let id, let from, let action):
            return "claim \(id.uuidString.lowercased()) is \(from.rawValue) and cannot be \(action)"
        case .idempotencyKeyReused: return "this Idempotency-Key was already used with a different request body"
        case .paymentAlreadyReported(let id, let outcome):
            return "claim \(id.uuidString.lowercased()) already has the payment result \"\(outcome.rawValue)\"; a result cannot be changed"
        }
    }
}

/// Storage of claims and their change events; the HTTP layer depends only on this.
public protocol ClaimRepository: Sendable {
    /// Stores a new claim, its lines and its outbox event, plus the idempotency record when
    /// given, in one transaction. When another request stored the same key first, returns that
    /// request's record instead (and stores nothing).
    /// `audit`, when given, is written in the same transaction.
    func create(_ claim: StoredClaim, idempotency: IdempotencyRecord?, audit: AuditEvent?) async throws -> IdempotencyRecord?
    func find(id: UUID) async throws -> StoredClaim?
    func list(_ query: ClaimListQuery) async throws -> ClaimPage
    /// Replaces a submitted claim's lines and re-prices it; writes the net-fee change as events.
    func replace(id: UUID, with claim: ValidatedClaim, at timestamp: String, audit: AuditEvent?) async throws -> StoredClaim
    /// Voids a claim (kept for history); voiding a voided claim changes nothing.
    func void(id: UUID, at timestamp: String, audit: AuditEvent?) async throws -> StoredClaim
    /// The live record of `key` in `scope`; nil when there is none or it has expired.
    func idempotencyRecord(scope: String, key: String) async throws -> IdempotencyRecord?
    /// Reserves a key for a request that is stored in several transactions (an import): stores
    /// `record` (status 0) unless a live record holds the key, and then returns that one.
    func reserve(_ record: IdempotencyRecord) async throws -> IdempotencyRecord?
    /// Records the response of a reserved key's request.
    func complete(_ record: IdempotencyRecord) async throws
    /// Gives up a reservation that recorded no response, so the key may be used again.
    func release(_ record: IdempotencyRecord) async throws
    /// Deletes up to `limit` expired idempotency records, oldest first; returns how many.
    func purgeIdempotencyKeys(limit: Int) async throws -> Int
    /// Events after `sequence`, in order.
    func events(after sequence: Int64, limit: Int) async throws -> [OutboxEvent]
    /// Stores one batch of a bulk import in one transaction: accepted claims with their lines and
    /// outbox events, and the rejected input for review.
    func store(_ batch: ImportBatch) async throws
    /// `batch` with its rows encoded for ``store(_:)`` already (see ``ImportBatch/prepareRows(cipher:)``),
    /// so storing it later only streams them.
    func prepared(_ batch: ImportBatch) -> ImportBatch
    /// Records the payments service's result for a submitted claim and writes its outbox event; a
    /// repeat of the same result returns the first record and changes nothing.
    func recordPayment(id: UUID, report: PaymentReport, at timestamp: String, audit: AuditEvent?) async throws -> PaymentRecord
    /// The `limit` providers with the largest totals, ties by NPI ascending, from the claims table.
    func topProviders(limit: Int) async throws -> [ProviderTotal]
    /// Every provider's total and the outbox sequence they reflect, read in one snapshot.
    func rankingSnapshot() async throws -> RankingSnapshot
    /// The newest outbox sequence, and how long the first event after `sequence` has waited.
    func outboxPosition(after sequence: Int64) async throws -> OutboxPosition
    /// The positions in `keys` of lines a stored claim that is not voided already holds
    /// (screening's `duplicate_line`).
    func claimedLines(_ keys: [ClaimedLineKey]) async throws -> Set<Int>
    /// Stores a new claim without an idempotency key, screened with the other claims stored in
    /// the same statement (their claimed lines checked once, for all of them); the claim as stored.
    func createScreened(_ claim: StoredClaim, audit: AuditEvent?, screening: any BatchScreening) async throws -> StoredClaim
}

extension ClaimRepository {
    /// Stores a new claim without an audit row (tools and tests).
    public func create(_ claim: StoredClaim, idempotency: IdempotencyRecord?) async throws -> IdempotencyRecord? {
        try await create(claim, idempotency: idempotency, audit: nil)
    }

    /// Replaces a claim without an audit row (tools and tests).
    public func replace(id: UUID, with claim: ValidatedClaim, at timestamp: String) async throws -> StoredClaim {
        try await replace(id: id, with: claim, at: timestamp, audit: nil)
    }

    /// Records a payment result without an audit row (tools and tests).
    public func recordPayment(id: UUID, report: PaymentReport, at timestamp: String) async throws -> PaymentRecord {
        try await recordPayment(id: id, report: report, at: timestamp, audit: nil)
    }

    /// Voids a claim without an audit row (tools and tests).
    public func void(id: UUID, at timestamp: String) async throws -> StoredClaim {
        try await void(id: id, at: timestamp, audit: nil)
    }
}

/// Input a bulk import rejected, kept for review with every reason.
public struct RejectedClaim: Sendable, Equatable {
    public var id: UUID
    public var importID: UUID
    public var externalClaimNumber: String?
    /// Where it was in the input: `csv lines 2-5`, `ndjson line 3`.
    public var source: String
    /// The input as it arrived, as one JSON value.
    public var originalJSON: String
    public var violations: [Violation]

    public init(id: UUID, importID: UUID, externalClaimNumber: String?, source: String, originalJSON: String, violations: [Violation]) {
        self.id = id
        self.importID = importID
        self.externalClaimNumber = externalClaimNumber
        self.source = source
        self.originalJSON = originalJSON
        self.violations = violations
    }
}

/// Who runs an import, and its id.
public struct ImportAudit: Sendable, Equatable {
    public var actor: AuditActor
    public var importID: UUID

    public init(actor: AuditActor, importID: UUID) {
        self.actor = actor
        self.importID = importID
    }
}

/// One transaction's worth of a bulk import.
public struct ImportBatch: Sendable {
    public private(set) var accepted: [StoredClaim]
    public private(set) var rejected: [RejectedClaim]
    /// The rows to store in COPY text, from ``prepareRows(cipher:)``; every change to the claims drops them.
    private(set) var rows: PostgresClaimRepository.ImportRows?
    /// Who imports and which import this is: the batch is then audited as `claim.import` in its
    /// own transaction, naming every claim it stores.
    public var audit: ImportAudit?

    public init(accepted: [StoredClaim] = [], rejected: [RejectedClaim] = [], audit: ImportAudit? = nil) {
        self.accepted = accepted
        self.rejected = rejected
        self.audit = audit
    }

    /// The audit event of storing this batch, when it is audited.
    public var auditEvent: AuditEvent? {
        guard let audit else { return nil }
        var detail = JSONWriter(capacity: 48 + 39 * accepted.count)
        detail.open("{")
        detail.key("claim_ids")
        detail.strings(accepted.map(\.id.postgresText))
        detail.member("rejected", rejected.count)
        detail.close("}")
        return AuditEvent(actor: audit.actor, action: .claimImport, resourceType: "import", resourceID: audit.importID.postgresText, detail: detail.text)
    }

    public mutating func accept(_ claim: StoredClaim) {
        accepted.append(claim)
        rows = nil
    }

    public mutating func reject(_ claim: RejectedClaim) {
        rejected.append(claim)
        rows = nil
    }

    /// Replaces the accepted claims with changed copies of themselves (screening's flags and
    /// status), in the same order.
    public mutating func replaceAccepted(_ claims: [StoredClaim]) {
        precondition(claims.map(\.id) == accepted.map(\.id), "replaceAccepted changes claims, not which claims")
        accepted = claims
        rows = nil
    }

    /// Adds another batch's claims after this one's.
    public mutating func append(contentsOf other: ImportBatch) {
        accepted += other.accepted
        rejected += other.rejected
        rows = nil
    }

    /// Encodes the rows to store now, so that storing the batch later only streams them: an
    /// importer calls this on a complete batch while the previous one is being stored. Storing
    /// an unprepared batch encodes it then. (Encoding in the parallel validation workers instead
    /// measured 7–10 % slower: it lengthens validation, which the next store waits for.)
    public mutating func prepareRows(cipher: FieldCipher) {
        rows = PostgresClaimRepository.ImportRows(self, cipher: cipher)
    }
}
