public import TimeSeries

/// The type an expression evaluates to.
public enum ValueType: String, Sendable, Equatable {
    case scalar, vector = "instant vector", matrix = "range vector", string

    /// The name the HTTP API uses in `resultType`.
    public var resultType: String {
        switch self {
        case .scalar: return "scalar"
        case .vector: return "vector"
        case .matrix: return "matrix"
        case .string: return "string"
        }
    }
}

/// Where an `@` modifier pins evaluation.
public enum AtModifier: Sendable, Equatable {
    /// A fixed time in milliseconds.
    case time(Int64)
    /// The start or the end of the range query (the evaluation time of an instant query).
    case start, end
}

/// `metric{label="value"} offset 5m @ 1700000000`.
public struct VectorSelector: Sendable, Equatable {
    /// The metric name written before the braces, if any (also present as a `__name__` matcher).
    public var name: String?
    public var matchers: [LabelMatcher]
    /// Milliseconds to shift back (negative: forward).
    public var offset: Int64 = 0
    public var at: AtModifier?
}

/// Binary operators, by precedence from lowest.
public enum BinaryOperator: String, Sendable, Equatable, CaseIterable {
    case or, and, unless
    case equal = "==", notEqual = "!=", greater = ">", less = "<", greaterEqual = ">=", lessEqual = "<="
    case add = "+", subtract = "-"
    case multiply = "*", divide = "/", modulo = "%", atan2
    case power = "^"

    var precedence: Int {
        switch self {
        case .or: return 1
        case .and, .unless: return 2
        case .equal, .notEqual, .greater, .less, .greaterEqual, .lessEqual: return 3
        case .add, .subtract: return 4
        case .multiply, .divide, .modulo, .atan2: return 5
        case .power: return 6
        }
    }

    var isComparison: Bool { precedence == 3 }
    var isSetOperator: Bool { self == .and || self == .or || self == .unless }
}

/// How the two sides of a binary operation between vectors are matched.
public struct VectorMatching: Sendable, Equatable {
    public enum Cardinality: Sendable, Equatable { case oneToOne, manyToOne, oneToMany, manyToMany }
    public var cardinality: Cardinality = .oneToOne
    /// `on(…)` when true, `ignoring(…)` when false.
    public var on = false
    public var labels: [String] = []
    /// Labels `group_left(…)`/`group_right(…)` copy from the "one" side.
    public var include: [String] = []
}

/// Aggregation operators.
public enum AggregateOperator: String, Sendable, Equatable, CaseIterable {
    case sum, min, max, avg, group, stddev, stdvar, count, count_values, bottomk, topk, quantile

    var takesParameter: Bool { self == .count_values || self == .bottomk || self == .topk || self == .quantile }
}

/// A PromQL expression.
public indirect enum Expr: Sendable, Equatable {
    case number(Double)
    case string(String)
    case vector(VectorSelector)
    /// A range selector: the selector and its range in milliseconds.
    case matrix(VectorSelector, range: Int64)
    /// `expr[range:step] offset … @ …`; `step` nil means the evaluation interval.
    case subquery(Expr, range: Int64, step: Int64?, offset: Int64, at: AtModifier?)
    case call(String, [Expr])
    case aggregate(AggregateOperator, Expr, parameter: Expr?, grouping: [String], without: Bool)
    case binary(BinaryOperator, Expr, Expr, matching: VectorMatching?, returnBool: Bool)
    case negate(Expr)
    case parenthesized(Expr)

    /// The type the expression evaluates to.
    public var type: ValueType {
        switch self {
        case .number: return .scalar
        case .string: return .string
        case .vector: return .vector
        case .matrix, .subquery: return .matrix
        case .call(let name, let arguments):
            if name == "label_replace" || name == "label_join" { return .vector }
            return FunctionTable.functions[name]?.returns(arguments) ?? .vector
        case .aggregate: return .vector
        case .binary(_, let lhs, let rhs, _, _):
            return lhs.type == .scalar && rhs.type == .scalar ? .scalar : .vector
        case .negate(let expr), .parenthesized(let expr): return expr.type
        }
    }
}
