import Foundation
import PromQL
import Testing
import TestSupport

@testable import Alerting

/// The shipped rule set's promises: every alert is labelled and documented, its runbook section
/// exists, and it watches metrics something really produces.
@Suite struct ShippedRulesTests {
    static let repository = PromtoolParityTests.repository

    static func alertingRules() throws -> [RuleDefinition] {
        try PromtoolParityTests.files(repository + "/alerts").flatMap { try RuleFile.load(path: $0).groups.flatMap(\.rules) }
    }

    @Test func everyAlertHasSeveritySummaryDescriptionAndARunbookSection() throws {
        let runbook = try String(contentsOfFile: Self.repository + "/docs/runbook.md", encoding: .utf8)
        let anchors = Set(runbook.split(separator: "\n").filter { $0.hasPrefix("## ") }.map { $0.dropFirst(3).lowercased() })
        var documented = Set<String>()
        // claimsd's rules and the Loki ruler's log-based rules (deploy/loki/rules) share the runbook.
        let lokiRules = try RuleFile.load(path: Self.repository + "/deploy/loki/rules/fake/claimsd-logs.yml").groups.flatMap(\.rules)
        for rule in try Self.alertingRules() + lokiRules where rule.kind == .alerting {
            let labels = Dictionary(rule.labels.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            let annotations = Dictionary(rule.annotations.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            #expect(["critical", "warning", "page", "ticket", "info", "none"].contains(labels["severity"] ?? ""), "\(rule.name): severity")
            #expect(annotations["summary"]?.isEmpty == false && annotations["description"]?.isEmpty == false, "\(rule.name): summary and description")
            let url = annotations["runbook_url"] ?? ""
            #expect(url == "docs/runbook.md#\(rule.name.lowercased())", "\(rule.name): runbook_url \(url)")
            #expect(anchors.contains(rule.name.lowercased()), "docs/runbook.md has no section \(rule.name)")
            documented.insert(rule.name.lowercased())
        }
        #expect(anchors.subtracting(documented).isEmpty, "runbook sections without an alert: \(anchors.subtracting(documented))")
    }

    @Test func theAlertmanagerStartingPointIsValid() async throws {
        let amtool = try ChildProcess("amtool", ["check-config", Self.repository + "/deploy/alertmanager/alertmanager.yml"])
        #expect(try await amtool.waitForExit(timeout: .seconds(60)) == 0, "\(amtool.standardOutput)\(amtool.standardError)")
    }

    /// Metrics claimsd records must appear as a metric label in its sources; the others must
    /// come from the exporters claimsd can scrape or from the rules themselves.
    @Test func rulesWatchOnlyMetricsThatExist() throws {
        var sources = ""
        let enumerator = FileManager.default.enumerator(atPath: Self.repository + "/Sources")
        while let path = enumerator?.nextObject() as? String {
            if path.hasSuffix(".swift") { sources += (try? String(contentsOfFile: Self.repository + "/Sources/" + path, encoding: .utf8)) ?? "" }
        }
        let rules = try Self.alertingRules()
        let recorded = Set(rules.filter { $0.kind == .recording }.map(\.name))
        // From the Debian exporters (node, postgres, redis), the scraper itself, and swift-prometheus's process metrics.
        let external: Set<String> = [
            "up", "pg_up", "redis_up", "node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
            "process_cpu_seconds_total", "process_resident_memory_bytes",
        ]
        for rule in rules {
            for selector in rule.parsed.selectors {
                let name = selector.name ?? ""
                if recorded.contains(name) || external.contains(name) { continue }
                var base = name
                for suffix in ["_bucket", "_count", "_sum"] where base.hasSuffix(suffix) { base = String(base.dropLast(suffix.count)) }
                #expect(sources.contains("\"\(base)\""), "\(rule.name) watches \(name), which nothing in Sources/ records")
            }
        }
    }
}
