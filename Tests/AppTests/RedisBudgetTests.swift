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
            let base = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.pausedRedisURL, telemetry: telemetry)
            // A budget well above a busy machine's scheduling delays, far below the 5 s timeout.
            let dependencies = AppDependencies(postgres: base.postgres, redis: base.redis, cipher: TestEnvironment.cipher, redisBudget: .milliseconds(250), telemetry: telemetry)
            let limits = [RateLimitRule(method: "GET", route: "/api/v1/providers/top", policy: RateLimitPolicy(limit: 10_000, window: .seconds(60)))]
            let app = Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings(), traffic: TrafficSettings(rateLimits: limits)))
            @Sendable func count(_ series: String) -> Int {
                String(decoding: telemetry.exposition(), as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(series + " ") }
                    .flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
            }
            let decidedByRedis = #"claimsd_rate_limit_decisions_total{route="GET /api/v1/providers/top",decision="allowed",decided_by="redis"}"#
            let shedByBudget = #"claimsd_dependency_calls_shed_total{dependency="redis",reason="budget"}"#
            let shedByBreaker = #"claimsd_dependency_calls_shed_total{dependency="redis",reason="breaker_open"}"#
            let breakerOpen = #"claimsd_dependency_breaker_open{dependency="redis"}"#
            try await app.test(.router) { client in
                let client = AuthorizedClient(client, key: try await TestAccess.apiKey(dependencies.postgres))
                /// Requests until Redis decides one (its first call also connects and loads the script).
                @Sendable func untilRedisDecides() async throws {
                    let decided = count(decidedByRedis)
                    for _ in 0..<10 where count(decidedByRedis) == decided {
                        try await client.execute(uri: "/api/v1/providers/top", method: .get) { #expect($0.status == .ok) }
                        if count(decidedByRedis) == decided { try await Task.sleep(for: .milliseconds(1_100)) }
                    }
                    #expect(count(decidedByRedis) > decided, "Redis never decided a request")
                }
                try await untilRedisDecides()

                try TestEnvironment.signalPausedRedis(SIGSTOP)
                let shedBefore = count(shedByBudget) + count(shedByBreaker)
                var slowest = Duration.zero
                do {
                    let clock = ContinuousClock()
                    for _ in 0..<20 {
                        let started = clock.now
                        try await client.execute(uri: "/api/v1/providers/top", method: .get) { #expect($0.status == .ok) }
                        slowest = max(slowest, clock.now - started)
                    }
                } catch {
                    try TestEnvironment.signalPausedRedis(SIGCONT)
                    throw error
                }
                // Without the budget each request waited for the client's 5 s timeout.
                #expect(slowest < .milliseconds(2_500), "slowest request \(slowest)")
                // Every one of the 40 calls (a limiter decision and a ranking read per request)
                // was given up: a few at the budget, then most at once while the breaker was open.
                #expect(count(shedByBudget) + count(shedByBreaker) - shedBefore == 40)
                #expect(count(shedByBudget) >= 3)
                #expect(count(shedByBreaker) >= 30)
                #expect(count(breakerOpen) == 1)

                try TestEnvironment.signalPausedRedis(SIGCONT)
                // After the cooldown a probe goes through; Redis answers, and the breaker closes.
                try await Task.sleep(for: .milliseconds(1_100))
                try await untilRedisDecides()
                #expect(count(breakerOpen) == 0)
            }
            await dependencies.postgres.shutdown()
            await dependencies.redis.shutdown()
        }
    }
}
