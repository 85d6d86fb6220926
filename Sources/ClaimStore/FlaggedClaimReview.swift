public import AuditTrail
public import Claims
public import DataProtection
public import Foundation
public import Postgres

/// A claim screening flagged, as the review queue shows it.
public struct FlaggedClaim: Sendable, Equatable {
    public var id: UUID
    public var externalClaimNumber: String?
    public var status: ClaimStatus
    public var providerNPI: String
    public var netFee: Money
    public var lineCount: Int
    public var flags: [ClaimFlag]
    /// When it was stored (RFC 3339, UTC).
    public var createdAt: String
}

/// One page of flagged claims, newest first, with the cursor of the next older page.
public struct FlaggedClaimPage: Sendable, Equatable {
    public var claims: [FlaggedClaim]
    /// Flagged claims waiting in the whole queue, and how many of them are held.
    public var waiting: Int
    public var held: Int
    public var nextCursor: String?
}

/// A line's identity in the `duplicate_line` lookup: its subscriber's blind index, procedure,
/// quadrant and service date.
public struct ClaimedLineKey: Sendable, Hashable {
    public var subscriberID: String
    public var procedure: String
    public var quadrant: String?
    public var serviceDate: CalendarDate

    public init(subscriberID: String, procedure: String, quadrant: String?, serviceDate: CalendarDate) {
        self.subscriberID = subscriberID
        self.procedure = procedure
        self.quadrant = quadrant
        self.serviceDate = serviceDate
    }
}

extension ClaimedLineKey {
    /// The keys of every line of `claims`, and for each key which claim (index) and line
    /// (number) it is.
    public static func lines(of claims: [StoredClaim]) -> (keys: [ClaimedLineKey], owners: [(claim: Int, line: Int)]) {
        var keys: [ClaimedLineKey] = []
        var owners: [(claim: Int, line: Int)] = []
        for (index, claim) in claims.enumerated() {
            for line in claim.lines {
                keys.append(ClaimedLineKey(subscriberID: line.subscriberID, procedure: line.submittedProcedure, quadrant: line.quadrant, serviceDate: line.serviceDate))
                owners.append((index, line.lineNumber))
            }
        }
        return (keys, owners)
    }

    /// The positions of claimed keys (of ``lines(of:)``) as each claim's claimed line numbers.
    public static func claimed(_ positions: Set<Int>, owners: [(claim: Int, line: Int)], claims count: Int) -> [Set<Int>] {
        var claimed: [Set<Int>] = Array(repeating: [], count: count)
        for position in positions { claimed[owners[position].claim].insert(owners[position].line) }
        return claimed
    }
}

/// Screening's view of PostgreSQL: which lines are claimed already, the fee history the
/// averages start from, and the review queue of flagged claims with its actions.
public struct FlaggedClaimReview: Sendable {
    let client: PostgresClient
    let cipher: FieldCipher

    public init(client: PostgresClient, cipher: FieldCipher) {
        self.client = client
        self.cipher = cipher
    }

    /// The fees of claims stored since `since` (milliseconds since the epoch), summed per
    /// procedure code and per provider in slices of `sliceWidth` milliseconds: what the
    /// trailing averages start from.
    public func feeHistory(since: Int64, sliceWidth: Int64) async throws -> (procedures: [FeeSlice], providers: [FeeSlice]) {
        func slices(_ sql: String) async throws -> [FeeSlice] {
            try await client.query(PostgresQuery(sql: sql, binds: [String(since), String(max(1, sliceWidth))])).rows.map {
                FeeSlice(key: try $0.decode("key"), at: try $0.decode("at"), sumCents: try $0.decode("cents"), count: try $0.decode("n"))
            }
        }
        let slice = "(floor(extract(epoch FROM c.created_at) * 1000 / $2::bigint) * $2::bigint)::bigint"
        let procedures = try await slices(
            """
            SELECT l.submitted_procedure AS key, \(slice) AS at, (sum(l.net_fee) * 100)::bigint AS cents, count(*)::int AS n
            FROM claims c JOIN claim_lines l ON l.claim_id = c.id
            WHERE c.created_at >= 'epoch'::timestamptz + $1::bigint * interval '1 millisecond'
            GROUP BY 1, 2
            """)
        let providers = try await slices(
            """
            SELECT s.provider_npi AS key, \(slice) AS at, (sum(s.net_fee) * 100)::bigint AS cents, count(*)::int AS n
            FROM claims c JOIN claim_provider_shares s ON s.claim_id = c.id
            WHERE c.created_at >= 'epoch'::timestamptz + $1::bigint * interval '1 millisecond'
            GROUP BY 1, 2
            """)
        return (procedures, providers)
    }

    /// Up to `limit` flagged claims not reviewed or voided, older than `cursor`, newest first.
    public func queue(after cursor: String? = nil, limit: Int = 20) async throws -> FlaggedClaimPage {
        let (condition, binds) = try ReviewQueueCursor.olderThan(cursor)
        let waiting = "flags_pending"
        let rows = try await client.query(
            PostgresQuery(
                sql: """
                    SELECT id, external_claim_number, status, provider_npi, net_fee::text AS net_fee, line_count, flags::text AS flags,
                           \(PostgresClaimRepository.rfc3339("created_at")) AS stored_at,
                           (extract(epoch FROM created_at) * 1000000)::bigint AS micros,
                           (SELECT count(*) FROM claims WHERE \(waiting))::int AS waiting,
                           (SELECT count(*) FROM claims WHERE \(waiting) AND status = 'held')::int AS held
                    FROM claims WHERE \(waiting) \(condition)
                    ORDER BY claims.created_at DESC, claims.id DESC LIMIT \(max(1, limit) + 1)
                    """, binds: binds)
        ).rows
        var claims: [FlaggedClaim] = []
        var last: (micros: Int64, id: UUID)?
        for row in rows.prefix(max(1, limit)) {
            let id: UUID = try row.decode("id")
            claims.append(
                FlaggedClaim(
                    id: id, externalClaimNumber: try row.decodeIfPresent("external_claim_number"), status: try PostgresClaimRepository.status(row),
                    providerNPI: try row.decode("provider_npi"), netFee: try PostgresClaimRepository.money(row, "net_fee"),
                    lineCount: try row.decode("line_count"), flags: try StoredJSON.flags(try row.decode("flags")), createdAt: try row.decode("stored_at")))
            last = (try row.decode("micros"), id)
        }
        let next = rows.count > max(1, limit) ? last.map { ReviewQueueCursor.text(micros: $0.micros, id: $0.id) } : nil
        return FlaggedClaimPage(
            claims: claims, waiting: try rows.first?.decode("waiting") ?? 0, held: try rows.first?.decode("held") ?? 0, nextCursor: next)
    }

    /// How many flagged claims wait for review, and how many of them are held.
    public func waiting() async throws -> (waiting: Int, held: Int) {
        guard
            let row = try await client.query(
                """
                SELECT count(*)::int AS n, (count(*) FILTER (WHERE status = 'held'))::int AS held
                FROM claims WHERE flags_pending
                """
            ).rows.first
        else { return (0, 0) }
        return (try row.decode("n"), try row.decode("held"))
    }

    /// Marks flagged claim `id` reviewed by `reviewer` with `reason`; a held claim is released:
    /// it becomes `submitted`, counts in the ranking, and gets its creation events (so the
    /// payments feed sees it now), with `audit`, in one transaction. Returns whether it was held.
    @discardableResult
    public func clear(id: UUID, reason: String, reviewer: String, at timestamp: String, audit: AuditEvent?) async throws -> Bool {
        try await client.withTransaction { connection in
            guard var claim = try await PostgresClaimRepository.load(id: id, on: connection, lock: true, cipher: cipher), !claim.flags.isEmpty else {
                throw RejectedClaimReviewError.notFound
            }
            let reviewed = try await connection.query("SELECT flags_reviewed_by FROM claims WHERE id = \(id) AND flags_reviewed_at IS NOT NULL").rows
            if let row = reviewed.first {
                throw RejectedClaimReviewError.alreadyReviewed(by: try row.decodeIfPresent("flags_reviewed_by") ?? "?", outcome: "cleared")
            }
            guard claim.status != .voided else { throw RejectedClaimReviewError.alreadyReviewed(by: "its submitter", outcome: "voided") }
            let wasHeld = claim.status == .held
            try await connection.query(
                """
                UPDATE claims SET flags_reviewed_at = now(), flags_reviewed_by = \(reviewer), flags_review_reason = \(reason), flags_pending = false,
                       status = CASE WHEN status = 'held' THEN 'submitted' ELSE status END,
                       updated_at = CASE WHEN status = 'held' THEN \(timestamp)::timestamptz ELSE updated_at END
                WHERE id = \(id)
                """)
            try await PostgresClaimRepository.appendAudit(audit, on: connection)
            if wasHeld {
                claim.status = .submitted
                try await connection.query("UPDATE claim_provider_shares SET counts = true WHERE claim_id = \(id)")
                // Last, under the ordering lock, like every other change.
                try await PostgresClaimRepository.appendEvents(PostgresClaimRepository.EventDraft.created(claim, claim.providerShares), on: connection)
            }
            return wasHeld
        }
    }
}

/// The fees of one key (a procedure code or an NPI) in one slice of time.
public struct FeeSlice: Sendable, Equatable {
    public var key: String
    /// The slice's start, milliseconds since the epoch.
    public var at: Int64
    public var sumCents: Int64
    public var count: Int
}
