public import ClaimStore
import Claims
import Foundation
import Logging
public import Screening

/// Screening at intake: the rules of ``Screener`` with what they need from PostgreSQL (which
/// lines are claimed already), and the decision to hold a flagged claim. Every channel (API,
/// import, resubmission from the review queue) screens through it after pricing and before
/// storage, and reports what it stored so the trailing averages follow.
public struct ClaimScreening: BatchScreening {
    public let screener: Screener
    /// Where the averages' history is loaded from at start-up.
    let store: FlaggedClaimReview?

    /// `store` holds the fee history the averages start from (``loadHistory(now:logger:)``);
    /// the claim repository a submission is screened with answers `duplicate_line`.
    public init(settings: ScreeningSettings = ScreeningSettings(), store: FlaggedClaimReview?) {
        screener = Screener(settings: settings)
        self.store = store
    }

    /// Screens `claims` in order as one submission (an import batch, or one claim), with one
    /// lookup of the lines already claimed in `repository`, and sets each one's flags and, when
    /// flagged claims are held, its status.
    func screen(_ claims: inout [StoredClaim], lookingUpIn repository: some ClaimRepository, now: Date = Date()) async throws {
        guard !screener.settings.rules.isEmpty, !claims.isEmpty else { return }
        var claimedLines: [Set<Int>] = Array(repeating: [], count: claims.count)
        if screener.needsClaimedLines {
            let (keys, owners) = ClaimedLineKey.lines(of: claims)
            claimedLines = ClaimedLineKey.claimed(try await repository.claimedLines(keys), owners: owners, claims: claims.count)
        }
        apply(to: &claims, claimed: claimedLines, now: now)
    }

    /// `claim` screened on its own (see ``screen(_:lookingUpIn:now:)``).
    func screen(_ claim: StoredClaim, lookingUpIn repository: some ClaimRepository) async throws -> StoredClaim {
        var claims = [claim]
        try await screen(&claims, lookingUpIn: repository)
        return claims[0]
    }

    /// Sets the flags (and, when held, the status) of `claims`, one submission, given which of
    /// each one's lines are claimed already.
    func apply(to claims: inout [StoredClaim], claimed: [Set<Int>], now: Date) {
        let settings = screener.settings
        guard !settings.rules.isEmpty else { return }
        let milliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded())
        let today = utcToday(now)
        var seen = Set<ServiceKey>()
        for index in claims.indices {
            let flags = screener.flags(for: claims[index].lines, today: today, now: milliseconds, claimed: claimed[index], seen: &seen)
            claims[index].flags = flags
            if settings.holdFlagged, !flags.isEmpty { claims[index].status = .held }
        }
    }

    public var needsClaimedLines: Bool { !screener.settings.rules.isEmpty && screener.needsClaimedLines }

    public func apply(to claims: inout [StoredClaim], claimed: [Set<Int>]) {
        apply(to: &claims, claimed: claimed, now: Date())
    }

    /// Adds claims that were stored to the trailing averages.
    func stored(_ claims: [StoredClaim], now: Date = Date()) {
        let milliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded())
        for claim in claims { screener.record(claim.lines, at: milliseconds) }
    }

    /// Loads the fees of the last window from PostgreSQL into the averages (start-up).
    func loadHistory(now: Date = Date(), logger: Logger) async throws {
        guard screener.settings.rules.contains(.netFeeOverAverage), let store else { return }
        let milliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded())
        let window = screener.settings.feeWindow
        let history = try await store.feeHistory(since: milliseconds - window, sliceWidth: max(1, window / 60))
        for slice in history.procedures { screener.procedureFees.load(slice.key, sum: slice.sumCents, count: slice.count, at: slice.at) }
        for slice in history.providers { screener.providerFees.load(slice.key, sum: slice.sumCents, count: slice.count, at: slice.at) }
        logger.info(
            "screening averages loaded",
            metadata: [
                "event": "screening_history_loaded", "procedures": .stringConvertible(screener.procedureFees.keyCount),
                "providers": .stringConvertible(screener.providerFees.keyCount),
            ])
    }
}
