import Foundation
public import PromQL
import StrictYAML
import TimeSeries
import Yams

/// A Prometheus 2.42 rule file: groups of alerting and recording rules.
///
/// ```yaml
/// groups:
///   - name: claims-api
///     interval: 30s          # optional; the evaluation interval otherwise
///     limit: 0               # optional; alerts or series a rule may produce (0: no limit)
///     rules:
///       - alert: HighErrorRate
///         expr: job:errors:ratio5m > 0.05
///         for: 1m
///         keep_firing_for: 5m
///         labels: {severity: page}
///         annotations: {summary: "{{ $value | humanizePercentage }} of requests fail"}
///       - record: job:errors:ratio5m
///         expr: sum(rate(errors_total[5m])) / sum(rate(requests_total[5m]))
/// ```
public struct RuleFile: Sendable {
    /// The path the file was read from (as given).
    public var path: String
    public var groups: [RuleGroupDefinition]

    /// Parses and validates `yaml` as the rule file at `path`, collecting every problem as
    /// `promtool check rules` does rather than stopping at the first.
    public static func parse(_ yaml: String, path: String) throws(RuleFileErrors) -> RuleFile {
        var problems: [String] = []
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw RuleFileErrors(path: path, problems: ["yaml: \(error)"])
        }
        guard let root else { return RuleFile(path: path, groups: []) }
        var groups: [RuleGroupDefinition] = []
        do throws(YAMLProblem) {
            let top = try YAMLMapping(root, context: "type rulefmt.RuleGroups", allowed: ["groups"])
            var names = Set<String>()
            for groupNode in try top.sequence("groups") {
                let fields = try YAMLMapping(groupNode, context: "type rulefmt.RuleGroup", allowed: ["name", "interval", "limit", "rules"])
                let name = try fields.string("name") ?? ""
                let line = groupNode.mark?.line ?? 0
                if name.isEmpty {
                    problems.append("\(line): Groupname must not be empty")
                } else if !names.insert(name).inserted {
                    problems.append("\(line): groupname: \"\(name)\" is repeated in the same file")
                }
                let interval = try fields.duration("interval")
                var limit = 0
                if let text = try fields.string("limit") {
                    guard let value = Int(text), value >= 0 else { throw fields.error("limit must be a non-negative integer") }
                    limit = value
                }
                var rules: [RuleDefinition] = []
                for (index, ruleNode) in try fields.sequence("rules").enumerated() {
                    let (rule, ruleProblems) = try RuleDefinition.parse(ruleNode)
                    for (problem, node) in ruleProblems {
                        let mark = (node ?? ruleNode).mark
                        problems.append("\(mark.map { "\($0.line):\($0.column)" } ?? "0:0"): group \"\(name)\", rule \(index + 1), \"\(rule?.name ?? "")\": \(problem)")
                    }
                    if let rule { rules.append(rule) }
                }
                groups.append(RuleGroupDefinition(name: name, interval: interval == 0 ? nil : interval, limit: limit, rules: rules))
            }
        } catch {
            throw RuleFileErrors(path: path, problems: ["yaml: unmarshal errors:\n  \(error)"])
        }
        guard problems.isEmpty else { throw RuleFileErrors(path: path, problems: problems) }
        return RuleFile(path: path, groups: groups)
    }

    /// Reads and parses the rule file at `path`.
    public static func load(path: String) throws(RuleFileErrors) -> RuleFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied or not a file" : "no such file or directory"
            throw RuleFileErrors(path: path, problems: ["open \(path): \(reason)"])
        }
        let text = String(decoding: data, as: UTF8.self)
        return try parse(text, path: path)
    }

    /// Rules that share a name and labels with another rule of the file (promtool's
    /// `duplicate-rules` lint): their outputs could not be told apart.
    public var duplicateRules: [(name: String, labels: [(name: String, value: String)])] {
        var seen: [String: Int] = [:]
        var duplicates: [(name: String, labels: [(name: String, value: String)])] = []
        for rule in groups.flatMap(\.rules) {
            let labels = rule.labels.sorted { $0.name < $1.name }
            let key = ([rule.name] + labels.flatMap { [$0.name, $0.value] }).joined(separator: "\u{ff}")
            seen[key, default: 0] += 1
            if seen[key] == 2 { duplicates.append((rule.name, labels)) }
        }
        return duplicates.sorted { $0.name < $1.name }
    }

    /// The number of rules in all groups.
    public var ruleCount: Int { groups.reduce(0) { $0 + $1.rules.count } }
}

/// A group of rules evaluated together, in order, at one interval.
public struct RuleGroupDefinition: Sendable {
    public var name: String
    /// The group's own interval in milliseconds; nil uses the evaluation interval.
    public var interval: Int64?
    /// Alerts (alerting rules) or series (recording rules) one rule may produce; 0 is no limit.
    public var limit: Int
    public var rules: [RuleDefinition]
}

/// One alerting or recording rule as written.
public struct RuleDefinition: Sendable {
    public enum Kind: Sendable, Equatable {
        case alerting
        case recording
    }

    public var kind: Kind
    /// The alert name, or the recorded metric name.
    public var name: String
    /// The PromQL expression as written.
    public var expression: String
    public var parsed: Expr
    /// How long the condition must hold before the alert fires (milliseconds).
    public var holdDuration: Int64
    /// How long a firing alert keeps firing after its condition stops (milliseconds).
    public var keepFiringFor: Int64
    /// Labels in file order (templates for alerting rules).
    public var labels: [(name: String, value: String)]
    /// Annotations in file order (templates).
    public var annotations: [(name: String, value: String)]

    /// The rule in `node`, or nil when it is too broken to name, and every problem found.
    static func parse(_ node: Node) throws(YAMLProblem) -> (RuleDefinition?, [(String, Node?)]) {
        let fields = try YAMLMapping(node, context: "type rulefmt.RuleNode", allowed: ["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"])
        var problems: [(String, Node?)] = []
        let record = try fields.string("record") ?? ""
        let alert = try fields.string("alert") ?? ""
        let expression = try fields.string("expr") ?? ""
        let hold = try fields.duration("for") ?? 0
        let keepFiring = try fields.duration("keep_firing_for") ?? 0
        let labels = try pairs(fields["labels"], context: "labels")
        let annotations = try pairs(fields["annotations"], context: "annotations")
        if !record.isEmpty && !alert.isEmpty { problems.append(("only one of 'record' and 'alert' must be set", fields["record"])) }
        if record.isEmpty && alert.isEmpty { problems.append(("one of 'record' or 'alert' must be set", nil)) }
        var parsed: Expr?
        if expression.isEmpty {
            problems.append(("field 'expr' must be set in rule", nil))
        } else {
            do {
                parsed = try Parser.parse(expression)
            } catch {
                problems.append(("could not parse expression: \(error)", fields["expr"]))
            }
        }
        if !record.isEmpty {
            if fields["annotations"] != nil { problems.append(("invalid field 'annotations' in recording rule", fields["record"])) }
            if fields["for"] != nil { problems.append(("invalid field 'for' in recording rule", fields["record"])) }
            if fields["keep_firing_for"] != nil { problems.append(("invalid field 'keep_firing_for' in recording rule", fields["record"])) }
            if !isValidMetricName(record) { problems.append(("invalid recording rule name: \(record)", fields["record"])) }
        }
        for (name, _) in labels where !isValidLabelName(name) || name == Labels.metricName {
            problems.append(("invalid label name: \(name)", nil))
        }
        for (name, _) in annotations where !isValidLabelName(name) {
            problems.append(("invalid annotation name: \(name)", nil))
        }
        let name = alert.isEmpty ? record : alert
        if !alert.isEmpty {
            // Templates must parse, as promtool checks.
            for (key, text) in labels + annotations {
                do {
                    _ = try Template(text, name: "__alert_\(alert)")
                } catch {
                    problems.append(("\(key): \(error)", nil))
                }
            }
        }
        guard problems.isEmpty, let parsed else { return (problems.isEmpty ? nil : RuleDefinition.placeholder(name), problems) }
        let rule = RuleDefinition(
            kind: alert.isEmpty ? .recording : .alerting, name: name, expression: expression, parsed: parsed,
            holdDuration: hold, keepFiringFor: keepFiring, labels: labels, annotations: annotations)
        return (rule, [])
    }

    private static func placeholder(_ name: String) -> RuleDefinition {
        RuleDefinition(kind: .recording, name: name, expression: "", parsed: .number(0), holdDuration: 0, keepFiringFor: 0, labels: [], annotations: [])
    }

    private static func pairs(_ node: Node?, context: String) throws(YAMLProblem) -> [(name: String, value: String)] {
        guard let node else { return [] }
        let mapping = try YAMLMapping(node, context: context, allowed: nil)
        var result: [(name: String, value: String)] = []
        for key in mapping.keys {
            guard let value = mapping[key] else {
                result.append((key, ""))
                continue
            }
            guard let text = value.scalar?.string else {
                throw YAMLProblem(line: value.mark?.line, problem: "cannot unmarshal \(value.sequence != nil ? "!!seq" : "!!map") into Go value of type string (\(context).\(key))")
            }
            result.append((key, text))
        }
        return result
    }
}

/// Everything wrong with one rule file, in promtool's wording.
public struct RuleFileErrors: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var problems: [String]

    /// One line per problem, each starting with the file name.
    public var description: String { problems.map { "\(path): \($0)" }.joined(separator: "\n") }
}
