public import Logging
public import ServiceLifecycle
import TimeSeries
public import CoreMetrics
import Foundation

/// Runs every scrape loop on its schedule until graceful shutdown.
///
/// Each target is scraped every `interval`, at a fixed offset within the interval derived
/// from its URL and labels (so targets spread out, as in Prometheus), and every sample of a
/// scrape gets the scheduled time as its timestamp, so a steady scrape stores timestamps
/// exactly `interval` apart and compresses to a bit per timestamp.
public final class ScrapeManager: Service, Sendable {
    /// The loops, one per target.
    public let loops: [ScrapeLoop]
    private let logger: Logger
    private let failures: [String: Counter]
    private let durations: [String: CoreMetrics.Timer]

    public init(loops: [ScrapeLoop], logger: Logger, metrics: any MetricsFactory) {
        self.loops = loops
        self.logger = logger
        var failures: [String: Counter] = [:]
        var durations: [String: CoreMetrics.Timer] = [:]
        for job in Set(loops.map(\.target.job)) {
            failures[job] = Counter(label: "claimsd_scrape_failures_total", dimensions: [("job", job)], factory: metrics)
            durations[job] = CoreMetrics.Timer(label: "claimsd_scrape_duration_seconds", dimensions: [("job", job)], factory: metrics)
        }
        self.failures = failures
        self.durations = durations
    }

    /// The wall-clock time in milliseconds since the epoch.
    static func now() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// The offset of `target` within its interval.
    static func offset(of target: ScrapeTarget) -> Int64 {
        // FNV-1a over the URL and labels: stable across restarts, unlike Hasher.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (target.url + target.labels.description).utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return Int64(hash % UInt64(max(1, target.interval)))
    }

    /// The first scheduled scrape time after `now`.
    static func nextScrape(after now: Int64, target: ScrapeTarget) -> Int64 {
        let interval = max(1, target.interval)
        let base = now - ((now % interval) + interval) % interval
        var next = base + offset(of: target)
        while next <= now { next += interval }
        return next
    }

    public func run() async throws {
        // A service that returns early stops claimsd: with nothing to scrape, wait for shutdown.
        guard !loops.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        await withTaskGroup(of: Void.self) { group in
            for loop in loops {
                group.addTask { await self.drive(loop) }
            }
        }
    }

    private func drive(_ loop: ScrapeLoop) async {
        var next = Self.nextScrape(after: Self.now(), target: loop.target)
        var wasUp = true
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let wait = next - Self.now()
            if wait > 0 {
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(wait)) }
                } catch {
                    return
                }
            }
            let up = await loop.scrape(at: next)
            let health = loop.health
            durations[loop.target.job]?.recordNanoseconds(
                health.lastScrapeDuration.components.seconds * 1_000_000_000 + health.lastScrapeDuration.components.attoseconds / 1_000_000_000)
            if !up {
                failures[loop.target.job]?.increment()
                if wasUp {
                    logger.warning(
                        "scrape failed", metadata: ["event": "scrape_failed", "job": "\(loop.target.job)", "instance": "\(loop.target.instance)", "error": "\(health.lastError)"])
                }
            } else if !wasUp {
                logger.info("scrape recovered", metadata: ["event": "scrape_recovered", "job": "\(loop.target.job)", "instance": "\(loop.target.instance)"])
            }
            wasUp = up
            // A scrape that overran its slot skips the missed ones rather than bunching up.
            let now = Self.now()
            next += loop.target.interval
            while next <= now { next += loop.target.interval }
        }
    }
}
