import AlertDelivery
import Foundation
import Glibc
import Testing
import TestSupport
import TimeSeries
#if canImport(FoundationNetworking)
import FoundationNetworking
import Digests
#endif

/// The alert evaluator inside the real claimsd binary, end to end: a rule fires, Debian's
/// Alertmanager 0.25 shows it and delivers it to a webhook, the condition clears and the
/// resolution arrives; claimsd's own signed webhooks; reload by HTTP and SIGHUP; a restart
/// that keeps a firing alert firing; an unreachable Alertmanager.
@Suite(.serialized) struct AlertingIntegrationTests {
    static var alertmanagerPort: Int { Int(ProcessInfo.processInfo.environment["CLAIMS_TEST_ALERTMANAGER_PORT"] ?? "") ?? 19093 }

    static let drillRules = """
        groups:
          - name: drill
            interval: 1s
            rules:
              - alert: DrillCondition
                expr: drill_condition > 0
                for: 2s
                labels: {severity: page}
                annotations: {summary: "drill value {{ $value }} on {{ $externalLabels.cluster }}"}
        """

    /// A claimsd process and what it needs.
    struct Claimsd {
        let process: ChildProcess
        let port: Int
        /// An admin API key made with `claimsd api-keys create` before the start; every request
        /// below sends it, as an operator's tools would.
        let apiKey: String

        func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

        /// A request for `path` carrying the API key.
        func request(_ path: String) -> URLRequest {
            var request = URLRequest(url: url(path))
            request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization")
            return request
        }

        /// The body of `GET path`, authenticated.
        func data(_ path: String) async throws -> Data {
            try await URLSession.shared.data(for: request(path)).0
        }

        func get(_ path: String) async throws -> (Int, [String: Any]) {
            let (data, response) = try await URLSession.shared.data(for: request(path))
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
        }

        func post(_ path: String, body: String = "", contentType: String = "text/plain") async throws -> (Int, String) {
            var request = request(path)
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }

        /// Sets `drill_condition` to `value` now, through the admin import endpoint.
        func drill(_ value: Int) async throws {
            let (status, body) = try await post("/api/v1/import/prometheus", body: "drill_condition \(value)\n")
            #expect(status == 200, "\(body)")
        }

        /// The alerts of `/api/v1/alerts`.
        func alerts() async throws -> [[String: Any]] {
            let (_, json) = try await get("/api/v1/alerts")
            return ((json["data"] as? [String: Any])?["alerts"] as? [[String: Any]]) ?? []
        }

        func stop() async throws {
            process.send(SIGTERM)
            #expect(try await process.waitForExit(timeout: .seconds(30)) == 0, "\(process.standardError)")
        }
    }

    static func start(rules: String, tsdb: String, database: String, environment extra: [String: String] = [:]) async throws -> Claimsd {
        var environment = [
            "CLAIMS_DATABASE_URL": database, "CLAIMS_REDIS_URL": TestEnvironment.redisURL, "CLAIMS_TSDB_PATH": tsdb, "CLAIMS_RELAY": "off",
            "CLAIMS_RULE_FILES": rules, "CLAIMS_TSDB_ADMIN_API": "on", "CLAIMS_EXTERNAL_LABELS": "cluster=test", "CLAIMS_SCRAPE_INTERVAL": "1s",
        ]
        environment.merge(extra) { _, new in new }
        let apiKey = try await ExecutableTests.createAPIKey(environment: environment)
        let process = try ChildProcess(ExecutableTests.binary.path, ["serve", "--port", "0", "--log-target", "stdout"], environment: environment)
        let output = try await ExecutableTests.waitForOutput(of: process) { $0.contains("listening on") }
        let port = try #require(output.split(separator: "\n").first { $0.contains("listening on") }?.split(separator: ":").last?.prefix { $0.isNumber })
        return Claimsd(process: process, port: try #require(Int(port)), apiKey: apiKey)
    }

    static func scratch(_ name: String) throws -> String {
        let directory = NSTemporaryDirectory() + "claimsd-\(name)-\(TestEnvironment.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The first non-nil `body` gives, polling until `timeout`.
    static func eventually<T>(timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(200), _ body: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let value = try await body() { return value }
            try await Task.sleep(for: interval)
        }
        throw TestEnvironmentError.commandFailed("condition not met within \(timeout)")
    }

    /// Webhook bodies received at `path`, parsed.
    static func hooks(_ server: CaptureServer, _ path: String) -> [[String: Any]] {
        server.requests.filter { $0.path == path }.compactMap { $0.json as? [String: Any] }
    }

    static func statuses(_ server: CaptureServer, _ path: String, alertname: String) -> [String] {
        hooks(server, path).compactMap { hook in
            let alerts = hook["alerts"] as? [[String: Any]] ?? []
            return alerts.first { ($0["labels"] as? [String: String])?["alertname"] == alertname }?["status"] as? String
        }
    }

    @Test func firesThroughAlertmanagerAndResolves() async throws {
        try await ScratchDatabase.with { _, database in
            let directory = try Self.scratch("alerting")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try Self.drillRules.write(toFile: directory + "/drill.yml", atomically: true, encoding: .utf8)
            let receiver = try await CaptureServer()
            defer { Task { await receiver.stop() } }
            try await TestEnvironment.services("stop", "alertmanager", "alerting")
            try await TestEnvironment.services("start", "alertmanager", "alerting", String(Self.alertmanagerPort), receiver.url("/alertmanager"))
            let claimsd = try await Self.start(
                rules: directory + "/*.yml", tsdb: directory + "/tsdb", database: database.url,
                environment: [
                    "CLAIMS_ALERTMANAGER_URLS": "http://127.0.0.1:\(Self.alertmanagerPort)", "CLAIMS_ALERT_WEBHOOKS": receiver.url("/claimsd"),
                    "CLAIMS_ALERT_WEBHOOK_SECRET": "drill-secret",
                ])

            try await claimsd.drill(1)
            // Pending first (for: 2s), then firing.
            try await waitUntil(timeout: .seconds(30), every: .milliseconds(100)) { try await claimsd.alerts().contains { $0["state"] as? String == "firing" } }
            let alert = try #require(try await claimsd.alerts().first)
            #expect((alert["labels"] as? [String: String]) == ["alertname": "DrillCondition", "severity": "page"])
            #expect((alert["annotations"] as? [String: String])?["summary"] == "drill value 1 on test")
            #expect(alert["value"] as? String == "1e+00")

            // Alertmanager has it, with claimsd's external labels and the same fingerprint.
            let amAlerts = URL(string: "http://127.0.0.1:\(Self.alertmanagerPort)/api/v2/alerts")!
            let inAlertmanager = try await Self.eventually {
                let (data, _) = try await URLSession.shared.data(from: amAlerts)
                let list = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
                return list.first { ($0["labels"] as? [String: String])?["alertname"] == "DrillCondition" }
            }
            let amLabels = try #require(inAlertmanager["labels"] as? [String: String])
            #expect(amLabels == ["alertname": "DrillCondition", "severity": "page", "cluster": "test"])
            #expect(inAlertmanager["fingerprint"] as? String == AlertPayloads.fingerprint(Labels(amLabels)))
            #expect((inAlertmanager["generatorURL"] as? String)?.hasSuffix("/api/v1/query?query=drill_condition+%3E+0") == true)

            // Alertmanager's webhook and claimsd's own (signed) webhook both say firing.
            try await waitUntil(timeout: .seconds(30)) { Self.statuses(receiver, "/alertmanager", alertname: "DrillCondition").contains("firing") }
            try await waitUntil(timeout: .seconds(30)) { Self.statuses(receiver, "/claimsd", alertname: "DrillCondition").contains("firing") }
            for request in receiver.requests where request.path == "/claimsd" {
                #expect(request.headers["x-claimsd-signature"] == "sha256=" + HMACSHA256.hex(key: Array("drill-secret".utf8), message: request.body))
            }

            // The rules API, with the per-rule history.
            let (status, rules) = try await claimsd.get("/api/v1/rules?rule_name%5B%5D=DrillCondition")
            #expect(status == 200)
            let group = try #require(((rules["data"] as? [String: Any])?["groups"] as? [[String: Any]])?.first)
            let rule = try #require((group["rules"] as? [[String: Any]])?.first)
            #expect(group["name"] as? String == "drill" && group["interval"] as? Double == 1)
            #expect(rule["health"] as? String == "ok" && rule["state"] as? String == "firing" && rule["duration"] as? Double == 2)
            #expect(((rule["evaluations"] as? [[String: Any]])?.count ?? 0) >= 3)

            // The condition clears: claimsd resolves, Alertmanager forwards the resolution.
            try await claimsd.drill(0)
            try await waitUntil(timeout: .seconds(30)) { Self.statuses(receiver, "/alertmanager", alertname: "DrillCondition").contains("resolved") }
            try await waitUntil(timeout: .seconds(30)) { Self.statuses(receiver, "/claimsd", alertname: "DrillCondition").contains("resolved") }
            #expect(try await claimsd.alerts().isEmpty)

            // A broken rule file is refused with a 422 naming it; the rules keep running.
            try "groups:\n  - name: drill\n    rules:\n      - alert: X\n        expr: sum(\n".write(toFile: directory + "/drill.yml", atomically: true, encoding: .utf8)
            let (reloadStatus, reloadBody) = try await claimsd.post("/-/reload")
            #expect(reloadStatus == 422)
            #expect(reloadBody.contains("drill.yml") && reloadBody.contains("could not parse expression"))
            let (_, after) = try await claimsd.get("/api/v1/rules")
            #expect(((after["data"] as? [String: Any])?["groups"] as? [[String: Any]])?.first?["name"] as? String == "drill")

            // SIGHUP reloads a fixed file with one more rule.
            try (Self.drillRules + "\n      - record: drill:doubled\n        expr: drill_condition * 2\n").write(
                toFile: directory + "/drill.yml", atomically: true, encoding: .utf8)
            claimsd.process.send(SIGHUP)
            try await waitUntil(timeout: .seconds(20)) {
                let (_, json) = try await claimsd.get("/api/v1/rules?type=record")
                let groups = (json["data"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
                return groups.first.flatMap { ($0["rules"] as? [[String: Any]])?.first?["name"] as? String } == "drill:doubled"
            }
            // An unknown type is refused as Prometheus 2.42 refuses it: 400, its envelope, its words.
            let (refusedStatus, refused) = try await claimsd.get("/api/v1/rules?type=AAA")
            #expect(refusedStatus == 400 && refused["status"] as? String == "error" && refused["errorType"] as? String == "bad_data")
            #expect(refused["error"] as? String == "invalid parameter \"type\": not supported value \"aaa\"")
            let (upperStatus, _) = try await claimsd.get("/api/v1/rules?type=ALERT")
            #expect(upperStatus == 200)
            try await claimsd.stop()
            try await TestEnvironment.services("stop", "alertmanager", "alerting")
        }
    }

    @Test func aRestartKeepsAFiringAlertFiring() async throws {
        try await ScratchDatabase.with { _, database in
            let directory = try Self.scratch("restore")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try Self.drillRules.write(toFile: directory + "/drill.yml", atomically: true, encoding: .utf8)
            let receiver = try await CaptureServer()
            defer { Task { await receiver.stop() } }
            let hooks = ["CLAIMS_ALERT_WEBHOOKS": receiver.url("/claimsd")]
            let first = try await Self.start(rules: directory + "/drill.yml", tsdb: directory + "/tsdb", database: database.url, environment: hooks)
            try await first.drill(1)
            try await waitUntil(timeout: .seconds(30)) { Self.statuses(receiver, "/claimsd", alertname: "DrillCondition").contains("firing") }
            let before = try #require(try await first.alerts().first)
            try await first.stop()

            let second = try await Self.start(rules: directory + "/drill.yml", tsdb: directory + "/tsdb", database: database.url, environment: hooks)
            let seen = try await Self.eventually(every: .milliseconds(50)) {
                let alerts = try await second.alerts()
                return alerts.isEmpty ? nil : alerts
            }
            // The first answer after the restart already says firing, from the same activeAt.
            #expect(seen.first?["state"] as? String == "firing")
            // ALERTS_FOR_STATE keeps activeAt in whole seconds, as Prometheus writes it.
            let wholeSeconds = (before["activeAt"] as? String).map { $0.split(separator: ".").first.map { String($0) + ($0.hasSuffix("Z") ? "" : "Z") } ?? $0 }
            #expect(seen.first?["activeAt"] as? String == wholeSeconds)
            try await Task.sleep(for: .seconds(3))
            #expect(try await second.alerts().first?["state"] as? String == "firing")
            #expect(!Self.statuses(receiver, "/claimsd", alertname: "DrillCondition").contains("resolved"), "no resolve sent across the restart")
            try await second.stop()
        }
    }

    @Test func anUnreachableAlertmanagerNeitherStopsEvaluationNorGoesUnnoticed() async throws {
        try await ScratchDatabase.with { _, database in
            let directory = try Self.scratch("noam")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try "groups:\n  - name: beat\n    interval: 1s\n    rules:\n      - alert: Beat\n        expr: vector(1)\n".write(
                toFile: directory + "/beat.yml", atomically: true, encoding: .utf8)
            let claimsd = try await Self.start(
                rules: directory + "/beat.yml", tsdb: directory + "/tsdb", database: database.url,
                environment: ["CLAIMS_ALERTMANAGER_URLS": "http://127.0.0.1:1"])
            func lastEvaluation() async throws -> String {
                let (_, json) = try await claimsd.get("/api/v1/rules")
                return (((json["data"] as? [String: Any])?["groups"] as? [[String: Any]])?.first?["lastEvaluation"] as? String) ?? ""
            }
            try await waitUntil(timeout: .seconds(20)) {
                let data = try await claimsd.data("/metrics")
                return String(decoding: data, as: UTF8.self).split(separator: "\n").contains { $0.hasPrefix("claimsd_notifications_errors_total{") && !$0.hasSuffix(" 0") }
            }
            let first = try await lastEvaluation()
            try await Task.sleep(for: .milliseconds(2500))
            #expect(try await lastEvaluation() > first, "evaluation goes on while notifications fail")
            let (_, managers) = try await claimsd.get("/api/v1/alertmanagers")
            let active = (managers["data"] as? [String: Any])?["activeAlertmanagers"] as? [[String: Any]]
            #expect(active?.first?["url"] as? String == "http://127.0.0.1:1/api/v2/alerts")
            let alert = try #require(try await claimsd.alerts().first)
            #expect(((alert["lastDelivery"] as? [String: Any])?["ok"] as? Bool) == false)
            try await claimsd.stop()
        }
    }
}
