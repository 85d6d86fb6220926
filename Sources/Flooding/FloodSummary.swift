import JSONText

/// Running counts of a flood.
public struct FloodCounts: Sendable, Equatable {
    /// Entries or requests the target accepted (for flood-api: answered with the status meant).
    public var sent = 0
    /// Entries or requests that were not, after every attempt.
    public var failed = 0
    /// Attempts repeated after a retryable failure.
    public var retried = 0
    /// Responses by status code (the last attempt of each request).
    public var statuses: [Int: Int] = [:]

    public init() {}

    /// Counts a request that carried `items` entries and ended as `outcome`; the first few
    /// failure reasons go to `problems`.
    public mutating func record(_ outcome: DeliveryOutcome, items: Int, problems: inout [String]) {
        retried += outcome.attempts - 1
        if let status = outcome.status { statuses[status, default: 0] += 1 }
        if outcome.delivered {
            sent += items
        } else {
            failed += items
            if let problem = outcome.problem, problems.count < 5 { problems.append(problem) }
        }
    }
}

/// What a flood did, printed when it ends: a few lines for people, or one JSON object (`--json`)
/// for scripts.
public struct FloodSummary: Sendable {
    public var tool: String
    public var target: String
    public var seed: UInt64
    public var counts: FloodCounts
    public var duration: Duration
    /// Problems worth a line each (the first few failure reasons).
    public var problems: [String]

    public init(tool: String, target: String, seed: UInt64, counts: FloodCounts, duration: Duration, problems: [String] = []) {
        self.tool = tool
        self.target = target
        self.seed = seed
        self.counts = counts
        self.duration = duration
        self.problems = problems
    }

    /// Whether everything meant to arrive did.
    public var succeeded: Bool { counts.failed == 0 }

    public var seconds: Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }

    /// The summary for a terminal or a log.
    public var text: String {
        var lines = [
            "\(tool): \(counts.sent) sent, \(counts.failed) failed, \(counts.retried) retried in \(Self.format(seconds)) s to \(target) (seed \(seed))"
        ]
        if !counts.statuses.isEmpty {
            lines.append("statuses: " + counts.statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))
        }
        lines += problems.map { "problem: \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `{"tool":…,"target":…,"seed":…,"sent":…,"failed":…,"retried":…,"duration_seconds":…,"statuses":{"500":3},"problems":[…]}`.
    public var json: String {
        var writer = JSONWriter()
        writer.open("{")
        writer.member("tool", tool)
        writer.member("target", target)
        writer.member("seed", seed)
        writer.member("sent", counts.sent)
        writer.member("failed", counts.failed)
        writer.member("retried", counts.retried)
        writer.key("duration_seconds")
        writer.raw(Self.format(seconds))
        writer.key("statuses")
        writer.open("{")
        for (status, count) in counts.statuses.sorted(by: { $0.key < $1.key }) { writer.member(String(status), count) }
        writer.close("}")
        writer.key("problems")
        writer.strings(problems)
        writer.close("}")
        return writer.text + "\n"
    }

    /// Seconds with three decimals.
    static func format(_ seconds: Double) -> String {
        let millis = Int((seconds * 1000).rounded())
        let fraction = String(millis % 1000)
        return "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
