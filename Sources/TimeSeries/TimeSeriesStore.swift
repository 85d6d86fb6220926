public import CoreMetrics
import Synchronization

/// How a store keeps its data.
public struct TimeSeriesOptions: Sendable {
    /// How far back from the newest sample in the store data is kept, in milliseconds.
    public var retention: Int64 = 24 * 3_600_000
    /// Most series held at once; samples of new series beyond it are refused.
    public var maxSeries: Int = 100_000
    /// Chunks never span a boundary of these windows (milliseconds, aligned to the epoch).
    public var chunkRange: Int64 = 2 * 3_600_000

    public init(retention: Int64 = 24 * 3_600_000, maxSeries: Int = 100_000) {
        self.retention = retention
        self.maxSeries = maxSeries
    }
}

/// One sample to append: the series by its labels (and its ref when the caller remembers it
/// from an earlier append), a timestamp in milliseconds and a value.
public struct PendingSample: Sendable {
    public var labels: Labels
    public var ref: SeriesRef?
    public var timestamp: Int64
    public var value: Double

    public init(labels: Labels, ref: SeriesRef? = nil, timestamp: Int64, value: Double) {
        self.labels = labels
        self.ref = ref
        self.timestamp = timestamp
        self.value = value
    }
}

/// Why the store did not keep a sample.
public enum RefusalReason: String, Sendable, CaseIterable {
    /// Earlier than the series' last sample (only imports may go back in time).
    case outOfOrder = "out_of_order"
    /// Same timestamp as the series' last sample with another value.
    case duplicateTimestamp = "duplicate_timestamp"
    /// A new series while the store already holds its most series.
    case seriesLimit = "series_limit"
    /// Older than the retention window reaches.
    case tooOld = "too_old"
    /// A label set without a metric name.
    case noMetricName = "no_metric_name"
}

/// What an append did.
public struct AppendResult: Sendable {
    /// The ref of each sample's series, in the order given; nil where the series was refused.
    public var refs: [SeriesRef?] = []
    /// Samples stored.
    public var appended = 0
    /// Series created.
    public var newSeries = 0
    /// Samples not stored, by reason.
    public var refused: [RefusalReason: Int] = [:]

    /// Samples not stored, over all reasons.
    public var refusedCount: Int { refused.values.reduce(0, +) }
}

/// What a store holds now.
public struct StoreStatistics: Sendable {
    public var series = 0
    public var samples = 0
    public var chunks = 0
    /// Bytes of chunk data, sealed and open.
    public var chunkBytes = 0
    /// Bytes and samples of sealed chunks only: their ratio is the compression figure.
    public var sealedChunkBytes = 0
    public var sealedSamples = 0
    /// Oldest and newest sample timestamps, nil when empty.
    public var minTime: Int64?
    public var maxTime: Int64?
}

/// The built-in time-series store: series in memory as compressed chunks, a postings index
/// over their labels, and (when opened on a directory) a write-ahead log and checkpoints.
///
/// Appends of one call become visible to readers together: a reader never sees half a
/// scrape. Readers get ``SeriesSnapshot``s that later appends do not change. Time is always
/// passed in; the store has no clock.
public final class TimeSeriesStore: Sendable {
    let state: Mutex<HeadState>
    /// The settings the store was made with.
    public let options: TimeSeriesOptions
    let metrics: StoreMetrics
    /// Where the store lives on disk; nil for a store kept only in memory.
    let directory: StoreDirectory?

    /// An empty store kept only in memory.
    public init(options: TimeSeriesOptions = TimeSeriesOptions(), metrics: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.options = options
        self.state = Mutex(HeadState())
        self.metrics = StoreMetrics(factory: metrics)
        self.directory = nil
    }

    init(options: TimeSeriesOptions, metrics: StoreMetrics, state: consuming sending HeadState, directory: StoreDirectory?) {
        self.options = options
        self.metrics = metrics
        self.state = Mutex(state)
        self.directory = directory
    }

    // MARK: Appending

    /// Appends samples as one unit: readers see all of them or none. Each sample must be later
    /// than its series' last one; see ``RefusalReason`` for what is refused.
    @discardableResult
    public func append(_ samples: [PendingSample]) -> AppendResult {
        let options = options
        let result = state.withLock { head in
            head.append(samples, options: options)
        }
        metrics.record(result)
        return result
    }

    /// Adds samples at any time, in any order, merging them into their series in time order (a
    /// sample at a timestamp the series already has replaces it). For backfilling history.
    @discardableResult
    public func importSamples(_ series: [(labels: Labels, samples: [Sample])]) -> AppendResult {
        let options = options
        let result = state.withLock { head in
            head.importSamples(series, options: options, log: true)
        }
        metrics.record(result)
        return result
    }

    /// Removes the samples from `mint` through `maxt` of every series the matchers select;
    /// series left empty disappear. Returns how many series were affected.
    @discardableResult
    public func deleteSeries(matching matchers: [LabelMatcher], from mint: Int64 = .min, through maxt: Int64 = .max) -> Int {
        let options = options
        return state.withLock { head in
            let refs = head.index.select(matchers)
            head.delete(refs, from: mint, through: maxt, chunkRange: options.chunkRange, log: true)
            return refs.count
        }
    }

    /// Drops data older than the retention window before the newest sample (as Prometheus
    /// measures it: from the data, not the wall clock). Returns the series removed.
    @discardableResult
    public func applyRetention() -> Int {
        let retention = options.retention
        let removed = state.withLock { head in head.applyRetention(retention) }
        metrics.seriesRemoved.increment(by: Int64(removed))
        return removed
    }

    // MARK: Reading

    /// The series the matchers select that have samples from `mint` through `maxt`, sorted by
    /// labels. An empty matcher list selects every series.
    public func select(_ matchers: [LabelMatcher], from mint: Int64 = .min, through maxt: Int64 = .max) -> [SeriesSnapshot] {
        var snapshots: [SeriesSnapshot] = state.withLock { head in
            head.index.select(matchers).compactMap { ref in
                guard let series = head.series[ref], head.overlaps(series, mint, maxt) else { return nil }
                return SeriesSnapshot(of: series)
            }
        }
        snapshots.sort { $0.labels < $1.labels }
        return snapshots
    }

    /// Label sets of the series any of the selectors picks within the time range (all series
    /// when `selectors` is empty), sorted and without repeats.
    public func series(matching selectors: [[LabelMatcher]], from mint: Int64 = .min, through maxt: Int64 = .max) -> [Labels] {
        state.withLock { head in
            head.labelSets(selectors, mint, maxt)
        }.sorted()
    }

    /// Label names of the series the selectors pick within the range (of all series when
    /// `selectors` is empty), sorted.
    public func labelNames(matching selectors: [[LabelMatcher]] = [], from mint: Int64 = .min, through maxt: Int64 = .max) -> [String] {
        state.withLock { head in
            if selectors.isEmpty && head.coversAll(mint, maxt) { return head.index.names }
            var names = Set<String>()
            for labels in head.labelSets(selectors, mint, maxt) { for label in labels { names.insert(label.name) } }
            return names.sorted()
        }
    }

    /// Values of the label `name` among the series the selectors pick within the range, sorted.
    public func labelValues(_ name: String, matching selectors: [[LabelMatcher]] = [], from mint: Int64 = .min, through maxt: Int64 = .max) -> [String] {
        state.withLock { head in
            if selectors.isEmpty && head.coversAll(mint, maxt) { return head.index.values(of: name) }
            var values = Set<String>()
            for labels in head.labelSets(selectors, mint, maxt) { if let value = labels[name] { values.insert(value) } }
            return values.sorted()
        }
    }

    /// Counts of what the store holds.
    public func statistics() -> StoreStatistics {
        state.withLock { head in head.statistics() }
    }
}

/// Everything the store's lock guards.
struct HeadState: ~Copyable {
    var series = SeriesTable()
    var refs: [Labels: SeriesRef] = [:]
    var index = LabelIndex()
    var nextRef: UInt64 = 1
    /// The newest timestamp ever appended (retention is measured from it).
    var maxTime: Int64 = .min
    /// Where changes are logged; nil for a store kept only in memory and while replaying.
    var log: WriteAheadLog?

    init() {}

    func overlaps(_ series: MemSeries, _ mint: Int64, _ maxt: Int64) -> Bool {
        guard let first = series.firstTimestamp, let last = series.lastTimestamp else { return false }
        return first <= maxt && last >= mint
    }

    /// Whether the range holds every sample (so index-wide listings need no time filter).
    func coversAll(_ mint: Int64, _ maxt: Int64) -> Bool {
        guard mint > .min || maxt < .max else { return true }
        var oldest = Int64.max
        for series in series.values { if let first = series.firstTimestamp, first < oldest { oldest = first } }
        return mint <= oldest && maxt >= maxTime
    }

    func labelSets(_ selectors: [[LabelMatcher]], _ mint: Int64, _ maxt: Int64) -> [Labels] {
        let refs = selectors.isEmpty ? index.all : Postings.union(selectors.map { index.select($0) })
        return refs.compactMap { ref in
            guard let series = series[ref], overlaps(series, mint, maxt) else { return nil }
            return series.labels
        }
    }

    /// The series with these labels, created (and logged) when new and the limit allows.
    mutating func seriesRef(for labels: Labels, maxSeries: Int, created: inout [(SeriesRef, Labels)]) -> SeriesRef? {
        if let ref = refs[labels] { return ref }
        guard series.count < maxSeries else { return nil }
        let ref = SeriesRef(nextRef)
        nextRef += 1
        let interned = Labels(sortedUnique: labels.map { Label(index.intern($0.name), index.intern($0.value)) })
        series[ref] = MemSeries(ref: ref, labels: interned)
        refs[interned] = ref
        index.add(ref, interned)
        created.append((ref, interned))
        return ref
    }

    mutating func append(_ samples: [PendingSample], options: TimeSeriesOptions) -> AppendResult {
        var result = AppendResult()
        result.refs.reserveCapacity(samples.count)
        var created: [(SeriesRef, Labels)] = []
        var logged: [(SeriesRef, Int64, Double)] = []
        logged.reserveCapacity(samples.count)
        let oldest = maxTime == .min ? Int64.min : maxTime &- options.retention
        for sample in samples {
            // Checked first, so a refused sample creates no series.
            if sample.timestamp < oldest {
                result.refs.append(sample.ref)
                result.refused[.tooOld, default: 0] += 1
                continue
            }
            // Appending by a remembered ref is one array access; an unknown or stale ref falls
            // back to the labels.
            if let known = sample.ref, let outcome = series.append(known, sample.timestamp, sample.value, chunkRange: options.chunkRange) {
                result.refs.append(known)
                record(outcome, known, sample, into: &result, logged: &logged)
                continue
            }
            guard !sample.labels.name.isEmpty else {
                result.refs.append(nil)
                result.refused[.noMetricName, default: 0] += 1
                continue
            }
            guard let ref = seriesRef(for: sample.labels, maxSeries: options.maxSeries, created: &created),
                let outcome = series.append(ref, sample.timestamp, sample.value, chunkRange: options.chunkRange)
            else {
                result.refs.append(nil)
                result.refused[.seriesLimit, default: 0] += 1
                continue
            }
            result.refs.append(ref)
            record(outcome, ref, sample, into: &result, logged: &logged)
        }
        result.newSeries = created.count
        log?.write(series: created, samples: logged, imported: false)
        return result
    }

    @inline(__always)
    private mutating func record(
        _ outcome: MemSeries.AppendOutcome, _ ref: SeriesRef, _ sample: PendingSample, into result: inout AppendResult, logged: inout [(SeriesRef, Int64, Double)]
    ) {
        switch outcome {
        case .appended:
            if sample.timestamp > maxTime { maxTime = sample.timestamp }
            logged.append((ref, sample.timestamp, sample.value))
            result.appended += 1
        case .duplicate:
            break
        case .outOfOrder:
            result.refused[.outOfOrder, default: 0] += 1
        case .duplicateTimestamp:
            result.refused[.duplicateTimestamp, default: 0] += 1
        }
    }

    mutating func importSamples(_ batch: [(labels: Labels, samples: [Sample])], options: TimeSeriesOptions, log shouldLog: Bool) -> AppendResult {
        var result = AppendResult()
        var created: [(SeriesRef, Labels)] = []
        var logged: [(SeriesRef, Int64, Double)] = []
        for entry in batch {
            guard !entry.labels.name.isEmpty else {
                result.refs.append(nil)
                result.refused[.noMetricName, default: 0] += entry.samples.count
                continue
            }
            guard let ref = seriesRef(for: entry.labels, maxSeries: options.maxSeries, created: &created) else {
                result.refs.append(nil)
                result.refused[.seriesLimit, default: 0] += entry.samples.count
                continue
            }
            result.refs.append(ref)
            // Later samples of the same timestamp win, as the last line of a file does.
            var incoming: [Int64: Double] = [:]
            for sample in entry.samples { incoming[sample.timestamp] = sample.value }
            let sorted = incoming.sorted { $0.key < $1.key }.map { Sample($0.key, $0.value) }
            guard !sorted.isEmpty else { continue }
            merge(ref, sorted, chunkRange: options.chunkRange)
            for sample in sorted { logged.append((ref, sample.timestamp, sample.value)) }
            result.appended += sorted.count
        }
        result.newSeries = created.count
        if shouldLog { log?.write(series: created, samples: logged, imported: true) }
        return result
    }

    /// Merges samples (in time order, no repeated timestamps) into a series; where a timestamp
    /// exists already, the new value replaces it.
    mutating func merge(_ ref: SeriesRef, _ sorted: [Sample], chunkRange: Int64) {
        guard var memSeries = series[ref], let first = sorted.first else { return }
        series[ref] = nil  // so the series is uniquely referenced and changed in place
        if let last = memSeries.lastTimestamp, first.timestamp <= last {
            var merged: [Int64: Double] = [:]
            for sample in memSeries.allSamples() { merged[sample.timestamp] = sample.value }
            for sample in sorted { merged[sample.timestamp] = sample.value }
            memSeries.replaceSamples(merged.sorted { $0.key < $1.key }.map { Sample($0.key, $0.value) }, chunkRange: chunkRange)
        } else {
            for sample in sorted { memSeries.append(sample.timestamp, sample.value, chunkRange: chunkRange) }
        }
        series[ref] = memSeries
        if let last = sorted.last?.timestamp, last > maxTime { maxTime = last }
    }

    mutating func delete(_ refs: [SeriesRef], from mint: Int64, through maxt: Int64, chunkRange: Int64, log shouldLog: Bool) {
        var removed: [(SeriesRef, Labels)] = []
        for ref in refs {
            guard var memSeries = series[ref] else { continue }
            let kept = memSeries.allSamples().filter { $0.timestamp < mint || $0.timestamp > maxt }
            if kept.isEmpty {
                removed.append((ref, memSeries.labels))
            } else {
                memSeries.replaceSamples(kept, chunkRange: chunkRange)
                series[ref] = memSeries
            }
        }
        removeSeries(removed)
        if shouldLog { log?.writeDeletion(refs: refs, mint: mint, maxt: maxt) }
    }

    mutating func removeSeries(_ removed: [(SeriesRef, Labels)]) {
        for (ref, labels) in removed {
            series[ref] = nil
            refs[labels] = nil
        }
        index.remove(removed)
    }

    mutating func applyRetention(_ retention: Int64) -> Int {
        guard maxTime > .min else { return 0 }
        let cutoff = maxTime &- retention
        var removed: [(SeriesRef, Labels)] = []
        for ref in series.refs {
            guard var memSeries = series[ref] else { continue }
            if let first = memSeries.firstTimestamp, first >= cutoff { continue }
            if memSeries.dropChunks(endingBefore: cutoff) {
                removed.append((ref, memSeries.labels))
            } else {
                series[ref] = memSeries
            }
        }
        removeSeries(removed)
        return removed.count
    }

    func statistics() -> StoreStatistics {
        var statistics = StoreStatistics()
        statistics.series = series.count
        var oldest: Int64?
        for memSeries in series.values {
            for chunk in memSeries.sealed {
                statistics.chunks += 1
                statistics.samples += chunk.count
                statistics.chunkBytes += chunk.byteCount
                statistics.sealedChunkBytes += chunk.byteCount
                statistics.sealedSamples += chunk.count
            }
            if memSeries.open.count > 0 {
                statistics.chunks += 1
                statistics.samples += memSeries.open.count
                statistics.chunkBytes += memSeries.open.byteCount
            }
            if let first = memSeries.firstTimestamp { oldest = min(oldest ?? first, first) }
        }
        statistics.minTime = oldest
        statistics.maxTime = maxTime == .min ? nil : maxTime
        return statistics
    }
}

/// The store's own metrics.
struct StoreMetrics: Sendable {
    let samplesAppended: Counter
    let seriesCreated: Counter
    let seriesRemoved: Counter
    let refused: [RefusalReason: Counter]

    init(factory: any MetricsFactory) {
        samplesAppended = Counter(label: "claimsd_tsdb_samples_appended_total", factory: factory)
        seriesCreated = Counter(label: "claimsd_tsdb_series_created_total", factory: factory)
        seriesRemoved = Counter(label: "claimsd_tsdb_series_removed_total", factory: factory)
        var refused: [RefusalReason: Counter] = [:]
        for reason in RefusalReason.allCases {
            refused[reason] = Counter(label: "claimsd_tsdb_samples_refused_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.refused = refused
    }

    func record(_ result: AppendResult) {
        if result.appended > 0 { samplesAppended.increment(by: Int64(result.appended)) }
        if result.newSeries > 0 { seriesCreated.increment(by: Int64(result.newSeries)) }
        for (reason, count) in result.refused where count > 0 { refused[reason]?.increment(by: Int64(count)) }
    }
}
