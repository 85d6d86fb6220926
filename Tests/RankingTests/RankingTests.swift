@testable import ClaimStore
import Claims
import Foundation
import Postgres
@testable import Ranking
import Redis
import Testing
import TestSupport
import Schema

/// A migrated scratch database, a Redis key prefix of its own, and the relay between them.
struct RankingFixture {
    let postgres: PostgresClient
    let repository: PostgresClaimRepository
    let redis: RedisClient
    let cache: RankingCache
    let relay: OutboxRelay

    static func with(redisURL: String = TestEnvironment.redisURL, batchSize: Int = 500, _ body: (RankingFixture) async throws -> Void) async throws {
        try await ScratchDatabase.with { postgres, _ in
            try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let redis = RedisClient(configuration: try RedisConfiguration(url: redisURL), logger: TestEnvironment.quietLogger)
            let repository = PostgresClaimRepository(client: postgres, cipher: TestEnvironment.cipher)
            let cache = RankingCache(redis: redis, keys: RankingKeys(prefix: "test-\(TestEnvironment.uniqueSuffix()):"))
            let relay = OutboxRelay(
                postgres: postgres, repository: repository, cache: cache,
                settings: RelaySettings(batchSize: batchSize, pollInterval: .milliseconds(20), takeoverInterval: .milliseconds(200)),
                logger: TestEnvironment.quietLogger)
            let fixture = RankingFixture(postgres: postgres, repository: repository, redis: redis, cache: cache, relay: relay)
            do {
                try await body(fixture)
            } catch {
                await redis.shutdown()
                throw error
            }
            await redis.shutdown()
        }
    }

    /// The ranking in Redis, all of it.
    func ranking() async throws -> [ProviderTotal] {
        let top = try await cache.top(100_000)
        return try #require(top).totals
    }

    /// The answer the ranking must equal, worked out independently of the production SQL; the
    /// repository's own PostgreSQL answer (the fallback of the HTTP route) must equal it too.
    func expected() async throws -> [ProviderTotal] {
        let truth = try await RankingTruth.providerTotals(postgres)
        #expect(try await repository.topProviders(limit: 100_000) == truth)
        return truth
    }
}

@Suite struct RankingTests {
    let factory = ClaimFactory()

    @Test func rankingEqualsSQLAfterRandomClaimsUpdatesVoidsAndPayments() async throws {
        try await RankingFixture.with { fixture in
            // The first run finds no marker and builds the (empty) ranking from PostgreSQL; all
            // that follows arrives as events.
            try await fixture.relay.catchUp()
            #expect(fixture.relay.state.rebuilds == 1)

            var generator = SplitMix.forTest("rankingEqualsSQLAfterRandomClaimsUpdatesVoidsAndPayments", variable: "CLAIMS_TEST_RANKING_SEED")
            let providers = (0..<300).map { String(format: "1%09d", $0 * 7919 % 1_000_000_000) }
            // Fees from a small set of round amounts, so many providers tie. One claim in four
            // has lines of two or three providers (single_provider relaxed): each line's net fee
            // counts towards its own provider.
            func randomClaim() -> ValidatedClaim {
                guard Int.random(in: 0..<4, using: &generator) == 0 else {
                    return factory.claim(npi: providers.randomElement(using: &generator)!, dollars: Int64.random(in: 0...8, using: &generator) * 25)
                }
                let lines = (1...Int.random(in: 2...3, using: &generator)).map { number in
                    var line = factory.line(
                        npi: providers.randomElement(using: &generator)!, netFee: Money(cents: Int64.random(in: 0...8, using: &generator) * 2_500))
                    line.lineNumber = number
                    return line
                }
                return ValidatedClaim(externalClaimNumber: nil, lines: lines)
            }
            var stored: [StoredClaim] = []
            for _ in 0..<5 {
                let batch = (0..<1000).map { _ in factory.stored(randomClaim()) }
                try await fixture.repository.store(ImportBatch(accepted: batch))
                stored += batch
                try await fixture.relay.catchUp()
            }
            #expect(try await fixture.ranking() == (try await fixture.expected()))

            // Re-price (sometimes moving to another provider), void, and report payments.
            for claim in stored.shuffled(using: &generator).prefix(600) {
                switch Int.random(in: 0..<5, using: &generator) {
                case 0, 1: _ = try await fixture.repository.replace(id: claim.id, with: randomClaim(), at: "2026-11-22T11:00:00.000Z")
                case 2: _ = try await fixture.repository.void(id: claim.id, at: "2026-11-22T11:00:00.000Z")
                case 3: _ = try await fixture.repository.recordPayment(id: claim.id, report: PaymentReport(outcome: .paid), at: "2026-11-22T11:00:00.000Z")
                default:
                    _ = try await fixture.repository.recordPayment(
                        id: claim.id, report: PaymentReport(outcome: .failed, reason: "account closed"), at: "2026-11-22T11:00:00.000Z")
                }
            }
            try await fixture.relay.catchUp()
            let ranking = try await fixture.ranking()
            let expected = try await fixture.expected()
            #expect(ranking == expected)
            #expect(ranking.count > 250)
            // Ties are present and ordered by NPI ascending.
            let tied = zip(ranking, ranking.dropFirst()).filter { $0.netFee == $1.netFee }
            #expect(!tied.isEmpty)
            #expect(tied.allSatisfy { $0.providerNPI < $1.providerNPI })
            #expect(try await fixture.cache.top(10)?.totals == Array(expected.prefix(10)))
            #expect(fixture.relay.state.rebuilds == 1)
        }
    }

    @Test func aRetriedOrOverlappingBatchIsAppliedOnce() async throws {
        try await RankingFixture.with { fixture in
            try await fixture.relay.catchUp()
            let claims = (0..<40).map { factory.stored(factory.claim(npi: "10000000\(String(format: "%02d", $0 % 7))", dollars: Int64($0))) }
            try await fixture.repository.store(ImportBatch(accepted: claims))
            let events = try await fixture.repository.events(after: 0, limit: 1000)
            #expect(events.count == 40)

            // A relay that crashed after Redis applied a batch but before it learned so sends the
            // same batch again; a deposed leader sends an overlapping one.
            #expect(try await fixture.cache.apply(Array(events[0..<25])) == .applied(count: 25, appliedSequence: events[24].sequence))
            #expect(try await fixture.cache.apply(Array(events[0..<25])) == .applied(count: 0, appliedSequence: events[24].sequence))
            #expect(try await fixture.cache.apply(Array(events[10..<40])) == .applied(count: 15, appliedSequence: events[39].sequence))
            #expect(try await fixture.ranking() == (try await fixture.expected()))

            // One stream entry per event, ids = sequences, despite the repeats.
            let length = try await fixture.redis.send("XLEN", fixture.cache.keys.paymentsStream).integer
            #expect(length == 40)
            let first = try await fixture.redis.send("XRANGE", fixture.cache.keys.paymentsStream, "-", "+", "COUNT", "1")
            let entry = try #require(first.array?.first?.array)
            #expect(entry[0].string == "\(events[0].sequence)-0")
            let values = entry[1].array ?? []
            let fields = values.compactMap { $0.string }
            #expect(fields.contains("claim_id") && fields.contains(events[0].claimID.uuidString.lowercased()))
            #expect(fields.contains("net_fee") && fields.contains(events[0].netFee.description))
        }
    }

    /// Totals past 2^53 cents, where Redis scores (doubles) can no longer tell them apart, are
    /// kept and ordered exactly; a ranking kept before the exact totals existed carries on.
    @Test func totalsPastTwoToTheFiftyThirdCentsStayExact() async throws {
        try await RankingFixture.with { fixture in
            try await fixture.relay.catchUp()
            let base: Int64 = 1 << 53
            func event(_ sequence: Int64, _ npi: String, cents: Int64, claims: Int) -> OutboxEvent {
                OutboxEvent(
                    sequence: sequence, claimID: UUID(), eventType: "claim.created", providerNPI: npi, netFeeDelta: Money(cents: cents),
                    providerClaimsDelta: claims, netFee: Money(cents: cents), status: .submitted, createdAt: "2026-11-30T00:00:00Z")
            }
            // 2^53 + 1 rounds to 2^53 as a double: A and C get the same score, B one of its own.
            let events = [
                event(1, "1000000003", cents: base, claims: 1), event(2, "1000000003", cents: 1, claims: 1),  // A: 2^53 + 1
                event(3, "1000000005", cents: base + 2, claims: 1),  // B: 2^53 + 2
                event(4, "1000000001", cents: base, claims: 1),  // C: 2^53, lower NPI than A
            ]
            #expect(try await fixture.cache.apply(events) == .applied(count: 4, appliedSequence: 4))
            let top = try #require(try await fixture.cache.top(2))
            #expect(top.totals.map(\.providerNPI) == ["1000000005", "1000000003"])
            #expect(top.totals.map(\.netFee.cents) == [base + 2, base + 1])
            #expect(try await fixture.ranking().map(\.netFee.cents) == [base + 2, base + 1, base])

            // A provider ranked before the exact totals existed (score and count only) starts
            // from its score.
            try await fixture.redis.send("ZADD", fixture.cache.keys.ranking, "-500", "1000000007")
            try await fixture.redis.send("HSET", fixture.cache.keys.claimCounts, "1000000007", "1")
            #expect(try await fixture.cache.apply([event(5, "1000000007", cents: 1, claims: 1)]) == .applied(count: 1, appliedSequence: 5))
            let migrated = try await fixture.ranking().first { $0.providerNPI == "1000000007" }
            #expect(migrated?.netFee.cents == 501 && migrated?.claims == 2)
            #expect(try await fixture.redis.send("HGET", fixture.cache.keys.totals, "1000000007").string == "501")
        }
    }

    /// A transaction that rolls back after drawing its outbox sequence leaves a hole that is
    /// never filled; the relay must pass over it, not wait for it.
    @Test func holesLeftByRolledBackTransactionsArePassedOver() async throws {
        try await RankingFixture.with { fixture in
            try await fixture.relay.catchUp()
            let claims = (0..<4).map { factory.stored(factory.claim(npi: "1000000001", dollars: Int64($0 + 1))) }
            try await fixture.repository.store(ImportBatch(accepted: Array(claims[..<2])))
            struct RolledBack: Error {}
            await #expect(throws: RolledBack.self) {
                try await fixture.postgres.withTransaction { connection in
                    try await connection.query(
                        """
                        INSERT INTO outbox_events (claim_id, event_type, provider_npi, net_fee_delta, provider_claims_delta, net_fee, status)
                        SELECT \(claims[2].id), 'claim.created', '1000000001', 99.00, 1, 99.00, 'submitted'
                        FROM (SELECT pg_advisory_xact_lock(\(PostgresClaimRepository.outboxLockKey))) AS ordering
                        """)
                    throw RolledBack()
                }
            }
            try await fixture.repository.store(ImportBatch(accepted: [claims[3]]))
            let sequences = try await fixture.repository.events(after: 0, limit: 10).map(\.sequence)
            #expect(sequences == [1, 2, 4])
            try await fixture.relay.catchUp()
            #expect(try await fixture.cache.appliedSequence() == 4)
            #expect(try await fixture.ranking() == (try await fixture.expected()))
            #expect(try await fixture.ranking().first?.netFee == Money(cents: 700))
        }
    }

    @Test func losingTheMarkerRebuildsFromPostgres() async throws {
        try await RankingFixture.with { fixture in
            try await fixture.relay.catchUp()
            let claims = (0..<50).map { factory.stored(factory.claim(npi: "10000000\(String(format: "%02d", $0 % 9))", dollars: Int64($0 * 3))) }
            try await fixture.repository.store(ImportBatch(accepted: claims))
            try await fixture.relay.catchUp()
            let before = try await fixture.ranking()

            // Redis lost this deployment's keys (as after FLUSHALL), and the ranking was damaged.
            try await fixture.redis.send("DEL", fixture.cache.keys.appliedSequence, fixture.cache.keys.ranking, fixture.cache.keys.claimCounts)
            #expect(try await fixture.cache.top(10) == nil)
            _ = try await fixture.repository.void(id: claims[0].id, at: "2026-11-22T11:00:00.000Z")
            try await fixture.relay.catchUp()
            #expect(fixture.relay.state.rebuilds == 2)
            #expect(try await fixture.ranking() == (try await fixture.expected()))
            #expect(try await fixture.ranking() != before)
            let latest = try await fixture.repository.outboxPosition(after: 0).latestSequence
            #expect(try await fixture.cache.appliedSequence() == latest)
        }
    }

    @Test func oneOfTwoRelaysLeadsAndTheOtherTakesOver() async throws {
        try await RankingFixture.with { fixture in
            let second = OutboxRelay(
                postgres: fixture.postgres, repository: fixture.repository, cache: fixture.cache,
                settings: RelaySettings(pollInterval: .milliseconds(20), takeoverInterval: .milliseconds(200)), logger: TestEnvironment.quietLogger)
            let first = Task { try await fixture.relay.run() }
            try await waitUntil { fixture.relay.state.isLeader }
            let standby = Task { try await second.run() }

            let claims = (0..<200).map { factory.stored(factory.claim(npi: "10000000\(String(format: "%02d", $0 % 13))", dollars: Int64($0))) }
            try await fixture.repository.store(ImportBatch(accepted: Array(claims[..<100])))
            try await waitUntil { try await fixture.cache.appliedSequence() == 100 }
            #expect(!second.state.isLeader)
            #expect(second.state.eventsApplied == 0)

            // The leader stops; the standby takes over within its takeover interval.
            first.cancel()
            _ = await first.result
            try await fixture.repository.store(ImportBatch(accepted: Array(claims[100...])))
            do {
                try await waitUntil(timeout: .seconds(10)) { second.state.isLeader }
            } catch {
                Issue.record("no takeover; first: \(fixture.relay.state), second: \(second.state)")
                throw error
            }
            // The relay's own state, not Redis: Redis has the marker a moment before the relay has
            // read the reply and counted the events.
            try await waitUntil { second.state.appliedSequence == 200 }
            #expect(try await fixture.cache.appliedSequence() == 200)
            #expect(second.state.eventsApplied == 100, "first: \(fixture.relay.state), second: \(second.state)")
            #expect(try await fixture.ranking() == (try await fixture.expected()))
            standby.cancel()
            _ = await standby.result
        }
    }
}
