@testable import App
import Foundation
import Hummingbird
import HummingbirdTesting
import Scraping
import Testing
import TestSupport
import TimeSeries

/// What Grafana's Prometheus datasource asks, in the order it asks it, answered by claimsd
/// over a store holding a few scrapes of claimsd-like series.
@Suite struct GrafanaConversationTests {
    static let now: Int64 = 1_700_000_000_000

    func withApp(_ body: @escaping @Sendable (any TestClientProtocol, TimeSeriesSettings) async throws -> Void) async throws {
        let base = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: "redis://127.0.0.1:1")
        let store = TimeSeriesStore()
        for step in 0..<240 {
            let time = Self.now - 3_600_000 + Int64(step) * 15_000
            var batch: [PendingSample] = []
            for route in ["/health", "/api/v1/claims"] {
                for status in ["200", "500"] {
                    let labels = Labels([
                        "__name__": "claimsd_http_requests_total", "job": "claimsd", "instance": "127.0.0.1:8000", "method": "GET", "route": route,
                        "status": status,
                    ])
                    batch.append(PendingSample(labels: labels, timestamp: time, value: Double(step * (status == "200" ? 10 : 1))))
                }
            }
            batch.append(PendingSample(labels: Labels(["__name__": "up", "job": "claimsd", "instance": "127.0.0.1:8000"]), timestamp: time, value: 1))
            store.append(batch)
        }
        let settings = TimeSeriesSettings(store: store)
        let router = buildRouter(dependencies: base, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: []), timeSeries: settings)
        try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { try await body($0, settings) }
    }

    func form(_ client: any TestClientProtocol, _ path: String, _ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        let response = try await client.execute(
            uri: path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: body))
        return (response.status, (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:])
    }

    func get(_ client: any TestClientProtocol, _ uri: String) async throws -> (HTTPResponse.Status, [String: Any], String) {
        let response = try await client.execute(uri: uri, method: .get)
        let text = String(buffer: response.body)
        return (response.status, (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:], text)
    }

    @Test func saveAndTestThenBuildInfo() async throws {
        try await withApp { client, _ in
            let response = try await client.execute(
                uri: "/api/v1/query", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: "query=1%2B1&time=4"))
            #expect(response.status == .ok)
            #expect(String(buffer: response.body) == #"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#)
            let (status, json, text) = try await get(client, "/api/v1/status/buildinfo")
            #expect(status == .ok && json["status"] as? String == "success")
            #expect((json["data"] as? [String: Any])?["version"] as? String == ClaimsdBuild.version)
            // A "features" field would make Grafana treat claimsd as Mimir.
            #expect(!text.contains("features"))
        }
    }

    @Test func metricAutocompleteAndTheLabelBrowser() async throws {
        try await withApp { client, _ in
            let start = (Self.now - 3_600_000) / 1000
            let end = Self.now / 1000
            let (_, names, _) = try await get(client, "/api/v1/label/__name__/values?start=\(start)&end=\(end)&limit=40000")
            #expect(names["data"] as? [String] == ["claimsd_http_requests_total", "up"])
            let (_, labels, _) = try await get(client, "/api/v1/labels?match%5B%5D=claimsd_http_requests_total&start=\(start)&end=\(end)")
            #expect(labels["data"] as? [String] == ["__name__", "instance", "job", "method", "route", "status"])
            let (_, routes, _) = try await get(client, "/api/v1/label/route/values?match%5B%5D=%7Bstatus%3D%22500%22%7D&start=\(start)&end=\(end)")
            #expect(routes["data"] as? [String] == ["/api/v1/claims", "/health"])
            let (_, series, _) = try await get(client, "/api/v1/series?match%5B%5D=up&start=\(start)&end=\(end)")
            #expect((series["data"] as? [[String: String]]) == [["__name__": "up", "instance": "127.0.0.1:8000", "job": "claimsd"]])
            // Outside the data's time, nothing.
            let (_, old, _) = try await get(client, "/api/v1/label/__name__/values?start=1&end=2")
            #expect((old["data"] as? [String])?.isEmpty == true)
        }
    }

    @Test func aDashboardRangeQueryWithAFloatStep() async throws {
        try await withApp { client, _ in
            // Grafana floors start and end to the step and sends the step in seconds.
            let step = 60.0
            let end = (Double(Self.now) / 1000 / step).rounded(.down) * step
            let start = end - 1800
            let query = "sum by (route) (rate(claimsd_http_requests_total[5m]))"
            let body = "query=\(query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")&start=\(start)&end=\(end)&step=\(step)"
            let (status, json) = try await form(client, "/api/v1/query_range", body)
            #expect(status == .ok)
            let data = json["data"] as? [String: Any]
            #expect(data?["resultType"] as? String == "matrix")
            let result = data?["result"] as? [[String: Any]] ?? []
            #expect(result.count == 2)
            for series in result {
                let values = series["values"] as? [[Any]] ?? []
                #expect(values.count == 31)
                // 11 per 15 s across both statuses: 0.7333… per second.
                #expect(values.allSatisfy { abs((Double("\($0[1])") ?? 0) - 11.0 / 15.0) < 1e-9 })
            }
        }
    }

    @Test func errorsComeInPrometheusShapeWithItsStatusCodes() async throws {
        try await withApp { client, _ in
            let (badStatus, bad) = try await form(client, "/api/v1/query", "query=sum(rate(x%5B5m%5D)&time=4")
            #expect(badStatus == .badRequest)
            #expect(bad["status"] as? String == "error" && bad["errorType"] as? String == "bad_data")
            #expect((bad["error"] as? String)?.contains("parse error: unexpected end of input") == true)
            let (tooManyStatus, tooMany) = try await form(client, "/api/v1/query_range", "query=up&start=0&end=100000&step=1")
            #expect(tooManyStatus == .badRequest)
            #expect((tooMany["error"] as? String)?.contains("11,000 points") == true)
            let (executionStatus, execution) = try await form(client, "/api/v1/query", "query=claimsd_http_requests_total%2Bon(job)up&time=\(Self.now / 1000)")
            #expect(executionStatus == .unprocessableContent && execution["errorType"] as? String == "execution")
            let (stepStatus, _) = try await form(client, "/api/v1/query_range", "query=up&start=10&end=100&step=0")
            #expect(stepStatus == .badRequest)
            // An empty bound is a missing one, and the widest span any two times make is refused,
            // not an arithmetic overflow (which once stopped the process: found by schemathesis).
            let (emptyStatus, empty) = try await form(client, "/api/v1/query_range", "query=up&start=&end=100&step=238")
            #expect(emptyStatus == .badRequest && (empty["error"] as? String)?.contains("\"start\"") == true, "\(empty)")
            let (wideStatus, wide) = try await form(client, "/api/v1/query_range", "query=up&start=-9.1e15&end=9.1e15&step=1")
            #expect(wideStatus == .badRequest && (wide["error"] as? String)?.contains("11,000 points") == true, "\(wide)")
        }
    }

    @Test func metadataComesFromWhatTargetsExpose() async throws {
        try await withApp { client, settings in
            let exposition = "# HELP claims_total Claims \\\\ received.\n# TYPE claims_total counter\nclaims_total 3\n# TYPE temperature gauge\ntemperature 21\n"
            let target = ScrapeTarget(job: "app", url: "", labels: Labels(["job": "app", "instance": "app:1"]), interval: 15_000, timeout: 1000)
            let loop = ScrapeLoop(target: target, source: InProcessSource { Array(exposition.utf8) }, store: settings.store)
            await loop.scrape(at: Self.now)
            settings.targets.set([loop])
            let (_, json, _) = try await get(client, "/api/v1/metadata")
            let data = json["data"] as? [String: [[String: String]]]
            #expect(data?["claims_total"] == [["type": "counter", "help": "Claims \\ received.", "unit": ""]])
            #expect(data?["temperature"]?.first?["type"] == "gauge")
            let (_, one, _) = try await get(client, "/api/v1/metadata?metric=temperature")
            #expect((one["data"] as? [String: Any])?.keys.sorted() == ["temperature"])
        }
    }

    @Test func targetsListTheScrapeLoops() async throws {
        try await withApp { client, settings in
            let target = ScrapeTarget(
                job: "node", url: "http://127.0.0.1:1/metrics", labels: Labels(["job": "node", "instance": "127.0.0.1:1"]), interval: 15_000, timeout: 1000)
            let loop = ScrapeLoop(target: target, source: HTTPMetricsSource(host: "127.0.0.1", port: 1, path: "/metrics"), store: settings.store)
            await loop.scrape(at: Self.now)
            settings.targets.set([loop])
            let (_, json, _) = try await get(client, "/api/v1/targets")
            let active = ((json["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]]) ?? []
            #expect(active.count == 1)
            #expect(active.first?["health"] as? String == "down")
            #expect((active.first?["lastError"] as? String)?.contains("127.0.0.1:1") == true)
            #expect(active.first?["scrapeUrl"] as? String == "http://127.0.0.1:1/metrics")
        }
    }
}
