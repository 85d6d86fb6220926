import Foundation
@testable import RateLimiting
import Redis
import Testing
import TestSupport

@Suite struct RateLimitRuleTests {
    @Test func readsRulesWithUnits() throws {
        let rules = try RateLimitRule.parse(" GET /api/v1/providers/top=10/60s, post /api/v1/claims=1000/1m ,GET /x=3/2")
        #expect(rules == [
            RateLimitRule(method: "GET", route: "/api/v1/providers/top", policy: RateLimitPolicy(limit: 10, window: .seconds(60))),
            RateLimitRule(method: "POST", route: "/api/v1/claims", policy: RateLimitPolicy(limit: 1000, window: .seconds(60))),
            RateLimitRule(method: "GET", route: "/x", policy: RateLimitPolicy(limit: 3, window: .seconds(2))),
        ])
        #expect(try RateLimitRule.parse("off").isEmpty)
        // Blank is a mistake, not a way to switch limits off.
        #expect(throws: RateLimitRuleError.self) { try RateLimitRule.parse("  ") }
    }

    @Test(arguments: ["GET /top", "/top=10/60s", "GET top=10/60s", "GET /top=0/60s", "GET /top=10/0s", "GET /top=ten/60s", "GET /top=10/2000m"])
    func rejectsMalformedRules(text: String) {
        #expect(throws: RateLimitRuleError.self) { try RateLimitRule.parse(text) }
    }
}

@Suite struct LocalSlidingWindowTests {
    @Test func slidesRatherThanResettingInBuckets() {
        let window = LocalSlidingWindow()
        let policy = RateLimitPolicy(limit: 3, window: .seconds(10))
        let start = ContinuousClock.now
        // Three requests at 0 s, 4 s and 8 s; the fourth at 9 s is refused.
        for offset in [0, 4, 8] {
            #expect(window.check(key: "a", policy: policy, now: start + .seconds(offset)).allowed)
        }
        let refused = window.check(key: "a", policy: policy, now: start + .seconds(9))
        #expect(!refused.allowed)
        #expect(refused.remaining == 0)
        #expect(abs(refused.resetSeconds - 1) < 0.001)
        // At 10.5 s only the first request has left the window: exactly one slot is free.
        #expect(window.check(key: "a", policy: policy, now: start + .milliseconds(10_500)).allowed)
        #expect(!window.check(key: "a", policy: policy, now: start + .milliseconds(10_600)).allowed)
        // Another client has its own window.
        #expect(window.check(key: "b", policy: policy, now: start + .seconds(9)).remaining == 2)
    }
}

@Suite struct SlidingWindowLimiterTests {
    func limiter(url: String = TestEnvironment.redisURL, failClosed: Bool = false) throws -> (SlidingWindowLimiter, RedisClient) {
        let redis = RedisClient(configuration: try RedisConfiguration(url: url), logger: TestEnvironment.quietLogger)
        return (SlidingWindowLimiter(redis: redis, keyPrefix: "test-\(TestEnvironment.uniqueSuffix()):", failClosed: failClosed, logger: TestEnvironment.quietLogger), redis)
    }

    func decision(_ outcome: SlidingWindowLimiter.Outcome) throws -> RateLimitDecision {
        guard case .decided(let decision) = outcome else { throw TestEnvironmentError.commandFailed("expected a decision, got \(outcome)") }
        return decision
    }

    @Test func allowsTheLimitThenRefusesUntilTheWindowSlides() async throws {
        let (limiter, redis) = try limiter()
        // Four seconds: the first four checks must fall in one window even on a busy machine.
        let policy = RateLimitPolicy(limit: 3, window: .seconds(4))
        var remaining: [Int] = []
        for _ in 0..<3 {
            let answer = try decision(await limiter.check(scope: "GET /r", client: "c1", policy: policy, requestID: UUID().uuidString))
            #expect(answer.allowed)
            #expect(answer.source == .redis)
            remaining.append(answer.remaining)
        }
        #expect(remaining == [2, 1, 0])
        let refused = try decision(await limiter.check(scope: "GET /r", client: "c1", policy: policy, requestID: UUID().uuidString))
        #expect(!refused.allowed)
        #expect(refused.resetSeconds > 0 && refused.resetSeconds <= 4)
        // Another client and another route are counted apart.
        #expect(try decision(await limiter.check(scope: "GET /r", client: "c2", policy: policy, requestID: UUID().uuidString)).allowed)
        #expect(try decision(await limiter.check(scope: "GET /other", client: "c1", policy: policy, requestID: UUID().uuidString)).allowed)

        try await Task.sleep(for: .milliseconds(Int(refused.resetSeconds * 1000) + 100))
        let again = try decision(await limiter.check(scope: "GET /r", client: "c1", policy: policy, requestID: UUID().uuidString))
        #expect(again.allowed)
        #expect(limiter.fallbacks == 0)
        await redis.shutdown()
    }

    /// A fixed window aligned to the clock (the usual cheap limiter) would let a request just after
    /// a window boundary through; a sliding window still counts the requests made just before it.
    /// The scenario needs its timing: an attempt whose requests a busy machine delayed too much
    /// proves nothing and is repeated (up to five times; one must keep its timing). The window is
    /// 6 s so that a request may be late by two seconds and the attempt still count.
    @Test func theRedisWindowSlidesAcrossABoundaryRatherThanResetting() async throws {
        let (limiter, redis) = try limiter()
        let windowMs = 6_000
        let policy = RateLimitPolicy(limit: 2, window: .milliseconds(windowMs))
        func window(of date: Date) -> Int { Int(date.timeIntervalSince1970 * 1000) / windowMs }
        func millisecondsIntoWindow() -> Int { Int(Date().timeIntervalSince1970 * 1000) % windowMs }
        func sleep(untilInto target: Int) async throws {
            let wait = (target - millisecondsIntoWindow() + windowMs) % windowMs
            try await Task.sleep(for: .milliseconds(wait))
        }
        var conclusive = false
        for attempt in 0..<5 where !conclusive {
            let client = "c\(attempt)"
            // Two requests 3.9 s into a clock-aligned 6 s window…
            try await sleep(untilInto: 3_900)
            let first = Date()
            for _ in 0..<2 {
                #expect(try decision(await limiter.check(scope: "GET /b", client: client, policy: policy, requestID: UUID().uuidString)).allowed)
            }
            let firstWindow = window(of: first)
            // Both answered before the boundary, or a fixed window would refuse the next one too.
            let bothBeforeBoundary = window(of: Date()) == firstWindow
            // …and one 0.6 s into the next, while both are still within the last 6 s.
            try await sleep(untilInto: 600)
            let sent = Date()
            let afterBoundary = try decision(await limiter.check(scope: "GET /b", client: client, policy: policy, requestID: UUID().uuidString))
            let answered = Date()
            guard bothBeforeBoundary, window(of: sent) == firstWindow + 1, answered.timeIntervalSince(first) < 5.1 else { continue }
            conclusive = true
            #expect(!afterBoundary.allowed, "a request \(answered.timeIntervalSince(first)) s after two others got through: the window reset at the boundary")
            // Free again once the first two have slid out of the window.
            #expect(afterBoundary.resetSeconds > 0 && afterBoundary.resetSeconds <= 6, "\(afterBoundary.resetSeconds)")
            try await Task.sleep(for: .milliseconds(Int(afterBoundary.resetSeconds * 1000) + 150))
            #expect(try decision(await limiter.check(scope: "GET /b", client: client, policy: policy, requestID: UUID().uuidString)).allowed)
        }
        #expect(conclusive, "five attempts were all delayed past the window; the machine is too busy for this test")
        await redis.shutdown()
    }

    @Test func twoInstancesShareOneLimit() async throws {
        let prefix = "test-\(TestEnvironment.uniqueSuffix()):"
        let redisA = RedisClient(configuration: try RedisConfiguration(url: TestEnvironment.redisURL), logger: TestEnvironment.quietLogger)
        let redisB = RedisClient(configuration: try RedisConfiguration(url: TestEnvironment.redisURL), logger: TestEnvironment.quietLogger)
        let a = SlidingWindowLimiter(redis: redisA, keyPrefix: prefix, logger: TestEnvironment.quietLogger)
        let b = SlidingWindowLimiter(redis: redisB, keyPrefix: prefix, logger: TestEnvironment.quietLogger)
        let policy = RateLimitPolicy(limit: 10, window: .seconds(60))
        var allowed = 0
        for index in 0..<16 {
            let limiter = index.isMultiple(of: 2) ? a : b
            if try decision(await limiter.check(scope: "GET /top", client: "ip", policy: policy, requestID: UUID().uuidString)).allowed { allowed += 1 }
        }
        #expect(allowed == 10)
        await redisA.shutdown()
        await redisB.shutdown()
    }

    @Test func withoutRedisFallsBackPerInstanceOrFailsClosed() async throws {
        let (open, openRedis) = try limiter(url: "redis://127.0.0.1:1/0")
        let policy = RateLimitPolicy(limit: 2, window: .seconds(60))
        let answers = try await (0..<3).asyncMap { _ in try decision(await open.check(scope: "GET /r", client: "c", policy: policy, requestID: UUID().uuidString)) }
        #expect(answers.map(\.allowed) == [true, true, false])
        #expect(answers.allSatisfy { $0.source == .local })
        #expect(open.fallbacks == 3)

        let (closed, closedRedis) = try limiter(url: "redis://127.0.0.1:1/0", failClosed: true)
        #expect(await closed.check(scope: "GET /r", client: "c", policy: policy, requestID: "x") == .unavailable)
        #expect(closed.fallbacks == 1)
        await openRedis.shutdown()
        await closedRedis.shutdown()
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
