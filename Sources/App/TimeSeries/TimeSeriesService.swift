import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import TimeSeries

/// Keeps the built-in store healthy while claimsd runs: applies retention every minute,
/// flushes the WAL to disk every `syncInterval`, writes a checkpoint every
/// `checkpointInterval` (or sooner when the WAL passes `checkpointWALBytes`), and on graceful
/// shutdown writes a last checkpoint and closes the store, so nothing appended is lost.
///
/// It must shut down after everything that appends (the scrape manager): list it before them.
struct TimeSeriesService: Service {
    let store: TimeSeriesStore
    let logger: Logger
    var syncInterval: Duration = .seconds(15)
    var retentionInterval: Duration = .seconds(60)
    var checkpointInterval: Duration = .seconds(15 * 60)
    var checkpointWALBytes = 64 << 20
    let checkpointDuration: Gauge
    let checkpointFailures: Counter

    init(store: TimeSeriesStore, logger: Logger, metrics: any MetricsFactory) {
        self.store = store
        self.logger = logger
        checkpointDuration = Gauge(label: "claimsd_tsdb_checkpoint_duration_seconds", factory: metrics)
        checkpointFailures = Counter(label: "claimsd_tsdb_checkpoint_failures_total", factory: metrics)
    }

    func run() async throws {
        let clock = ContinuousClock()
        var lastRetention = clock.now
        var lastCheckpoint = clock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: syncInterval) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            await offThePool { sync() }
            if clock.now - lastRetention >= retentionInterval {
                lastRetention = clock.now
                let removed = store.applyRetention()
                if removed > 0 { logger.debug("retention removed series", metadata: ["event": "tsdb_retention", "series": "\(removed)"]) }
            }
            if clock.now - lastCheckpoint >= checkpointInterval || store.walStatus().bytes >= checkpointWALBytes {
                lastCheckpoint = clock.now
                await offThePool { checkpoint() }
            }
        }
        await offThePool {
            do {
                let started = ContinuousClock.now
                try store.close()
                logger.info(
                    "time-series store closed", metadata: ["event": "tsdb_closed", "duration_ms": "\((ContinuousClock.now - started).milliseconds)"])
            } catch {
                logger.error("time-series store could not be closed cleanly", metadata: ["event": "tsdb_close_failed", "error": "\(error)"])
            }
        }
    }

    private func sync() {
        do {
            try store.sync()
        } catch {
            logger.error("WAL sync failed", metadata: ["event": "tsdb_wal_sync_failed", "error": "\(error)"])
        }
        if let problem = store.walStatus().lastError {
            logger.error("WAL write failed; samples are kept in memory only", metadata: ["event": "tsdb_wal_write_failed", "error": "\(problem)"])
        }
    }

    private func checkpoint() {
        let started = ContinuousClock.now
        do {
            let bytes = try store.checkpoint()
            let duration = ContinuousClock.now - started
            checkpointDuration.record(Double(duration.milliseconds) / 1000)
            logger.info("checkpoint written", metadata: ["event": "tsdb_checkpoint", "bytes": "\(bytes)", "duration_ms": "\(duration.milliseconds)"])
        } catch {
            checkpointFailures.increment()
            logger.error("checkpoint failed", metadata: ["event": "tsdb_checkpoint_failed", "error": "\(error)"])
        }
    }
}

/// Threads that blocking or CPU-heavy work (fsync, checkpoints, queries, rule evaluation) runs
/// on, outside the cooperative pool. libdispatch keeps them between uses: starting a thread per
/// call cost a stack mapping each time (measured: about a tenth of a rule group's evaluation).
let offPoolQueue = DispatchQueue(label: "claimsd.off-pool", qos: .userInitiated, attributes: .concurrent)

/// Runs `work` on `offPoolQueue` and returns its result, leaving the cooperative pool's
/// threads free for requests.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        offPoolQueue.async { continuation.resume(returning: work()) }
    }
}

