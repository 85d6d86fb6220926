@testable import App
import Foundation
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Every dashboard in dashboards/ works against claimsd as its Prometheus datasource: each
/// PromQL target, with Grafana's variables substituted as Grafana substitutes them, runs against
/// a claimsd that has served real traffic (claims in and refused, an import, the ranking, the
/// relay, injected server errors, alerts pending) and must answer with data. Loki targets select
/// the labels the shipped Alloy and promtail configurations produce.
struct DashboardQueryTests {
    static let repository = AlertDrillTests.repository

    /// A dashboard file, parsed.
    struct Dashboard {
        let file: String
        let json: [String: Any]

        var panels: [[String: Any]] {
            func flatten(_ panels: [[String: Any]]) -> [[String: Any]] {
                panels.flatMap { [$0] + flatten($0["panels"] as? [[String: Any]] ?? []) }
            }
            return flatten(json["panels"] as? [[String: Any]] ?? [])
        }

        var variables: [[String: Any]] { (json["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] }

        /// (panel title, datasource uid, expr, instant) of every target.
        var targets: [(panel: String, datasource: String, expr: String, instant: Bool)] {
            panels.flatMap { panel in
                (panel["targets"] as? [[String: Any]] ?? []).map { target in
                    let datasource = (target["datasource"] as? [String: Any])?["uid"] as? String ?? (panel["datasource"] as? [String: Any])?["uid"] as? String ?? ""
                    return (panel["title"] as? String ?? "?", datasource, target["expr"] as? String ?? "", target["instant"] as? Bool ?? false)
                }
            }
        }
    }

    static func dashboards() throws -> [Dashboard] {
        let directory = repository + "/dashboards"
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted().map { name in
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
            return Dashboard(file: name, json: try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(name) is not a JSON object"))
        }
    }

    /// `expr` with Grafana's variables replaced as Grafana would for a dashboard showing
    /// everything ("All" → the variable's allValue `.*`), with `interval` per point and a
    /// datasource scrape interval of `scrape`: `$__rate_interval` is max($__interval + scrape, 4 × scrape).
    static func substitute(_ expr: String, interval: Int, scrape: Int) -> String {
        let rateInterval = max(interval + scrape, 4 * scrape)
        var text = expr
        for (name, value) in [
            ("$__rate_interval", "\(rateInterval)s"), ("${__rate_interval}", "\(rateInterval)s"), ("$__interval", "\(interval)s"),
            ("${__interval}", "\(interval)s"), ("$__range", "300s"), ("${job}", ".*"), ("$job", ".*"), ("${instance}", ".*"), ("$instance", ".*"),
        ] {
            text = text.replacingOccurrences(of: name, with: value)
        }
        return text
    }

    @Test func dashboardsAreGrafanaModelsWithDatasourceVariables() throws {
        let dashboards = try Self.dashboards()
        #expect(Set(dashboards.map(\.file)) == ["claimsd-api.json", "claimsd-claims.json", "claimsd-dependencies.json", "claimsd-alerts.json", "claimsd-logs.json"])
        var uids: Set<String> = []
        for dashboard in dashboards {
            let uid = try #require(dashboard.json["uid"] as? String)
            #expect(uids.insert(uid).inserted, "uid \(uid) used twice")
            #expect((dashboard.json["schemaVersion"] as? Int ?? 0) >= 36, "\(dashboard.file): Grafana 10's JSON model")
            let datasourceVariables = dashboard.variables.filter { $0["type"] as? String == "datasource" }.compactMap { $0["name"] as? String }
            #expect(!dashboard.targets.isEmpty, "\(dashboard.file) has no queries")
            for target in dashboard.targets {
                // Every query goes through a datasource variable, never a fixed datasource.
                #expect(["${DS_PROMETHEUS}", "${DS_LOKI}"].contains(target.datasource), "\(dashboard.file) \(target.panel): datasource \(target.datasource)")
                #expect(datasourceVariables.contains(String(target.datasource.dropFirst(2).dropLast())), "\(dashboard.file) lacks the variable \(target.datasource)")
                #expect(!target.expr.isEmpty, "\(dashboard.file) \(target.panel) has an empty query")
                if target.datasource == "${DS_LOKI}" {
                    // The stream selector matches what deploy/alloy and deploy/promtail label claimsd's logs with.
                    #expect(target.expr.contains("job=\"api\""), "\(dashboard.file) \(target.panel): \(target.expr)")
                }
            }
            var ids: Set<Int> = []
            for panel in dashboard.panels {
                #expect(ids.insert(panel["id"] as? Int ?? -1).inserted, "\(dashboard.file): panel id repeated")
                #expect(panel["gridPos"] is [String: Any])
            }
        }
    }

    /// Families that appear only once their event has happened, which this run does not provoke:
    /// failed Redis calls. `TelemetryTests.theExpositionPassesPromtool` exposes and checks it
    /// (its stores are unreachable).
    static let familiesOfRareEvents: Set<String> = ["claimsd_redis_errors_total"]

    @Test func everyPrometheusQueryReturnsDataFromClaimsd() async throws {
        try await ScratchDatabase.with { postgres, database in
            let directory = try AlertingIntegrationTests.scratch("dashboards")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let claimsd = try await AlertingIntegrationTests.start(
                rules: Self.repository + "/alerts/*.yml", tsdb: directory + "/tsdb", database: database.url,
                environment: [
                    "CLAIMS_FAULT_INJECTION": "on", "CLAIMS_RULE_EVALUATION_INTERVAL": "1s", "CLAIMS_RELAY": "on",
                    // Nothing listens there: the notifier's families exist, and no alert fires.
                    "CLAIMS_ALERTMANAGER_URLS": "http://127.0.0.1:9",
                    "CLAIMS_REDIS_KEY_PREFIX": "dashboards-\(TestEnvironment.uniqueSuffix()):",
                ])
            let sample = try String(contentsOfFile: Self.repository + "/../shared/data/claim_1234.csv", encoding: .utf8)

            // Traffic of every kind the dashboards show.
            for _ in 0..<3 {
                let (accepted, body) = try await claimsd.post("/api/v1/claims", body: sample, contentType: "text/csv")
                #expect(accepted == 201, "\(body)")
            }
            let (rejected, _) = try await claimsd.post("/api/v1/claims", body: #"{"provider_npi":"1"}"#, contentType: "application/json")
            #expect(rejected == 422)
            let (imported, report) = try await claimsd.post("/api/v1/claims/import", body: sample, contentType: "text/csv")
            #expect(imported == 200, "\(report)")
            // A claim PostgreSQL refuses (a real CHECK constraint): kept as a rejection, counted
            // in claimsd_postgres_errors_total.
            try await postgres.query("ALTER TABLE claims ADD CONSTRAINT refuse_for_test CHECK (external_claim_number IS DISTINCT FROM 'REFUSED')")
            let refusedImport = "claim number," + sample.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n").enumerated()
                .map { $0.offset == 0 ? String($0.element) : "REFUSED," + $0.element }.joined(separator: "\n")
            let (refusedStatus, refusedReport) = try await claimsd.post("/api/v1/claims/import", body: refusedImport, contentType: "text/csv")
            #expect(refusedStatus == 200 && refusedReport.contains("\"storable\""), "\(refusedReport)")
            for _ in 0..<3 { _ = try await claimsd.get("/api/v1/providers/top?limit=5") }
            _ = try await claimsd.get("/api/v1/claims/00000000-0000-4000-8000-000000000000")
            let flood = try ChildProcess(
                AlertDrillTests.floodAPI, ["-t", "both", "-n", "40", "--rate", "20", "-u", "http://127.0.0.1:\(claimsd.port)", "--seed", "11", "-q"], environment: ["CLAIMS_API_KEY": claimsd.apiKey])
            #expect(try await flood.waitForExit(timeout: .seconds(60)) == 0, "\(flood.standardOutput)")
            // Scrapes every second; the 5xx share makes HighErrorRate pending, so ALERTS has data.
            try await waitUntil(timeout: .seconds(30)) { try await claimsd.alerts().contains { $0["state"] as? String == "pending" } }
            try await Task.sleep(for: .seconds(3))

            let end = Date().timeIntervalSince1970
            var failures: [String] = []
            var checked = 0
            for dashboard in try Self.dashboards() {
                // Grafana's variable queries: label_values(metric, label) asks for the label's values.
                for variable in dashboard.variables where variable["type"] as? String == "query" && (variable["datasource"] as? [String: Any])?["uid"] as? String == "${DS_PROMETHEUS}" {
                    let definition = variable["definition"] as? String ?? ""
                    let inner = definition.dropFirst("label_values(".count).dropLast()
                    guard definition.hasPrefix("label_values("), let comma = inner.lastIndex(of: ",") else {
                        failures.append("\(dashboard.file): variable \(variable["name"] ?? "?") is not label_values(…): \(definition)")
                        continue
                    }
                    let label = inner[inner.index(after: comma)...].trimmingCharacters(in: .whitespaces)
                    let match = Self.substitute(String(inner[..<comma]), interval: 2, scrape: 1)
                    let query = "match%5B%5D=" + (match.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
                    let (status, json) = try await claimsd.get("/api/v1/label/\(label)/values?\(query)")
                    if status != 200 || (json["data"] as? [String] ?? []).isEmpty { failures.append("\(dashboard.file): variable \(definition) → \(status) \(json)") }
                }
                for target in dashboard.targets where target.datasource == "${DS_PROMETHEUS}" {
                    checked += 1
                    let expr = Self.substitute(target.expr, interval: 2, scrape: 1)
                    let encoded = expr.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expr
                    let path = target.instant
                        ? "/api/v1/query?query=\(encoded)&time=\(end)"
                        : "/api/v1/query_range?query=\(encoded)&start=\(end - 60)&end=\(end)&step=2"
                    let (status, json) = try await claimsd.get(path)
                    let result = (json["data"] as? [String: Any])?["result"] as? [Any] ?? []
                    if status != 200 {
                        failures.append("\(dashboard.file) «\(target.panel)»: \(status) \(json["error"] ?? "") for \(expr)")
                    } else if result.isEmpty {
                        failures.append("\(dashboard.file) «\(target.panel)»: no data for \(expr)")
                    }
                }
            }
            #expect(checked >= 50, "only \(checked) PromQL targets found")
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")

            // After all that traffic, /metrics has every catalogued family and passes promtool.
            let metricsData = try await claimsd.data("/metrics")
            let exposition = String(decoding: metricsData, as: UTF8.self)
            let families = Set(exposition.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
            let missing = Set(MetricCatalog.helpTexts.keys).subtracting(families).subtracting(Self.familiesOfRareEvents)
            #expect(missing.isEmpty, "catalogued but not exposed after the traffic: \(missing.sorted())")
            let path = directory + "/metrics.txt"
            try metricsData.write(to: URL(fileURLWithPath: path))
            let promtool = try await TestEnvironment.run("/bin/sh", ["-c", "promtool check metrics < '\(path)' 2>&1"])
            #expect(promtool.isEmpty, "promtool: \(promtool)")
            try await claimsd.stop()
        }
    }
}
