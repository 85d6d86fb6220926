import PromQL
import TestSupport
import Testing
import TimeSeries

/// Semantics the generated differential data cannot show (staleness markers exist only in
/// scraped data) and limits, on a store filled with explicit timestamps.
@Suite struct EngineTests {
    func store(_ series: [(Labels, [Sample])]) -> TimeSeriesStore {
        let store = TimeSeriesStore()
        store.importSamples(series.map { (labels: $0.0, samples: $0.1) })
        return store
    }

    func vector(_ value: QueryValue) -> [Double] {
        guard case .vector(let samples) = value else { return [] }
        return samples.map(\.value)
    }

    @Test func aStalenessMarkerEndsASeriesAtOnce() throws {
        let up = Labels(["__name__": "up", "job": "a"])
        let data = store([(up, [Sample(0, 1), Sample(15_000, 1), Sample(30_000, StaleMarker.value)])])
        let engine = QueryEngine()
        #expect(vector(try engine.instantQuery("up", at: 29_000, storage: data)) == [1])
        // Without the marker the 5-minute lookback would still answer 1 here.
        #expect(vector(try engine.instantQuery("up", at: 30_000, storage: data)).isEmpty)
        #expect(vector(try engine.instantQuery("up", at: 200_000, storage: data)).isEmpty)
        // Range vectors leave the marker out.
        #expect(vector(try engine.instantQuery("count_over_time(up[1m])", at: 40_000, storage: data)) == [2])
    }

    @Test func theLookbackDeltaIsASetting() throws {
        let data = store([(Labels(["__name__": "g"]), [Sample(0, 7)])])
        var engine = QueryEngine()
        #expect(vector(try engine.instantQuery("g", at: 300_000, storage: data)) == [7])
        #expect(vector(try engine.instantQuery("g", at: 300_001, storage: data)).isEmpty)
        engine.lookbackDelta = 60_000
        #expect(vector(try engine.instantQuery("g", at: 61_000, storage: data)).isEmpty)
    }

    @Test func rangeQueriesReturnOnePointPerStep() throws {
        let data = store([(Labels(["__name__": "c"]), (0...20).map { Sample(Int64($0) * 15_000, Double($0 * 10)) })])
        let result = try QueryEngine().rangeQuery("rate(c[1m])", start: 60_000, end: 300_000, step: 60_000, storage: data)
        guard case .matrix(let series) = result else { Issue.record("not a matrix"); return }
        #expect(series.count == 1)
        #expect(series[0].samples.map(\.timestamp) == [60_000, 120_000, 180_000, 240_000, 300_000])
        // 10 per 15 s is 2/3 per second, exactly, at every step.
        #expect(series[0].samples.allSatisfy { abs($0.value - 2.0 / 3.0) < 1e-12 })
    }

    @Test func tooManySamplesAndTimeoutsStopTheQuery() throws {
        let data = store((0..<50).map { (Labels(["__name__": "m", "i": "\($0)"]), (0..<100).map { Sample(Int64($0) * 1000, 1) }) })
        var engine = QueryEngine()
        engine.maxSamples = 1000
        #expect(throws: QueryError.tooManySamples(limit: 1000)) { try engine.instantQuery("sum_over_time(m[2m])", at: 100_000, storage: data) }
        engine.maxSamples = 50_000_000
        engine.timeout = .zero
        #expect(throws: QueryError.timeout(.zero)) { try engine.instantQuery("sum(m)", at: 100_000, storage: data) }
    }

    @Test func matchingErrorsAreExecutionErrors() throws {
        let data = store([
            (Labels(["__name__": "a", "x": "1", "y": "1"]), [Sample(0, 1)]), (Labels(["__name__": "a", "x": "1", "y": "2"]), [Sample(0, 2)]),
            (Labels(["__name__": "b", "x": "1"]), [Sample(0, 3)]), (Labels(["__name__": "c", "x": "1"]), [Sample(0, 4)]),
        ])
        let engine = QueryEngine()
        #expect {
            try engine.instantQuery("b + on (x) a", at: 0, storage: data)
        } throws: { error in
            "\(error)".contains("many-to-many matching not allowed")
        }
        #expect {
            try engine.instantQuery("a + on (x) b", at: 0, storage: data)
        } throws: { error in
            "\(error)".contains("many-to-one matching must be explicit")
        }
        #expect(vector(try engine.instantQuery("a + on (x) group_left b", at: 0, storage: data)).sorted() == [4, 5])
        #expect(throws: QueryError.execution("vector cannot contain metrics with the same labelset")) {
            // b and c differ only by their names, which abs() drops.
            try engine.instantQuery("abs({__name__=~\"b|c\"})", at: 0, storage: data)
        }
    }

    @Test func randomQueriesNeverCrashTheEngine() async throws {
        try await onOwnThread { self.crashHunt() }
    }

    func crashHunt() {
        let seed = SplitMix.testSeed("randomQueriesNeverCrashTheEngine", variable: "CLAIMS_TEST_ENGINE_SEED")
        var state = seed
        func pick<T>(_ items: [T]) -> T {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return items[Int(state % UInt64(items.count))]
        }
        let data = store([
            (Labels(["__name__": "x", "a": "1"]), (0..<40).map { Sample(Int64($0) * 15_000, Double($0 % 7) - 3) }),
            (Labels(["__name__": "x", "a": "2"]), (0..<40).map { Sample(Int64($0) * 15_000, $0 % 5 == 0 ? .nan : Double($0)) }),
        ])
        let leaves = ["x", "x{a=\"1\"}", "1", "-2.5", "NaN", "Inf", "time()", "vector(3)"]
        let ranged = ["x[1m]", "x[5m] offset 1m", "x[2m:30s]"]
        let wrappers: [(String) -> String] = [
            { "abs(\($0))" }, { "sum(\($0))" }, { "topk(1, \($0))" }, { "-\($0)" }, { "(\($0))" }, { "\($0) + x" }, { "\($0) > bool 1" },
            { "scalar(\($0))" }, { "count_values(\"v\", \($0))" }, { "sort_desc(\($0))" }, { "clamp(\($0), -1, 1)" }, { "\($0) or x" },
            { "histogram_quantile(0.5, \($0))" }, { "label_replace(\($0), \"b\", \"$1\", \"a\", \"(.*)\")" }, { "round(\($0), 0.1)" },
        ]
        let rangeFunctions = ["rate", "irate", "deriv", "holt_winters", "quantile_over_time", "predict_linear", "changes", "max_over_time"]
        let engine = QueryEngine()
        for _ in 0..<400 {
            var query = pick(leaves)
            if pick([true, false]) {
                let function = pick(rangeFunctions)
                let argument = pick(ranged)
                query = switch function {
                case "holt_winters": "holt_winters(\(argument), 0.5, 0.5)"
                case "quantile_over_time": "quantile_over_time(0.5, \(argument))"
                case "predict_linear": "predict_linear(\(argument), 60)"
                default: "\(function)(\(argument))"
                }
            }
            for _ in 0..<Int(state % 4) { query = pick(wrappers)(query) }
            // Any answer or any typed error is fine; a crash is not.
            _ = try? engine.instantQuery(query, at: 450_000, storage: data)
            _ = try? engine.rangeQuery(query, start: 0, end: 600_000, step: 45_000, storage: data)
        }
    }
}
