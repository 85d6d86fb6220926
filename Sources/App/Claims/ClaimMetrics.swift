public import CoreMetrics
import ClaimStore
import Claims
import Screening

/// What intake counts, through POST /api/v1/claims, bulk import and corrections resubmitted
/// from the review queue (`channel` = `api`, `import` or `review`):
/// - `claimsd_claims_received_total{channel,outcome}`: claims accepted or rejected
/// - `claimsd_claim_lines_accepted_total{channel}`: lines of accepted claims
/// - `claimsd_claim_validation_failures_total{rule,severity}`: violations, by rule name
/// - `claimsd_claims_flagged_total{rule}`: accepted claims screening flagged, once per rule
///   that flagged them; `claimsd_claims_held_total`: those held for review
/// - `claimsd_net_fee_accepted_cents_total{sign}`: net fee of accepted claims in cents; negative
///   fees (allowed fees above what was charged) are counted apart, so both series only grow
public struct ClaimMetrics: Sendable {
    let factory: any MetricsFactory
    /// The fixed series, made once: intake counts every request, and making a handle searches
    /// the registry under its lock.
    let received: [String: Counter]
    let lines: [String: Counter]
    let positiveCents: Counter
    let negativeCents: Counter
    /// Screening's series, made at start so they read 0 until something is flagged.
    let flaggedByRule: [String: Counter]
    let held: Counter

    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.factory = factory
        var received: [String: Counter] = [:]
        var lines: [String: Counter] = [:]
        for channel in ["api", "import", "review"] {
            for outcome in ["accepted", "rejected"] {
                received[channel + " " + outcome] = Counter(
                    label: "claimsd_claims_received_total", dimensions: [("channel", channel), ("outcome", outcome)], factory: factory)
            }
            lines[channel] = Counter(label: "claimsd_claim_lines_accepted_total", dimensions: [("channel", channel)], factory: factory)
        }
        self.received = received
        self.lines = lines
        positiveCents = Counter(label: "claimsd_net_fee_accepted_cents_total", dimensions: [("sign", "positive")], factory: factory)
        negativeCents = Counter(label: "claimsd_net_fee_accepted_cents_total", dimensions: [("sign", "negative")], factory: factory)
        flaggedByRule = Dictionary(
            uniqueKeysWithValues: ScreeningSettings.Rule.allCases.map {
                ($0.rawValue, Counter(label: "claimsd_claims_flagged_total", dimensions: [("rule", $0.rawValue)], factory: factory))
            })
        held = Counter(label: "claimsd_claims_held_total", factory: factory)
    }

    /// Counts accepted claims of one channel (`api`, `import` or `review`).
    func accepted(channel: String, claims: Int, lines lineCount: Int, netFees: [Money]) {
        guard claims > 0 else { return }
        received[channel + " accepted"]?.increment(by: claims)
        lines[channel]?.increment(by: lineCount)
        positiveCents.increment(by: netFees.reduce(Int64(0)) { $0 + max(0, $1.cents) })
        negativeCents.increment(by: netFees.reduce(Int64(0)) { $0 - min(0, $1.cents) })
    }

    /// Counts the flags of accepted claims by rule, and the claims held.
    func flagged(_ claims: [StoredClaim]) {
        flagged(rules: claims.map { Array(Set($0.flags.map(\.rule))) }, held: claims.filter { $0.status == .held }.count)
    }

    /// Counts claims flagged by each rule (`rules`: per claim, the rules that flagged it), and
    /// the claims held.
    func flagged(rules: [[String]], held: Int) {
        var counts: [String: Int] = [:]
        for claimRules in rules { for rule in claimRules { counts[rule, default: 0] += 1 } }
        for (rule, count) in counts { flaggedByRule[rule]?.increment(by: count) }
        if held > 0 { self.held.increment(by: held) }
    }

    /// Counts rejected claims of one channel (`api`, `import` or `review`).
    func rejected(channel: String, claims: Int) {
        guard claims > 0 else { return }
        received[channel + " rejected"]?.increment(by: claims)
    }

    /// Counts violations by rule name and severity (rule names are a bounded, configured set).
    func violations(_ violations: [Violation]) {
        var counts: [String: [String: Int]] = [:]
        for violation in violations { counts[violation.rule, default: [:]][violation.severity.rawValue, default: 0] += 1 }
        for (rule, bySeverity) in counts {
            for (severity, count) in bySeverity {
                Counter(label: "claimsd_claim_validation_failures_total", dimensions: [("rule", rule), ("severity", severity)], factory: factory)
                    .increment(by: count)
            }
        }
    }
}
