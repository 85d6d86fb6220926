import Scraping
import TestSupport
import Testing
import TimeSeries

/// The scraper against a real target: Debian's prometheus-node-exporter, started and stopped
/// through scripts/services.sh.
@Suite(.serialized) struct NodeExporterScrapeTests {
    @Test func aRealExporterIsScrapedThenMarkedDownAndStaleWhenItStops() async throws {
        let port = Int(TestEnvironment.required("CLAIMS_TEST_NODE_EXPORTER_PORT")) ?? 19100
        try await TestEnvironment.services("start", "node-exporter", "scrape", String(port))
        let target = ScrapeTarget(
            job: "node", url: "http://127.0.0.1:\(port)/metrics", labels: Labels(["job": "node", "instance": "127.0.0.1:\(port)"]), interval: 15_000,
            timeout: 5_000)
        let store = TimeSeriesStore()
        let loop = ScrapeLoop(target: target, source: HTTPMetricsSource(host: "127.0.0.1", port: port, path: "/metrics"), store: store)
        var stopped = false
        defer { if !stopped { Task { try? await TestEnvironment.services("stop", "node-exporter", "scrape") } } }

        #expect(await loop.scrape(at: 1_000_000), "\(loop.health.lastError)")
        #expect(await loop.scrape(at: 1_015_000), "\(loop.health.lastError)")
        let up = store.select([.equal("__name__", "up"), .equal("job", "node")])
        #expect(up.map { $0.sampleArray() } == [[Sample(1_000_000, 1), Sample(1_015_000, 1)]])
        let cpu = store.select([.equal("__name__", "node_cpu_seconds_total"), .equal("mode", "idle")])
        #expect(!cpu.isEmpty)
        #expect(cpu.allSatisfy { $0.labels["instance"] == "127.0.0.1:\(port)" && $0.sampleArray().count == 2 })
        let scraped = store.select([.equal("__name__", "scrape_samples_scraped")])[0].sampleArray()
        #expect(scraped.allSatisfy { $0.value > 100 })
        let nodeSeries = store.select([.equal("job", "node"), .equal("__name__", "node_cpu_seconds_total")]).count

        try await TestEnvironment.services("stop", "node-exporter", "scrape")
        stopped = true
        #expect(await loop.scrape(at: 1_030_000) == false)
        #expect(loop.health.lastError.contains("127.0.0.1:\(port)"))
        #expect(store.select([.equal("__name__", "up"), .equal("job", "node")])[0].sampleArray().last == Sample(1_030_000, 0))
        let afterStop = store.select([.equal("__name__", "node_cpu_seconds_total")])
        #expect(afterStop.count == nodeSeries)
        #expect(afterStop.allSatisfy { StaleMarker.isMarker($0.sampleArray().last?.value ?? 0) && $0.sampleArray().last?.timestamp == 1_030_000 })
    }
}
