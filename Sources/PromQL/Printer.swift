import TimeSeries

extension Expr: CustomStringConvertible {
    /// The expression in PromQL, fully parenthesised where the tree had parentheses; parsing it
    /// again gives the same tree.
    public var description: String {
        switch self {
        case .number(let value):
            if value.isNaN { return "NaN" }
            if value == .infinity { return "+Inf" }
            if value == -.infinity { return "-Inf" }
            return formatNumber(value)
        case .string(let text):
            return quote(text)
        case .vector(let selector):
            return selector.description
        case .matrix(let selector, let range):
            var plain = selector
            plain.offset = 0
            plain.at = nil
            return plain.description + "[\(PrometheusDuration.format(range))]" + modifiers(offset: selector.offset, at: selector.at)
        case .subquery(let inner, let range, let step, let offset, let at):
            return "\(inner)[\(PrometheusDuration.format(range)):\(step.map(PrometheusDuration.format) ?? "")]" + modifiers(offset: offset, at: at)
        case .call(let name, let arguments):
            return "\(name)(\(arguments.map(\.description).joined(separator: ", ")))"
        case .aggregate(let op, let operand, let parameter, let grouping, let without):
            var text = op.rawValue
            if without || !grouping.isEmpty { text += " \(without ? "without" : "by") (\(grouping.joined(separator: ", ")))" }
            text += " (" + (parameter.map { "\($0), " } ?? "") + operand.description + ")"
            return text
        case .binary(let op, let lhs, let rhs, let matching, let returnBool):
            var text = "\(lhs) \(op.rawValue)"
            if returnBool { text += " bool" }
            if let matching, matching.cardinality != .manyToMany || matching.on || !matching.labels.isEmpty {
                if matching.on || !matching.labels.isEmpty {
                    text += " \(matching.on ? "on" : "ignoring") (\(matching.labels.joined(separator: ", ")))"
                }
                switch matching.cardinality {
                case .manyToOne: text += " group_left (\(matching.include.joined(separator: ", ")))"
                case .oneToMany: text += " group_right (\(matching.include.joined(separator: ", ")))"
                default: break
                }
            }
            return text + " \(rhs)"
        case .negate(let inner):
            return "-\(inner)"
        case .parenthesized(let inner):
            return "(\(inner))"
        }
    }
}

extension VectorSelector: CustomStringConvertible {
    public var description: String {
        let others = matchers.filter { !($0.name == Labels.metricName && $0.kind == .equal && $0.value == name) }
        var text = name ?? ""
        if !others.isEmpty || name == nil {
            text += "{" + others.map { "\($0.name)\($0.kind.rawValue)\(quote($0.value))" }.joined(separator: ", ") + "}"
        }
        return text + modifiers(offset: offset, at: at)
    }
}

private func modifiers(offset: Int64, at: AtModifier?) -> String {
    var text = ""
    if offset > 0 { text += " offset \(PrometheusDuration.format(offset))" }
    if offset < 0 { text += " offset -\(PrometheusDuration.format(-offset))" }
    switch at {
    case .time(let milliseconds): text += " @ \(formatNumber(Double(milliseconds) / 1000))"
    case .start: text += " @ start()"
    case .end: text += " @ end()"
    case nil: break
    }
    return text
}

/// A number as Prometheus prints it: integers without a fraction, others shortest exact.
func formatNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return "\(value)"
}

/// A double-quoted PromQL string.
func quote(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": result += "\\\\"
        case "\"": result += "\\\""
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case "\r": result += "\\r"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
