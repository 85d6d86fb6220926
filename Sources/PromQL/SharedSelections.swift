import Synchronization
public import TimeSeries

/// Series read once for several expressions evaluated at the same time: the rules of a group
/// select the same metrics over windows of different lengths (`rate(x[5m])`, `rate(x[1h])`, …),
/// and each selector is decoded once, over the widest window any of them needs.
///
/// Prometheus reads every rule's series afresh; sharing changes no result, because all the rules
/// of a group run at one timestamp over data that does not change during the evaluation —
/// except what the group itself writes, which `prepare`'s `shareable` must leave out. The
/// expressions must be evaluated one after another, not at once.
public final class SharedSelections: Sendable {
    private struct Entry {
        var from: Int64
        var through: Int64
        var series: [LoadedSeries]?
    }

    private let storage: any Queryable
    private let entries = Mutex<[[LabelMatcher]: Entry]>([:])
    /// Label sets derived once for all the expressions (without the name, grouping keys).
    let memo = EvaluationMemo()

    /// Selections over `storage`; nothing is shared until `prepare` plans it.
    public init(storage: any Queryable) {
        self.storage = storage
    }

    /// Plans the reads of `expressions` evaluated at `time`: every selector used more than once
    /// and accepted by `shareable` is read once, over the union of the spans it is used with.
    public func prepare(_ expressions: [Expr], at time: Int64, engine: QueryEngine, shareable: ([LabelMatcher]) -> Bool) {
        var uses: [[LabelMatcher]: (count: Int, from: Int64, through: Int64)] = [:]
        let planner = Evaluator(engine: engine, storage: storage, start: time, end: time, step: 0)
        for expression in expressions {
            var spans: [Evaluator.SelectorKey: (Int64, Int64)] = [:]
            planner.collectSpans(expression, from: time, through: time, into: &spans)
            for (key, span) in spans where shareable(key.matchers) {
                if let known = uses[key.matchers] {
                    uses[key.matchers] = (known.count + 1, min(known.from, span.0), max(known.through, span.1))
                } else {
                    uses[key.matchers] = (1, span.0, span.1)
                }
            }
        }
        entries.withLock { entries in
            for (matchers, use) in uses where use.count > 1 {
                entries[matchers] = Entry(from: use.from, through: use.through, series: nil)
            }
        }
    }

    /// The series of `matchers` over a span covering [from, through], read on first use; nil
    /// when the selector is not shared (or its plan does not cover the span).
    func series(_ matchers: [LabelMatcher], from: Int64, through: Int64, maxSamples: Int) -> [LoadedSeries]? {
        let entry = entries.withLock { $0[matchers] }
        guard let entry, entry.from <= from, entry.through >= through else { return nil }
        if let series = entry.series { return series }
        var series: [LoadedSeries] = []
        var total = 0
        for snapshot in storage.select(matchers, from: entry.from, through: entry.through) {
            let samples = snapshot.sampleArray(from: entry.from, through: entry.through)
            total += samples.count
            // Too big to hold for the whole group: let each query read (and refuse) its own.
            if total > maxSamples { return nil }
            if !samples.isEmpty {
                series.append(LoadedSeries(labels: snapshot.labels, samples: samples, hasStaleMarkers: samples.contains { StaleMarker.isMarker($0.value) }))
            }
        }
        entries.withLock { $0[matchers]?.series = series }
        return series
    }
}
