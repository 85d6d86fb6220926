@testable import App
import Foundation
import Hummingbird
import HummingbirdTesting
import RateLimiting
import Schema
import Testing
import TestSupport

/// A Redis that hangs (paused with SIGSTOP, so connections stay open and nothing answers) costs
/// a request at most the budget, then — with the breaker open — nothing, and is used again once
/// it answers. The only user of the `paused` Redis instance.
@Suite(.serialized) struct RedisBudgetTests {
    @Test func aHangingRedisCostsTheBudgetThenNothingAndIsUsedAgainOnceItAnswers() async throws {
        try await ScratchDatabase.with { postgres, database in
            try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let telemetry = Telemetry()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.pausedRedisURL, telemetry: telemetry)
            let limits = [RateLimitRule(method: "GET", route: "/api/v1/providers/top", policy: RateLimitPolicy(limit: 10_000, window: .seconds(60)))]
            let app = Application(router: buildRouter(dependencies: dependencies, traffic: TrafficSettings(rateLimits: limits)))
            @Sendable func exposition() -> String { String(decoding: telemetry.exposition(), as: UTF8.self) }
            @Sendable func count(_ series: String) -> Int {
                exposition().split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? -1
            }
            let decidedByRedis = #"claimsd_rate_limit_decisions_total{route="GET /api/v1/providers/top",decision="allowed",decided_by="redis"}"#
            let decidedLocally = #"claimsd_rate_limit_decisions_total{route="GET /api/v1/providers/top",decision="allowed",decided_by="local"}"#
            try await app.test(.router) { client in
                try await client.execute(uri: "/api/v1/providers/top", method: .get) { #expect($0.status == .ok) }
                #expect(count(decidedByRedis) == 1)

                try await TestEnvironment.services("pause", "redis", "paused")
                var slowest = Duration.zero
                do {
                    let clock = ContinuousClock()
                    for _ in 0..<20 {
                        let started = clock.now
                        try await client.execute(uri: "/api/v1/providers/top", method: .get) { #expect($0.status == .ok) }
                        slowest = max(slowest, clock.now - started)
                    }
                } catch {
                    try await TestEnvironment.services("resume", "redis", "paused")
                    throw error
                }
                // Without the budget each request waited for the client's 5 s timeout.
                #expect(slowest < .seconds(1), "slowest request \(slowest)")
                #expect(count(decidedLocally) == 20)
                // Three calls used up their budget (the first request's limiter and ranking read,
                // the second's limiter); the breaker then opened and Redis was not asked again.
                #expect(count(#"claimsd_dependency_calls_shed_total{dependency="redis",reason="budget"}"#) == 3)
                #expect(count(#"claimsd_dependency_calls_shed_total{dependency="redis",reason="breaker_open"}"#) == 37)
                #expect(count(#"claimsd_dependency_breaker_open{dependency="redis"}"#) == 1)

                try await TestEnvironment.services("resume", "redis", "paused")
                // After the cooldown one probe goes through; Redis answers, and the breaker closes.
                try await Task.sleep(for: .milliseconds(1_200))
                try await client.execute(uri: "/api/v1/providers/top", method: .get) { #expect($0.status == .ok) }
                #expect(count(decidedByRedis) == 2)
                #expect(count(#"claimsd_dependency_breaker_open{dependency="redis"}"#) == 0)
            }
            await dependencies.postgres.shutdown()
            await dependencies.redis.shutdown()
        }
    }
}
