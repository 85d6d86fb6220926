import Synchronization
import Testing
import TimeSeries
@testable import Scraping

/// A target whose next answers the test sets: exposition text, or a failure.
final class ScriptedSource: MetricsSource {
    private let next = Mutex<Result<String, ScrapeError>>(.success(""))
    let contentType: String

    init(contentType: String = "text/plain; version=0.0.4") { self.contentType = contentType }

    func answer(_ text: String) { next.withLock { $0 = .success(text) } }
    func fail(_ message: String) { next.withLock { $0 = .failure(ScrapeError(message)) } }

    func fetch(timeout: Duration) async throws(ScrapeError) -> (body: [UInt8], contentType: String?) {
        let result = next.withLock { $0 }
        switch result {
        case .success(let text): return (Array(text.utf8), contentType)
        case .failure(let error): throw error
        }
    }
}

@Suite struct ScrapeLoopTests {
    let target = ScrapeTarget(job: "app", url: "http://app:80/metrics", labels: Labels(["job": "app", "instance": "app:80"]), interval: 15_000, timeout: 10_000)

    func values(_ store: TimeSeriesStore, _ name: String, _ extra: [LabelMatcher] = []) -> [Labels: [Sample]] {
        Dictionary(uniqueKeysWithValues: store.select([.equal("__name__", name)] + extra).map { ($0.labels, $0.sampleArray()) })
    }

    @Test func seriesArriveWithTargetLabelsAndSyntheticSeries() async {
        let store = TimeSeriesStore()
        let source = ScriptedSource()
        let loop = ScrapeLoop(target: target, source: source, store: store)
        source.answer("# TYPE requests_total counter\nrequests_total{code=\"200\"} 5\nrequests_total{code=\"500\"} 1\nlast_seen 3 999\n")
        #expect(await loop.scrape(at: 15_000))
        let requests = values(store, "requests_total")
        #expect(requests[Labels(["__name__": "requests_total", "code": "200", "job": "app", "instance": "app:80"])] == [Sample(15_000, 5)])
        // The exposition's own timestamp is kept.
        #expect(values(store, "last_seen").values.first == [Sample(999, 3)])
        let base = Labels(["job": "app", "instance": "app:80"])
        #expect(values(store, "up")[base.setting("__name__", to: "up")] == [Sample(15_000, 1)])
        #expect(values(store, "scrape_samples_scraped").values.first == [Sample(15_000, 3)])
        #expect(values(store, "scrape_series_added").values.first == [Sample(15_000, 3)])
        #expect(values(store, "scrape_duration_seconds").values.first?.first?.value ?? -1 >= 0)
        #expect(loop.health.state == .up && loop.health.lastError.isEmpty)

        // The same series again: none added.
        #expect(await loop.scrape(at: 30_000))
        #expect(values(store, "scrape_series_added").values.first?.last == Sample(30_000, 0))
    }

    @Test func seriesMissingFromTheNextScrapeGetAStalenessMarker() async {
        let store = TimeSeriesStore()
        let source = ScriptedSource()
        let loop = ScrapeLoop(target: target, source: source, store: store)
        source.answer("a 1\nb 2\n")
        await loop.scrape(at: 15_000)
        source.answer("a 1\n")
        await loop.scrape(at: 30_000)
        let b = values(store, "b").values.first ?? []
        #expect(b.count == 2)
        #expect(b.last?.timestamp == 30_000 && StaleMarker.isMarker(b.last?.value ?? 0))
        #expect(values(store, "a").values.first == [Sample(15_000, 1), Sample(30_000, 1)])
        // Back again later: a new sample after the marker, and counted as added.
        source.answer("a 1\nb 7\n")
        await loop.scrape(at: 45_000)
        #expect(values(store, "b").values.first?.last == Sample(45_000, 7))
        #expect(values(store, "scrape_series_added").values.first?.last == Sample(45_000, 1))
    }

    @Test func aFailedScrapeStoresUpZeroAndMarksEverySeriesStale() async {
        let store = TimeSeriesStore()
        let source = ScriptedSource()
        let loop = ScrapeLoop(target: target, source: source, store: store)
        source.answer("a 1\nb 2\n")
        await loop.scrape(at: 15_000)
        source.fail("connection refused")
        #expect(await loop.scrape(at: 30_000) == false)
        #expect(values(store, "up").values.first?.last == Sample(30_000, 0))
        for series in ["a", "b"] {
            #expect(StaleMarker.isMarker(values(store, series).values.first?.last?.value ?? 0))
        }
        #expect(loop.health.state == .down && loop.health.lastError == "connection refused")
        // A second failure writes no more markers.
        await loop.scrape(at: 45_000)
        #expect(values(store, "a").values.first?.count == 2)
    }

    @Test func aMalformedExpositionStoresNothingOfItAndSaysWhichLine() async {
        let store = TimeSeriesStore()
        let source = ScriptedSource()
        let loop = ScrapeLoop(target: target, source: source, store: store)
        source.answer("good 1\nbad{ 2\n")
        #expect(await loop.scrape(at: 15_000) == false)
        #expect(values(store, "good").isEmpty)
        #expect(values(store, "up").values.first == [Sample(15_000, 0)])
        #expect(loop.health.lastError.contains("line 2"))
    }

    @Test func openMetricsIsReadWhenTheTargetAnswersWithIt() async {
        let store = TimeSeriesStore()
        let source = ScriptedSource(contentType: "application/openmetrics-text; version=1.0.0; charset=utf-8")
        let loop = ScrapeLoop(target: target, source: source, store: store)
        source.answer("# TYPE c counter\nc_total 4 20.5\n# EOF\n")
        #expect(await loop.scrape(at: 30_000))
        #expect(values(store, "c_total").values.first == [Sample(20_500, 4)])
    }

    @Test func conflictingLabelsAreExportedUnlessHonored() async {
        let store = TimeSeriesStore()
        let source = ScriptedSource()
        source.answer("m{job=\"inner\",instance=\"x\",exported_job=\"taken\"} 1\n")
        await ScrapeLoop(target: target, source: source, store: store).scrape(at: 15_000)
        let stored = values(store, "m").keys.first
        #expect(stored?["job"] == "app" && stored?["instance"] == "app:80")
        #expect(stored?["exported_exported_job"] == "inner" && stored?["exported_job"] == "taken" && stored?["exported_instance"] == "x")

        let honoring = ScrapeTarget(job: "h", url: "", labels: Labels(["job": "h", "instance": "h:1"]), interval: 15_000, timeout: 1_000, honorLabels: true)
        let other = TimeSeriesStore()
        await ScrapeLoop(target: honoring, source: source, store: other).scrape(at: 15_000)
        let honored = values(other, "m").keys.first
        #expect(honored?["job"] == "inner" && honored?["instance"] == "x")
    }

    @Test func scrapesAreScheduledAtAFixedOffsetOnTheIntervalGrid() {
        let offset = ScrapeManager.offset(of: target)
        #expect((0..<15_000).contains(offset))
        let first = ScrapeManager.nextScrape(after: 1_000_000, target: target)
        #expect(first > 1_000_000 && first <= 1_015_000)
        #expect((first - offset) % 15_000 == 0)
        #expect(ScrapeManager.nextScrape(after: first, target: target) == first + 15_000)
    }
}
