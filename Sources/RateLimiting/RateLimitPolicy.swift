/// How many requests one client may make in any window of the given length.
public struct RateLimitPolicy: Sendable, Equatable, CustomStringConvertible {
    public var limit: Int
    public var window: Duration

    public init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Milliseconds in the window.
    public var windowMilliseconds: Int64 {
        window.components.seconds * 1000 + window.components.attoseconds / 1_000_000_000_000_000
    }

    public var description: String { "\(limit)/\(windowMilliseconds / 1000)s" }
}

/// One route's limit: `GET /api/v1/providers/top=10/60s`.
public struct RateLimitRule: Sendable, Equatable {
    /// The HTTP method, upper case.
    public var method: String
    /// The route template as the router names it, e.g. `/api/v1/providers/top`.
    public var route: String
    public var policy: RateLimitPolicy

    public init(method: String, route: String, policy: RateLimitPolicy) {
        self.method = method
        self.route = route
        self.policy = policy
    }

    /// The rules in `text`: comma-separated `METHOD /route=LIMIT/WINDOW`, the window in seconds
    /// with an optional `s` or `m` unit, e.g. `GET /api/v1/providers/top=10/60s`. `off` means
    /// no limits; blank text is refused, so a setting left empty by mistake never turns them off.
    public static func parse(_ text: String) throws(RateLimitRuleError) -> [RateLimitRule] {
        let trimmed = text.trimmingWhitespace
        if trimmed.isEmpty { throw RateLimitRuleError(entry: text, problem: "no rules given; write off to switch rate limiting off") }
        if trimmed.lowercased() == "off" { return [] }
        return try trimmed.split(separator: ",").map { entry throws(RateLimitRuleError) in
            let entry = String(entry).trimmingWhitespace
            let parts = entry.split(separator: "=", maxSplits: 1)
            let target = parts.first.map { $0.split(separator: " ", omittingEmptySubsequences: true) } ?? []
            guard parts.count == 2, target.count == 2, target[1].hasPrefix("/") else { throw RateLimitRuleError(entry: entry, problem: "expected METHOD /route=LIMIT/WINDOW") }
            let numbers = parts[1].split(separator: "/")
            guard numbers.count == 2, let limit = Int(numbers[0].trimmingWhitespace), limit > 0 else {
                throw RateLimitRuleError(entry: entry, problem: "the limit must be a whole number above 0, as in =10/60s")
            }
            var window = numbers[1].trimmingWhitespace.lowercased()
            var unit: Int64 = 1
            if window.hasSuffix("m") { unit = 60; window.removeLast() } else if window.hasSuffix("s") { window.removeLast() }
            guard let seconds = Int64(window), seconds > 0, seconds * unit <= 86_400 else {
                throw RateLimitRuleError(entry: entry, problem: "the window must be 1s to 1440m, as in =10/60s")
            }
            return RateLimitRule(
                method: target[0].uppercased(), route: String(target[1]), policy: RateLimitPolicy(limit: limit, window: .seconds(seconds * unit)))
        }
    }
}

/// A rate-limit rule that could not be read.
public struct RateLimitRuleError: Error, Sendable, CustomStringConvertible {
    public var entry: String
    public var problem: String
    public var description: String { "\"\(entry)\": \(problem)" }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
