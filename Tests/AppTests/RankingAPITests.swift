@testable import App
import ClaimStore
import Claims
import Foundation
import Hummingbird
import Journal
import HummingbirdTesting
import Logging
import Postgres
import RateLimiting
import Ranking
import Redis
import Testing
import TestSupport
import Schema

/// An app on a migrated scratch database with its own Redis key prefix, and a relay for it.
struct RankingApp: Sendable {
    let postgres: PostgresClient
    let dependencies: AppDependencies
    let relay: OutboxRelay

    var cache: RankingCache { dependencies.rankingCache() }

    /// Runs `body` against the app; unless `listening` is false the app's ranking change
    /// listener runs (checking the marker every `checkInterval`) and is subscribed first, as in
    /// production, so answers are kept in memory while current.
    static func with(
        redisURL: String = TestEnvironment.redisURL, traffic: TrafficSettings = TrafficSettings(rateLimits: []), logs: RecordingSink? = nil,
        validator: ClaimValidator = ClaimValidator(), listening: Bool = true, checkInterval: Duration = .seconds(1),
        _ body: @escaping @Sendable (any TestClientProtocol, RankingApp) async throws -> Void
    ) async throws {
        try await ScratchDatabase.with { postgres, database in
            try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let base = try makeDependencies(databaseURL: database.url, redisURL: redisURL)
            let dependencies = AppDependencies(
                postgres: base.postgres, redis: base.redis, cipher: TestEnvironment.cipher, redisKeyPrefix: "test-\(TestEnvironment.uniqueSuffix()):", redisBudget: testRedisBudget,
                telemetry: base.telemetry)
            let relay = OutboxRelay(
                postgres: dependencies.postgres, repository: PostgresClaimRepository(client: dependencies.postgres, cipher: TestEnvironment.cipher), cache: dependencies.rankingCache(),
                settings: RelaySettings(pollInterval: .milliseconds(20), takeoverInterval: .milliseconds(200), retryInterval: .milliseconds(200)),
                logger: TestEnvironment.quietLogger, metrics: dependencies.telemetry.factory)
            let app = RankingApp(postgres: postgres, dependencies: dependencies, relay: relay)
            let listener = Task {
                guard listening else { return }
                try await dependencies.rankingChangeListener(checkInterval: checkInterval, logger: TestEnvironment.quietLogger).run()
            }
            defer { listener.cancel() }
            do {
                if listening { try await waitUntil { dependencies.rankingMemo.isListening } }
                var logger = Logger(label: "claimsd") { label in SwiftLogNoOpLogHandler(label) }
                if let logs { logger = Logger(label: "claimsd") { label in JournalLogHandler(label: label, sink: logs, level: .info) } }
                let key = try await TestAccess.apiKey(postgres)
                try await Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings(), validator: validator, traffic: traffic), logger: logger).test(.router) {
                    try await body(AuthorizedClient($0, key: key), app)
                }
            } catch {
                listener.cancel()
                _ = await listener.result
                await dependencies.postgres.shutdown()
                await dependencies.redis.shutdown()
                throw error
            }
            listener.cancel()
            _ = await listener.result
            await dependencies.postgres.shutdown()
            await dependencies.redis.shutdown()
        }
    }
}

/// A one-line claim for `npi` whose net fee is `fee` (a decimal string).
func claimBody(npi: String, fee: String) -> String {
    """
    {"lines":[{"service date":"2018-03-28","submitted procedure":"D0180","group_id":"GRP-1000","subscriber_id":"3730189502",
    "provider_npi":"\(npi)","provider_fees":"\(fee)","allowed_fees":"0","member_coinsurance":"0","member_copay":"0"}]}
    """
}

/// POSTs a claim and returns its id.
@discardableResult
func submit(_ client: any TestClientProtocol, npi: String, fee: String) async throws -> String {
    let response = try await client.execute(
        uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: claimBody(npi: npi, fee: fee)))
    #expect(response.status == .created)
    return try #require(try json(response.body)["id"] as? String)
}

func topProviders(_ client: any TestClientProtocol, _ query: String = "") async throws -> (TestResponse, [[String: Any]]) {
    let response = try await client.execute(uri: "/api/v1/providers/top\(query)", method: .get)
    let providers = (try? json(response.body)["providers"] as? [[String: Any]]) ?? []
    return (response, providers)
}

@Suite struct ProvidersAPITests {
    @Test func topProvidersComeFromRedisRankedWithTiesByNPI() async throws {
        try await RankingApp.with { client, app in
            try await app.relay.catchUp()
            for (npi, fee) in [("1000000003", "50.00"), ("1000000001", "30.00"), ("1000000002", "50.00"), ("1000000001", "20.00"), ("1000000004", "0.00")] {
                try await submit(client, npi: npi, fee: fee)
            }
            try await app.relay.catchUp()
            let (response, providers) = try await topProviders(client)
            #expect(response.status == .ok)
            #expect(response.headers[.rankingSource] == "redis")
            #expect(response.headers[.rankingSequence] == "5")
            // 1000000001 has 50.00 from two claims; ties at 50.00 go by NPI ascending.
            #expect(providers.map { $0["provider_npi"] as? String } == ["1000000001", "1000000002", "1000000003", "1000000004"])
            #expect(providers.map { $0["net_fee"] as? String } == ["50.00", "50.00", "50.00", "0.00"])
            #expect(providers.map { $0["rank"] as? Int } == [1, 2, 3, 4])
            #expect(providers.first?["claims"] as? Int == 2)

            let (limited, two) = try await topProviders(client, "?n=2")
            #expect(limited.status == .ok)
            #expect(two.count == 2)
            try await client.execute(uri: "/top-providers?n=1", method: .get) { response in
                let body = try json(response.body)
                #expect((body["providers"] as? [[String: Any]])?.first?["provider_npi"] as? String == "1000000001")
            }
            for bad in ["0", "101", "ten"] {
                try await client.execute(uri: "/api/v1/providers/top?n=\(bad)", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
        }
    }

    @Test func beforeTheRelayHasBuiltTheRankingAnswersComeFromPostgres() async throws {
        try await RankingApp.with { client, _ in
            try await submit(client, npi: "1000000009", fee: "12.34")
            let (response, providers) = try await topProviders(client)
            #expect(response.headers[.rankingSource] == "postgresql")
            #expect(providers.first?["net_fee"] as? String == "12.34")
            // The same shape as Redis's answer: the sequence is there, null.
            let body = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
            #expect(body["as_of_sequence"] is NSNull)
            #expect(response.headers[.rankingSequence] == nil)
        }
    }

    @Test func theEleventhRequestInAMinuteIsRefusedWithHeaders() async throws {
        let traffic = TrafficSettings(rateLimits: try RateLimitRule.parse("GET /api/v1/providers/top=10/60s"))
        try await RankingApp.with(traffic: traffic) { client, _ in
            for expected in stride(from: 9, through: 0, by: -1) {
                let (response, _) = try await topProviders(client)
                #expect(response.status == .ok)
                #expect(response.headers[.rateLimitLimit] == "10")
                #expect(response.headers[.rateLimitRemaining] == String(expected))
            }
            // The aliases share the limit.
            for alias in ["/top-provider", "/top-providers/"] {
                #expect(try await client.execute(uri: alias, method: .get).status == .tooManyRequests, "\(alias)")
            }
            let response = try await client.execute(uri: "/top-providers", method: .get)
            #expect(response.status == .tooManyRequests)
            #expect(response.headers[.contentType] == "application/problem+json")
            #expect(response.headers[.rateLimitRemaining] == "0")
            let retry = try #require(response.headers[.retryAfter].flatMap(Int.init))
            #expect((1...60).contains(retry))
            #expect(response.headers[.rateLimitReset] == String(retry))
            let problem = try json(response.body)
            #expect(problem["status"] as? Int == 429)
            // Other routes are not limited.
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.rateLimitLimit] == nil)
            }
        }
    }

    @Test func refusedUntilTheWindowSlidesThenAllowedAgain() async throws {
        // A window long enough that four requests fit in it even when the whole suite loads the
        // machine (each request now also authenticates, which a cold key cache does against
        // PostgreSQL); the wait afterwards is what the refusal itself says.
        let traffic = TrafficSettings(rateLimits: try RateLimitRule.parse("GET /api/v1/providers/top=3/30s"))
        try await RankingApp.with(traffic: traffic) { client, _ in
            for _ in 0..<3 { #expect(try await topProviders(client).0.status == .ok) }
            let refused = try await topProviders(client).0
            #expect(refused.status == .tooManyRequests)
            let wait = try #require(refused.headers[.retryAfter].flatMap(Int.init))
            #expect((1...30).contains(wait))
            try await Task.sleep(for: .seconds(wait) + .milliseconds(100))
            #expect(try await topProviders(client).0.status == .ok)
        }
    }

    @Test func twoInstancesKeepOneLimit() async throws {
        let traffic = TrafficSettings(rateLimits: try RateLimitRule.parse("GET /api/v1/providers/top=10/60s"))
        try await RankingApp.with(traffic: traffic) { first, app in
            // A second instance: its own clients and router, the same stores and key prefix.
            let other = try makeDependencies(databaseURL: TestEnvironment.databaseURL, redisURL: TestEnvironment.redisURL)
            let second = AppDependencies(
                postgres: app.dependencies.postgres, redis: other.redis, cipher: TestEnvironment.cipher, redisKeyPrefix: app.dependencies.redisKeyPrefix, redisBudget: testRedisBudget)
            try await Application(router: buildRouter(dependencies: second, access: try await TestAccess.settings(), traffic: traffic)).test(.router) { secondClient in
                // The same principal as the first instance's client: one limit across instances.
                let secondClient = AuthorizedClient(secondClient, key: try #require((first as? AuthorizedClient)?.key))
                var statuses: [HTTPResponse.Status] = []
                for index in 0..<12 {
                    statuses.append(try await topProviders(index.isMultiple(of: 2) ? first : secondClient).0.status)
                }
                #expect(statuses.filter { $0 == .ok }.count == 10)
                #expect(statuses.suffix(2) == [.tooManyRequests, .tooManyRequests])
            }
            await other.redis.shutdown()
            await other.postgres.shutdown()
        }
    }
}

@Suite struct RankingMetricsTests {
    @Test func relayLagRankingReadsAndLimiterDecisionsAreExposed() async throws {
        let traffic = TrafficSettings(rateLimits: try RateLimitRule.parse("GET /api/v1/providers/top=2/60s"))
        try await RankingApp.with(traffic: traffic) { client, app in
            try await app.relay.catchUp()
            for index in 0..<3 { try await submit(client, npi: "100000000\(index)", fee: "1.00") }
            try await app.relay.catchUp()
            for _ in 0..<3 { _ = try await topProviders(client) }

            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = String(buffer: response.body)
            #expect(sample(text, "claimsd_relay_events_applied_total") == 3)
            #expect(sample(text, "claimsd_relay_rebuilds_total") == 1)
            #expect(sample(text, "claimsd_outbox_lag_events") == 0)
            #expect(sample(text, "claimsd_outbox_lag_seconds") == 0)
            // The first allowed read asks Redis and keeps the answer; the second is served from it.
            #expect(sample(text, #"claimsd_ranking_reads_total{source="redis"}"#) == 1)
            #expect(sample(text, #"claimsd_ranking_reads_total{source="memory"}"#) == 1)
            #expect(sample(text, "claimsd_ranking_memo_subscribed") == 1)
            let route = "GET /api/v1/providers/top"
            #expect(sample(text, #"claimsd_rate_limit_decisions_total{route="\#(route)",decision="allowed",decided_by="redis"}"#) == 2)
            #expect(sample(text, #"claimsd_rate_limit_decisions_total{route="\#(route)",decision="refused",decided_by="redis"}"#) == 1)
            // Every Redis call is timed by what it ran: three limiter decisions, one ranking read.
            #expect(sample(text, #"claimsd_redis_command_duration_seconds_count{command="script:rate_limit"}"#) == 3)
            #expect(sample(text, #"claimsd_redis_command_duration_seconds_count{command="script:ranking_top"}"#) == 1)
            #expect(!text.contains("claimsd_redis_errors_total{"))
        }
    }

    @Test func intakeCountsClaimsLinesFeesAndViolationsByRule() async throws {
        try await RankingApp.with { client, app in
            try await submit(client, npi: "1000000001", fee: "10.00")
            try await submit(client, npi: "1000000002", fee: "5.25")
            let bad = claimBody(npi: "12", fee: "1.00").replacingOccurrences(of: "D0180", with: "X1")
            let rejected = try await client.execute(
                uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: bad))
            #expect(rejected.status == .unprocessableContent)
            let ndjson = claimBody(npi: "1000000003", fee: "2.00").replacingOccurrences(of: "\n", with: " ") + "\n" + "{\"lines\":[{}]}\n"
            let imported = try await client.execute(
                uri: "/api/v1/claims/import", method: .post, headers: [.contentType: "application/x-ndjson"], body: ByteBuffer(string: ndjson))
            #expect(imported.status == .ok)

            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(sample(text, #"claimsd_claims_received_total{channel="api",outcome="accepted"}"#) == 2)
            #expect(sample(text, #"claimsd_claims_received_total{channel="api",outcome="rejected"}"#) == 1)
            #expect(sample(text, #"claimsd_claims_received_total{channel="import",outcome="accepted"}"#) == 1)
            #expect(sample(text, #"claimsd_claims_received_total{channel="import",outcome="rejected"}"#) == 1)
            #expect(sample(text, #"claimsd_claim_lines_accepted_total{channel="api"}"#) == 2)
            #expect(sample(text, #"claimsd_net_fee_accepted_cents_total{sign="positive"}"#) == 1725.0)
            #expect(sample(text, #"claimsd_claim_validation_failures_total{rule="cdt_code",severity="reject"}"#) == 1)
            #expect(sample(text, #"claimsd_claim_validation_failures_total{rule="npi_format",severity="reject"}"#) == 1)
            #expect(!text.contains("1000000001"))
        }
    }

    @Test func storeOperationsArePooledTimedAndReachable() async throws {
        try await RankingApp.with { client, _ in
            for index in 0..<3 { try await submit(client, npi: "100000000\(index)", fee: "1.00") }
            _ = try await client.execute(uri: "/api/v1/claims?limit=5", method: .get)
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(sample(text, #"claimsd_postgres_operation_duration_seconds_count{operation="create"}"#) == 3)
            #expect(sample(text, #"claimsd_postgres_operation_duration_seconds_count{operation="list"}"#) == 1)
            #expect(sample(text, #"claimsd_dependency_up{dependency="postgresql"}"#) == 1)
            #expect(sample(text, #"claimsd_dependency_up{dependency="redis"}"#) == 1)
            #expect((sample(text, #"claimsd_pool_connections{dependency="postgresql",state="idle"}"#) ?? 0) >= 1)
            #expect(sample(text, #"claimsd_pool_waiters{dependency="postgresql"}"#) == 0)
            // The claims were stored through the insert writers' own connections.
            #expect((sample(text, #"claimsd_pool_connections{dependency="postgresql_writers",state="idle"}"#) ?? 0) >= 1)
            #expect(sample(text, #"claimsd_pool_waiters{dependency="postgresql_writers"}"#) == 0)
        }
    }

    @Test func postgresErrorsAreCountedBySQLStateClass() async throws {
        try await ScratchDatabase.with { _, database in
            // Migrated, then the claims table dropped: every claims query fails with 42P01 (undefined table).
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let key = try await TestAccess.apiKey(dependencies.postgres)
            try await dependencies.postgres.query("DROP TABLE claims CASCADE")
            try await Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings())).test(.router) { client in
                let client = AuthorizedClient(client, key: key)
                let failed = try await client.execute(uri: "/api/v1/claims", method: .get)
                #expect(failed.status == .internalServerError)
                let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                #expect(sample(text, #"claimsd_postgres_errors_total{operation="list",sqlstate_class="42"}"#) == 1)
                #expect(sample(text, #"claimsd_http_requests_total{method="GET",route="/api/v1/claims",status="500"}"#) == 1)
            }
            await dependencies.postgres.shutdown()
            await dependencies.redis.shutdown()
        }
    }

    @Test func theLagQuerySeesEventsNotYetAppliedAndTheirAge() async throws {
        try await RankingApp.with { client, app in
            for index in 0..<4 { try await submit(client, npi: "100000000\(index)", fee: "1.00") }
            try await Task.sleep(for: .milliseconds(200))
            let repository = PostgresClaimRepository(client: app.postgres, cipher: TestEnvironment.cipher)
            let behind = try await repository.outboxPosition(after: 1)
            #expect(behind.latestSequence == 4)
            #expect(behind.oldestPendingAgeSeconds >= 0.2 && behind.oldestPendingAgeSeconds < 30)
            #expect(try await repository.outboxPosition(after: 4).oldestPendingAgeSeconds == 0)
        }
    }
}

@Suite struct ClientAddressTests {
    @Test func forwardedForIsBelievedOnlyFromTrustedProxies() {
        let clients = ClientAddress(trustedProxies: ["10.0.0.0/8", "192.168.1.7", "fd00::1"])
        #expect(clients.client(peer: "203.0.113.9", forwardedFor: ["1.2.3.4"]) == "203.0.113.9")
        #expect(clients.client(peer: "10.1.2.3", forwardedFor: ["1.2.3.4"]) == "1.2.3.4")
        // A client-supplied first hop is ignored: the nearest untrusted address wins.
        #expect(clients.client(peer: "10.1.2.3", forwardedFor: ["6.6.6.6, 1.2.3.4, 192.168.1.7"]) == "1.2.3.4")
        #expect(clients.client(peer: "fd00::1", forwardedFor: ["2001:db8::5"]) == "2001:db8::5")
        #expect(clients.client(peer: "10.1.2.3", forwardedFor: []) == "10.1.2.3")
        #expect(clients.client(peer: nil, forwardedFor: ["1.2.3.4"]) == "unknown")
        #expect(ClientAddress.Matcher("10.0.0.0/33") == nil)
        #expect(ClientAddress.Matcher("300.1.1.1") == nil)
        #expect(ClientAddress.Matcher("proxy.local") == nil)
    }
}

@Suite struct DomainEventTests {
    @Test func claimPaymentAndLimiterEventsAreLoggedAtTheirLevelsWithoutValues() async throws {
        let logs = RecordingSink()
        let traffic = TrafficSettings(rateLimits: try RateLimitRule.parse("GET /api/v1/providers/top=1/60s"))
        try await RankingApp.with(traffic: traffic, logs: logs) { client, _ in
            let kept = try await submit(client, npi: "1000000001", fee: "10.00")
            let voided = try await submit(client, npi: "1000000002", fee: "5.00")
            let replaced = try await client.execute(
                uri: "/api/v1/claims/\(kept)", method: .put, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: claimBody(npi: "1000000001", fee: "12.00")))
            #expect(replaced.status == .ok)
            #expect(try await client.execute(uri: "/api/v1/claims/\(voided)", method: .delete).status == .ok)
            let paid = try await client.execute(
                uri: "/api/v1/claims/\(kept)/payment", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"outcome":"paid","payment_id":"PAY-1"}"#))
            #expect(paid.status == .ok || paid.status == .created)
            let bad = claimBody(npi: "12", fee: "1.00")
            #expect(
                try await client.execute(uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: bad))
                    .status == .unprocessableContent)
            for _ in 0..<2 { _ = try await topProviders(client) }

            #expect(Self.only("claim_updated", in: logs)?.metadata["claim_id"]?.description == kept)
            #expect(Self.only("claim_voided", in: logs)?.metadata["claim_id"]?.description == voided)
        }
        func only(_ event: String) -> LogRecord? { Self.only(event, in: logs) }
        let accepted = logs.all.filter { $0.metadata["domain_event"]?.description == "claim_accepted" }
        #expect(accepted.count == 2 && accepted.allSatisfy { $0.level == .info && $0.metadata["event"] == "request_completed" })
        #expect(only("claim_rejected")?.metadata["status"]?.description == "422")
        #expect(only("claim_updated")?.level == .info)
        #expect(only("claim_voided")?.level == .info)
        #expect(only("payment_recorded")?.level == .info)
        #expect(only("payment_recorded")?.metadata["outcome"]?.description == "paid")
        #expect(only("claim_rejected")?.level == .warning)
        #expect(only("claim_rejected")?.metadata["rules"]?.description.contains("npi_format") == true)
        #expect(only("rate_limited")?.metadata["decided_by"]?.description == "redis")
        // Rule names, never values: the rejected NPI and the subscriber id appear in no record.
        #expect(!logs.all.contains { $0.metadata.values.contains { $0.description.contains("3730189502") } })
    }

    /// The one record of `event`, if there is exactly one.
    static func only(_ event: String, in logs: RecordingSink) -> LogRecord? {
        // Domain events ride in their request's access record (one record per request).
        let found = logs.all.filter { $0.metadata["domain_event"]?.description == event || $0.metadata["event"]?.description == event }
        return found.count == 1 ? found[0] : nil
    }
}

@Suite struct PaymentsAPITests {
    func report(_ client: any TestClientProtocol, _ id: String, _ body: String) async throws -> (TestResponse, [String: Any]) {
        let response = try await client.execute(
            uri: "/api/v1/claims/\(id)/payment", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
        return (response, (try? json(response.body)) ?? [:])
    }

    @Test func paidAndFailedResultsMoveTheClaimAndFailureCompensatesTheRanking() async throws {
        try await RankingApp.with { client, app in
            try await app.relay.catchUp()
            let paid = try await submit(client, npi: "1000000001", fee: "100.00")
            let failed = try await submit(client, npi: "1000000001", fee: "40.00")
            try await submit(client, npi: "1000000002", fee: "90.00")

            let (paidResponse, paidBody) = try await report(client, paid, #"{"outcome":"paid","payment_id":"pay-77"}"#)
            #expect(paidResponse.status == .ok)
            #expect(paidBody["status"] as? String == "paid")
            #expect(paidBody["payment_id"] as? String == "pay-77")
            let (failedResponse, failedBody) = try await report(client, failed, #"{"outcome":"failed","reason":"account closed"}"#)
            #expect(failedResponse.status == .ok)
            #expect(failedBody["status"] as? String == "payment_failed")

            // A repeated report answers the same and changes nothing; a different one conflicts.
            let (again, againBody) = try await report(client, failed, #"{"outcome":"failed","reason":"account closed"}"#)
            #expect(again.status == .ok)
            #expect(again.headers[.idempotentReplayed] == "true")
            #expect(againBody["sequence"] as? Int == failedBody["sequence"] as? Int)
            let (conflict, _) = try await report(client, failed, #"{"outcome":"paid"}"#)
            #expect(conflict.status == .conflict)
            #expect(conflict.headers[.contentType] == "application/problem+json")

            // The failed claim's 40.00 left the ranking: 1000000001 now trails 1000000002.
            try await app.relay.catchUp()
            let (_, providers) = try await topProviders(client)
            #expect(providers.map { "\($0["provider_npi"] as? String ?? ""):\($0["net_fee"] as? String ?? "")" } == ["1000000001:100.00", "1000000002:90.00"])
            let sql = try await app.postgres.query("SELECT status FROM claims WHERE id = \(failed)::uuid").rows[0].decode("status", as: String.self)
            #expect(sql == "payment_failed")

            // A paid claim cannot be voided; a failed one can, without changing the ranking again.
            try await client.execute(uri: "/api/v1/claims/\(paid)", method: .delete) { #expect($0.status == .conflict) }
            try await client.execute(uri: "/api/v1/claims/\(failed)", method: .delete) { #expect($0.status == .ok) }
            let voided = try await submit(client, npi: "1000000003", fee: "5.00")
            try await client.execute(uri: "/api/v1/claims/\(voided)", method: .delete) { #expect($0.status == .ok) }
            let (voidedReport, _) = try await report(client, voided, #"{"outcome":"paid"}"#)
            #expect(voidedReport.status == .conflict)
            try await app.relay.catchUp()
            let (_, after) = try await topProviders(client)
            #expect(after.count == 2)
        }
    }

    /// With single_provider relaxed, a claim's lines may name several providers: each line's net
    /// fee counts towards its own provider in the events, the feed, the ranking and the SQL.
    @Test func aClaimOfSeveralProvidersCountsEachLineTowardsItsOwn() async throws {
        let rules = try RuleSet.standard(overriddenBy: Data(#"{"rules": [{"name": "single_provider", "severity": "warn"}]}"#.utf8))
        try await RankingApp.with(validator: ClaimValidator(rules: rules)) { client, app in
            func body(_ lines: [(String, String)]) -> ByteBuffer {
                let items = lines.map { npi, fee in
                    #"{"service date":"2018-03-28","submitted procedure":"D0180","group_id":"GRP-1","subscriber_id":"3730189502","provider_npi":"\#(npi)","provider_fees":"\#(fee)","allowed_fees":"0","member_coinsurance":"0","member_copay":"0"}"#
                }
                return ByteBuffer(string: #"{"lines":[\#(items.joined(separator: ","))]}"#)
            }
            func events(after: Int) async throws -> [[String: Any]] {
                try json(try await client.execute(uri: "/api/v1/payments/events?after=\(after)", method: .get).body)["events"] as? [[String: Any]] ?? []
            }
            func summary(_ events: [[String: Any]]) -> [String] {
                events.map { "\($0["event_type"] ?? ""):\($0["provider_npi"] ?? ""):\($0["net_fee_delta"] ?? ""):\($0["provider_net_fee"] ?? ""):\($0["net_fee"] ?? "")" }
            }
            func ranking() async throws -> [String] {
                try await app.relay.catchUp()
                let (_, providers) = try await topProviders(client)
                let served = providers.map { "\($0["provider_npi"] as? String ?? ""):\($0["net_fee"] as? String ?? "")" }
                let truth = try await RankingTruth.providerTotals(app.postgres).map { "\($0.providerNPI):\($0.netFee)" }
                #expect(served == truth)
                return served
            }
            let created = try await client.execute(
                uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"],
                body: body([("1000000002", "70.00"), ("1000000001", "20.00"), ("1000000001", "10.00")]))
            #expect(created.status == .created)
            let claim = try json(created.body)
            let id = try #require(claim["id"] as? String)
            #expect((claim["warnings"] as? [[String: Any]])?.contains { $0["rule"] as? String == "single_provider" } == true)
            #expect(claim["provider_npi"] as? String == "1000000002")
            #expect(summary(try await events(after: 0)) == ["claim.created:1000000001:30.00:30.00:100.00", "claim.created:1000000002:70.00:70.00:100.00"])
            #expect(try await ranking() == ["1000000002:70.00", "1000000001:30.00"])

            // Re-priced to providers 1 and 3: one event per provider it had or has.
            let replaced = try await client.execute(
                uri: "/api/v1/claims/\(id)", method: .put, headers: [.contentType: "application/json"],
                body: body([("1000000001", "50.00"), ("1000000003", "20.00")]))
            #expect(replaced.status == .ok)
            #expect(summary(try await events(after: 2)) == [
                "claim.updated:1000000001:20.00:50.00:70.00", "claim.updated:1000000002:-70.00:0.00:70.00", "claim.updated:1000000003:20.00:20.00:70.00",
            ])
            #expect(try await ranking() == ["1000000001:50.00", "1000000003:20.00"])
            // The Redis stream carries each provider's part too.
            let stream = try await app.dependencies.redis.send("XREVRANGE", app.cache.keys.paymentsStream, "+", "-", "COUNT", "1")
            let fields = stream.array?.first?.array?.last?.array?.compactMap(\.string) ?? []
            #expect(fields.contains("provider_net_fee") && fields.contains("20.00"))

            // A failed payment takes each provider's part back out.
            let (failed, _) = try await report(client, id, #"{"outcome":"failed","reason":"account closed"}"#)
            #expect(failed.status == .ok)
            #expect(summary(try await events(after: 5)) == [
                "claim.payment_failed:1000000001:-50.00:50.00:70.00", "claim.payment_failed:1000000003:-20.00:20.00:70.00",
            ])
            #expect(try await ranking().isEmpty)
        }
    }

    @Test func badReportsNameEveryProblem() async throws {
        try await RankingApp.with { client, _ in
            let id = try await submit(client, npi: "1000000001", fee: "1.00")
            let (missing, problem) = try await report(client, id, #"{"outcome":"failed","payment_id":7}"#)
            #expect(missing.status == .unprocessableContent)
            let rules = (problem["errors"] as? [[String: Any]])?.map { "\($0["field"] as? String ?? ""):\($0["rule"] as? String ?? "")" }
            #expect(Set(rules ?? []) == ["reason:required", "payment_id:text"])
            #expect(try await report(client, id, #"{"outcome":"refunded"}"#).0.status == .unprocessableContent)
            // The length limit is on the text as sent, in code points: spaces around it count.
            let padded = String(repeating: " ", count: 10) + String(repeating: "r", count: 495)
            let (long, longProblem) = try await report(client, id, #"{"outcome":"failed","reason":"\#(padded)"}"#)
            #expect(long.status == .unprocessableContent && "\(longProblem)".contains("at most 500"), "\(longProblem)")
            #expect(try await report(client, id, "not json").0.status == .badRequest)
            #expect(try await report(client, "\(UUID())", #"{"outcome":"paid"}"#).0.status == .notFound)
            let wrongType = try await client.execute(
                uri: "/api/v1/claims/\(id)/payment", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "paid"))
            #expect(wrongType.status == .unsupportedMediaType)
        }
    }

    @Test func theEventFeedPagesInSequenceOrderAndLongPolls() async throws {
        try await RankingApp.with { client, app in
            var ids: [String] = []
            for index in 0..<5 { ids.append(try await submit(client, npi: "100000000\(index)", fee: "\(index + 1).00")) }
            let first = try json(try await client.execute(uri: "/api/v1/payments/events?after=0&limit=3", method: .get).body)
            let events = try #require(first["events"] as? [[String: Any]])
            #expect(events.map { $0["sequence"] as? Int } == [1, 2, 3])
            #expect(events.map { $0["claim_id"] as? String } == Array(ids.prefix(3)))
            #expect(events.first?["event_type"] as? String == "claim.created")
            #expect(events.first?["net_fee"] as? String == "1.00")
            #expect(first["next_after"] as? Int == 3)
            let rest = try json(try await client.execute(uri: "/api/v1/payments/events?after=3", method: .get).body)
            #expect((rest["events"] as? [[String: Any]])?.count == 2)
            #expect(rest["next_after"] as? Int == 5)

            // A long poll returns as soon as an event arrives: well before its 30 s are up, however
            // long the submission itself takes on a busy machine.
            let clock = ContinuousClock()
            async let waited = client.execute(uri: "/api/v1/payments/events?after=5&wait=30", method: .get)
            try await Task.sleep(for: .milliseconds(300))
            _ = try await app.postgres.query("SELECT 1")
            try await submit(client, npi: "1000000009", fee: "9.00")
            let submitted = clock.now
            let body = try json(try await waited.body)
            #expect((body["events"] as? [[String: Any]])?.first?["sequence"] as? Int == 6)
            #expect(clock.now - submitted < .seconds(10))

            let empty = try await client.execute(uri: "/api/v1/payments/events?after=6&wait=1", method: .get)
            #expect(try json(empty.body)["next_after"] as? Int == 6)
            try await client.execute(uri: "/api/v1/payments/events?after=-1&limit=5000&wait=99", method: .get) { response in
                #expect(response.status == .badRequest)
                let detail = try json(response.body)["detail"] as? String ?? ""
                #expect(detail.contains("after") && detail.contains("limit") && detail.contains("wait"))
            }
        }
    }
}

/// Answers kept in memory while the ranking is unchanged (issue 20): never stale once the relay
/// has applied a change, whichever instance's relay applied it.
@Suite struct RankingMemoAPITests {
    func reads(_ client: any TestClientProtocol, _ source: String) async throws -> Double {
        let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
        return sample(text, #"claimsd_ranking_reads_total{source="\#(source)"}"#) ?? 0
    }

    @Test func anUnchangedRankingIsServedFromMemoryAndAnAppliedChangeAtOnce() async throws {
        try await RankingApp.with { client, app in
            try await app.relay.catchUp()
            try await submit(client, npi: "1000000001", fee: "10.00")
            try await app.relay.catchUp()
            let (first, _) = try await topProviders(client)
            #expect(first.headers[.rankingSequence] == "1")
            for _ in 0..<5 {
                let (again, _) = try await topProviders(client)
                #expect(again.headers[.rankingSource] == "redis")
                #expect(again.headers[.rankingSequence] == "1")
                #expect(again.body == first.body)
            }
            #expect(try await reads(client, "redis") == 1)
            #expect(try await reads(client, "memory") == 5)

            for (npi, fee) in [("1000000002", "20.00"), ("1000000001", "15.00")] { try await submit(client, npi: npi, fee: fee) }
            try await app.relay.catchUp()
            // No wait: the relay in this process forgets the kept answers as it applies.
            let (after, providers) = try await topProviders(client)
            #expect(after.headers[.rankingSequence] == "3")
            let truth = try await RankingTruth.providerTotals(app.postgres)
            #expect(providers.map { $0["provider_npi"] as? String } == truth.map(\.providerNPI))
            #expect(providers.map { $0["net_fee"] as? String } == truth.map(\.netFee.description))
            #expect(try await reads(client, "redis") == 2)
        }
    }

    @Test func aChangeAppliedByAnotherInstancesRelayIsHeardOnTheChannel() async throws {
        try await RankingApp.with { first, app in
            try await app.relay.catchUp()
            try await submit(first, npi: "1000000001", fee: "10.00")
            try await app.relay.catchUp()
            // A second instance without a relay: its own clients, memo and listener, whose check
            // runs hourly — so only a message on the channel can tell it of the change.
            let other = try makeDependencies(databaseURL: TestEnvironment.databaseURL, redisURL: TestEnvironment.redisURL)
            let second = AppDependencies(
                postgres: app.dependencies.postgres, redis: other.redis, cipher: TestEnvironment.cipher, redisKeyPrefix: app.dependencies.redisKeyPrefix,
                redisBudget: testRedisBudget)
            let listener = Task { try await second.rankingChangeListener(checkInterval: .seconds(3600), logger: TestEnvironment.quietLogger).run() }
            try await waitUntil { second.rankingMemo.isListening }
            let key = try #require((first as? AuthorizedClient)?.key)
            try await Application(router: buildRouter(dependencies: second, access: try await TestAccess.settings())).test(.router) { client in
                let secondClient = AuthorizedClient(client, key: key)
                #expect(try await topProviders(secondClient).0.headers[.rankingSequence] == "1")
                #expect(try await topProviders(secondClient).0.headers[.rankingSequence] == "1")
                #expect(try await reads(secondClient, "memory") == 1)

                try await submit(first, npi: "1000000002", fee: "20.00")
                try await app.relay.catchUp()
                try await waitUntil { try await topProviders(secondClient).0.headers[.rankingSequence] == "2" }
                let (answer, providers) = try await topProviders(secondClient)
                #expect(answer.headers[.rankingSequence] == "2")
                #expect(providers.first?["provider_npi"] as? String == "1000000002")
                let text = String(buffer: try await secondClient.execute(uri: "/metrics", method: .get).body)
                #expect((sample(text, #"claimsd_ranking_memo_invalidations_total{reason="message"}"#) ?? 0) >= 1)
                #expect(sample(text, #"claimsd_ranking_memo_invalidations_total{reason="check"}"#) ?? 0 == 0)
            }
            listener.cancel()
            _ = await listener.result
            await other.redis.shutdown()
            await other.postgres.shutdown()
        }
    }

    @Test func aChangeWithoutAMessageIsCaughtByTheCheckAndWithoutTheSubscriptionNothingIsKept() async throws {
        try await RankingApp.with(checkInterval: .milliseconds(100)) { client, app in
            try await app.relay.catchUp()
            try await submit(client, npi: "1000000001", fee: "10.00")
            try await app.relay.catchUp()
            _ = try await topProviders(client)
            #expect(try await topProviders(client).0.headers[.rankingSource] == "redis")
            #expect(try await reads(client, "memory") == 1)
            // The marker vanishes with no message (as after FLUSHALL): Redis's answer cannot be
            // trusted, and the check soon forgets the kept one.
            _ = try await app.dependencies.redis.send("DEL", app.cache.keys.appliedSequence)
            try await waitUntil { try await topProviders(client).0.headers[.rankingSource] == "postgresql" }
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect((sample(text, #"claimsd_ranking_memo_invalidations_total{reason="check"}"#) ?? 0) >= 1)
        }
        try await RankingApp.with(listening: false) { client, app in
            try await app.relay.catchUp()
            try await submit(client, npi: "1000000001", fee: "10.00")
            try await app.relay.catchUp()
            for _ in 0..<3 { #expect(try await topProviders(client).0.headers[.rankingSequence] == "1") }
            #expect(try await reads(client, "redis") == 3)
            #expect(try await reads(client, "memory") == 0)
        }
    }
}
