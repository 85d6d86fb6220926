import Redis
import Synchronization
import Testing
import TestSupport

/// Against the real redis-server scripts/test.sh started; keys are unique per test.
@Suite struct RedisClientTests {
    func makeClient(maxConnections: Int = 4) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: TestEnvironment.redisURL)
        configuration.maxConnections = maxConnections
        return RedisClient(configuration: configuration, logger: TestEnvironment.quietLogger)
    }

    func key(_ name: String) -> RedisArgument { RedisArgument("test:\(name):\(TestEnvironment.uniqueSuffix())") }

    @Test func valuesAreBinarySafe() async throws {
        let redis = try makeClient()
        let key = key("binary")
        let bytes: [UInt8] = [0, 1, 13, 10, 255, 0, 42]
        #expect(try await redis.send("SET", key, RedisArgument(bytes: bytes)) == .simpleString("OK"))
        #expect(try await redis.send("GET", key) == .bulkString(bytes))
        #expect(try await redis.send("GET", RedisArgument("test:absent:\(TestEnvironment.uniqueSuffix())")) == .null)
        await redis.shutdown()
    }

    @Test func integersArraysAndSortedSets() async throws {
        let redis = try makeClient()
        let ranking = key("zset")
        #expect(try await redis.send("ZADD", ranking, 300, "b", 100, "a", 300, "c").integer == 3)
        #expect(try await redis.send("ZINCRBY", ranking, 50, "a").string == "150")
        let top = try await redis.send("ZREVRANGE", ranking, 0, 1, "WITHSCORES").array?.compactMap(\.string)
        #expect(top == ["c", "300", "b", "300"])
        await redis.shutdown()
    }

    @Test func errorRepliesAreThrownWithTheirPrefix() async throws {
        let redis = try makeClient()
        let list = key("list")
        try await redis.send("RPUSH", list, "x")
        let error = await #expect(throws: RedisError.self) { try await redis.send("INCR", list) }
        #expect(error?.code == .server)
        #expect(error?.serverErrorPrefix == "WRONGTYPE")
        // The connection is still in step after an error reply.
        #expect(try await redis.send("LLEN", list).integer == 1)
        await redis.shutdown()
    }

    @Test func aPipelineReturnsEveryReplyInOrderWithErrorsInPlace() async throws {
        let redis = try makeClient()
        let counter = key("counter")
        let replies = try await redis.pipeline([
            ["INCR", counter], ["INCRBY", counter, 10], ["HSET", counter, "f", "v"], ["GET", counter],
        ])
        #expect(replies.count == 4)
        #expect(replies[0] == .integer(1))
        #expect(replies[1] == .integer(11))
        if case .error(let message) = replies[2] { #expect(message.hasPrefix("WRONGTYPE")) } else { Issue.record("expected an error reply, got \(replies[2])") }
        #expect(replies[3].string == "11")
        await redis.shutdown()
    }

    @Test func scriptsLoadOnFirstUseAndAfterTheCacheIsFlushed() async throws {
        let redis = try makeClient(maxConnections: 1)
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let counter = key("script")
        #expect(try await redis.evaluate(script, keys: [counter], arguments: [5]).integer == 5)
        try await redis.send("SCRIPT", "FLUSH")
        #expect(try await redis.evaluate(script, keys: [counter], arguments: [2]).integer == 7)
        await redis.shutdown()
    }

    @Test func concurrentCommandsShareTheBoundedPool() async throws {
        // The bound is what is checked; 200 callers on 3 connections may wait a while on a
        // busy machine, so they get a generous acquire timeout.
        var configuration = try RedisConfiguration(url: TestEnvironment.redisURL)
        configuration.maxConnections = 3
        configuration.acquireTimeout = .seconds(60)
        let redis = RedisClient(configuration: configuration, logger: TestEnvironment.quietLogger)
        let counter = key("concurrent")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 { group.addTask { try await redis.send("INCR", counter) } }
            try await group.waitForAll()
        }
        #expect(try await redis.send("GET", counter).integer == 200)
        #expect(await redis.statistics().open <= 3)
        await redis.shutdown()
    }

    @Test func connectingToANonexistentServerFailsWithConnectionFailed() async throws {
        let redis = RedisClient(configuration: RedisConfiguration(port: 1), logger: TestEnvironment.quietLogger)
        let error = await #expect(throws: RedisError.self) { try await redis.send("PING") }
        #expect(error?.code == .connectionFailed)
        await redis.shutdown()
    }
}

/// Stops and restarts the chaos redis-server; serialized so no other test sees it down.
@Suite(.serialized) struct RedisRecoveryTests {
    @Test func aCommandAfterRedisRestartsSucceedsOnTheSameClient() async throws {
        let redis = RedisClient(configuration: try RedisConfiguration(url: TestEnvironment.chaosRedisURL), logger: TestEnvironment.quietLogger)
        #expect(try await redis.send("PING") == .simpleString("PONG"))
        #expect(await redis.statistics().idle == 1)

        try await TestEnvironment.services("stop", "redis", "chaos")
        let whileDown = await #expect(throws: RedisError.self) { try await redis.send("PING") }
        #expect(whileDown?.code == .connectionFailed)

        try await TestEnvironment.services("start", "redis", "chaos")
        #expect(try await redis.send("SET", "recovered", "yes") == .simpleString("OK"))
        #expect(try await redis.send("GET", "recovered").string == "yes")
        await redis.shutdown()
    }
}

/// A subscription on a connection of its own, against the real redis-server.
@Suite struct RedisSubscriptionTests {
    /// What a listener heard, in order.
    final class Heard: Sendable {
        let state = Mutex<(subscribed: Int, messages: [String])>((0, []))
        var subscribed: Int { state.withLock { $0.subscribed } }
        var messages: [String] { state.withLock { $0.messages } }
    }

    /// Waits for `condition`, failing with `what` (and the elapsed time) when it does not come.
    func step(_ what: String, _ condition: @escaping @Sendable () async throws -> Bool) async throws {
        let start = ContinuousClock.now
        do {
            try await waitUntil(condition)
        } catch {
            Issue.record("\(what): not within \(ContinuousClock.now - start)")
            throw error
        }
    }

    @Test func messagesPublishedAfterTheConfirmationArriveInOrderAndCancellingEndsTheListener() async throws {
        let redis = RedisClient(configuration: try RedisConfiguration(url: TestEnvironment.redisURL), logger: TestEnvironment.quietLogger)
        let channel = "test:channel:\(TestEnvironment.uniqueSuffix())"
        let heard = Heard()
        let listener = Task {
            try await redis.listen(
                channel: channel, subscribed: { heard.state.withLock { $0.subscribed += 1 } },
                received: { payload in heard.state.withLock { $0.messages.append(String(decoding: payload, as: UTF8.self)) } })
        }
        try await step("the subscription is confirmed") { heard.subscribed == 1 }
        // The pooled connections are not the subscription's: commands still work meanwhile.
        for index in 1...50 { #expect(try await redis.send("PUBLISH", RedisArgument(channel), RedisArgument("m\(index)")).integer == 1) }
        try await step("50 messages arrive") { heard.messages.count == 50 }
        #expect(heard.messages == (1...50).map { "m\($0)" })
        #expect(try await redis.send("PUBSUB", "NUMSUB", RedisArgument(channel)).array?.last?.integer == 1)

        listener.cancel()
        try await listener.value
        try await step("the channel has no subscriber left") {
            try await redis.send("PUBSUB", "NUMSUB", RedisArgument(channel)).array?.last?.integer == 0
        }
        await redis.shutdown()
    }

    @Test func aKilledSubscriptionThrowsConnectionLost() async throws {
        // A database no other test selects, so this listener's connection is told apart by it.
        var configuration = try RedisConfiguration(url: TestEnvironment.redisURL)
        configuration.database = 13
        let redis = RedisClient(configuration: configuration, logger: TestEnvironment.quietLogger)
        let channel = "test:channel:\(TestEnvironment.uniqueSuffix())"
        let heard = Heard()
        let listener = Task {
            try await redis.listen(channel: channel, subscribed: { heard.state.withLock { $0.subscribed += 1 } }, received: { _ in })
        }
        try await waitUntil { heard.subscribed == 1 }
        let clients = try #require(try await redis.send("CLIENT", "LIST", "TYPE", "pubsub").string)
        let line = try #require(clients.split(separator: "\n").first { $0.split(separator: " ").contains("db=13") })
        #expect(line.split(separator: " ").contains("sub=1"))
        let id = try #require(line.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3))
        _ = try await redis.send("CLIENT", "KILL", "ID", RedisArgument(String(id)))
        let failure = await #expect(throws: RedisError.self) { try await listener.value }
        #expect(failure?.code == .connectionLost)
        await redis.shutdown()
    }
}
