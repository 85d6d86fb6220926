import Synchronization

/// An in-process sliding-window log, used while Redis is unreachable. It limits each instance
/// separately, so with N instances a client may get up to N times its limit during an outage.
public final class LocalSlidingWindow: Sendable {
    private struct Log {
        /// Times of the requests still inside the window, oldest first.
        var times: [ContinuousClock.Instant] = []
    }

    private let logs = Mutex<[String: Log]>([:])
    /// Clients tracked before idle ones are swept out.
    private let sweepThreshold: Int

    public init(sweepThreshold: Int = 10_000) {
        self.sweepThreshold = sweepThreshold
    }

    /// Counts the request when `key` is under `policy`'s limit, and says so.
    public func check(key: String, policy: RateLimitPolicy, now: ContinuousClock.Instant = .now) -> RateLimitDecision {
        logs.withLock { logs in
            if logs.count > sweepThreshold {
                logs = logs.filter { ($0.value.times.last.map { now - $0 } ?? policy.window) < policy.window }
            }
            var log = logs[key] ?? Log()
            let cutoff = now - policy.window
            if let firstKept = log.times.firstIndex(where: { $0 > cutoff }) {
                log.times.removeFirst(firstKept)
            } else {
                log.times.removeAll()
            }
            let allowed = log.times.count < policy.limit
            if allowed { log.times.append(now) }
            logs[key] = log
            let reset = log.times.first.map { ($0 + policy.window) - now } ?? .zero
            let seconds = Double(reset.components.seconds) + Double(reset.components.attoseconds) / 1e18
            return RateLimitDecision(
                allowed: allowed, limit: policy.limit, remaining: max(0, policy.limit - log.times.count), resetSeconds: seconds, source: .local)
        }
    }
}
