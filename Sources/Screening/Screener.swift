public import Claims

/// The screening rules and their parameters (`CLAIMS_SCREENING*`, `CLAIMS_HOLD_FLAGGED`).
public struct ScreeningSettings: Sendable, Equatable {
    /// The rules claimsd knows.
    public enum Rule: String, Sendable, CaseIterable {
        /// A line's net fee above `feeFactor` times the trailing average for its procedure code,
        /// or a provider's part of the claim above `feeFactor` times that provider's average.
        case netFeeOverAverage = "net_fee_over_average"
        /// A line with the same subscriber, procedure, quadrant and service date as a line
        /// already claimed (and not voided), or as an earlier line of the same claim, import
        /// batch, or statement of claims stored together.
        case duplicateLine = "duplicate_line"
        /// A service date in the future, or older than `staleAfterDays`.
        case futureOrStaleServiceDate = "future_or_stale_service_date"
    }

    /// The rules in force.
    public var rules: Set<Rule> = Set(Rule.allCases)
    /// How many times the average a net fee must exceed to be flagged.
    public var feeFactor: Double = 2
    /// The trailing window of the averages (milliseconds).
    public var feeWindow: Int64 = 30 * 86_400_000
    /// Amounts an average needs before a fee is compared with it: the first claims of a new
    /// procedure or provider are not judged against one or two others.
    public var minimumSamples: Int = 10
    /// A service date this many days before today is stale.
    public var staleAfterDays: Int = 365
    /// Whether a flagged claim waits for review before it is sent to payments.
    public var holdFlagged = false

    public init() {}

    /// The rules named in `text`, comma-separated; `off` or `none` for none.
    public static func rules(parsing text: String) throws(ScreeningSettingsError) -> Set<Rule> {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        if names == ["off"] || names == ["none"] { return [] }
        var rules = Set<Rule>()
        for name in names {
            guard let rule = Rule(rawValue: name) else { throw .unknownRule(name) }
            rules.insert(rule)
        }
        return rules
    }
}

/// A screening setting that cannot be used.
public enum ScreeningSettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownRule(String)

    public var description: String {
        switch self {
        case .unknownRule(let name):
            "\"\(name)\" is not a screening rule; the rules are \(ScreeningSettings.Rule.allCases.map(\.rawValue).joined(separator: ", ")), or off"
        }
    }
}

/// One claim line's identity for `duplicate_line`: who, what, where in the mouth, and when.
public struct ServiceKey: Sendable, Hashable {
    public var subscriberID: String
    public var procedure: String
    public var quadrant: String?
    public var serviceDate: CalendarDate

    public init(_ line: ClaimLine) {
        subscriberID = line.subscriberID
        procedure = line.submittedProcedure
        quadrant = line.quadrant
        serviceDate = line.serviceDate
    }
}

/// Evaluates the screening rules on claims that passed validation and were priced, after
/// pricing and before storage, and keeps the trailing averages they are compared with.
///
/// The averages are this instance's: loaded from PostgreSQL at start-up (``load``), then kept
/// up to date from the claims it stores (``record(_:at:)``), never by a query per claim.
public struct Screener: Sendable {
    public let settings: ScreeningSettings
    /// Line net fees by procedure code (`D0180`), and providers' parts of claims by NPI.
    public let procedureFees: TrailingAverages
    public let providerFees: TrailingAverages

    public init(settings: ScreeningSettings = ScreeningSettings()) {
        self.settings = settings
        procedureFees = TrailingAverages(window: settings.feeWindow)
        providerFees = TrailingAverages(window: settings.feeWindow)
    }

    /// Whether a rule that needs stored lines (`duplicate_line`) is in force.
    public var needsClaimedLines: Bool { settings.rules.contains(.duplicateLine) }

    /// The flags of the claim of `lines` at `now` (milliseconds since the epoch; `today` is its
    /// UTC date). `claimed` holds the numbers of its lines that match a line already stored; lines that
    /// repeat an earlier line of the same claim, or a key in `seen` (claims screened earlier in
    /// the same import), are duplicates too. `seen` receives this claim's keys.
    public func flags(for lines: [ClaimLine], today: CalendarDate, now: Int64, claimed: Set<Int> = [], seen: inout Set<ServiceKey>) -> [ClaimFlag] {
        var flags: [ClaimFlag] = []
        let rules = settings.rules
        if rules.contains(.futureOrStaleServiceDate) {
            let todayNumber = today.daysSinceEpoch
            for line in lines {
                let age = todayNumber - line.serviceDate.daysSinceEpoch
                if age < 0 {
                    flags.append(ClaimFlag(rule: ScreeningSettings.Rule.futureOrStaleServiceDate.rawValue, line: line.lineNumber,
                        message: "the service date \(line.serviceDate) is in the future"))
                } else if age > settings.staleAfterDays {
                    flags.append(ClaimFlag(rule: ScreeningSettings.Rule.futureOrStaleServiceDate.rawValue, line: line.lineNumber,
                        message: "the service date \(line.serviceDate) is more than \(settings.staleAfterDays) days ago"))
                }
            }
        }
        if rules.contains(.duplicateLine) {
            for line in lines {
                let key = ServiceKey(line)
                if claimed.contains(line.lineNumber) {
                    flags.append(ClaimFlag(rule: ScreeningSettings.Rule.duplicateLine.rawValue, line: line.lineNumber,
                        message: "a claim already holds \(line.submittedProcedure)\(line.quadrant.map { " (\($0))" } ?? "") for this subscriber on \(line.serviceDate)"))
                } else if !seen.insert(key).inserted {
                    flags.append(ClaimFlag(rule: ScreeningSettings.Rule.duplicateLine.rawValue, line: line.lineNumber,
                        message: "an earlier line of this claim, or of one stored with it, holds \(line.submittedProcedure)\(line.quadrant.map { " (\($0))" } ?? "") for this subscriber on \(line.serviceDate)"))
                }
            }
        }
        if rules.contains(.netFeeOverAverage) {
            for line in lines {
                if let average = overAverage(line.netFee, in: procedureFees, key: line.submittedProcedure, now: now) {
                    flags.append(ClaimFlag(rule: ScreeningSettings.Rule.netFeeOverAverage.rawValue, line: line.lineNumber,
                        message: "the net fee \(line.netFee) is over \(Self.factorText(settings.feeFactor))× the average \(average.text) of \(average.count) \(line.submittedProcedure) lines in the last \(Self.days(settings.feeWindow))"))
                }
            }
            for share in ProviderShare.shares(of: lines) {
                if let average = overAverage(share.netFee, in: providerFees, key: share.providerNPI, now: now) {
                    flags.append(ClaimFlag(rule: ScreeningSettings.Rule.netFeeOverAverage.rawValue, line: nil,
                        message: "provider \(share.providerNPI)'s net fee \(share.netFee) is over \(Self.factorText(settings.feeFactor))× its average \(average.text) over \(average.count) claims in the last \(Self.days(settings.feeWindow))"))
                }
            }
        }
        return flags
    }

    /// Adds the fees of a stored claim's `lines` to the averages, at `now`.
    public func record(_ lines: [ClaimLine], at now: Int64) {
        guard settings.rules.contains(.netFeeOverAverage) else { return }
        procedureFees.record(lines.map { ($0.submittedProcedure, $0.netFee.cents) }, at: now)
        providerFees.record(ProviderShare.shares(of: lines).map { ($0.providerNPI, $0.netFee.cents) }, at: now)
    }

    /// The average `fee` exceeds by more than the factor, or nil (no average yet, too few
    /// amounts, or an average of zero or less, which no fee is compared with).
    func overAverage(_ fee: Money, in averages: TrailingAverages, key: String, now: Int64) -> (text: String, count: Int)? {
        guard let total = averages.total(of: key, at: now), total.count >= settings.minimumSamples, total.sum > 0 else { return nil }
        // fee > factor × sum / count, compared without dividing: exact for whole-cent amounts.
        guard Double(fee.cents) * Double(total.count) > settings.feeFactor * Double(total.sum) else { return nil }
        let averageCents = (total.sum + Int64(total.count) / 2) / Int64(total.count)
        return (Money(cents: averageCents).description, total.count)
    }

    static func factorText(_ factor: Double) -> String {
        factor == factor.rounded() ? String(Int(factor)) : String(factor)
    }

    static func days(_ milliseconds: Int64) -> String {
        milliseconds % 86_400_000 == 0 ? "\(milliseconds / 86_400_000) days" : "\(milliseconds / 3_600_000) hours"
    }
}
