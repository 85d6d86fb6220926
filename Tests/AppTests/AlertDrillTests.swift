import Foundation
import Glibc
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The alert drills: the built `flood-api` drives real errors through a claimsd running the
/// shipped rules (alerts/*.yml, unchanged; only the scrape and evaluation intervals are short),
/// and the alert travels the whole way — pending, firing, Debian's Alertmanager 0.25, its
/// webhook — and back to resolved. Each drill has its own claimsd and Alertmanager, so the two
/// run side by side.
struct AlertDrillTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
    static var floodAPI: String { repository + "/.build/debug/flood-api" }

    static func port(_ variable: String, _ fallback: Int) -> Int { Int(ProcessInfo.processInfo.environment[variable] ?? "") ?? fallback }

    /// A claimsd with the shipped rules, fault injection on, scraping itself and evaluating every
    /// second, notifying the Alertmanager `instance` on `port` (started here, posting to `receiver`).
    static func start(
        instance: String, alertmanagerPort: Int, receiver: CaptureServer, database: String, directory: String
    ) async throws -> AlertingIntegrationTests.Claimsd {
        try await TestEnvironment.services("stop", "alertmanager", instance)
        try await TestEnvironment.services("start", "alertmanager", instance, String(alertmanagerPort), receiver.url("/alertmanager"))
        return try await AlertingIntegrationTests.start(
            rules: repository + "/alerts/*.yml", tsdb: directory + "/tsdb", database: database,
            environment: [
                "CLAIMS_FAULT_INJECTION": "on", "CLAIMS_RULE_EVALUATION_INTERVAL": "1s", "CLAIMS_SCRAPE_INTERVAL": "1s",
                "CLAIMS_ALERTMANAGER_URLS": "http://127.0.0.1:\(alertmanagerPort)", "CLAIMS_EXTERNAL_LABELS": "cluster=\(instance)",
            ])
    }

    /// The states `alertname` has had in claimsd's `/api/v1/alerts`, polled until `done` holds.
    static func watch(
        _ claimsd: AlertingIntegrationTests.Claimsd, alertname: String, timeout: Duration, until done: ([String]) -> Bool
    ) async throws -> [String] {
        var seen: [String] = []
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !done(seen) {
            guard ContinuousClock.now < deadline else { throw TestEnvironmentError.commandFailed("\(alertname) went through \(seen) in \(timeout)") }
            let state = try await claimsd.alerts().first { ($0["labels"] as? [String: String])?["alertname"] == alertname }?["state"] as? String
            if let state, seen.last != state { seen.append(state) }
            try await Task.sleep(for: .milliseconds(250))
        }
        return seen
    }

    /// One value of an instant query against claimsd.
    static func value(_ claimsd: AlertingIntegrationTests.Claimsd, _ query: String) async throws -> Double? {
        let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
        let (_, json) = try await claimsd.get("/api/v1/query?query=\(encoded)")
        let result = ((json["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first
        return ((result?["value"] as? [Any])?.last as? String).flatMap(Double.init)
    }

    static func summary(_ output: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "flood-api printed: \(output)")
    }

    /// Runs `body` with a drill's claimsd, the capture server behind its Alertmanager `instance`
    /// (on the port `variable` names, else `fallback`) and a printed seed; stops both afterwards.
    static func drill(
        _ instance: String, portVariable variable: String, fallback: Int,
        _ body: (AlertingIntegrationTests.Claimsd, CaptureServer, UInt64) async throws -> Void
    ) async throws {
        try await ScratchDatabase.with { _, database in
            let directory = try AlertingIntegrationTests.scratch(instance)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let receiver = try await CaptureServer()
            defer { Task { await receiver.stop() } }
            let claimsd = try await Self.start(
                instance: instance, alertmanagerPort: Self.port(variable, fallback), receiver: receiver, database: database.url, directory: directory)
            let seed = SplitMix.testSeed("\(instance) drill", variable: "CLAIMS_TEST_DRILL_SEED")
            try await body(claimsd, receiver, seed)
            try await claimsd.stop()
            try await TestEnvironment.services("stop", "alertmanager", instance)
        }
    }

    @Test func serverErrorFloodFiresHighErrorRateAndItResolves() async throws {
        try await Self.drill("drill5xx", portVariable: "CLAIMS_TEST_DRILL_5XX_ALERTMANAGER_PORT", fallback: 19094) { claimsd, receiver, seed in

            // 60 server errors over 10 seconds, each on a real route.
            let flood = try ChildProcess(
                Self.floodAPI, ["-t", "5xx", "-n", "60", "--rate", "6", "-c", "2", "-u", "http://127.0.0.1:\(claimsd.port)", "--seed", String(seed), "--json", "-q"], environment: ["CLAIMS_API_KEY": claimsd.apiKey])
            #expect(try await flood.waitForExit(timeout: .seconds(60)) == 0, "\(flood.standardOutput)\(flood.standardError)")
            let summary = try Self.summary(flood.standardOutput)
            #expect(summary["sent"] as? Int == 60 && summary["failed"] as? Int == 0)
            let statuses = try #require(summary["statuses"] as? [String: Int])
            #expect(statuses.keys.allSatisfy { (500...504).contains(Int($0) ?? 0) } && statuses.values.reduce(0, +) == 60)

            // claimsd's own metrics saw every one of them.
            try await waitUntil(timeout: .seconds(10)) {
                try await Self.value(claimsd, #"sum(claimsd_http_requests_total{status=~"5.."})"#) == 60
            }

            // Pending, then firing after the rule's `for: 1m`.
            let states = try await Self.watch(claimsd, alertname: "HighErrorRate", timeout: .seconds(100)) { $0.last == "firing" }
            #expect(states == ["pending", "firing"])
            try await waitUntil(timeout: .seconds(30)) {
                AlertingIntegrationTests.statuses(receiver, "/alertmanager", alertname: "HighErrorRate").contains("firing")
            }
            let hook = try #require(AlertingIntegrationTests.hooks(receiver, "/alertmanager").first { hook in
                (hook["alerts"] as? [[String: Any]] ?? []).contains { ($0["labels"] as? [String: String])?["alertname"] == "HighErrorRate" }
            })
            let labels = try #require((hook["commonLabels"] as? [String: String]))
            #expect(labels["severity"] == "critical" && labels["cluster"] == "drill5xx" && labels["job"] == "claimsd")

            // The flood is over and normal traffic goes on: once under 5% of requests fail, the
            // alert resolves in claimsd and Alertmanager sends the resolution.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        for _ in 0..<200 { _ = try await claimsd.get("/health") }
                    }
                }
                try await group.waitForAll()
            }
            try await waitUntil(timeout: .seconds(30)) { try await claimsd.alerts().allSatisfy { ($0["labels"] as? [String: String])?["alertname"] != "HighErrorRate" } }
            try await waitUntil(timeout: .seconds(30)) {
                AlertingIntegrationTests.statuses(receiver, "/alertmanager", alertname: "HighErrorRate").contains("resolved")
            }
        }
    }

    @Test func clientErrorFloodFiresHigh4xxErrors() async throws {
        try await Self.drill("drill4xx", portVariable: "CLAIMS_TEST_DRILL_4XX_ALERTMANAGER_PORT", fallback: 19095) { claimsd, receiver, seed in

            // High4xxErrors waits 5 minutes (`for: 5m`): keep the client errors coming past that.
            let flood = try ChildProcess(
                Self.floodAPI, ["-t", "4xx", "-d", "320", "--rate", "2", "-c", "2", "-u", "http://127.0.0.1:\(claimsd.port)", "--seed", String(seed), "--json", "-q"], environment: ["CLAIMS_API_KEY": claimsd.apiKey])
            let states = try await Self.watch(claimsd, alertname: "High4xxErrors", timeout: .seconds(340)) { $0.last == "firing" }
            #expect(states == ["pending", "firing"])
            try await waitUntil(timeout: .seconds(30)) {
                AlertingIntegrationTests.statuses(receiver, "/alertmanager", alertname: "High4xxErrors").contains("firing")
            }
            #expect(try await flood.waitForExit(timeout: .seconds(60)) == 0, "\(flood.standardOutput)\(flood.standardError)")
            let summary = try Self.summary(flood.standardOutput)
            let statuses = try #require(summary["statuses"] as? [String: Int])
            #expect(summary["failed"] as? Int == 0)
            // Each kind of refusal happened: invalid claim, unknown id, unsupported media type, rate limit.
            #expect(["422", "404", "415", "429"].allSatisfy { (statuses[$0] ?? 0) > 0 }, "\(statuses)")
            #expect(statuses.keys.allSatisfy { $0 == "200" || $0.hasPrefix("4") }, "\(statuses)")
            // The access log counted them as warnings: the log-based half of the rule has data too.
            #expect((try await Self.value(claimsd, #"sum(log_messages_total{level="warning"})"#) ?? 0) >= Double(statuses.filter { $0.key.hasPrefix("4") }.values.reduce(0, +)) - 5)
        }
    }

    @Test func faultInjectionIsOffByDefaultAndFloodAPISaysSo() async throws {
        try await ScratchDatabase.with { _, database in
            let directory = try AlertingIntegrationTests.scratch("drill-off")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let claimsd = try await AlertingIntegrationTests.start(rules: "", tsdb: directory + "/tsdb", database: database.url)
            let flood = try ChildProcess(Self.floodAPI, ["-t", "5xx", "-n", "5", "-u", "http://127.0.0.1:\(claimsd.port)", "--seed", "3"], environment: ["CLAIMS_API_KEY": claimsd.apiKey])
            #expect(try await flood.waitForExit(timeout: .seconds(60)) == 1)
            #expect(flood.standardOutput.contains("flood-api: 0 sent, 5 failed"), "\(flood.standardOutput)")
            #expect(flood.standardOutput.contains("start it with CLAIMS_FAULT_INJECTION=on"), "\(flood.standardOutput)")
            // Without a key, flood-api says what is missing instead of counting 401s as errors it provoked.
            let anonymous = try ChildProcess(Self.floodAPI, ["-t", "4xx", "-n", "3", "-u", "http://127.0.0.1:\(claimsd.port)", "--seed", "3"], environment: ["CLAIMS_API_KEY": ""])
            #expect(try await anonymous.waitForExit(timeout: .seconds(60)) == 1)
            #expect(anonymous.standardOutput.contains("claimsd requires authentication: pass --api-key or set CLAIMS_API_KEY"), "\(anonymous.standardOutput)")
            try await waitUntil(timeout: .seconds(10)) {
                (try await Self.value(claimsd, #"sum(claimsd_http_requests_total{route=~"/api/v1/claims.*"})"#) ?? 0) >= 5
            }
            #expect(try await Self.value(claimsd, #"sum(claimsd_http_requests_total{status=~"5.."})"#) == nil, "no 5xx without the switch")
            try await claimsd.stop()
        }
    }
}
