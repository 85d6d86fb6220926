import Testing
@testable import TimeSeries

func labels(_ name: String, _ pairs: [String: String] = [:]) -> Labels {
    Labels(pairs.merging([Labels.metricName: name]) { $1 })
}

func matcher(_ kind: LabelMatcher.Kind, _ name: String, _ value: String) -> LabelMatcher {
    // Test patterns are known to compile.
    try! LabelMatcher(kind, name, value)
}

@Suite struct StoreTests {
    /// Ten series: http_requests_total for five codes on two instances.
    func populated() -> TimeSeriesStore {
        let store = TimeSeriesStore()
        var batch: [PendingSample] = []
        for instance in ["a:1", "b:2"] {
            for code in ["200", "201", "404", "500", "503"] {
                batch.append(PendingSample(labels: labels("http_requests_total", ["code": code, "instance": instance]), timestamp: 1000, value: 1))
            }
        }
        batch.append(PendingSample(labels: labels("up", ["instance": "a:1"]), timestamp: 1000, value: 1))
        batch.append(PendingSample(labels: labels("up", ["instance": "b:2", "env": "prod"]), timestamp: 1000, value: 1))
        #expect(store.append(batch).appended == 12)
        return store
    }

    func codes(_ store: TimeSeriesStore, _ matchers: [LabelMatcher]) -> [String] {
        store.select(matchers).map { "\($0.labels["instance"] ?? "")/\($0.labels["code"] ?? $0.labels.name)" }
    }

    @Test func everyMatcherKindSelectsThroughPostings() {
        let store = populated()
        let name = LabelMatcher.equal("__name__", "http_requests_total")
        #expect(codes(store, [name, .equal("code", "500")]) == ["a:1/500", "b:2/500"])
        #expect(codes(store, [name, matcher(.notEqual, "code", "200"), .equal("instance", "a:1")]) == ["a:1/201", "a:1/404", "a:1/500", "a:1/503"])
        #expect(codes(store, [name, matcher(.regexMatch, "code", "5..")]).count == 4)
        // Anchored: "5" alone matches no code, "20" matches none either.
        #expect(codes(store, [name, matcher(.regexMatch, "code", "5")]).isEmpty)
        #expect(codes(store, [name, matcher(.regexMatch, "code", "20")]).isEmpty)
        #expect(codes(store, [name, matcher(.regexNoMatch, "code", "2..|5..")]) == ["a:1/404", "b:2/404"])
        #expect(codes(store, [name, matcher(.regexMatch, "code", "200|404"), matcher(.regexNoMatch, "instance", "b.*")]) == ["a:1/200", "a:1/404"])
    }

    @Test func emptyValuesMatchSeriesWithoutTheLabel() {
        let store = populated()
        let up = LabelMatcher.equal("__name__", "up")
        #expect(codes(store, [up, .equal("env", "")]) == ["a:1/up"])
        #expect(codes(store, [up, matcher(.notEqual, "env", "")]) == ["b:2/up"])
        // Sorted as Prometheus sorts label sets: env < instance, so the series with env comes first.
        #expect(codes(store, [up, matcher(.regexMatch, "env", "prod|")]) == ["b:2/up", "a:1/up"])
        #expect(codes(store, [up, matcher(.regexNoMatch, "env", ".+")]) == ["a:1/up"])
        #expect(codes(store, [matcher(.regexMatch, "__name__", ".*"), .equal("code", "")]) == ["b:2/up", "a:1/up"])
    }

    @Test func labelNamesValuesAndSeriesListings() {
        let store = populated()
        #expect(store.labelNames() == ["__name__", "code", "env", "instance"])
        #expect(store.labelValues("code") == ["200", "201", "404", "500", "503"])
        #expect(store.labelValues("env", matching: [[.equal("__name__", "http_requests_total")]]).isEmpty)
        #expect(store.labelNames(matching: [[.equal("__name__", "up")]]) == ["__name__", "env", "instance"])
        #expect(store.series(matching: [[.equal("code", "404")], [.equal("env", "prod")]]).count == 3)
        // Outside every sample's time, nothing is listed.
        #expect(store.labelNames(from: 2000, through: 3000).isEmpty)
        #expect(store.labelValues("code", from: 0, through: 999).isEmpty)
    }

    @Test func samplesAreReadWithinTheRangeAndSnapshotsDoNotChange() {
        let store = TimeSeriesStore()
        let series = labels("temperature")
        for index in 0..<500 {
            store.append([PendingSample(labels: series, timestamp: Int64(index) * 1000, value: Double(index))])
        }
        let snapshot = store.select([.equal("__name__", "temperature")])[0]
        #expect(snapshot.chunkCount == 5)
        let window = snapshot.sampleArray(from: 130_000, through: 250_000)
        #expect(window.first == Sample(130_000, 130))
        #expect(window.last == Sample(250_000, 250))
        #expect(window.count == 121)
        store.append([PendingSample(labels: series, timestamp: 500_000, value: 500)])
        #expect(snapshot.sampleArray().count == 500)
        #expect(store.select([.equal("__name__", "temperature")])[0].sampleArray().count == 501)
    }

    @Test func outOfOrderDuplicateAndUnnamedSamplesAreRefusedAndCounted() {
        let store = TimeSeriesStore()
        let series = labels("x")
        #expect(store.append([PendingSample(labels: series, timestamp: 10, value: 1)]).appended == 1)
        let result = store.append([
            PendingSample(labels: series, timestamp: 9, value: 1),
            PendingSample(labels: series, timestamp: 10, value: 2),
            PendingSample(labels: series, timestamp: 10, value: 1),
            PendingSample(labels: Labels(["job": "nameless"]), timestamp: 11, value: 1),
        ])
        #expect(result.appended == 0)
        #expect(result.refused == [.outOfOrder: 1, .duplicateTimestamp: 1, .noMetricName: 1])
    }

    @Test func seriesBeyondTheLimitAreRefusedWhileExistingOnesContinue() {
        let store = TimeSeriesStore(options: TimeSeriesOptions(maxSeries: 3))
        let first = (0..<5).map { PendingSample(labels: labels("s", ["i": "\($0)"]), timestamp: 1, value: 1) }
        let result = store.append(first)
        #expect(result.appended == 3)
        #expect(result.refused == [.seriesLimit: 2])
        #expect(result.refs.compactMap { $0 }.count == 3)
        let next = store.append((0..<3).map { PendingSample(labels: labels("s", ["i": "\($0)"]), ref: result.refs[$0], timestamp: 2, value: 2) })
        #expect(next.appended == 3)
        #expect(store.statistics().series == 3)
    }

    @Test func retentionIsMeasuredFromTheNewestSample() {
        let store = TimeSeriesStore(options: TimeSeriesOptions(retention: 3_500_000))
        let old = labels("gone")
        let kept = labels("kept")
        store.append([PendingSample(labels: old, timestamp: 0, value: 1)])
        // Two chunks of 120 samples, 30 s apart: 0…3,570,000 and 3,600,000…7,170,000.
        store.append((0..<240).map { PendingSample(labels: kept, timestamp: Int64($0) * 30_000, value: 1) })
        // The cut-off is 7,170,000 − 3,500,000: the first chunk ends before it, the second not.
        #expect(store.applyRetention() == 1)
        let remaining = store.select([.equal("__name__", "kept")])[0].sampleArray()
        #expect(remaining.count == 120)
        #expect(remaining.first?.timestamp == 3_600_000)
        #expect(store.select([.equal("__name__", "gone")]).isEmpty)
        #expect(store.labelValues("__name__") == ["kept"])
        // A sample older than the window is refused rather than stored and dropped later.
        #expect(store.append([PendingSample(labels: old, timestamp: 1000, value: 1)]).refused == [.tooOld: 1])
        // Retention does not depend on a clock: nothing newer, nothing more removed.
        #expect(store.applyRetention() == 0)
    }

    @Test func importsMergeOutOfOrderSamplesInTimeOrder() {
        let store = TimeSeriesStore()
        let series = labels("imported")
        store.append((0..<10).map { PendingSample(labels: series, timestamp: Int64($0) * 10, value: Double($0)) })
        let result = store.importSamples([(series, [Sample(55, 5.5), Sample(-10, -1), Sample(30, 33), Sample(200, 20)])])
        #expect(result.appended == 4)
        let samples = store.select([.equal("__name__", "imported")])[0].sampleArray()
        #expect(samples.map(\.timestamp) == [-10, 0, 10, 20, 30, 40, 50, 55, 60, 70, 80, 90, 200])
        #expect(samples.first { $0.timestamp == 30 }?.value == 33)
    }

    @Test func deletionRemovesTheRangeAndEmptySeries() {
        let store = populated()
        store.append([PendingSample(labels: labels("up", ["instance": "a:1"]), timestamp: 2000, value: 0)])
        #expect(store.deleteSeries(matching: [.equal("__name__", "up")], from: 0, through: 1500) == 2)
        let up = store.select([.equal("__name__", "up")])
        #expect(up.count == 1)
        #expect(up[0].sampleArray() == [Sample(2000, 0)])
        #expect(store.labelNames().contains("env") == false)
    }

    @Test func onlyWholeAppendsAreVisibleToConcurrentReaders() async {
        let store = TimeSeriesStore()
        let width = 20
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for scrape in 0..<100 {
                    store.append((0..<width).map { PendingSample(labels: labels("m", ["i": "\($0)"]), timestamp: Int64(scrape), value: Double(scrape)) })
                }
            }
            group.addTask {
                for _ in 0..<100 {
                    let counts = Set(store.select([.equal("__name__", "m")]).map { $0.sampleArray().count })
                    #expect(counts.count <= 1, "a reader saw part of a scrape: \(counts)")
                    await Task.yield()
                }
            }
        }
    }
}
