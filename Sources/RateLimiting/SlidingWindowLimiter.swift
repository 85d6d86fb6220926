public import CoreMetrics
public import Logging
public import CircuitBreaking
public import Redis
import Synchronization

/// A true sliding-window rate limiter shared by every claimsd instance through Redis.
///
/// Each client and route has a sorted set of the times of its counted requests. One Lua script
/// reads Redis's own clock, drops entries older than the window, and adds the request only when
/// fewer than the limit remain, so the decision is atomic and host clocks do not matter. Refused
/// requests are not recorded: hammering does not extend a client's wait.
///
/// When Redis cannot be reached, does not answer within the guard's budget, or the guard's
/// breaker is open, the limiter decides with an in-process window instead (or, with
/// `failClosed`, refuses), counts the fallback, and never throws.
public final class SlidingWindowLimiter: Sendable {
    /// What the limiter concluded for a request.
    public enum Outcome: Sendable, Equatable {
        case decided(RateLimitDecision)
        /// Redis was unreachable and the limiter is configured to fail closed.
        case unavailable
    }

    let redis: RedisClient
    let keyPrefix: String
    let failClosed: Bool
    /// The time budget and breaker every Redis call goes through.
    let callGuard: CallGuard
    let fallback = LocalSlidingWindow()
    let logger: Logger
    let metrics: any MetricsFactory
    private let fallbackCounter: Counter
    private let redisDown = Atomic<Bool>(false)
    private let fallbackCount = Atomic<Int>(0)

    /// `metrics` receives `claimsd_rate_limit_decisions_total{route,decision,decided_by}` and
    /// `claimsd_rate_limit_fallbacks_total`.
    public init(
        redis: RedisClient, keyPrefix: String = "claimsd:", failClosed: Bool = false, callGuard: CallGuard = CallGuard(dependency: "redis", budget: .seconds(5)),
        logger: Logger, metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.redis = redis
        self.callGuard = callGuard
        self.keyPrefix = keyPrefix
        self.failClosed = failClosed
        self.logger = logger
        self.metrics = metrics
        self.fallbackCounter = Counter(label: "claimsd_rate_limit_fallbacks_total", factory: metrics)
    }

    /// Requests decided without Redis since start.
    public var fallbacks: Int { fallbackCount.load(ordering: .relaxed) }

    /// Decides one request of `client` on `scope` (usually `METHOD /route`); `requestID` makes
    /// its entry in the window unique.
    public func check(scope: String, client: String, policy: RateLimitPolicy, requestID: String) async -> Outcome {
        let outcome = await decide(scope: scope, client: client, policy: policy, requestID: requestID)
        let (decision, decidedBy): (String, String)
        switch outcome {
        case .unavailable: (decision, decidedBy) = ("unavailable", "none")
        case .decided(let answer): (decision, decidedBy) = (answer.allowed ? "allowed" : "refused", answer.source.rawValue)
        }
        Counter(
            label: "claimsd_rate_limit_decisions_total", dimensions: [("route", scope), ("decision", decision), ("decided_by", decidedBy)],
            factory: metrics
        ).increment()
        return outcome
    }

    private func decide(scope: String, client: String, policy: RateLimitPolicy, requestID: String) async -> Outcome {
        let key = RedisArgument(keyPrefix + "ratelimit:" + scope + ":" + client)
        do {
            let redis = self.redis
            let arguments = [RedisArgument(policy.limit), RedisArgument(policy.windowMilliseconds), RedisArgument(requestID)]
            let reply = try await callGuard.run { try await redis.evaluate(Self.script, keys: [key], arguments: arguments) }
            guard let values = reply.array, values.count == 3, let allowed = values[0].integer, let remaining = values[1].integer,
                let resetMicroseconds = values[2].integer
            else {
                throw RedisError(code: .unexpectedReply, message: "rate-limit script returned \(reply)")
            }
            if redisDown.exchange(false, ordering: .relaxed) {
                logger.notice("rate limiter back on Redis", metadata: ["event": "dependency_regained", "dependency": "redis"])
            }
            return .decided(
                RateLimitDecision(
                    allowed: allowed == 1, limit: policy.limit, remaining: Int(max(0, remaining)), resetSeconds: Double(resetMicroseconds) / 1e6,
                    source: .redis))
        } catch {
            fallbackCount.add(1, ordering: .relaxed)
            fallbackCounter.increment()
            if !redisDown.exchange(true, ordering: .relaxed) {
                logger.warning(
                    failClosed ? "rate limiter cannot reach Redis; refusing limited routes" : "rate limiter cannot reach Redis; limiting per instance",
                    metadata: ["event": "dependency_lost", "dependency": "redis", "error": "\(error)"])
            }
            if failClosed { return .unavailable }
            return .decided(fallback.check(key: scope + ":" + client, policy: policy))
        }
    }

    /// KEYS: the client's window. ARGV: limit, window in milliseconds, a unique member.
    /// Returns {1 allowed or 0 refused, remaining, microseconds until the oldest entry leaves}.
    static let script = RedisScript(
        """
        local now = redis.call('TIME')
        local nowUs = tonumber(now[1]) * 1000000 + tonumber(now[2])
        local windowUs = tonumber(ARGV[2]) * 1000
        local limit = tonumber(ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowUs - windowUs)
        local count = redis.call('ZCARD', KEYS[1])
        local allowed = 0
        if count < limit then
          redis.call('ZADD', KEYS[1], nowUs, ARGV[3])
          count = count + 1
          allowed = 1
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        local reset = 0
        if #oldest > 0 then reset = tonumber(oldest[2]) + windowUs - nowUs end
        return {allowed, limit - count, reset}
        """, name: "rate_limit")
}
