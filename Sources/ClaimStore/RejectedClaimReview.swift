public import AuditTrail
public import Claims
public import DataProtection
public import Foundation
public import Postgres

/// A claim an import refused, kept verbatim (encrypted) for an operator to review.
public struct StoredRejectedClaim: Sendable, Equatable {
    /// The rejected claim's own id, and the import it came in.
    public var id: UUID
    public var importID: UUID
    /// The claim number the submitter gave it, if any.
    public var externalClaimNumber: String?
    /// Where in the import it was, e.g. `csv line 17`.
    public var source: String
    /// The input as received (a JSON object; a CSV row as its fields), decrypted.
    public var raw: String
    /// Why it was rejected.
    public var violations: [Violation]
    /// When it was received (RFC 3339, UTC).
    public var receivedAt: String
    /// The format of the import it came in, from its source (`csv …` or `ndjson …`).
    public var importFormat: ImportFormat { source.hasPrefix("csv") ? .csv : .ndjson }
    /// How it was reviewed; nil while it waits in the queue.
    public var review: Review?

    /// A finished review: who, how (`dismissed` or `resubmitted`), and the claim a resubmission
    /// became.
    public struct Review: Sendable, Equatable {
        public var reviewer: String
        public var outcome: String
        public var resubmittedClaimID: UUID?

        public init(reviewer: String, outcome: String, resubmittedClaimID: UUID?) {
            self.reviewer = reviewer
            self.outcome = outcome
            self.resubmittedClaimID = resubmittedClaimID
        }
    }
}

/// One page of the review queue, newest first, and the cursor of the next older page.
public struct RejectedClaimPage: Sendable, Equatable {
    /// The claims on this page, newest first.
    public var claims: [StoredRejectedClaim]
    /// Claims waiting in the whole queue.
    public var waiting: Int
    /// The cursor of the next older page; nil on the last page.
    public var nextCursor: String?
}

/// Why a review action did not happen.
public enum RejectedClaimReviewError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No rejected claim has that id.
    case notFound
    /// It was reviewed already (by whom, how).
    case alreadyReviewed(by: String, outcome: String)
    /// A list cursor that this queue did not make.
    case invalidCursor

    public var description: String {
        switch self {
        case .notFound: "no rejected claim has this id"
        case .alreadyReviewed(let by, let outcome): "this claim was already reviewed (\(outcome) by \(by))"
        case .invalidCursor: "the cursor is not one this queue gave out; start from the first page"
        }
    }
}

/// The review queue of rejected claims in PostgreSQL (`rejected_claims`, migration 12): the
/// unreviewed ones newest first with keyset paging, and the review actions, each written with
/// its audit event in one transaction.
public struct RejectedClaimReview: Sendable {
    let client: PostgresClient
    let cipher: FieldCipher

    public init(client: PostgresClient, cipher: FieldCipher) {
        self.client = client
        self.cipher = cipher
    }

    /// How many claims wait for review.
    public func waiting() async throws -> Int {
        try await client.query("SELECT count(*)::int AS n FROM rejected_claims WHERE reviewed_at IS NULL").rows.first?.decode("n") ?? 0
    }

    /// Up to `limit` unreviewed claims older than `cursor` (nil: the newest), newest first.
    public func queue(after cursor: String? = nil, limit: Int = 20) async throws -> RejectedClaimPage {
        let (condition, binds) = try ReviewQueueCursor.olderThan(cursor)
        let rows = try await client.query(
            PostgresQuery(
                sql: """
                    SELECT id, import_id, external_claim_number, source, raw_sealed, violations::text AS violations,
                           to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS received_at,
                           (extract(epoch FROM created_at) * 1000000)::bigint AS micros,
                           (SELECT count(*) FROM rejected_claims WHERE reviewed_at IS NULL)::int AS waiting
                    FROM rejected_claims WHERE reviewed_at IS NULL \(condition)
                    ORDER BY created_at DESC, id DESC LIMIT \(max(1, limit) + 1)
                    """, binds: binds)
        ).rows
        var claims: [StoredRejectedClaim] = []
        var last: (micros: Int64, id: UUID)?
        for row in rows.prefix(max(1, limit)) {
            let claim = try rejectedClaim(row, review: nil)
            claims.append(claim)
            last = (try row.decode("micros"), claim.id)
        }
        let waiting: Int = try rows.first?.decode("waiting") ?? 0
        let next = rows.count > max(1, limit) ? last.map { ReviewQueueCursor.text(micros: $0.micros, id: $0.id) } : nil
        return RejectedClaimPage(claims: claims, waiting: waiting, nextCursor: next)
    }

    /// Rejected claim `id`, reviewed or not; nil when there is none.
    public func find(id: UUID) async throws -> StoredRejectedClaim? {
        guard
            let row = try await client.query(
                """
                SELECT id, import_id, external_claim_number, source, raw_sealed, violations::text AS violations,
                       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS received_at,
                       reviewed_by, review_outcome, resubmitted_claim_id
                FROM rejected_claims WHERE id = \(id)
                """
            ).rows.first
        else { return nil }
        let outcome: String? = try row.decodeIfPresent("review_outcome")
        return try rejectedClaim(
            row,
            review: try outcome.map {
                StoredRejectedClaim.Review(
                    reviewer: try row.decodeIfPresent("reviewed_by") ?? "?", outcome: $0, resubmittedClaimID: try row.decodeIfPresent("resubmitted_claim_id"))
            })
    }

    /// A rejected claim from a row with its columns (`received_at` as RFC 3339 text), its input
    /// decrypted.
    func rejectedClaim(_ row: PostgresRow, review: StoredRejectedClaim.Review?) throws -> StoredRejectedClaim {
        let id: UUID = try row.decode("id")
        let sealed: PostgresBytes = try row.decode("raw_sealed")
        return StoredRejectedClaim(
            id: id, importID: try row.decode("import_id"), externalClaimNumber: try row.decodeIfPresent("external_claim_number"),
            source: try row.decode("source"), raw: try cipher.openString(sealed.bytes, context: ProtectedColumn.rejectedClaimRaw.context(id.postgresText)),
            violations: try StoredJSON.violations(try row.decode("violations")), receivedAt: try row.decode("received_at"), review: review)
    }

    /// Stores `claim`, the corrected form of rejected claim `id`, and takes `id` out of the
    /// queue as resubmitted with a link to it, by `reviewer`: the claim, its outbox events, the
    /// review and `audit` in one transaction. The rejected row is locked first, so of two
    /// resubmissions at once one stores its claim and the other is told it was reviewed.
    public func resubmit(id: UUID, as claim: StoredClaim, reviewer: String, audit: [AuditEvent]) async throws {
        try await client.withTransaction { connection in
            let current = try await connection.query("SELECT reviewed_by, review_outcome FROM rejected_claims WHERE id = \(id) FOR UPDATE").rows
            guard let row = current.first else { throw RejectedClaimReviewError.notFound }
            if let outcome: String = try row.decodeIfPresent("review_outcome") {
                throw RejectedClaimReviewError.alreadyReviewed(by: try row.decodeIfPresent("reviewed_by") ?? "?", outcome: outcome)
            }
            // The review is one step of the claim's own statement: the link to the claim is
            // checked at the statement's end, and the outbox ordering lock is taken only as that
            // statement's last step, never held across another round trip.
            try await connection.query(
                PostgresClaimRepository.insertStatement(for: [claim], audit: audit, cipher: cipher) { binds in
                    """
                    UPDATE rejected_claims SET reviewed_at = now(), reviewed_by = \(binds.value(reviewer, type: "text")), review_outcome = 'resubmitted',
                           resubmitted_claim_id = \(binds.value(claim.id.postgresText, type: "uuid"))
                    WHERE id = \(binds.value(id.postgresText, type: "uuid"))
                    """
                })
        }
    }

    /// Takes claim `id` out of the queue as dismissed, with `reason`, by `reviewer` (a principal
    /// id); `audit` is written in the same transaction.
    public func dismiss(id: UUID, reason: String, reviewer: String, audit: AuditEvent?) async throws {
        try await client.withTransaction { connection in
            let updated = try await connection.query(
                """
                UPDATE rejected_claims SET reviewed_at = now(), reviewed_by = \(reviewer), review_outcome = 'dismissed', review_reason = \(reason)
                WHERE id = \(id) AND reviewed_at IS NULL RETURNING id
                """
            ).rows
            guard updated.isEmpty else {
                if let audit { try await PostgresAuditStore.append([audit], on: connection) }
                return
            }
            let existing = try await connection.query("SELECT reviewed_by, review_outcome FROM rejected_claims WHERE id = \(id)").rows
            guard let row = existing.first else { throw RejectedClaimReviewError.notFound }
            throw RejectedClaimReviewError.alreadyReviewed(
                by: try row.decodeIfPresent("reviewed_by") ?? "?", outcome: try row.decodeIfPresent("review_outcome") ?? "?")
        }
    }
}

/// A position in a review queue ordered newest first by `(created_at, id)`: `<microseconds since
/// the epoch>_<id>`, handed out as a page's link to the next older page.
enum ReviewQueueCursor {
    /// The condition (`AND …`, on `$1` and `$2`) for the rows older than `cursor`, with its
    /// binds; none for the first page. A cursor no queue made is ``RejectedClaimReviewError/invalidCursor``.
    static func olderThan(_ cursor: String?) throws(RejectedClaimReviewError) -> (condition: String, binds: [String?]) {
        guard let cursor else { return ("", []) }
        let parts = cursor.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else { throw .invalidCursor }
        return (
            "AND (created_at, id) < ('epoch'::timestamptz + $1::bigint * interval '1 microsecond', $2::uuid)", [String(micros), id.postgresText]
        )
    }

    /// The cursor of the row created at `micros` with `id`.
    static func text(micros: Int64, id: UUID) -> String { "\(micros)_\(id.postgresText)" }
}
