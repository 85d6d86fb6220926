import Foundation
public import PromQL
import StrictYAML
public import TimeSeries
import Yams

/// promtool's rule unit tests (`promtool test rules`): input series in expanding notation,
/// alerts expected at given times, and PromQL expressions with expected samples. claimsd
/// runs the same files with its own evaluator and reports failures in promtool's words.
public enum RuleUnitTests {
    /// The outcome of one test file: nothing when every test passed.
    public struct Outcome: Sendable {
        public var file: String
        public var failures: [String]
        public var passed: Bool { failures.isEmpty }
    }

    /// Runs the unit-test file at `path`.
    public static func run(path: String, engine: QueryEngine = QueryEngine()) -> Outcome {
        guard let data = FileManager.default.contents(atPath: path) else {
            return Outcome(file: path, failures: ["open \(path): no such file or directory"])
        }
        do throws(YAMLProblem) {
            let suite = try TestSuite.parse(String(decoding: data, as: UTF8.self), directory: (path as NSString).deletingLastPathComponent)
            var groups: [(file: String, definition: RuleGroupDefinition)] = []
            for file in suite.ruleFiles {
                do {
                    let rules = try RuleFile.load(path: file)
                    groups += rules.groups.map { (file, $0) }
                } catch {
                    return Outcome(file: path, failures: error.problems.map { "\(file): \($0)" })
                }
            }
            if !suite.groupOrder.isEmpty {
                let order = Dictionary(suite.groupOrder.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first })
                groups = groups.enumerated().sorted { left, right in
                    let (a, b) = (order[left.element.definition.name] ?? Int.max, order[right.element.definition.name] ?? Int.max)
                    return a == b ? left.offset < right.offset : a < b
                }.map(\.element)
            }
            var failures: [String] = []
            for test in suite.tests {
                failures += run(test, groups: groups, evaluationInterval: suite.evaluationInterval, engine: engine)
            }
            return Outcome(file: path, failures: failures)
        } catch {
            return Outcome(file: path, failures: ["yaml: unmarshal errors:\n  \(error)"])
        }
    }

    private static func run(_ test: TestGroup, groups definitions: [(file: String, definition: RuleGroupDefinition)], evaluationInterval: Int64, engine: QueryEngine) -> [String] {
        let store = TimeSeriesStore(options: TimeSeriesOptions(retention: .max / 4, maxSeries: 10_000_000))
        var loaded: [(labels: Labels, samples: [Sample])] = []
        for series in test.inputSeries { loaded.append((series.labels, series.samples)) }
        _ = store.importSamples(loaded)
        let context = RuleContext(engine: engine, storage: store, externalLabels: test.externalLabels, externalURL: test.externalURL)
        var groups: [RuleGroup] = []
        for (file, definition) in definitions {
            do {
                groups.append(try RuleGroup(definition, file: file, defaultInterval: evaluationInterval, restore: false))
            } catch {
                return ["    \(file): \(error)"]
            }
        }
        let alertTimes = Set(test.alertTests.map(\.evalTime)).sorted()
        let maxTime = max(test.alertTests.map(\.evalTime).max() ?? 0, test.exprTests.map(\.evalTime).max() ?? 0)
        var failures: [String] = []
        var next = 0
        let options = RuleEvaluationOptions()
        var time: Int64 = 0
        while time <= maxTime {
            for group in groups {
                _ = group.evaluate(at: time, context: context, options: options) { samples in _ = store.append(samples) }
                var evaluationErrors: [String] = []
                for rule in group.rules {
                    if let error = rule.status.lastError, rule.status.lastEvaluation == time {
                        evaluationErrors.append("    rule: \(rule.definition.name), time: \(PrometheusDuration.format(time)), err: \(error)")
                    }
                }
                if !evaluationErrors.isEmpty { return failures + evaluationErrors }
            }
            while next < alertTimes.count, time <= alertTimes[next], alertTimes[next] < time + evaluationInterval {
                let evalTime = alertTimes[next]
                for alertTest in test.alertTests where alertTest.evalTime == evalTime {
                    var got: [ExpectedAlert] = []
                    for group in groups {
                        for rule in group.alertingRules where rule.definition.name == alertTest.alertname {
                            got += rule.alerts.filter { $0.state == .firing }.map { ExpectedAlert(labels: $0.labels, annotations: Labels($0.annotations)) }
                        }
                    }
                    let expected = alertTest.expected.map {
                        ExpectedAlert(labels: $0.labels.setting("alertname", to: alertTest.alertname), annotations: $0.annotations)
                    }.sorted()
                    got.sort()
                    if got != expected {
                        let name = test.name.map { "    name: \($0),\n" } ?? ""
                        failures.append(
                            "\(name)    alertname: \(alertTest.alertname), time: \(PrometheusDuration.format(evalTime)), \n        exp:\(describe(expected)), \n        got:\(describe(got))")
                    }
                }
                next += 1
            }
            time += evaluationInterval
        }
        for exprTest in test.exprTests {
            let value: QueryValue
            do {
                value = try engine.instantQuery(exprTest.expr, at: exprTest.evalTime, storage: store)
            } catch {
                failures.append("    expr: \(goQuote(exprTest.expr)), time: \(PrometheusDuration.format(exprTest.evalTime)), err: \(error)")
                continue
            }
            var got: [ExpectedSample]
            switch value {
            case .vector(let samples): got = samples.map { ExpectedSample(labels: $0.labels, value: $0.value) }
            case .scalar(_, let number): got = [ExpectedSample(labels: .empty, value: number)]
            default:
                failures.append("    expr: \(goQuote(exprTest.expr)), time: \(PrometheusDuration.format(exprTest.evalTime)), err: rule result is not a vector or scalar")
                continue
            }
            got.sort { $0.labels < $1.labels }
            let expected = exprTest.samples.sorted { $0.labels < $1.labels }
            if got != expected {
                failures.append(
                    "    expr: \(goQuote(exprTest.expr)), time: \(PrometheusDuration.format(exprTest.evalTime)),\n        exp: \(describe(expected))\n        got: \(describe(got))")
            }
        }
        return failures
    }

    private static func describe(_ alerts: [ExpectedAlert]) -> String {
        guard !alerts.isEmpty else { return "[]" }
        var text = "["
        for (index, alert) in alerts.enumerated() {
            text += (index == 0 ? "\n" : ",\n") + "\(index):\n  Labels:\(goLabels(alert.labels))\n  Annotations:\(goLabels(alert.annotations))"
        }
        return indent(text + "\n]", by: "            ")
    }

    private static func describe(_ samples: [ExpectedSample]) -> String {
        guard !samples.isEmpty else { return "nil" }
        return samples.map { "\(goLabels($0.labels)) \(GoFormat.exponent($0.value).uppercased())" }.joined(separator: ", ")
    }

    private static func indent(_ text: String, by prefix: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { $0.offset == 0 ? String($0.element) : prefix + $0.element }.joined(separator: "\n")
    }

    /// A label set as Go's `labels.Labels.String()` prints it.
    static func goLabels(_ labels: Labels) -> String {
        "{" + labels.map { "\($0.name)=\(goQuote($0.value))" }.joined(separator: ", ") + "}"
    }

    static func goQuote(_ text: String) -> String {
        GoPrintf.format("%q", [.string(text)])
    }
}

struct ExpectedAlert: Equatable, Comparable {
    var labels: Labels
    var annotations: Labels

    static func < (lhs: ExpectedAlert, rhs: ExpectedAlert) -> Bool {
        lhs.labels == rhs.labels ? lhs.annotations < rhs.annotations : lhs.labels < rhs.labels
    }
}

struct ExpectedSample: Equatable {
    var labels: Labels
    var value: Double

    static func == (lhs: ExpectedSample, rhs: ExpectedSample) -> Bool {
        lhs.labels == rhs.labels && (lhs.value == rhs.value || (lhs.value.isNaN && rhs.value.isNaN))
    }
}

struct InputSeries {
    var labels: Labels
    var samples: [Sample]
}

struct AlertTest {
    var evalTime: Int64
    var alertname: String
    var expected: [(labels: Labels, annotations: Labels)]
}

struct ExprTest {
    var expr: String
    var evalTime: Int64
    var samples: [ExpectedSample]
}

struct TestGroup {
    var name: String?
    var interval: Int64
    var inputSeries: [InputSeries]
    var alertTests: [AlertTest]
    var exprTests: [ExprTest]
    var externalLabels: Labels
    var externalURL: String
}

struct TestSuite {
    var ruleFiles: [String]
    var evaluationInterval: Int64
    var groupOrder: [String]
    var tests: [TestGroup]

    static func parse(_ yaml: String, directory: String) throws(YAMLProblem) -> TestSuite {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw YAMLProblem(line: nil, problem: "not valid YAML: \(error)")
        }
        guard let root else { throw YAMLProblem(line: nil, problem: "the file is empty") }
        let top = try YAMLMapping(root, context: "type main.unitTestFile", allowed: ["rule_files", "evaluation_interval", "group_eval_order", "tests"])
        var ruleFiles: [String] = []
        for node in try top.sequence("rule_files") {
            guard let pattern = node.string else { throw YAMLProblem(line: node.mark?.line, problem: "rule_files must be a list of paths") }
            let resolved = pattern.hasPrefix("/") ? pattern : (directory.isEmpty ? pattern : directory + "/" + pattern)
            ruleFiles += FileGlob.expand(resolved)
        }
        let interval = try top.duration("evaluation_interval") ?? 60_000
        guard interval > 0 else { throw top.error("evaluation_interval must be positive") }
        let order = try top.sequence("group_eval_order").compactMap(\.string)
        var tests: [TestGroup] = []
        for node in try top.sequence("tests") {
            tests.append(try parseGroup(node, evaluationInterval: interval))
        }
        return TestSuite(ruleFiles: ruleFiles, evaluationInterval: interval, groupOrder: order, tests: tests)
    }

    private static func parseGroup(_ node: Node, evaluationInterval: Int64) throws(YAMLProblem) -> TestGroup {
        let fields = try YAMLMapping(
            node, context: "type main.testGroup",
            allowed: ["interval", "input_series", "alert_rule_test", "promql_expr_test", "external_labels", "external_url", "name"])
        let interval = try fields.duration("interval") ?? evaluationInterval
        guard interval > 0 else { throw fields.error("interval must be positive") }
        var inputs: [InputSeries] = []
        for seriesNode in try fields.sequence("input_series") {
            let seriesFields = try YAMLMapping(seriesNode, context: "type main.series", allowed: ["series", "values"])
            let text = try seriesFields.string("series") ?? ""
            let labels: Labels
            do {
                labels = try SeriesNotation.labels(text)
            } catch {
                throw YAMLProblem(line: seriesNode.mark?.line, problem: "\(error)")
            }
            let values: [Double?]
            do {
                values = try SeriesNotation.values(try seriesFields.string("values") ?? "")
            } catch {
                throw YAMLProblem(line: seriesNode.mark?.line, problem: "\(error)")
            }
            var samples: [Sample] = []
            for (index, value) in values.enumerated() {
                if let value { samples.append(Sample(Int64(index) * interval, value)) }
            }
            inputs.append(InputSeries(labels: labels, samples: samples))
        }
        var alertTests: [AlertTest] = []
        for testNode in try fields.sequence("alert_rule_test") {
            let testFields = try YAMLMapping(testNode, context: "type main.alertTestCase", allowed: ["eval_time", "alertname", "exp_alerts"])
            let evalTime = try testFields.duration("eval_time") ?? 0
            guard let name = try testFields.string("alertname"), !name.isEmpty else {
                throw testFields.error("an item under alert_rule_test misses required attribute alertname at eval_time \(PrometheusDuration.format(evalTime))")
            }
            var expected: [(labels: Labels, annotations: Labels)] = []
            for alertNode in try testFields.sequence("exp_alerts") {
                let alertFields = try YAMLMapping(alertNode, context: "type main.alert", allowed: ["exp_labels", "exp_annotations"])
                expected.append((try stringMap(alertFields["exp_labels"]), try stringMap(alertFields["exp_annotations"])))
            }
            alertTests.append(AlertTest(evalTime: evalTime, alertname: name, expected: expected))
        }
        var exprTests: [ExprTest] = []
        for testNode in try fields.sequence("promql_expr_test") {
            let testFields = try YAMLMapping(testNode, context: "type main.promqlTestCase", allowed: ["expr", "eval_time", "exp_samples"])
            var samples: [ExpectedSample] = []
            for sampleNode in try testFields.sequence("exp_samples") {
                let sampleFields = try YAMLMapping(sampleNode, context: "type main.sample", allowed: ["labels", "value"])
                let labelText = try sampleFields.string("labels") ?? ""
                let labels: Labels
                do {
                    labels = labelText.isEmpty ? .empty : try SeriesNotation.labels(labelText)
                } catch {
                    throw YAMLProblem(line: sampleNode.mark?.line, problem: "labels \(RuleUnitTests.goQuote(labelText)): \(error)")
                }
                let valueText = try sampleFields.string("value") ?? "0"
                guard let value = SeriesNotation.number(valueText) else { throw sampleFields.error("value \"\(valueText)\" is not a number") }
                samples.append(ExpectedSample(labels: labels, value: value))
            }
            exprTests.append(ExprTest(expr: try testFields.string("expr") ?? "", evalTime: try testFields.duration("eval_time") ?? 0, samples: samples))
        }
        return TestGroup(
            name: try fields.string("name"), interval: interval, inputSeries: inputs, alertTests: alertTests, exprTests: exprTests,
            externalLabels: try stringMap(fields["external_labels"]), externalURL: try fields.string("external_url") ?? "")
    }

    private static func stringMap(_ node: Node?) throws(YAMLProblem) -> Labels {
        guard let node else { return .empty }
        let mapping = try YAMLMapping(node, context: "a map of strings", allowed: nil)
        var labels: [Label] = []
        for key in mapping.keys { labels.append(Label(key, try mapping.string(key) ?? "")) }
        return Labels(labels)
    }
}

/// The expanding notation of promtool's input series: `1+2x3` (1 3 5 7), `5-1x2`, `7x2`
/// (7 7 7), `_` (no sample), `_x3`, `stale`, and plain numbers (`NaN`, `Inf` too).
public enum SeriesNotation {
    /// A series descriptor such as `up{job="api"}` as a label set.
    public static func labels(_ text: String) throws(SeriesNotationError) -> Labels {
        let matchers: [LabelMatcher]
        do {
            matchers = try Parser.parseSelector(text)
        } catch {
            throw SeriesNotationError(token: text, problem: error.description)
        }
        var labels: [Label] = []
        for matcher in matchers {
            guard matcher.kind == .equal else {
                throw SeriesNotationError(token: text, problem: "a series takes only = matchers, not \(matcher)")
            }
            labels.append(Label(matcher.name, matcher.value))
        }
        return Labels(labels)
    }

    /// The values, one per interval from time 0; nil where a sample is missing.
    public static func values(_ text: String) throws(SeriesNotationError) -> [Double?] {
        var values: [Double?] = []
        for item in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            let token = String(item)
            if token == "_" {
                values.append(nil)
                continue
            }
            if token == "stale" {
                values.append(StaleMarker.value)
                continue
            }
            if let x = token.lastIndex(of: "x"), let count = Int(token[token.index(after: x)...]), count >= 0 {
                let head = String(token[..<x])
                guard values.count + count < 1_000_000 else { throw SeriesNotationError(token: token, problem: "too many values") }
                if head == "_" {
                    values += Array(repeating: nil, count: count)
                    continue
                }
                if head == "stale" {
                    values += Array(repeating: StaleMarker.value, count: count + 1)
                    continue
                }
                var (start, step) = try startAndStep(head, token: token)
                for _ in 0...count {
                    values.append(start)
                    start += step
                }
                continue
            }
            guard let number = number(token) else { throw SeriesNotationError(token: token, problem: "not a number") }
            values.append(number)
        }
        return values
    }

    private static func startAndStep(_ head: String, token: String) throws(SeriesNotationError) -> (Double, Double) {
        let characters = Array(head)
        var split: Int?
        for index in characters.indices.dropFirst() where (characters[index] == "+" || characters[index] == "-") && characters[index - 1].lowercased() != "e" {
            split = index
        }
        guard let split else {
            guard let value = number(head) else { throw SeriesNotationError(token: token, problem: "not a number") }
            return (value, 0)
        }
        guard let start = number(String(characters[..<split])), let step = number(String(characters[split...])) else {
            throw SeriesNotationError(token: token, problem: "expected a+bxN")
        }
        return (start, step)
    }

    /// A number as PromQL writes it, including `Inf`, `+Inf`, `-Inf` and `NaN`.
    public static func number(_ text: String) -> Double? {
        switch text.lowercased() {
        case "nan": return .nan
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        default:
            if text.lowercased().hasPrefix("0x"), let value = Int64(text.dropFirst(2), radix: 16) { return Double(value) }
            return Double(text)
        }
    }
}

/// An item of a `values:` string that is not in the expanding notation.
public struct SeriesNotationError: Error, Sendable, CustomStringConvertible {
    public var token: String
    public var problem: String
    public var description: String { "\(RuleUnitTests.goQuote(token)): \(problem)" }
}

/// Paths with `*`, `?` and `[…]` in their last component, expanded in sorted order; a path
/// without them is returned as is (so a missing file is reported when it is opened).
public enum FileGlob {
    public static func expand(_ pattern: String) -> [String] {
        guard pattern.contains(where: { "*?[".contains($0) }) else { return [pattern] }
        let directory = (pattern as NSString).deletingLastPathComponent
        let namePattern = (pattern as NSString).lastPathComponent
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
        return entries.filter { matches(Array($0), Array(namePattern)) && !$0.hasPrefix(".") }.sorted().map { directory.isEmpty ? $0 : directory + "/" + $0 }
    }

    static func matches(_ name: [Character], _ pattern: [Character]) -> Bool {
        guard let first = pattern.first else { return name.isEmpty }
        switch first {
        case "*":
            for split in 0...name.count where matches(Array(name[split...]), Array(pattern.dropFirst())) { return true }
            return false
        case "?":
            return !name.isEmpty && matches(Array(name.dropFirst()), Array(pattern.dropFirst()))
        case "[":
            guard let close = pattern.firstIndex(of: "]"), let character = name.first else { return false }
            let set = pattern[1..<close]
            return set.contains(character) && matches(Array(name.dropFirst()), Array(pattern[(close + 1)...]))
        default:
            return name.first == first && matches(Array(name.dropFirst()), Array(pattern.dropFirst()))
        }
    }
}
