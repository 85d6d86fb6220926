import Access
@testable import App
import Foundation
import Hummingbird
import HummingbirdTesting
import ClaimStore
import Postgres
import RateLimiting
import Redis
import Testing
import TestSupport

/// Builds the app on `buildRouter` with clients for the given servers, Redis calls observed
/// into `telemetry` as in production. The Redis budget is generous: tests that are not about it
/// must not fall back because the machine is busy running the other suites.
func makeDependencies(
    databaseURL: String, redisURL: String, telemetry: Telemetry = Telemetry(), redisBudget: Duration = testRedisBudget, auditEnabled: Bool = true,
    maxConnections: Int = 2, redisKeyPrefix: String = "claimsd:"
) throws -> AppDependencies {
    AppDependencies(
        postgres: try PostgresClient(
            configuration: .init(conninfo: databaseURL, maxConnections: maxConnections, connectTimeoutSeconds: 10), logger: TestEnvironment.quietLogger),
        redis: RedisClient(
            configuration: try RedisConfiguration(url: redisURL), logger: TestEnvironment.quietLogger, observer: RedisMetrics(factory: telemetry.factory)),
        cipher: TestEnvironment.cipher, redisKeyPrefix: redisKeyPrefix, redisBudget: redisBudget, telemetry: telemetry, auditEnabled: auditEnabled
    )
}

/// The Redis budget of test apps (production's default is 50 ms).
let testRedisBudget = Duration.seconds(3)

func json(_ buffer: ByteBuffer) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
}

@Suite struct HTTPTests {
    @Test func healthAnswersWithoutTouchingDependencies() async throws {
        // Deliberately unreachable stores: /health must not care.
        let dependencies = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: "redis://127.0.0.1:1")
        let app = Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.withoutDatabase()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let body = try json(response.body)
                #expect(body["status"] as? String == "ok")
            }
        }
    }

    /// Generated request ids are lowercase version-4 UUIDs (RFC 4122 variant), all different.
    @Test func generatedRequestIDsAreRandomVersion4UUIDs() throws {
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = RequestIDMiddleware.generate()
            let uuid = try #require(UUID(uuidString: id), "\(id) is not a UUID")
            #expect(id == uuid.uuidString.lowercased())
            #expect(uuid.uuid.6 >> 4 == 4 && uuid.uuid.8 >> 6 == 0b10)
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
        // Every hex digit outside the fixed version and variant bits varies across the ids.
        let sample = Array(seen.prefix(2_000))
        for position in 0..<36 where ![8, 13, 18, 23, 14].contains(position) {
            let digits = Set(sample.map { $0.utf8[$0.utf8.index($0.utf8.startIndex, offsetBy: position)] })
            #expect(digits.count >= (position == 19 ? 4 : 16), "position \(position) takes \(digits.count) values")
        }
    }

    @Test func everyResponseCarriesARequestID() async throws {
        let dependencies = try makeDependencies(databaseURL: TestEnvironment.databaseURL, redisURL: TestEnvironment.redisURL)
        let app = Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings()))
        try await app.test(.router) { client in
            var generated: [String] = []
            for _ in 0..<2 {
                try await client.execute(uri: "/health", method: .get) { response in
                    let id = try #require(response.headers[.requestID])
                    #expect(UUID(uuidString: id) != nil)
                    generated.append(id)
                }
            }
            #expect(generated[0] != generated[1])

            try await client.execute(uri: "/health", method: .get, headers: [.requestID: "trace-42.a:b_c"]) { response in
                #expect(response.headers[.requestID] == "trace-42.a:b_c")
            }
            // A malformed id (spaces, too long) is replaced, never echoed.
            for bad in ["has spaces", String(repeating: "x", count: 129), "quote\"d"] {
                try await client.execute(uri: "/health", method: .get, headers: [.requestID: bad]) { response in
                    let id = try #require(response.headers[.requestID])
                    #expect(id != bad)
                    #expect(UUID(uuidString: id) != nil)
                }
            }
            // Errors carry it too, in the header and as the problem's instance.
            try await client.execute(uri: "/no/such/route", method: .get, headers: [.requestID: "req-404"]) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[.requestID] == "req-404")
                let problem = try json(response.body)
                #expect(problem["status"] as? Int == 404)
                #expect(problem["instance"] as? String == "req-404")
            }
        }
        await dependencies.postgres.shutdown()
        await dependencies.redis.shutdown()
    }

    @Test func anUnreachableDatabaseIsA503WithRetryAfterNotA500() async throws {
        let dependencies = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: TestEnvironment.redisURL)
        try await Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.withoutDatabase())).test(.router) { client in
            let body = ByteBuffer(string: claimBody(npi: "1000000001", fee: "1.00"))
            let response = try await client.execute(uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"], body: body)
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "1")
            #expect(response.headers[.contentType] == "application/problem+json")
            let problem = try json(response.body)
            #expect((problem["detail"] as? String)?.contains("nothing was stored") == true)
            #expect(problem["instance"] as? String == response.headers[.requestID])
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(sample(text, #"claimsd_postgres_errors_total{operation="create",sqlstate_class="connection"}"#) == 1)
        }
        await dependencies.postgres.shutdown()
        await dependencies.redis.shutdown()
        // A connection that broke mid-request may have committed: the answer must not claim otherwise.
        let broken = ProblemMiddleware.outageDetail(PostgresError(code: .connectionLost, message: "server closed the connection"))
        #expect(broken?.contains("may or may not have been stored") == true)
        #expect(ProblemMiddleware.outageDetail(PostgresError(code: .server, message: "syntax error", sqlState: "42601")) == nil)
    }

    @Test func unexpectedErrorsBecomeA500ProblemWithoutInternals() async throws {
        let dependencies = try makeDependencies(databaseURL: TestEnvironment.databaseURL, redisURL: TestEnvironment.redisURL)
        let router = buildRouter(dependencies: dependencies, access: try await TestAccess.settings())
        struct SecretFailure: Error, CustomStringConvertible { var description: String { "password=hunter2 at db.internal" } }
        router.get("boom") { _, _ -> Response in throw SecretFailure() }
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                #expect(response.headers[.contentType] == "application/problem+json")
                let body = String(buffer: response.body)
                #expect(!body.contains("hunter2"))
                let problem = try json(response.body)
                #expect(problem["instance"] as? String == response.headers[.requestID])
            }
        }
    }

    @Test func readyIsOKWhenBothStoresAnswer() async throws {
        let dependencies = try makeDependencies(databaseURL: TestEnvironment.databaseURL, redisURL: TestEnvironment.redisURL)
        try await Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings())).test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .ok)
                let body = try json(response.body)
                #expect(body["status"] as? String == "ready")
                let checks = try #require(body["checks"] as? [String: [String: Any]])
                #expect(checks["postgresql"]?["status"] as? String == "up")
                #expect(checks["redis"]?["status"] as? String == "up")
            }
        }
        await dependencies.postgres.shutdown()
        await dependencies.redis.shutdown()
    }
}

/// Stops and restarts the readiness PostgreSQL and Redis; serialized so the outages never overlap.
@Suite(.serialized) struct ReadinessRecoveryTests {
    @Test func readyTurns503WhilePostgresIsStoppedAndRecovers() async throws {
        try await expectReadinessFollows(service: "postgres", dependency: "postgresql")
    }

    /// Redis is optional: while it is stopped /ready says `degraded`, claims are still accepted,
    /// the ranking comes from PostgreSQL and the rate limiter limits per instance; afterwards the
    /// relay rebuilds the lost ranking and catches up.
    @Test func withoutRedisTheServiceDegradesAndRecovers() async throws {
        let traffic = TrafficSettings(rateLimits: try RateLimitRule.parse("GET /api/v1/providers/top=3/60s"))
        try await RankingApp.with(redisURL: TestEnvironment.readinessRedisURL, traffic: traffic) { client, app in
            let relay = Task { try await app.relay.run() }
            defer { relay.cancel() }
            try await submit(client, npi: "1000000001", fee: "10.00")
            try await waitUntil { try await app.cache.appliedSequence() == 1 }

            try await TestEnvironment.services("stop", "redis", "readiness")
            do {
                try await client.execute(uri: "/ready", method: .get) { response in
                    #expect(response.status == .ok)
                    let body = try json(response.body)
                    #expect(body["status"] as? String == "degraded")
                    let checks = try #require(body["checks"] as? [String: [String: Any]])
                    #expect(checks["redis"]?["status"] as? String == "down")
                    #expect(checks["postgresql"]?["status"] as? String == "up")
                }
                try await submit(client, npi: "1000000002", fee: "25.00")
                let (response, providers) = try await topProviders(client)
                #expect(response.status == .ok)
                #expect(response.headers[.rankingSource] == "postgresql")
                #expect(providers.first?["provider_npi"] as? String == "1000000002")
                // The limiter still limits, per instance: 1 request made, 2 more allowed, then 429.
                #expect(try await topProviders(client).0.headers[.rateLimitRemaining] == "1")
                #expect(try await topProviders(client).0.status == .ok)
                #expect(try await topProviders(client).0.status == .tooManyRequests)
                try await waitUntil { !app.relay.state.redisAvailable }
            } catch {
                try? await TestEnvironment.services("start", "redis", "readiness")
                throw error
            }
            try await TestEnvironment.services("start", "redis", "readiness")

            // Redis came back empty: the relay rebuilds from PostgreSQL and applies what is new.
            try await waitUntil { try await app.cache.appliedSequence() == 2 }
            // The rebuild writes Redis's marker before it counts itself: wait for the count too.
            try await waitUntil { app.relay.state.rebuilds >= 2 }
            let ready = try json(try await client.execute(uri: "/ready", method: .get).body)
            #expect(ready["status"] as? String == "ready")
            let top = try await app.cache.top(10)
            let ranked = try #require(top)
            #expect(ranked.totals.map(\.providerNPI) == ["1000000002", "1000000001"])
        }
    }

    @Test func afterFlushAllTheRelayRebuildsAnEqualRanking() async throws {
        try await RankingApp.with(redisURL: TestEnvironment.readinessRedisURL) { client, app in
            let relay = Task { try await app.relay.run() }
            defer { relay.cancel() }
            for index in 0..<30 { try await submit(client, npi: "100000000\(index % 4)", fee: "\(index).50") }
            try await waitUntil { try await app.cache.appliedSequence() == 30 }
            let rebuilds = app.relay.state.rebuilds

            try await app.dependencies.redis.send("FLUSHALL")
            let (during, _) = try await topProviders(client)
            #expect(during.status == .ok)
            try await submit(client, npi: "1000000009", fee: "1000.00")
            try await waitUntil { try await app.cache.appliedSequence() == 31 }
            // The rebuild writes Redis's marker before it counts itself: wait for the count too,
            // then check it rebuilt exactly once.
            try await waitUntil { app.relay.state.rebuilds > rebuilds }
            #expect(app.relay.state.rebuilds == rebuilds + 1)
            let expected = Array(try await RankingTruth.providerTotals(app.postgres).prefix(100))
            let rebuilt = try await app.cache.top(100)
            #expect(rebuilt?.totals == expected)
            #expect(expected.first?.providerNPI == "1000000009")
        }
    }

    /// While PostgreSQL is down, a key used before the outage keeps working from memory (so
    /// Prometheus and Grafana keep their view of claimsd), and a key never seen is a 503 with
    /// `Retry-After` — an outage, not a 401 that would tell the client its key is wrong.
    @Test func knownKeysKeepWorkingWhilePostgresIsDown() async throws {
        let dependencies = try makeDependencies(databaseURL: TestEnvironment.readinessDatabaseURL, redisURL: TestEnvironment.readinessRedisURL)
        let key = try await TestAccess.apiKey(dependencies.postgres, role: .metrics)
        let access = try await TestAccess.settings(cacheLifetime: .milliseconds(1))
        try await Application(router: buildRouter(dependencies: dependencies, access: access)).test(.router) { client in
            let known: HTTPFields = [.authorization: "Bearer \(key)"]
            try await client.execute(uri: "/metrics", method: .get, headers: known) { #expect($0.status == .ok) }
            try await TestEnvironment.services("stop", "postgres", "readiness")
            do {
                try await Task.sleep(for: .milliseconds(50))  // well past the cache lifetime: the key is read again, and cannot be
                try await client.execute(uri: "/metrics", method: .get, headers: known) { #expect($0.status == .ok) }
                try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(APIKey.generate().key)"]) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "1")
                }
            } catch {
                try? await TestEnvironment.services("start", "postgres", "readiness")
                throw error
            }
            try await TestEnvironment.services("start", "postgres", "readiness")
        }
        await dependencies.postgres.shutdown()
        await dependencies.redis.shutdown()
    }

    func expectReadinessFollows(service: String, dependency: String) async throws {
        let dependencies = try makeDependencies(databaseURL: TestEnvironment.readinessDatabaseURL, redisURL: TestEnvironment.readinessRedisURL)
        try await Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings())).test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }

            try await TestEnvironment.services("stop", service, "readiness")
            do {
                try await client.execute(uri: "/ready", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.contentType] == "application/problem+json")
                    let problem = try json(response.body)
                    #expect(problem["status"] as? Int == 503)
                    #expect((problem["detail"] as? String)?.hasPrefix("\(dependency) is unavailable") == true)
                    let checks = try #require(problem["checks"] as? [String: [String: Any]])
                    #expect(checks[dependency]?["status"] as? String == "down")
                    #expect(checks.filter { $0.key != dependency }.allSatisfy { $0.value["status"] as? String == "up" })
                }
            } catch {
                try? await TestEnvironment.services("start", service, "readiness")
                throw error
            }

            try await TestEnvironment.services("start", service, "readiness")
            try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }
        }
        await dependencies.postgres.shutdown()
        await dependencies.redis.shutdown()
    }
}
