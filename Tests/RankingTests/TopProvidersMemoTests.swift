import CoreMetrics
import Foundation
@testable import Ranking
import Redis
import Synchronization
import Testing
import TestSupport

@Suite struct TopProvidersMemoTests {
    let answer = TopProvidersMemo.Answer(sequence: 7, body: Array(#"{"as_of_sequence":7}"#.utf8))

    @Test func nothingIsKeptWhileChangesCannotBeHeard() throws {
        let memo = TopProvidersMemo()
        #expect(memo.ticket() == nil)
        memo.setListening(true)
        let ticket = try #require(memo.ticket())
        memo.setListening(false)
        memo.keep(answer, top: 10, ticket: ticket)
        #expect(memo.answer(top: 10) == nil)
    }

    @Test func anAnswerReadAcrossAChangeIsNotKept() throws {
        let memo = TopProvidersMemo()
        memo.setListening(true)
        let before = try #require(memo.ticket())
        memo.rankingChanged()
        memo.keep(answer, top: 10, ticket: before)
        #expect(memo.answer(top: 10) == nil)

        let after = try #require(memo.ticket())
        memo.keep(answer, top: 10, ticket: after)
        #expect(memo.answer(top: 10) == answer)
        #expect(memo.answer(top: 9) == nil)
        memo.rankingChanged()
        #expect(memo.answer(top: 10) == nil)
    }

    @Test func theCheckForgetsAnswersTheMarkerHasMovedPast() throws {
        let memo = TopProvidersMemo()
        memo.setListening(true)
        memo.keep(answer, top: 10, ticket: try #require(memo.ticket()))
        #expect(!memo.confirm(marker: 7))
        #expect(memo.answer(top: 10) == answer)
        #expect(memo.confirm(marker: 8))
        #expect(memo.answer(top: 10) == nil)
        memo.keep(answer, top: 10, ticket: try #require(memo.ticket()))
        // No marker at all (Redis lost its data): nothing it holds is current.
        #expect(memo.confirm(marker: nil))
        #expect(memo.answer(top: 10) == nil)
    }
}

/// The listener against the real redis-server.
@Suite struct RankingChangeListenerTests {
    @Test func aPublishedChangeEmptiesTheMemoAndALostSubscriptionStopsKeepingUntilItIsBack() async throws {
        // A database no other test selects, so this listener's connection is told apart by it.
        var configuration = try RedisConfiguration(url: TestEnvironment.redisURL)
        configuration.database = 12
        let redis = RedisClient(configuration: configuration, logger: TestEnvironment.quietLogger)
        let cache = RankingCache(redis: redis, keys: RankingKeys(prefix: "test-\(TestEnvironment.uniqueSuffix()):"))
        let memo = TopProvidersMemo()
        let listener = RankingChangeListener(
            cache: cache, memo: memo, checkInterval: .seconds(3600), retryInterval: .milliseconds(100), logger: TestEnvironment.quietLogger,
            metrics: NOOPMetricsHandler.instance)
        let running = Task { try await listener.run() }
        try await waitUntil { memo.isListening }
        let answer = TopProvidersMemo.Answer(sequence: 1, body: [1])
        memo.keep(answer, top: 10, ticket: try #require(memo.ticket()))
        #expect(memo.answer(top: 10) == answer)

        // Any instance's relay publishes on the channel; this one hears it.
        _ = try await redis.send("PUBLISH", RedisArgument(cache.keys.changes), "2")
        try await waitUntil { memo.answer(top: 10) == nil }

        // The subscription is closed under it: nothing is kept until it has subscribed again.
        memo.keep(answer, top: 10, ticket: try #require(memo.ticket()))
        let clients = try #require(try await redis.send("CLIENT", "LIST", "TYPE", "pubsub").string)
        let line = try #require(clients.split(separator: "\n").first { $0.split(separator: " ").contains("db=12") })
        let id = try #require(line.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3))
        _ = try await redis.send("CLIENT", "KILL", "ID", RedisArgument(String(id)))
        try await waitUntil { memo.answer(top: 10) == nil }
        try await waitUntil { memo.isListening }
        memo.keep(answer, top: 10, ticket: try #require(memo.ticket()))
        #expect(memo.answer(top: 10) == answer)

        running.cancel()
        try await running.value
        #expect(!memo.isListening)
        await redis.shutdown()
    }
}
