public import CoreMetrics
public import Logging
public import ServiceLifecycle

/// Deletes records past their lifetime — idempotency keys, expired refresh tokens — in batches,
/// every `interval`, so a table holds about one lifetime's worth of rows. Lookups already ignore
/// an expired record; this only reclaims the space. Every instance may run it: two purges delete
/// disjoint rows or nothing.
public struct ExpiredRecordsPurgeService: Service {
    /// Deletes at most `limit` expired records and returns how many it deleted.
    public typealias PurgeBatch = @Sendable (_ limit: Int) async throws -> Int

    /// What is purged, in the plural, for log messages: "idempotency keys".
    let records: String
    let purgeBatch: PurgeBatch
    let interval: Duration
    let batchSize: Int
    let logger: Logger
    let purged: Counter

    /// - Parameter counter: the name of the counter of deleted records, e.g.
    ///   `claimsd_idempotency_keys_purged_total`.
    public init(
        records: String, counter: String, interval: Duration, batchSize: Int = 10_000, logger: Logger, metrics: any MetricsFactory,
        purgeBatch: @escaping PurgeBatch
    ) {
        self.records = records
        self.purgeBatch = purgeBatch
        self.interval = interval
        self.batchSize = max(1, batchSize)
        self.logger = logger
        self.purged = Counter(label: counter, factory: metrics)
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
                let deleted = try await purgeBatch(batchSize)
                total += deleted
                purged.increment(by: Int64(deleted))
                if deleted < batchSize { break }
            }
        } catch {
            logger.warning("expired \(records) could not be purged", metadata: ["event": "purge_failed", "records": "\(records)", "error": "\(error)"])
        }
        if total > 0 { logger.debug("expired \(records) purged", metadata: ["event": "purged", "records": "\(records)", "count": "\(total)"]) }
        return total
    }
}
