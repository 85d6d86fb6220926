public import TimeSeries
import Synchronization

/// How a target fared at its last scrape, as `/api/v1/targets` reports it.
public struct TargetHealth: Sendable {
    /// `up`, `down`, or `unknown` before the first scrape.
    public enum State: String, Sendable { case up, down, unknown }

    public var state: State = .unknown
    /// When the last scrape was scheduled (milliseconds), and how long it took.
    public var lastScrape: Int64?
    public var lastScrapeDuration: Duration = .zero
    /// Why the last scrape failed; empty when it succeeded.
    public var lastError = ""
    /// Samples the last successful scrape exposed.
    public var lastSamples = 0
}

/// Scrapes one target into the store: each scrape appends its samples, the synthetic
/// per-target series (`up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
/// `scrape_samples_post_metric_relabeling`, `scrape_series_added`) and a staleness marker for
/// every series the previous scrape had and this one lacks, all in one append, all at the
/// scrape's timestamp. A failed scrape stores `up 0` and marks every earlier series stale.
public final class ScrapeLoop: Sendable {
    /// The target scraped.
    public let target: ScrapeTarget
    private let source: any MetricsSource
    private let store: TimeSeriesStore
    private let state = Mutex(LoopState())

    private struct LoopState {
        /// Series of the previous scrape, by their labels after merging, with their refs.
        var previous: [Labels: SeriesRef?] = [:]
        /// Refs of every series this loop has appended to, so new ones are counted.
        var known: [Labels: SeriesRef] = [:]
        var health = TargetHealth()
        /// HELP, TYPE and UNIT of the metric families the last good scrape exposed.
        var metadata: [String: MetricMetadata] = [:]
    }

    public init(target: ScrapeTarget, source: any MetricsSource, store: TimeSeriesStore) {
        self.target = target
        self.source = source
        self.store = store
    }

    /// The target's health after its last scrape.
    public var health: TargetHealth { state.withLock { $0.health } }

    /// The metadata of the metric families the target exposed at its last good scrape.
    public var metadata: [String: MetricMetadata] { state.withLock { $0.metadata } }

    /// Scrapes once, storing everything at `timestamp` (milliseconds); returns whether the
    /// scrape succeeded.
    @discardableResult
    public func scrape(at timestamp: Int64) async -> Bool {
        let started = ContinuousClock.now
        var exposed: [ExposedSample] = []
        var metadata: [String: MetricMetadata] = [:]
        var failure: String?
        do {
            let (body, contentType) = try await source.fetch(timeout: .milliseconds(target.timeout))
            (exposed, metadata) = try ExpositionParser.parseWithMetadata(body, format: ExpositionFormat(contentType: contentType))
        } catch let error as ExpositionError {
            failure = "invalid exposition: \(error)"
        } catch {
            failure = "\(error)"
        }
        let duration = ContinuousClock.now - started
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let target = target
        let store = store

        state.withLock { loop in
            var batch: [PendingSample] = []
            var current: [Labels: SeriesRef?] = [:]
            if failure == nil {
                batch.reserveCapacity(exposed.count + loop.previous.count + 5)
                current.reserveCapacity(exposed.count)
                for sample in exposed {
                    let labels = target.merge(sample.labels)
                    let ref = loop.known[labels]
                    batch.append(PendingSample(labels: labels, ref: ref, timestamp: sample.timestamp ?? timestamp, value: sample.value))
                    current[labels] = ref
                }
            }
            // Gone since the last scrape (or everything, when this one failed): stale now.
            for (labels, ref) in loop.previous where current[labels] == nil {
                batch.append(PendingSample(labels: labels, ref: ref, timestamp: timestamp, value: StaleMarker.value))
            }
            let added = current.keys.reduce(0) { $0 + (loop.known[$1] == nil ? 1 : 0) }
            let synthetic: [(String, Double)] = [
                ("up", failure == nil ? 1 : 0), ("scrape_duration_seconds", seconds), ("scrape_samples_scraped", Double(exposed.count)),
                ("scrape_samples_post_metric_relabeling", Double(exposed.count)), ("scrape_series_added", Double(added)),
            ]
            for (name, value) in synthetic {
                let labels = target.labels.setting(Labels.metricName, to: name)
                batch.append(PendingSample(labels: labels, ref: loop.known[labels], timestamp: timestamp, value: value))
            }
            let result = store.append(batch)
            for (sample, ref) in zip(batch, result.refs) {
                guard let ref else { continue }
                loop.known[sample.labels] = ref
                if current[sample.labels] != nil { current[sample.labels] = ref }
            }
            // Forget series that went stale, so the cache does not grow without bound.
            for labels in loop.previous.keys where current[labels] == nil { loop.known[labels] = nil }
            loop.previous = current
            if failure == nil { loop.metadata = metadata }
            loop.health = TargetHealth(
                state: failure == nil ? .up : .down, lastScrape: timestamp, lastScrapeDuration: duration, lastError: failure ?? "",
                lastSamples: exposed.count)
        }
        return failure == nil
    }
}
