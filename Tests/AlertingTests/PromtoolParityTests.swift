import Foundation
import PromQL
import Testing
import TestSupport
import TimeSeries

@testable import Alerting

/// claimsd's rule checks and unit-test runner against promtool 2.42 on the same files: the
/// shipped rules and their tests, a deliberately wrong expectation, broken rule files, and
/// generated rule tests whose expectations come from claimsd's evaluator.
@Suite struct PromtoolParityTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func files(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yml") }.sorted().map { directory + "/" + $0 }
    }

    static func promtool(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess("promtool", arguments)
        let status = try await child.waitForExit(timeout: .seconds(300))
        return (status, child.standardOutput + child.standardError)
    }

    static func temporaryDirectory() throws -> String {
        let directory = FileManager.default.temporaryDirectory.path + "/parity-\(TestEnvironment.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func shippedRulesPassBothCheckers() async throws {
        let rules = try Self.files(Self.repository + "/alerts")
        #expect(rules.count >= 5)
        let (status, output) = try await Self.promtool(["check", "rules"] + rules)
        #expect(status == 0, "\(output)")
        for file in rules {
            let parsed = try RuleFile.load(path: file)
            #expect(output.contains("Checking \(file)\n  SUCCESS: \(parsed.ruleCount) rules found"), "promtool counts the rules of \(file) alike")
            #expect(parsed.duplicateRules.isEmpty)
        }
    }

    @Test func shippedRuleTestsPassBothRunners() async throws {
        let tests = try Self.files(Self.repository + "/alerts/tests")
        #expect(tests.count >= 5)
        let (status, output) = try await Self.promtool(["test", "rules"] + tests)
        #expect(status == 0, "\(output)")
        for file in tests {
            #expect(RuleUnitTests.run(path: file).failures == [], "claimsd's runner on \(file)")
        }
        // Every alerting rule shipped has a test naming it.
        let tested = try tests.map { try String(contentsOfFile: $0, encoding: .utf8) }.joined()
        for file in try Self.files(Self.repository + "/alerts") {
            for group in try RuleFile.load(path: file).groups {
                for rule in group.rules where rule.kind == .alerting {
                    #expect(tested.contains("alertname: \(rule.name)"), "\(rule.name) has no test")
                }
            }
        }
    }

    @Test func aWrongExpectationFailsInBothRunners() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/tests", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.repository + "/alerts/claimsd-dependencies.yml", toPath: directory + "/claimsd-dependencies.yml")
        let test = try String(contentsOfFile: Self.repository + "/alerts/tests/claimsd-dependencies-test.yml", encoding: .utf8)
        // One annotation word changed, and one alert expected a minute too early.
        var wrong = test.replacingOccurrences(of: "PostgreSQL unreachable from claimsd:8080", with: "PostgreSQL unreachable from elsewhere")
        wrong = wrong.replacingOccurrences(of: "- {eval_time: 6m, alertname: OutboxLagHigh}", with: "- {eval_time: 7m, alertname: OutboxLagHigh}")
        #expect(wrong != test)
        try wrong.write(toFile: directory + "/tests/wrong.yml", atomically: true, encoding: .utf8)
        let (status, output) = try await Self.promtool(["test", "rules", directory + "/tests/wrong.yml"])
        let ours = RuleUnitTests.run(path: directory + "/tests/wrong.yml")
        #expect(status == 1)
        #expect(!ours.passed)
        for name in ["alertname: DatabaseDown, time: 3m", "alertname: OutboxLagHigh, time: 7m"] {
            #expect(output.contains(name), "promtool reports \(name)")
            #expect(ours.failures.contains { $0.contains(name) }, "claimsd reports \(name)")
        }
        #expect(ours.failures.count == 3, "3m and 7m of DatabaseDown, 7m of OutboxLagHigh: \(ours.failures)")
    }

    @Test func brokenRuleFilesFailBothCheckers() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broken: [(String, String)] = [
            ("parse", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(up[5m]\n"),
            ("both", "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: b\n        expr: up\n"),
            ("neither", "groups:\n  - name: g\n    rules:\n      - expr: up\n"),
            ("unknown-field", "groups:\n  - name: g\n    query_offset: 1m\n    rules: []\n"),
            ("group-labels", "groups:\n  - name: g\n    labels: {a: b}\n    rules: []\n"),
            ("repeated-group", "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n"),
            ("recording-for", "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n        for: 1m\n"),
            ("bad-record-name", "groups:\n  - name: g\n    rules:\n      - record: 'a-b'\n        expr: up\n"),
            ("bad-label", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        labels: {'0x': b}\n"),
            ("bad-template", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations: {a: '{{ $value | nosuch }}'}\n"),
            ("no-expr", "groups:\n  - name: g\n    rules:\n      - alert: A\n"),
            ("empty-group-name", "groups:\n  - rules: []\n"),
        ]
        for (name, text) in broken {
            let path = directory + "/\(name).yml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let (status, output) = try await Self.promtool(["check", "rules", path])
            #expect(status == 1, "promtool accepts \(name): \(output)")
            #expect(throws: RuleFileErrors.self, "claimsd accepts \(name)") { try RuleFile.load(path: path) }
        }
        // A valid file passes both.
        let good = directory + "/good.yml"
        try "groups:\n  - name: g\n    interval: 30s\n    limit: 10\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 1m\n        keep_firing_for: 5m\n".write(
            toFile: good, atomically: true, encoding: .utf8)
        #expect(try await Self.promtool(["check", "rules", good]).status == 0)
        #expect(try RuleFile.load(path: good).groups[0].interval == 30_000)
    }

    /// Random series and rules; claimsd's evaluator decides which alerts fire when, with
    /// which annotations; promtool must agree on every expectation.
    @Test func generatedRuleTestsAgree() async throws {
        let seed = ProcessInfo.processInfo.environment["CLAIMS_TEST_RULES_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("generated rule tests seed: \(seed) (CLAIMS_TEST_RULES_SEED)")
        var random = SplitMix(seed: seed)
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let minutes = 30
        var rules = "groups:\n  - name: generated\n    rules:\n"
        var definitions: [String] = []
        for index in 0..<12 {
            let hold = [0, 1, 2, 3, 5][random.next(upTo: 5)]
            let keep = [0, 0, 1, 2, 4][random.next(upTo: 5)]
            let threshold = random.next(upTo: 8)
            let shapes = [
                "level{kind=\"k\(index % 3)\"} > \(threshold)",
                "rate(counter{kind=\"k\(index % 3)\"}[3m]) * 60 > \(threshold)",
                "sum by (kind) (level) > \(threshold * 3)",
                "max_over_time(level{kind=\"k\(index % 3)\"}[2m]) >= \(threshold)",
                "level{kind=\"k\(index % 3)\"} > \(threshold) unless level{kind=\"k\(index % 3)\"} > \(threshold + 3)",
            ]
            let expr = shapes[random.next(upTo: shapes.count)]
            definitions.append(expr)
            rules += "      - alert: G\(index)\n        expr: '\(expr)'\n        for: \(hold)m\n"
            if keep > 0 { rules += "        keep_firing_for: \(keep)m\n" }
            rules += "        labels: {rule: \"\(index)\", kind_copy: \"{{ $labels.kind }}\"}\n"
            rules += "        annotations: {v: \"{{ $value | humanize }}\", at: \"{{ $labels.kind }}={{ printf \\\"%.1f\\\" $value }}\"}\n"
        }
        try rules.write(toFile: directory + "/rules.yml", atomically: true, encoding: .utf8)
        var series: [(String, [Double?])] = []
        for kind in 0..<3 {
            var level: [Double?] = []
            var counter: [Double?] = []
            var total = 0.0
            for _ in 0...minutes {
                level.append(random.next(upTo: 9) == 0 ? nil : Double(random.next(upTo: 10)))
                total += Double(random.next(upTo: 12))
                counter.append(random.next(upTo: 15) == 0 ? nil : total)
            }
            series.append(("level{kind=\"k\(kind)\"}", level))
            series.append(("counter{kind=\"k\(kind)\"}", counter))
        }
        // claimsd's evaluation, the way the unit-test runner does it.
        let store = TimeSeriesStore(options: TimeSeriesOptions(retention: .max / 4))
        for (text, values) in series {
            let labels = try SeriesNotation.labels(text)
            _ = store.importSamples([(labels, values.enumerated().compactMap { index, value in value.map { Sample(Int64(index) * 60_000, $0) } })])
        }
        let group = try RuleGroup(try RuleFile.load(path: directory + "/rules.yml").groups[0], file: "rules.yml", defaultInterval: 60_000, restore: false)
        let context = RuleContext(engine: QueryEngine(), storage: store)
        var checks = ""
        var expectations = 0
        for minute in 0...minutes {
            _ = group.evaluate(at: Int64(minute) * 60_000, context: context, options: RuleEvaluationOptions()) { _ = store.append($0) }
            guard minute % 2 == 1 else { continue }
            for rule in group.alertingRules {
                checks += "      - eval_time: \(minute)m\n        alertname: \(rule.definition.name)\n        exp_alerts:\n"
                for alert in rule.alerts where alert.state == .firing {
                    expectations += 1
                    let labels = alert.labels.filter { $0.name != "alertname" }.map { "\($0.name): \"\($0.value)\"" }.joined(separator: ", ")
                    let annotations = alert.annotations.sorted { $0.key < $1.key }.map { "\($0.key): \"\($0.value)\"" }.joined(separator: ", ")
                    checks += "          - exp_labels: {\(labels)}\n            exp_annotations: {\(annotations)}\n"
                }
            }
        }
        #expect(expectations > 0, "the generated rules never fired: weak test (seed \(seed))")
        var test = "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"
        for (text, values) in series {
            test += "      - series: '\(text)'\n        values: '\(values.map { $0.map { String(Int($0)) } ?? "_" }.joined(separator: " "))'\n"
        }
        test += "    alert_rule_test:\n" + checks
        try test.write(toFile: directory + "/test.yml", atomically: true, encoding: .utf8)
        let (status, output) = try await Self.promtool(["test", "rules", directory + "/test.yml"])
        #expect(status == 0, "promtool disagrees (seed \(seed)) on rules \(definitions):\n\(output.prefix(6000))")
        #expect(RuleUnitTests.run(path: directory + "/test.yml").failures == [])
    }
}
