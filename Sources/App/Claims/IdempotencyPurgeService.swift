public import ClaimStore
public import CoreMetrics
public import Logging
public import ServiceLifecycle

/// Deletes idempotency records older than their retention, in batches, every `interval`, so
/// the table holds about one retention's worth of keys. Lookups already ignore an expired record;
/// this only reclaims the space. Every instance may run it: two purges delete disjoint rows or
/// nothing.
public struct IdempotencyPurgeService<Repository: ClaimRepository>: Service {
    let repository: Repository
    let interval: Duration
    let batchSize: Int
    let logger: Logger
    let purged: Counter

    public init(repository: Repository, interval: Duration, batchSize: Int = 10_000, logger: Logger, metrics: any MetricsFactory) {
        self.repository = repository
        self.interval = interval
        self.batchSize = max(1, batchSize)
        self.logger = logger
        self.purged = Counter(label: "claimsd_idempotency_keys_purged_total", factory: metrics)
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            await purgeExpired()
        }
    }

    /// Deletes every expired record, a batch at a time; returns how many. A failure is logged
    /// and left to the next round.
    @discardableResult
    public func purgeExpired() async -> Int {
        var total = 0
        do {
            while !Task.isCancelled {
                let deleted = try await repository.purgeIdempotencyKeys(limit: batchSize)
                total += deleted
                purged.increment(by: Int64(deleted))
                if deleted < batchSize { break }
            }
        } catch {
            logger.warning("idempotency keys could not be purged", metadata: ["event": "idempotency_purge_failed", "error": "\(error)"])
        }
        if total > 0 { logger.debug("expired idempotency keys purged", metadata: ["event": "idempotency_purged", "keys": "\(total)"]) }
        return total
    }
}
