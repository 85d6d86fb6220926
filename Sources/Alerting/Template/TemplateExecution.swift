/// One sample of a `query` result inside a template: `.Labels` and `.Value`.
public struct TemplateSample: Sendable, Equatable {
    public var labels: [String: String]
    public var value: Double

    public init(labels: [String: String], value: Double) {
        self.labels = labels
        self.value = value
    }
}

/// What an alert's templates see: `$labels`, `$externalLabels`, `$externalURL`, `$value`,
/// and the `query` function (evaluated at the alert's evaluation time).
public struct TemplateData: Sendable {
    public var labels: [String: String]
    public var externalLabels: [String: String]
    public var externalURL: String
    public var value: Double
    /// Runs a PromQL query for the `query` template function.
    public var query: @Sendable (String) throws -> [TemplateSample]

    public init(
        labels: [String: String], externalLabels: [String: String] = [:], externalURL: String = "", value: Double,
        query: @escaping @Sendable (String) throws -> [TemplateSample] = { _ in throw TemplateError("query is not available here") }
    ) {
        self.labels = labels
        self.externalLabels = externalLabels
        self.externalURL = externalURL
        self.value = value
        self.query = query
    }
}

/// A value inside template execution, with Go's printing and truth rules.
indirect enum TemplateValue {
    case string(String)
    case float(Double)
    case int(Int)
    case bool(Bool)
    case map([String: String])
    case samples([TemplateSample])
    case sample(TemplateSample)
    case list([TemplateValue])
    case record([String: TemplateValue], type: String)
    /// A time, as seconds since the epoch (from `toTime`).
    case time(Double)
    case null

    /// Go's `fmt.Sprint` of the value.
    var printed: String {
        switch self {
        case .string(let text): return text
        case .float(let number): return GoFormat.value(number)
        case .int(let number): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .map(let pairs): return "map[" + pairs.keys.sorted().map { "\($0):\(pairs[$0] ?? "")" }.joined(separator: " ") + "]"
        case .samples(let samples): return "[" + samples.map { TemplateValue.sample($0).printed }.joined(separator: " ") + "]"
        case .sample(let sample): return "{\(TemplateValue.map(sample.labels).printed) \(GoFormat.value(sample.value))}"
        case .list(let items): return "[" + items.map(\.printed).joined(separator: " ") + "]"
        case .record(_, let type): return "{\(type)}"
        case .time(let seconds): return GoTime.string(seconds: seconds)
        case .null: return "<no value>"
        }
    }

    /// Go's truth: false, zero, empty and nil are false.
    var isTrue: Bool {
        switch self {
        case .string(let text): return !text.isEmpty
        case .float(let number): return number != 0
        case .int(let number): return number != 0
        case .bool(let flag): return flag
        case .map(let pairs): return !pairs.isEmpty
        case .samples(let samples): return !samples.isEmpty
        case .list(let items): return !items.isEmpty
        case .sample, .record, .time: return true
        case .null: return false
        }
    }

    var typeName: String {
        switch self {
        case .string: return "string"
        case .float: return "float64"
        case .int: return "int"
        case .bool: return "bool"
        case .map: return "map[string]string"
        case .samples: return "template.queryResult"
        case .sample: return "*template.sample"
        case .list: return "[]interface {}"
        case .record(_, let type): return type
        case .time: return "time.Time"
        case .null: return "<nil>"
        }
    }
}

extension Template {
    /// The template's text for `data`. Errors name the template and what failed.
    public func execute(_ data: TemplateData) throws(TemplateError) -> String {
        let dot = TemplateValue.record(
            [
                "Labels": .map(data.labels), "ExternalLabels": .map(data.externalLabels),
                "ExternalURL": .string(data.externalURL), "Value": .float(data.value),
            ], type: "template.tmplData")
        var execution = TemplateExecution(query: data.query)
        execution.variables = [
            ("$", dot), ("$labels", .map(data.labels)), ("$externalLabels", .map(data.externalLabels)),
            ("$externalURL", .string(data.externalURL)), ("$value", .float(data.value)),
        ]
        var output = ""
        try execution.run(nodes, dot: dot, into: &output)
        return output
    }
}

struct TemplateExecution {
    let query: @Sendable (String) throws -> [TemplateSample]
    var variables: [(String, TemplateValue)] = []
    /// Bounds `range` work so that no template can run away.
    private var steps = 0
    private static let maxSteps = 1_000_000

    init(query: @escaping @Sendable (String) throws -> [TemplateSample]) {
        self.query = query
    }

    mutating func run(_ nodes: [TemplateNode], dot: TemplateValue, into output: inout String) throws(TemplateError) {
        for node in nodes {
            steps += 1
            guard steps < Self.maxSteps else { throw TemplateError("template execution exceeded \(Self.maxSteps) steps") }
            switch node {
            case .text(let text):
                output += text
            case .action(let pipeline):
                let value = try evaluate(pipeline, dot: dot)
                if pipeline.variables.isEmpty { output += value.printed }
            case .conditional(let pipeline, let then, let otherwise):
                let mark = variables.count
                let value = try evaluate(pipeline, dot: dot)
                try run(value.isTrue ? then : otherwise, dot: dot, into: &output)
                variables.removeSubrange(mark...)
            case .with(let pipeline, let then, let otherwise):
                let mark = variables.count
                let value = try evaluate(pipeline, dot: dot)
                if value.isTrue { try run(then, dot: value, into: &output) } else { try run(otherwise, dot: dot, into: &output) }
                variables.removeSubrange(mark...)
            case .range(let pipeline, let body, let otherwise):
                let mark = variables.count
                var declared = pipeline
                declared.variables = []
                let collection = try evaluate(declared, dot: dot)
                let items: [(TemplateValue, TemplateValue)]
                switch collection {
                case .samples(let samples): items = samples.enumerated().map { (.int($0.offset), .sample($0.element)) }
                case .list(let values): items = values.enumerated().map { (.int($0.offset), $0.element) }
                case .map(let pairs): items = pairs.keys.sorted().map { (.string($0), .string(pairs[$0] ?? "")) }
                case .int(let count): items = (0..<max(0, count)).map { (.int($0), .int($0)) }
                case .null: items = []
                default: throw TemplateError("range can't iterate over \(collection.printed)")
                }
                if items.isEmpty {
                    try run(otherwise, dot: dot, into: &output)
                } else {
                    for (key, element) in items {
                        let inner = variables.count
                        if pipeline.variables.count == 1 {
                            variables.append((pipeline.variables[0], element))
                        } else if pipeline.variables.count == 2 {
                            variables.append((pipeline.variables[0], key))
                            variables.append((pipeline.variables[1], element))
                        }
                        try run(body, dot: element, into: &output)
                        variables.removeSubrange(inner...)
                    }
                }
                variables.removeSubrange(mark...)
            }
        }
    }

    private mutating func evaluate(_ pipeline: TemplatePipeline, dot: TemplateValue) throws(TemplateError) -> TemplateValue {
        var value: TemplateValue?
        for command in pipeline.commands {
            value = try evaluate(command, dot: dot, piped: value)
        }
        let result = value ?? .null
        for name in pipeline.variables {
            if pipeline.isAssignment {
                guard let index = variables.lastIndex(where: { $0.0 == name }) else { throw TemplateError("undefined variable: \(name)") }
                variables[index].1 = result
            } else {
                variables.append((name, result))
            }
        }
        return result
    }

    private mutating func evaluate(_ command: [TemplateOperand], dot: TemplateValue, piped: TemplateValue?) throws(TemplateError) -> TemplateValue {
        guard let first = command.first else { throw TemplateError("empty command") }
        if case .function(let name) = first {
            var arguments: [TemplateValue] = []
            for operand in command.dropFirst() { arguments.append(try evaluate(operand, dot: dot)) }
            if let piped { arguments.append(piped) }
            return try TemplateFunctions.call(name, arguments, query: query)
        }
        guard command.count == 1, piped == nil else { throw TemplateError("can't give argument to non-function \(describe(first))") }
        return try evaluate(first, dot: dot)
    }

    private mutating func evaluate(_ operand: TemplateOperand, dot: TemplateValue) throws(TemplateError) -> TemplateValue {
        switch operand {
        case .dot(let fields): return try access(dot, fields)
        case .variable(let name, let fields):
            guard let value = variables.last(where: { $0.0 == name })?.1 else { throw TemplateError("undefined variable \"\(name)\"") }
            return try access(value, fields)
        case .function(let name): return try TemplateFunctions.call(name, [], query: query)
        case .string(let text): return .string(text)
        case .number(let number, let isInteger): return isInteger ? .int(Int(number)) : .float(number)
        case .bool(let flag): return .bool(flag)
        case .null: return .null
        case .pipeline(let pipeline, let fields): return try access(try evaluate(pipeline, dot: dot), fields)
        }
    }

    private func access(_ value: TemplateValue, _ fields: [String]) throws(TemplateError) -> TemplateValue {
        var current = value
        for field in fields {
            switch current {
            case .map(let pairs): current = .string(pairs[field] ?? "")
            case .record(let members, let type):
                guard let member = members[field] else { throw TemplateError("can't evaluate field \(field) in type \(type)") }
                current = member
            case .sample(let sample):
                switch field {
                case "Labels": current = .map(sample.labels)
                case "Value": current = .float(sample.value)
                default: throw TemplateError("can't evaluate field \(field) in type *template.sample")
                }
            case .null: throw TemplateError("nil pointer evaluating interface {}.\(field)")
            default: throw TemplateError("can't evaluate field \(field) in type \(current.typeName)")
            }
        }
        return current
    }

    private func describe(_ operand: TemplateOperand) -> String {
        switch operand {
        case .string(let text): return "\"\(text)\""
        case .number(let number, _): return GoFormat.value(number)
        case .variable(let name, _): return name
        default: return "value"
        }
    }
}

/// Go's `time.Time.String()` for UTC times: `2006-01-02 15:04:05.999999999 +0000 UTC`.
enum GoTime {
    static func string(seconds: Double) -> String {
        // As Prometheus: seconds → int64 nanoseconds (truncated) → milliseconds (truncated).
        let nanoseconds = seconds * 1e9
        guard abs(nanoseconds) < 9.2e18 else { return "<time out of range>" }
        return string(milliseconds: Int64(nanoseconds) / 1_000_000)
    }

    static func string(milliseconds: Int64) -> String {
        var wholeSeconds = milliseconds / 1000
        var fraction = milliseconds % 1000
        if fraction < 0 {
            fraction += 1000
            wholeSeconds -= 1
        }
        var days = wholeSeconds / 86_400
        var secondOfDay = wholeSeconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        func two(_ number: Int64) -> String { number < 10 ? "0\(number)" : "\(number)" }
        var text = "\(year < 1000 ? String(repeating: "0", count: 4 - String(year).count) : "")\(year)-\(two(month))-\(two(day)) "
        text += "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))"
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 3 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text + " +0000 UTC"
    }

    /// Year, month and day of the proleptic Gregorian calendar for days since 1970-01-01.
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
