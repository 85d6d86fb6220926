import Pooling
import Synchronization
import Testing

/// A connection whose health the test sets by hand.
final class FakeConnection: PooledConnection {
    let id: Int
    let healthy = Atomic<Bool>(true)
    let reusable = Atomic<Bool>(true)
    let closed = Atomic<Bool>(false)

    init(id: Int) { self.id = id }

    var isHealthy: Bool { healthy.load(ordering: .relaxed) }
    var isReusable: Bool { reusable.load(ordering: .relaxed) }
    func close() { closed.store(true, ordering: .relaxed) }
    var wasClosed: Bool { closed.load(ordering: .relaxed) }
}

/// Counts and optionally fails connection attempts.
final class FakeFactory: Sendable {
    let opened = Atomic<Int>(0)
    let failNext = Atomic<Bool>(false)

    struct Refused: Error {}
    var openedCount: Int { opened.load(ordering: .relaxed) }

    func make() async throws -> FakeConnection {
        if failNext.exchange(false, ordering: .relaxed) { throw Refused() }
        let id = opened.wrappingAdd(1, ordering: .relaxed).newValue
        return FakeConnection(id: id)
    }
}

@Suite struct ConnectionPoolTests {
    func makePool(max: Int, timeout: Duration = .seconds(2)) -> (ConnectionPool<FakeConnection>, FakeFactory) {
        let factory = FakeFactory()
        let pool = ConnectionPool(configuration: .init(maxConnections: max, acquireTimeout: timeout)) { try await factory.make() }
        return (pool, factory)
    }

    @Test func reusesAnIdleConnection() async throws {
        let (pool, factory) = makePool(max: 2)
        let first = try await pool.lease()
        await pool.release(first)
        let second = try await pool.lease()
        #expect(second === first)
        #expect(factory.openedCount == 1)
    }

    @Test func replacesAnIdleConnectionThatBroke() async throws {
        let (pool, factory) = makePool(max: 1)
        let first = try await pool.lease()
        await pool.release(first)
        first.healthy.store(false, ordering: .relaxed)
        let second = try await pool.lease()
        #expect(second !== first)
        #expect(first.wasClosed)
        #expect(factory.openedCount == 2)
        #expect(await pool.statistics == .init(open: 1, idle: 0, waiters: 0))
    }

    @Test func closesAConnectionReleasedInABadState() async throws {
        let (pool, _) = makePool(max: 1)
        let connection = try await pool.lease()
        connection.reusable.store(false, ordering: .relaxed)
        await pool.release(connection)
        #expect(connection.wasClosed)
        #expect(await pool.statistics.open == 0)
    }

    @Test func aWaiterGetsTheNextReleasedConnection() async throws {
        let (pool, factory) = makePool(max: 1)
        let held = try await pool.lease()
        let waiter = Task { try await pool.lease() }
        while await pool.statistics.waiters == 0 { try await Task.sleep(for: .milliseconds(1)) }
        await pool.release(held)
        let handedOver = try await waiter.value
        #expect(handedOver === held)
        #expect(factory.openedCount == 1)
    }

    @Test func aWaiterGetsTheSlotOfADiscardedConnection() async throws {
        let (pool, factory) = makePool(max: 1)
        let held = try await pool.lease()
        let waiter = Task { try await pool.lease() }
        while await pool.statistics.waiters == 0 { try await Task.sleep(for: .milliseconds(1)) }
        held.reusable.store(false, ordering: .relaxed)
        await pool.release(held)
        let fresh = try await waiter.value
        #expect(fresh !== held)
        #expect(factory.openedCount == 2)
        #expect(await pool.statistics.open == 1)
    }

    @Test func leaseTimesOutWhenEveryConnectionStaysBusy() async throws {
        let (pool, _) = makePool(max: 1, timeout: .milliseconds(100))
        let held = try await pool.lease()
        await #expect(throws: PoolError.acquireTimedOut(maxConnections: 1, timeout: .milliseconds(100))) {
            _ = try await pool.lease()
        }
        #expect(await pool.statistics.waiters == 0)
        await pool.release(held)
    }

    @Test func aFailedConnectAttemptFreesItsSlot() async throws {
        let (pool, factory) = makePool(max: 1)
        factory.failNext.store(true, ordering: .relaxed)
        await #expect(throws: FakeFactory.Refused.self) { _ = try await pool.lease() }
        #expect(await pool.statistics.open == 0)
        let connection = try await pool.lease()
        #expect(connection.id == 1)
    }

    @Test func neverOpensMoreThanTheLimit() async throws {
        // What is checked is the number of connections, not how fast 50 callers share 3 of
        // them: a generous acquire timeout keeps a busy machine from failing the test.
        let (pool, factory) = makePool(max: 3, timeout: .seconds(60))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await pool.withConnection { _ in try await Task.sleep(for: .milliseconds(2)) }
                }
            }
            try await group.waitForAll()
        }
        #expect(factory.openedCount == 3)
        #expect(await pool.statistics == .init(open: 3, idle: 3, waiters: 0))
    }

    @Test func closingFailsWaitersAndRefusesLeases() async throws {
        let (pool, _) = makePool(max: 1)
        let held = try await pool.lease()
        let waiter = Task { try await pool.lease() }
        while await pool.statistics.waiters == 0 { try await Task.sleep(for: .milliseconds(1)) }
        await pool.close()
        await #expect(throws: PoolError.closed) { _ = try await waiter.value }
        await #expect(throws: PoolError.closed) { _ = try await pool.lease() }
        await pool.release(held)
        #expect(held.wasClosed)
        #expect(await pool.statistics.open == 0)
    }
}
