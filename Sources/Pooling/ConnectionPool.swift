/// A bounded pool of connections of one kind, independent of any protocol.
///
/// `lease()` hands out an idle healthy connection, opens a new one while fewer than
/// `maxConnections` exist, or waits (up to `acquireTimeout`) for one to be released. Idle
/// connections are checked with ``PooledConnection/isHealthy`` before each lease, and broken ones
/// are closed and replaced, so the pool recovers by itself after its server restarts.
public actor ConnectionPool<Connection: PooledConnection> {
    /// Limits of a pool.
    public struct Configuration: Sendable {
        /// Most connections open at once (idle plus lent out).
        public var maxConnections: Int
        /// How long `lease()` waits for a connection before it fails.
        public var acquireTimeout: Duration

        public init(maxConnections: Int, acquireTimeout: Duration = .seconds(5)) {
            precondition(maxConnections > 0, "a pool needs at least one connection")
            self.maxConnections = maxConnections
            self.acquireTimeout = acquireTimeout
        }
    }

    /// Counts describing the pool at one moment, for metrics and readiness.
    public struct Statistics: Sendable, Equatable {
        public var open: Int
        public var idle: Int
        public var waiters: Int
        public var inUse: Int { open - idle }

        public init(open: Int, idle: Int, waiters: Int) {
            self.open = open
            self.idle = idle
            self.waiters = waiters
        }
    }

    /// Opens a new connection; may block its own thread, never the caller's.
    public typealias Factory = @Sendable () async throws -> Connection

    /// What a waiting `lease()` is resumed with: a released connection, or a reserved slot to
    /// open a new connection in.
    private enum Grant {
        case connection(Connection)
        case slot
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Grant, any Error>
    }

    public nonisolated let configuration: Configuration
    private let factory: Factory
    private var idle: [Connection] = []
    private var open = 0
    private var waiters: [Waiter] = []
    private var nextWaiterID: UInt64 = 0
    private var isClosed = false

    public init(configuration: Configuration, factory: @escaping Factory) {
        self.configuration = configuration
        self.factory = factory
    }

    /// The pool's current counts.
    public var statistics: Statistics {
        Statistics(open: open, idle: idle.count, waiters: waiters.count)
    }

    /// Lends a connection; the caller must hand it back with ``release(_:)`` exactly once.
    public func lease() async throws -> Connection {
        guard !isClosed else { throw PoolError.closed }
        while let candidate = idle.popLast() {
            if candidate.isHealthy { return candidate }
            discard(candidate)
        }
        if open < configuration.maxConnections {
            open += 1
            return try await openInReservedSlot()
        }
        switch try await waitForGrant() {
        case .connection(let connection):
            return connection
        case .slot:
            return try await openInReservedSlot()
        }
    }

    /// Takes a lent connection back; it is kept when reusable, closed otherwise.
    public func release(_ connection: Connection) {
        guard !isClosed, connection.isReusable else {
            discard(connection)
            return
        }
        if waiters.isEmpty {
            idle.append(connection)
        } else {
            waiters.removeFirst().continuation.resume(returning: .connection(connection))
        }
    }

    /// Runs `body` with a lent connection and releases it afterwards, also when `body` throws.
    /// The closure must not keep the connection.
    public nonisolated func withConnection<Result: Sendable>(
        _ body: (Connection) async throws -> Result
    ) async throws -> Result {
        let connection = try await lease()
        do {
            let result = try await body(connection)
            await release(connection)
            return result
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Closes idle connections, fails all waiters and refuses new leases; lent connections are
    /// closed when they come back.
    public func close() {
        isClosed = true
        for connection in idle { connection.close() }
        open -= idle.count
        idle.removeAll()
        let pending = waiters
        waiters.removeAll()
        for waiter in pending { waiter.continuation.resume(throwing: PoolError.closed) }
    }

    // MARK: - Internals

    private func openInReservedSlot() async throws -> Connection {
        do {
            let connection = try await factory()
            if isClosed {
                discard(connection)
                throw PoolError.closed
            }
            return connection
        } catch {
            freeSlot()
            throw error
        }
    }

    private func discard(_ connection: Connection) {
        connection.close()
        freeSlot()
    }

    /// Gives a freed slot to the first waiter, so waiters never starve while the pool is below
    /// its limit.
    private func freeSlot() {
        if !isClosed, !waiters.isEmpty {
            waiters.removeFirst().continuation.resume(returning: .slot)
        } else {
            open -= 1
        }
    }

    private func waitForGrant() async throws -> Grant {
        nextWaiterID += 1
        let id = nextWaiterID
        let timeout = configuration.acquireTimeout
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.expireWaiter(id)
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append(Waiter(id: id, continuation: continuation))
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func expireWaiter(_ id: UInt64) {
        removeWaiter(id)?.resume(
            throwing: PoolError.acquireTimedOut(
                maxConnections: configuration.maxConnections, timeout: configuration.acquireTimeout))
    }

    private func cancelWaiter(_ id: UInt64) {
        removeWaiter(id)?.resume(throwing: CancellationError())
    }

    private func removeWaiter(_ id: UInt64) -> CheckedContinuation<Grant, any Error>? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).continuation
    }
}
