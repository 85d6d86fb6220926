public import Claims
public import Foundation

/// What the payments service reports for a claim.
public enum PaymentOutcome: String, Sendable, CaseIterable {
    case paid
    case failed

    /// The claim status the outcome moves a submitted claim to.
    public var claimStatus: ClaimStatus { self == .paid ? .paid : .paymentFailed }
}

/// A payment result as reported to `POST /api/v1/claims/{id}/payment`.
public struct PaymentReport: Sendable, Equatable {
    public var outcome: PaymentOutcome
    /// Why the payment failed; required for `failed`.
    public var reason: String?
    /// The payments service's own reference, kept for reconciliation.
    public var paymentID: String?

    public init(outcome: PaymentOutcome, reason: String? = nil, paymentID: String? = nil) {
        self.outcome = outcome
        self.reason = reason
        self.paymentID = paymentID
    }
}

/// A stored payment result and the outbox event it wrote.
public struct PaymentRecord: Sendable, Equatable {
    public var claimID: UUID
    public var report: PaymentReport
    /// The claim's status after the report.
    public var status: ClaimStatus
    /// The sequence of the outbox event the report wrote.
    public var sequence: Int64
    /// RFC 3339 UTC with milliseconds.
    public var recordedAt: String
    /// True when this answers a repeat of an earlier, identical report (nothing changed).
    public var isReplay: Bool

    public init(claimID: UUID, report: PaymentReport, status: ClaimStatus, sequence: Int64, recordedAt: String, isReplay: Bool) {
        self.claimID = claimID
        self.report = report
        self.status = status
        self.sequence = sequence
        self.recordedAt = recordedAt
        self.isReplay = isReplay
    }
}

/// One provider's ranking total: the net fees of its claims that count (submitted or paid).
public struct ProviderTotal: Sendable, Equatable {
    public var providerNPI: String
    public var netFee: Money
    /// How many claims make up the total.
    public var claims: Int

    public init(providerNPI: String, netFee: Money, claims: Int) {
        self.providerNPI = providerNPI
        self.netFee = netFee
        self.claims = claims
    }
}

/// Every provider's total as of one outbox sequence: what the ranking holds once it has applied
/// every event up to and including `sequence`.
public struct RankingSnapshot: Sendable, Equatable {
    public var sequence: Int64
    public var totals: [ProviderTotal]

    public init(sequence: Int64, totals: [ProviderTotal]) {
        self.sequence = sequence
        self.totals = totals
    }
}

/// How far the outbox has run ahead of a consumer that applied everything up to some sequence.
public struct OutboxPosition: Sendable, Equatable {
    public var latestSequence: Int64
    /// Seconds since the oldest event the consumer has not applied was written; 0 when none waits.
    public var oldestPendingAgeSeconds: Double
}
