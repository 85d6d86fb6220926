import Foundation
import TimeSeries

/// Evaluates PromQL over a ``Queryable`` with Prometheus 2.42's semantics for float samples.
///
/// Time is always a parameter. The samples every selector needs over the whole range are read
/// from storage once, before evaluation; a range query is then evaluated node by node over all
/// its steps (see `RangeEvaluation.swift`), falling back to step by step where it must.
public struct QueryEngine: Sendable {
    /// How far back an instant selector looks for a sample (Prometheus: 5 minutes).
    public var lookbackDelta: Int64 = 300_000
    /// Most samples a query may hold in memory at once.
    public var maxSamples = 50_000_000
    /// How long a query may run.
    public var timeout: Duration = .seconds(120)
    /// The step of a subquery written without one (Prometheus's evaluation interval).
    public var defaultSubqueryStep: Int64 = 60_000
    /// Most points per series a range query may return (Prometheus: 11,000).
    public static let maxPointsPerSeries = 11_000

    public init() {}

    /// The value of `query` at `time` (milliseconds).
    public func instantQuery(_ query: String, at time: Int64, storage: any Queryable) throws(QueryError) -> QueryValue {
        let expr: Expr
        do {
            expr = try Parser.parse(query)
        } catch {
            throw .parse(error)
        }
        return try instant(expr, at: time, storage: storage)
    }

    /// The value of `expr` at `time` (milliseconds). With `shared`, series that several
    /// expressions at this time select are read and decoded once for all of them.
    public func instant(_ expr: Expr, at time: Int64, storage: any Queryable, shared: SharedSelections? = nil) throws(QueryError) -> QueryValue {
        var evaluator = Evaluator(engine: self, storage: storage, start: time, end: time, step: 0)
        evaluator.shared = shared
        try evaluator.load(expr)
        let value = try evaluator.evaluate(expr, at: time)
        switch value {
        case .scalar(let number): return .scalar(timestamp: time, value: number)
        case .string(let text): return .string(timestamp: time, value: text)
        case .vector(let samples): return .vector(samples.map { VectorSample(labels: $0.labels, timestamp: time, value: $0.value) })
        case .matrix(let series): return .matrix(series.map { RangeSeries(labels: $0.labels, samples: Array($0.samples)) })
        }
    }

    /// The values of `query` at every `step` from `start` through `end` (milliseconds), as a
    /// matrix; instant vectors and scalars only.
    public func rangeQuery(_ query: String, start: Int64, end: Int64, step: Int64, storage: any Queryable) throws(QueryError) -> QueryValue {
        let expr: Expr
        do {
            expr = try Parser.parse(query)
        } catch {
            throw .parse(error)
        }
        return try range(expr, start: start, end: end, step: step, storage: storage)
    }

    /// The values of `expr` over a range, as a matrix sorted by labels.
    public func range(_ expr: Expr, start: Int64, end: Int64, step: Int64, storage: any Queryable) throws(QueryError) -> QueryValue {
        guard expr.type == .vector || expr.type == .scalar else {
            throw .parse(ParseError(position: SourcePosition(line: 1, column: 1), message: "invalid expression type \"\(expr.type.rawValue)\" for range query, must be Scalar or instant Vector"))
        }
        var evaluator = Evaluator(engine: self, storage: storage, start: start, end: end, step: step)
        try evaluator.load(expr)
        if step > 0, end > start, let matrix = try evaluator.rangeMatrix(expr) {
            return .matrix(matrix)
        }
        var series: [Labels: [Sample]] = [:]
        var time = start
        var points = 0
        while time <= end {
            switch try evaluator.evaluate(expr, at: time) {
            case .scalar(let value):
                series[.empty, default: []].append(Sample(time, value))
                points += 1
            case .vector(let samples):
                for sample in samples { series[sample.labels, default: []].append(Sample(time, sample.value)) }
                points += samples.count
            default:
                break
            }
            if points > maxSamples { throw .tooManySamples(limit: maxSamples) }
            guard step > 0 else { break }
            time += step
        }
        return .matrix(series.map { RangeSeries(labels: $0.key, samples: $0.value) }.sorted { $0.labels < $1.labels })
    }
}

/// A value while evaluating: scalars and strings without their time.
enum Value {
    case scalar(Double)
    case string(String)
    case vector([VectorSample])
    case matrix([WindowSeries])
}

/// A range vector's series at one evaluation: its samples within the window, and the window
/// (what rate's extrapolation measures against).
struct WindowSeries {
    var labels: Labels
    /// A slice of the loaded samples (not a copy), or of the subquery's points.
    var samples: ArraySlice<Sample>
    var rangeStart: Int64
    var rangeEnd: Int64
}

/// One selector's series, read once for the whole query.
struct LoadedSeries: Sendable {
    let labels: Labels
    let samples: [Sample]
    /// Whether any sample is a staleness marker (range selectors must then skip them).
    let hasStaleMarkers: Bool
}

/// Label sets derived during one evaluation, remembered so each is built once per series
/// rather than once per step: without the metric name, and grouping keys of aggregations.
final class EvaluationMemo: @unchecked Sendable {
    // Unchecked: an evaluation uses its memo from one thread; a memo shared through
    // SharedSelections belongs to one rule-group evaluation, which runs its rules one after
    // another on one thread and drops the memo when it ends.
    struct GroupingKey: Hashable {
        let grouping: [String]
        let without: Bool
    }

    /// Grouping labels of one `by`/`without` list, by input label set.
    final class GroupKeys {
        let grouping: [String]
        let without: Bool
        private var keys: [Labels: Labels] = [:]

        init(grouping: [String], without: Bool) {
            self.grouping = grouping
            self.without = without
        }

        func key(for labels: Labels) -> Labels {
            if let known = keys[labels] { return known }
            let result = Evaluator.groupLabels(labels, grouping: grouping, without: without)
            keys[labels] = result
            return result
        }
    }

    private var withoutName: [Labels: Labels] = [:]
    private var withoutBucket: [Labels: Labels] = [:]
    private var groups: [GroupingKey: GroupKeys] = [:]

    func droppingName(_ labels: Labels) -> Labels {
        if let known = withoutName[labels] { return known }
        let result = labels.removing(Labels.metricName)
        withoutName[labels] = result
        return result
    }

    /// The labels without `le` and the metric name: a histogram's group.
    func bucketGroup(_ labels: Labels) -> Labels {
        if let known = withoutBucket[labels] { return known }
        let result = labels.removing("le").removing(Labels.metricName)
        withoutBucket[labels] = result
        return result
    }

    /// The grouping keys of one aggregation's `by`/`without` list: fetch once per aggregation,
    /// not once per sample (hashing the list is not free).
    func groupKeys(grouping: [String], without: Bool) -> GroupKeys {
        let key = GroupingKey(grouping: grouping, without: without)
        if let known = groups[key] { return known }
        let made = GroupKeys(grouping: grouping, without: without)
        groups[key] = made
        return made
    }
}

struct Evaluator {
    let engine: QueryEngine
    let storage: any Queryable
    let start: Int64
    let end: Int64
    let step: Int64
    let deadline: ContinuousClock.Instant
    /// The samples of each selector, for the time span the query needs.
    var loaded: [SelectorKey: [LoadedSeries]] = [:]
    var loadedSamples = 0
    var memo = EvaluationMemo()
    /// Series already read for other expressions at the same time (rule groups).
    var shared: SharedSelections? {
        didSet { if let shared { memo = shared.memo } }
    }

    init(engine: QueryEngine, storage: any Queryable, start: Int64, end: Int64, step: Int64) {
        self.engine = engine
        self.storage = storage
        self.start = start
        self.end = end
        self.step = step
        self.deadline = ContinuousClock.now.advanced(by: engine.timeout)
    }

    struct SelectorKey: Hashable {
        let matchers: [LabelMatcher]
    }

    // MARK: Loading

    /// Reads, once, every series each selector of `expr` needs over the query's span.
    mutating func load(_ expr: Expr) throws(QueryError) {
        var spans: [SelectorKey: (Int64, Int64)] = [:]
        collectSpans(expr, from: start, through: end, into: &spans)
        for (key, span) in spans {
            if let shared, let series = shared.series(key.matchers, from: span.0, through: span.1, maxSamples: engine.maxSamples) {
                // Wider than this span: the selections below search by time. Count what is in it.
                for entry in series {
                    loadedSamples += lastIndex(entry.samples, atOrBefore: span.1) - lastIndex(entry.samples, atOrBefore: span.0 - 1)
                }
                if loadedSamples > engine.maxSamples { throw .tooManySamples(limit: engine.maxSamples) }
                loaded[key] = series
                continue
            }
            let snapshots = storage.select(key.matchers, from: span.0, through: span.1)
            var series: [LoadedSeries] = []
            series.reserveCapacity(snapshots.count)
            for snapshot in snapshots {
                let samples = snapshot.sampleArray(from: span.0, through: span.1)
                loadedSamples += samples.count
                if loadedSamples > engine.maxSamples { throw .tooManySamples(limit: engine.maxSamples) }
                if !samples.isEmpty {
                    series.append(LoadedSeries(labels: snapshot.labels, samples: samples, hasStaleMarkers: samples.contains { StaleMarker.isMarker($0.value) }))
                }
            }
            loaded[key] = series
        }
    }

    func atTime(_ at: AtModifier?, default time: Int64) -> Int64 {
        switch at {
        case .time(let pinned): return pinned
        case .start: return start
        case .end: return end
        case nil: return time
        }
    }

    func collectSpans(_ expr: Expr, from low: Int64, through high: Int64, into spans: inout [SelectorKey: (Int64, Int64)]) {
        func widen(_ key: SelectorKey, _ from: Int64, _ through: Int64) {
            if let existing = spans[key] {
                spans[key] = (min(existing.0, from), max(existing.1, through))
            } else {
                spans[key] = (from, through)
            }
        }
        switch expr {
        case .number, .string: break
        case .vector(let selector):
            let first = atTime(selector.at, default: low) - selector.offset
            let last = atTime(selector.at, default: high) - selector.offset
            widen(SelectorKey(matchers: selector.matchers), first - engine.lookbackDelta, last)
        case .matrix(let selector, let range):
            let first = atTime(selector.at, default: low) - selector.offset
            let last = atTime(selector.at, default: high) - selector.offset
            widen(SelectorKey(matchers: selector.matchers), first - range, last)
        case .subquery(let inner, let range, _, let offset, let at):
            let first = atTime(at, default: low) - offset - range
            let last = atTime(at, default: high) - offset
            collectSpans(inner, from: first, through: last, into: &spans)
        case .call(_, let arguments):
            for argument in arguments { collectSpans(argument, from: low, through: high, into: &spans) }
        case .aggregate(_, let operand, let parameter, _, _):
            collectSpans(operand, from: low, through: high, into: &spans)
            if let parameter { collectSpans(parameter, from: low, through: high, into: &spans) }
        case .binary(_, let lhs, let rhs, _, _):
            collectSpans(lhs, from: low, through: high, into: &spans)
            collectSpans(rhs, from: low, through: high, into: &spans)
        case .negate(let inner), .parenthesized(let inner):
            collectSpans(inner, from: low, through: high, into: &spans)
        }
    }

    // MARK: Evaluation

    func evaluate(_ expr: Expr, at time: Int64) throws(QueryError) -> Value {
        if ContinuousClock.now > deadline { throw .timeout(engine.timeout) }
        if Task.isCancelled { throw .canceled }
        switch expr {
        case .number(let value): return .scalar(value)
        case .string(let text): return .string(text)
        case .parenthesized(let inner): return try evaluate(inner, at: time)
        case .vector(let selector): return .vector(instantSelect(selector, at: time))
        case .matrix(let selector, let range): return .matrix(rangeSelect(selector, range: range, at: time))
        case .subquery(let inner, let range, let step, let offset, let at):
            return .matrix(try subquery(inner, range: range, step: step ?? engine.defaultSubqueryStep, offset: offset, at: at, time: time))
        case .negate(let inner):
            switch try evaluate(inner, at: time) {
            case .scalar(let value): return .scalar(-value)
            case .vector(let samples):
                return .vector(samples.map { VectorSample(labels: memo.droppingName($0.labels), timestamp: time, value: -$0.value) })
            default: throw .execution("unary minus on a non-numeric value")
            }
        case .binary(let op, let lhs, let rhs, let matching, let returnBool):
            return try binary(op, lhs, rhs, matching: matching, returnBool: returnBool, at: time)
        case .aggregate(let op, let operand, let parameter, let grouping, let without):
            return try aggregate(op, operand, parameter: parameter, grouping: grouping, without: without, at: time)
        case .call(let name, let arguments):
            return try call(name, arguments, at: time)
        }
    }

    /// The latest sample at or before `time − offset` within the lookback window, unless it is
    /// a staleness marker.
    func instantSelect(_ selector: VectorSelector, at time: Int64) -> [VectorSample] {
        let reference = atTime(selector.at, default: time) - selector.offset
        let selected = loaded[SelectorKey(matchers: selector.matchers)] ?? []
        var result: [VectorSample] = []
        result.reserveCapacity(selected.count)
        for series in selected {
            let index = lastIndex(series.samples, atOrBefore: reference)
            guard index >= 0 else { continue }
            let sample = series.samples[index]
            guard sample.timestamp >= reference - engine.lookbackDelta, !StaleMarker.isMarker(sample.value) else { continue }
            result.append(VectorSample(labels: series.labels, timestamp: sample.timestamp, value: sample.value))
        }
        return result
    }

    /// Samples in [time − offset − range, time − offset], staleness markers left out.
    func rangeSelect(_ selector: VectorSelector, range: Int64, at time: Int64) -> [WindowSeries] {
        let rangeEnd = atTime(selector.at, default: time) - selector.offset
        let rangeStart = rangeEnd - range
        let selected = loaded[SelectorKey(matchers: selector.matchers)] ?? []
        var result: [WindowSeries] = []
        result.reserveCapacity(selected.count)
        for series in selected {
            let last = lastIndex(series.samples, atOrBefore: rangeEnd)
            guard last >= 0 else { continue }
            let first = lastIndex(series.samples, atOrBefore: rangeStart - 1) + 1
            guard first <= last else { continue }
            let window = series.hasStaleMarkers ? ArraySlice(series.samples[first...last].filter { !StaleMarker.isMarker($0.value) }) : series.samples[first...last]
            guard !window.isEmpty else { continue }
            result.append(WindowSeries(labels: series.labels, samples: window, rangeStart: rangeStart, rangeEnd: rangeEnd))
        }
        return result
    }

    /// The index of the last sample at or before `time`, or −1.
    func lastIndex(_ samples: [Sample], atOrBefore time: Int64) -> Int {
        var low = 0
        var high = samples.count
        while low < high {
            let middle = (low + high) / 2
            if samples[middle].timestamp <= time { low = middle + 1 } else { high = middle }
        }
        return low - 1
    }

    /// The inner expression at every multiple of `step` within the subquery's window.
    func subquery(_ inner: Expr, range: Int64, step: Int64, offset: Int64, at: AtModifier?, time: Int64) throws(QueryError) -> [WindowSeries] {
        let rangeEnd = atTime(at, default: time) - offset
        let rangeStart = rangeEnd - range
        var first = step * (rangeStart / step)
        if first < rangeStart { first += step }
        var series: [Labels: [Sample]] = [:]
        var order: [Labels] = []
        var evaluationTime = first
        var points = 0
        while evaluationTime <= rangeEnd {
            switch try evaluate(inner, at: evaluationTime) {
            case .vector(let samples):
                for sample in samples {
                    if series[sample.labels] == nil { order.append(sample.labels) }
                    series[sample.labels, default: []].append(Sample(evaluationTime, sample.value))
                }
                points += samples.count
            case .scalar(let value):
                if series[.empty] == nil { order.append(.empty) }
                series[.empty, default: []].append(Sample(evaluationTime, value))
                points += 1
            default: break
            }
            if points > engine.maxSamples { throw .tooManySamples(limit: engine.maxSamples) }
            evaluationTime += step
        }
        return order.map { WindowSeries(labels: $0, samples: ArraySlice(series[$0] ?? []), rangeStart: rangeStart, rangeEnd: rangeEnd) }
    }

    /// Fails like Prometheus when an operation produced two elements with the same labels.
    func checkUnique(_ samples: [VectorSample]) throws(QueryError) {
        guard samples.count > 1 else { return }
        var seen = Set<Labels>(minimumCapacity: samples.count)
        for sample in samples where !seen.insert(sample.labels).inserted {
            throw .execution("vector cannot contain metrics with the same labelset")
        }
    }
}
