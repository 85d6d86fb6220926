public import CoreMetrics
public import Logging
import Redis
import Synchronization
public import ServiceLifecycle

/// Keeps a ``TopProvidersMemo`` honest: subscribes to the ranking's change channel and forgets
/// the memo's answers on every message, and checks the applied-sequence marker every
/// `checkInterval` as a safety net for a change that came without a message.
///
/// While the subscription is down the memo keeps nothing, so every read goes to Redis; the
/// listener subscribes again after `retryInterval`.
public struct RankingChangeListener: Service {
    let cache: RankingCache
    let memo: TopProvidersMemo
    let checkInterval: Duration
    let retryInterval: Duration
    let logger: Logger
    /// `claimsd_ranking_memo_subscribed`: 1 while the subscription is up.
    let subscribed: Gauge
    /// `claimsd_ranking_memo_invalidations_total{reason}`.
    let heardChanges: Counter
    let checkDrops: Counter

    public init(
        cache: RankingCache, memo: TopProvidersMemo, checkInterval: Duration = .seconds(1), retryInterval: Duration = .seconds(1), logger: Logger,
        metrics: any MetricsFactory
    ) {
        self.cache = cache
        self.memo = memo
        self.checkInterval = checkInterval
        self.retryInterval = retryInterval
        self.logger = logger
        self.subscribed = Gauge(label: "claimsd_ranking_memo_subscribed", factory: metrics)
        self.heardChanges = Counter(label: "claimsd_ranking_memo_invalidations_total", dimensions: [("reason", "message")], factory: metrics)
        self.checkDrops = Counter(label: "claimsd_ranking_memo_invalidations_total", dimensions: [("reason", "check")], factory: metrics)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await listen() }
                group.addTask { await check() }
            }
        }
        memo.setListening(false)
        subscribed.record(0)
    }

    /// Subscribes, and subscribes again whenever the connection fails, until cancelled.
    func listen() async {
        let outage = OutageFlag()
        while !Task.isCancelled {
            do {
                try await cache.redis.listen(
                    channel: cache.keys.changes,
                    subscribed: {
                        memo.setListening(true)
                        subscribed.record(1)
                        if outage.end() { logger.notice("listening for ranking changes again", metadata: ["event": "ranking_memo_subscribed"]) }
                    },
                    received: { _ in
                        memo.rankingChanged()
                        heardChanges.increment()
                    })
            } catch {
                memo.setListening(false)
                subscribed.record(0)
                // Logged once per outage, not once per retry.
                if outage.begin() {
                    logger.warning(
                        "lost the subscription to ranking changes; ranking reads go to Redis until it is back",
                        metadata: ["event": "ranking_memo_unsubscribed", "error": "\(error)"])
                }
                try? await Task.sleep(for: retryInterval)
            }
        }
    }

    /// Every `checkInterval`, drops what the marker has moved past; when the marker cannot be
    /// read, drops everything.
    func check() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: checkInterval)
            guard !Task.isCancelled else { return }
            do {
                if memo.confirm(marker: try await cache.appliedSequence()) { checkDrops.increment() }
            } catch {
                memo.rankingChanged()
            }
        }
    }
}

/// Whether the subscription is in an outage, so each outage is logged once.
private final class OutageFlag: Sendable {
    private let down = Mutex(false)

    /// Marks the outage begun; true when it was not already.
    func begin() -> Bool { down.withLock { down in defer { down = true }; return !down } }

    /// Marks the outage over; true when there was one.
    func end() -> Bool { down.withLock { down in defer { down = false }; return down } }
}
