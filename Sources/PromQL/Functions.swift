/// What a PromQL function takes and returns.
struct FunctionSignature: Sendable {
    let arguments: [ValueType]
    /// How many trailing arguments may be left out.
    let optional: Int
    /// Whether the last argument may repeat (label_join's source labels).
    let variadic: Bool
    let returnType: ValueType

    func returns(_ arguments: [Expr]) -> ValueType { returnType }
}

/// Every function of Prometheus 2.42 over float samples, with its signature.
enum FunctionTable {
    static let functions: [String: FunctionSignature] = {
        var table: [String: FunctionSignature] = [:]
        func add(_ names: [String], _ arguments: [ValueType], optional: Int = 0, variadic: Bool = false, returns: ValueType = .vector) {
            for name in names { table[name] = FunctionSignature(arguments: arguments, optional: optional, variadic: variadic, returnType: returns) }
        }
        add(
            ["abs", "ceil", "exp", "floor", "ln", "log10", "log2", "sqrt", "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh",
             "tan", "tanh", "deg", "rad", "sgn", "sort", "sort_desc", "absent", "timestamp"], [.vector])
        add(["round"], [.vector, .scalar], optional: 1)
        add(["clamp"], [.vector, .scalar, .scalar])
        add(["clamp_max", "clamp_min"], [.vector, .scalar])
        add(["day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"], [.vector], optional: 1)
        add(
            ["avg_over_time", "count_over_time", "last_over_time", "max_over_time", "min_over_time", "present_over_time", "stddev_over_time",
             "stdvar_over_time", "sum_over_time", "absent_over_time", "changes", "resets", "delta", "deriv", "idelta", "increase", "irate", "rate"],
            [.matrix])
        add(["quantile_over_time"], [.scalar, .matrix])
        add(["predict_linear"], [.matrix, .scalar])
        add(["holt_winters"], [.matrix, .scalar, .scalar])
        add(["histogram_quantile"], [.scalar, .vector])
        add(["label_replace"], [.vector, .string, .string, .string, .string])
        add(["label_join"], [.vector, .string, .string, .string], optional: 1, variadic: true)
        add(["pi", "time"], [], returns: .scalar)
        add(["scalar"], [.vector], returns: .scalar)
        add(["vector"], [.scalar])
        return table
    }()
}
