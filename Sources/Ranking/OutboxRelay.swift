public import ClaimStore
public import CoreMetrics
import Foundation
public import Logging
public import Postgres
import Redis
public import ServiceLifecycle
import Synchronization

/// How the relay paces itself.
public struct RelaySettings: Sendable, Equatable {
    /// Most events read and applied in one step.
    public var batchSize: Int
    /// How long the leader waits before looking again when the outbox has nothing new.
    public var pollInterval: Duration
    /// How often a standby instance tries to become the leader.
    public var takeoverInterval: Duration
    /// How long the leader waits after Redis failed before trying again.
    public var retryInterval: Duration

    public init(batchSize: Int = 500, pollInterval: Duration = .milliseconds(100), takeoverInterval: Duration = .seconds(1), retryInterval: Duration = .seconds(1)) {
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.takeoverInterval = takeoverInterval
        self.retryInterval = retryInterval
    }
}

/// What the relay is doing, for metrics, /ready and tests.
public struct RelayState: Sendable, Equatable {
    /// Whether this instance holds the relay lock.
    public var isLeader = false
    /// The last sequence this instance saw applied in Redis.
    public var appliedSequence: Int64 = 0
    /// The newest sequence in the outbox when last checked.
    public var latestSequence: Int64 = 0
    /// Seconds the oldest event not yet applied has waited.
    public var lagSeconds: Double = 0
    /// Whether the last Redis operation succeeded.
    public var redisAvailable = true
    /// How many times this instance rebuilt the ranking from PostgreSQL.
    public var rebuilds = 0
    /// Events this instance applied.
    public var eventsApplied = 0
    /// The last failure the relay recovered from, if any.
    public var lastError: String?

    /// Events written but not yet applied.
    public var lagEvents: Int64 { max(0, latestSequence - appliedSequence) }
}

/// Carries outbox events from PostgreSQL to Redis: the provider ranking and the payments stream.
///
/// Any number of claimsd instances run one each; a session-level PostgreSQL advisory lock makes
/// one of them the leader, and the others try to take over every ``RelaySettings/takeoverInterval``.
/// Exactly-once application does not depend on the lock: the Redis script skips events at or
/// below its applied-sequence marker, so a retry or a deposed leader's late batch changes nothing.
public final class OutboxRelay: Service, Sendable {
    /// The advisory lock key that elects the leader ("claimrel").
    public static let leaderLockKey: Int64 = 0x636C_6169_6D72_656C

    let postgres: PostgresClient
    let repository: any ClaimRepository
    let cache: RankingCache
    let settings: RelaySettings
    let logger: Logger
    let metrics: RelayMetrics
    private let current = Mutex(RelayState())

    /// `metrics` receives the lag gauges and counters (see ``RelayMetrics``).
    public init(
        postgres: PostgresClient, repository: any ClaimRepository, cache: RankingCache, settings: RelaySettings = RelaySettings(), logger: Logger,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.postgres = postgres
        self.repository = repository
        self.cache = cache
        self.settings = settings
        self.logger = logger
        self.metrics = RelayMetrics(factory: metrics)
        self.metrics.record(RelayState())
    }

    /// A copy of the relay's current state.
    public var state: RelayState { current.withLock { $0 } }

    /// Runs until graceful shutdown: leads while it holds the lock, stands by otherwise.
    public func run() async throws {
        while !Self.stopping {
            do {
                try await postgres.withConnection { connection in
                    guard try await Self.tryLock(on: connection) else { return }
                    logger.info("relay leadership acquired", metadata: ["event": "relay_leader_acquired"])
                    update { $0.isLeader = true }
                    do {
                        try await lead(holding: connection)
                    } catch {
                        update { $0.isLeader = false }
                        await Self.unlock(connection)
                        throw error
                    }
                    update { $0.isLeader = false }
                    await Self.unlock(connection)
                    logger.info("relay leadership released", metadata: ["event": "relay_leader_released"])
                }
            } catch {
                update { $0.isLeader = false; $0.lastError = "\(error)" }
                if !Self.stopping {
                    logger.warning("relay lost PostgreSQL; standing by", metadata: ["event": "dependency_lost", "dependency": "postgresql", "error": "\(error)"])
                }
            }
            await Self.pause(settings.takeoverInterval)
        }
    }

    /// Applies every event written so far, without the leader lock; for tools and tests.
    public func catchUp() async throws {
        var applied = try await appliedSequenceOrRebuild()
        while true {
            let events = try await repository.events(after: applied, limit: settings.batchSize)
            guard !events.isEmpty else { break }
            applied = try await applyOrRebuild(events)
        }
        let position = try await repository.outboxPosition(after: applied)
        update { $0.latestSequence = position.latestSequence; $0.lagSeconds = position.oldestPendingAgeSeconds }
    }

    // MARK: - Leading

    /// The leader's loop: returns on graceful shutdown, throws when PostgreSQL fails.
    private func lead(holding lockConnection: PostgresConnection) async throws {
        var applied: Int64?
        while !Self.stopping {
            // The lock lives in this session: a dead connection means the lock is gone too.
            try await lockConnection.query("SELECT 1")
            do {
                let start: Int64
                if let applied { start = applied } else { start = try await appliedSequenceOrRebuild() }
                let events = try await repository.events(after: start, limit: settings.batchSize)
                guard !events.isEmpty else {
                    applied = start
                    update { $0.appliedSequence = start; $0.latestSequence = max($0.latestSequence, start); $0.lagSeconds = 0 }
                    await Self.pause(settings.pollInterval)
                    continue
                }
                applied = try await applyOrRebuild(events)
                if let applied {
                    let position = try await repository.outboxPosition(after: applied)
                    update { $0.latestSequence = position.latestSequence; $0.lagSeconds = position.oldestPendingAgeSeconds }
                }
                redisRecovered()
            } catch let error as RedisError {
                applied = nil
                redisFailed(error)
                await Self.pause(settings.retryInterval)
            }
        }
    }

    /// The applied-sequence marker, rebuilding the ranking first when Redis has none.
    private func appliedSequenceOrRebuild() async throws -> Int64 {
        if let marker = try await cache.appliedSequence() {
            update { $0.appliedSequence = marker }
            return marker
        }
        return try await rebuild()
    }

    /// Applies one batch; rebuilds and applies what is left when Redis turns out to have lost its data.
    private func applyOrRebuild(_ events: [OutboxEvent]) async throws -> Int64 {
        switch try await cache.apply(events) {
        case .applied(let count, let marker):
            metrics.eventsApplied.increment(by: count)
            update { $0.appliedSequence = marker; $0.eventsApplied += count; $0.latestSequence = max($0.latestSequence, marker) }
            return marker
        case .needsRebuild:
            let marker = try await rebuild()
            let rest = events.filter { $0.sequence > marker }
            return rest.isEmpty ? marker : try await applyOrRebuild(rest)
        }
    }

    /// Rebuilds the ranking from one consistent PostgreSQL snapshot and returns the marker after it.
    private func rebuild() async throws -> Int64 {
        let clock = ContinuousClock()
        let start = clock.now
        let snapshot = try await repository.rankingSnapshot()
        let installed = try await cache.install(snapshot)
        var marker = snapshot.sequence
        if !installed, let newer = try await cache.appliedSequence() { marker = newer }
        metrics.rebuilds.increment()
        update { $0.rebuilds += 1; $0.appliedSequence = marker }
        logger.notice(
            "relay rebuilt the provider ranking from PostgreSQL",
            metadata: [
                "event": "relay_rebuilt", "sequence": .stringConvertible(snapshot.sequence), "providers": .stringConvertible(snapshot.totals.count), "installed": "\(installed)",
                "duration_ms": .stringConvertible(start.duration(to: clock.now).milliseconds),
            ])
        return marker
    }

    private func redisFailed(_ error: RedisError) {
        let wasAvailable = current.withLock { state in
            defer { state.redisAvailable = false; state.lastError = "\(error)" }
            return state.redisAvailable
        }
        if wasAvailable {
            logger.warning("relay paused: Redis unavailable", metadata: ["event": "dependency_lost", "dependency": "redis", "error": "\(error)"])
        }
    }

    private func redisRecovered() {
        let wasAvailable = current.withLock { state in
            defer { state.redisAvailable = true }
            return state.redisAvailable
        }
        if !wasAvailable {
            logger.notice("relay resumed: Redis available again", metadata: ["event": "dependency_regained", "dependency": "redis"])
        }
    }

    private func update(_ change: (inout RelayState) -> Void) {
        let state = current.withLock { state in
            change(&state)
            return state
        }
        metrics.record(state)
    }

    // MARK: - Helpers

    static func tryLock(on connection: PostgresConnection) async throws -> Bool {
        try await connection.query("SELECT pg_try_advisory_lock(\(leaderLockKey))::int AS locked").rows[0].decode("locked", as: Int.self) == 1
    }

    static var stopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }

    /// Releases the leader lock even when the relay's task is cancelled: the query runs in a task
    /// of its own, because a cancelled task's queries are refused before they start, and a lock
    /// left on a pooled connection would keep every other relay from ever taking over.
    static func unlock(_ connection: PostgresConnection) async {
        _ = try? await Task { try await connection.query("SELECT pg_advisory_unlock(\(leaderLockKey))") }.value
    }

    /// Sleeps for `duration`, waking early when graceful shutdown begins.
    static func pause(_ duration: Duration) async {
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }
}

extension Duration {
    /// The duration in whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
