import Foundation
import Testing
import TestSupport
import TimeSeries

@testable import Alerting

@Suite struct TemplateTests {
    func render(_ text: String, labels: [String: String] = [:], value: Double = 0, query: @escaping @Sendable (String) throws -> [TemplateSample] = { _ in [] }) throws -> String {
        try Template(text, name: "t").execute(TemplateData(labels: labels, externalLabels: ["cluster": "eu1"], externalURL: "http://claimsd:8080", value: value, query: query))
    }

    @Test func variablesFieldsAndPipelines() throws {
        #expect(try render("{{ $labels.route }} {{ .Labels.route }} {{ $value }} {{ $externalLabels.cluster }} {{ $externalURL }}", labels: ["route": "/x"], value: 2.5) == "/x /x 2.5 eu1 http://claimsd:8080")
        #expect(try render("{{ $labels.missing }}|") == "|", "a missing label is empty, as for Go's map[string]string")
        #expect(try render("{{ $value | humanizePercentage }}", value: 0.0512) == "5.12%")
        #expect(try render("{{ \"abc\" | toUpper | printf \"%s!\" }}") == "ABC!")
        #expect(try render("{{ $x := 3 }}{{ $x }}{{ $x = 4 }}{{ $x }}") == "34")
    }

    @Test func controlStructuresAndTrimming() throws {
        #expect(try render("{{ if gt $value 1.0 }}big{{ else if gt $value 0.5 }}mid{{ else }}small{{ end }}", value: 0.7) == "mid")
        #expect(try render("{{ with $labels.job }}job={{ . }}{{ else }}none{{ end }}", labels: ["job": "api"]) == "job=api")
        #expect(try render("{{ with $labels.job }}job={{ . }}{{ else }}none{{ end }}") == "none")
        #expect(try render("a  {{- \"b\" -}}  c") == "abc")
        #expect(try render("{{/* a comment */}}x") == "x")
        let samples: @Sendable (String) throws -> [TemplateSample] = { query in
            #expect(query == "up")
            return [TemplateSample(labels: ["instance": "a"], value: 1), TemplateSample(labels: ["instance": "b"], value: 0)]
        }
        #expect(try render("{{ range $i, $s := query \"up\" }}{{ $i }}:{{ $s.Labels.instance }}={{ $s.Value }};{{ end }}", query: samples) == "0:a=1;1:b=0;")
        #expect(try render("{{ query \"up\" | first | value }} {{ with query \"up\" }}{{ . | first | label \"instance\" }}{{ end }}", query: samples) == "1 a")
        #expect(try render("{{ range query \"none\" }}x{{ else }}empty{{ end }}") == "empty")
    }

    @Test func goNumberFormatting() throws {
        #expect(GoFormat.value(1e6) == "1e+06")
        #expect(GoFormat.value(123456) == "123456")
        #expect(GoFormat.value(1234567) == "1.234567e+06")
        #expect(GoFormat.value(0.0001) == "0.0001")
        #expect(GoFormat.value(0.00001) == "1e-05")
        #expect(GoFormat.value(-2.5) == "-2.5")
        #expect(GoFormat.value(.infinity) == "+Inf")
        #expect(GoFormat.exponent(1) == "1e+00")
        #expect(GoFormat.exponent(0.055) == "5.5e-02")
        #expect(GoPrintf.format("%.2f|%5.1f|%-4d|%04d|%q|%x|%v|%%", [.float(3.14159), .float(2.25), .int(7), .int(42), .string("a\"b"), .int(255), .bool(true)])
            == "3.14|  2.2|7   |0042|\"a\\\"b\"|ff|true|%")
        #expect(GoPrintf.format("%d %s", [.int(1)]) == "1 %!s(MISSING)")
    }

    @Test func humanizeFunctions() throws {
        #expect(Humanize.decimal(1234567) == "1.235M")
        #expect(Humanize.decimal(0.0123) == "12.3m")
        #expect(Humanize.decimal(0) == "0")
        #expect(Humanize.binary(1048576) == "1Mi")
        #expect(Humanize.duration(93784) == "1d 2h 3m 4s")
        #expect(Humanize.duration(0.25) == "250ms")
        #expect(Humanize.duration(12.5) == "12.5s")
        #expect(try render("{{ 1700000000.5 | humanizeTimestamp }}") == "2023-11-14 22:13:20.5 +0000 UTC")
        #expect(try render("{{ reReplaceAll \"(a+)b\" \"<$1>\" \"xaab aab\" }}") == "x<aa> <aa>")
        #expect(try render("{{ title \"hello world-wide\" }} {{ \"10.0.0.1:9100\" | stripPort }} {{ match \"^a.c$\" \"abc\" }}") == "Hello World-Wide 10.0.0.1 true")
        #expect(try render("{{ \"1h30m\" | parseDuration }}") == "5400")
    }

    @Test func errorsNameTheProblem() throws {
        #expect(throws: TemplateError.self) { try Template("{{ nosuch 1 }}", name: "t") }
        #expect(throws: TemplateError.self) { try Template("{{ if 1 }}unclosed", name: "t") }
        #expect(throws: TemplateError.self) { try Template("{{ .Labels", name: "t") }
        #expect(throws: TemplateError.self) { try render("{{ query \"up\" | first }}") }
        #expect(throws: TemplateError.self) { try render("{{ $undefined }}") }
    }

    /// The same templates rendered by claimsd and by Prometheus 2.42 (through a promtool unit
    /// test whose expected annotations are claimsd's output): promtool must pass it.
    @Test func rendersExactlyAsPrometheus() async throws {
        let seed = ProcessInfo.processInfo.environment["CLAIMS_TEST_TEMPLATE_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("template differential seed: \(seed) (CLAIMS_TEST_TEMPLATE_SEED)")
        var random = SplitMix(seed: seed)
        let templates = [
            "{{ $value }}", "{{ $value | humanize }}", "{{ $value | humanize1024 }}", "{{ $value | humanizeDuration }}",
            "{{ $value | humanizePercentage }}", "{{ $value | humanizeTimestamp }}", "{{ printf \"%.2f\" $value }}",
            "{{ printf \"%.3e|%g|%8.2f|%v\" $value $value $value $value }}", "{{ if gt $value 100.0 }}big{{ else }}small{{ end }}",
            "{{ $labels.instance | toUpper }} {{ $labels.job | title }}", "{{ reReplaceAll \"([a-z]+):(\\\\d+)\" \"$2@$1\" $labels.instance }}",
            "{{ $externalLabels.cluster }}/{{ $labels.job }}", "{{ printf \"%q %5s|%-5s|\" $labels.job $labels.job $labels.job }}",
            "{{ with query \"probe\" }}{{ . | first | value | humanize }}{{ end }}", "{{ len $labels }} {{ index $labels \"job\" }}",
            "{{ $value | printf \"%.0f\" }}%", "{{ if and (ge $value 0.0) (lt $value 1.0) }}fraction{{ else }}other{{ end }}",
        ]
        var magnitudes: [Double] = [0, 1, -1, 0.5, 1e-9, 123.456, 2.5e15, 65536, 3600 * 26 + 7.25, 1_700_000_000.123]
        for _ in 0..<14 {
            let exponent = Double(random.next(upTo: 20)) - 10
            magnitudes.append((random.unit() * 2 - 1) * pow(10, exponent))
        }
        let directory = FileManager.default.temporaryDirectory.path + "/templates-\(TestEnvironment.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var rules = "groups:\n  - name: templates\n    rules:\n"
        var tests = "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n"
        for (index, value) in magnitudes.enumerated() {
            let name = "T\(index)"
            let labels = ["instance": "host\(index):\(9000 + index)", "job": "job-\(index) x", "__name__": "metric_\(index)"]
            var annotations: [String: String] = [:]
            rules += "      - alert: \(name)\n        expr: metric_\(index) > -1e300 or metric_\(index) != metric_\(index)\n        annotations:\n"
            for (templateIndex, template) in templates.enumerated() {
                let probe: @Sendable (String) throws -> [TemplateSample] = { _ in [TemplateSample(labels: [:], value: 2048)] }
                // Templates that fail for this value (a timestamp beyond int64 nanoseconds) fail in
                // Prometheus too, with Go's wording: they are left out of the comparison.
                guard let text = try? Template(template, name: "__alert_\(name)").execute(
                    TemplateData(labels: labels, externalLabels: ["cluster": "eu1"], value: value, query: probe))
                else { continue }
                rules += "          a\(templateIndex): \(yamlQuoted(template))\n"
                annotations["a\(templateIndex)"] = text
            }
            tests += "  - interval: 1m\n    external_labels: {cluster: eu1}\n    input_series:\n"
            tests += "      - series: 'metric_\(index){instance=\"host\(index):\(9000 + index)\",job=\"job-\(index) x\"}'\n"
            tests += "        values: '\(goNumber(value))'\n"
            tests += "      - series: 'probe'\n        values: '2048'\n"
            tests += "    alert_rule_test:\n      - eval_time: 0m\n        alertname: \(name)\n        exp_alerts:\n"
            tests += "          - exp_labels: {instance: \"host\(index):\(9000 + index)\", job: \"job-\(index) x\"}\n            exp_annotations:\n"
            for key in annotations.keys.sorted() { tests += "              \(key): \(yamlQuoted(annotations[key] ?? ""))\n" }
        }
        try rules.write(toFile: directory + "/rules.yml", atomically: true, encoding: .utf8)
        try tests.write(toFile: directory + "/test.yml", atomically: true, encoding: .utf8)
        let promtool = try ChildProcess("promtool", ["test", "rules", directory + "/test.yml"])
        let status = try await promtool.waitForExit(timeout: .seconds(120))
        #expect(status == 0, "promtool disagrees with claimsd's templates (seed \(seed)):\n\((promtool.standardOutput + promtool.standardError).prefix(6000))")
        // And claimsd's own runner agrees with itself on the file.
        #expect(RuleUnitTests.run(path: directory + "/test.yml").failures == [])
    }

    /// A YAML double-quoted string: its escapes for `\\`, `"` and newlines are the label-value ones.
    private func yamlQuoted(_ text: String) -> String {
        "\"" + escapeLabelValue(text) + "\""
    }

    private func goNumber(_ value: Double) -> String {
        value.isNaN ? "NaN" : value.isInfinite ? (value > 0 ? "Inf" : "-Inf") : "\(value)"
    }
}
