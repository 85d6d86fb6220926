public import CoreMetrics
import ClaimStore
import Claims

/// What intake counts, through POST /api/v1/claims and bulk import (`channel` = `api` or `import`):
/// - `claimsd_claims_received_total{channel,outcome}`: claims accepted or rejected
/// - `claimsd_claim_lines_accepted_total{channel}`: lines of accepted claims
/// - `claimsd_claim_validation_failures_total{rule,severity}`: violations, by rule name
/// - `claimsd_net_fee_accepted_cents_total{sign}`: net fee of accepted claims in cents; negative
///   fees (allowed fees above what was charged) are counted apart, so both series only grow
public struct ClaimMetrics: Sendable {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.factory = factory
    }

    /// Counts accepted claims of one channel.
    func accepted(channel: String, claims: Int, lines: Int, netFees: [Money]) {
        guard claims > 0 else { return }
        Counter(label: "claimsd_claims_received_total", dimensions: [("channel", channel), ("outcome", "accepted")], factory: factory)
            .increment(by: claims)
        Counter(label: "claimsd_claim_lines_accepted_total", dimensions: [("channel", channel)], factory: factory).increment(by: lines)
        let positive = netFees.filter { $0.cents > 0 }.reduce(Int64(0)) { $0 + $1.cents }
        let negative = netFees.filter { $0.cents < 0 }.reduce(Int64(0)) { $0 - $1.cents }
        Counter(label: "claimsd_net_fee_accepted_cents_total", dimensions: [("sign", "positive")], factory: factory).increment(by: positive)
        Counter(label: "claimsd_net_fee_accepted_cents_total", dimensions: [("sign", "negative")], factory: factory).increment(by: negative)
    }

    /// Counts rejected claims of one channel, and every violation (of rejected and accepted claims) by rule.
    func rejected(channel: String, claims: Int) {
        guard claims > 0 else { return }
        Counter(label: "claimsd_claims_received_total", dimensions: [("channel", channel), ("outcome", "rejected")], factory: factory)
            .increment(by: claims)
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
