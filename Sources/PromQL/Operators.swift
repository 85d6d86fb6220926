import Foundation
import TimeSeries

/// Go's math.Min and math.Max: NaN wins, and −0 is less than +0 (Swift's min/max differ).
func goMin(_ a: Double, _ b: Double) -> Double {
    if a.isNaN || b.isNaN { return .nan }
    if a == 0 && b == 0 { return a.sign == .minus ? a : b }
    return a < b ? a : b
}

func goMax(_ a: Double, _ b: Double) -> Double {
    if a.isNaN || b.isNaN { return .nan }
    if a == 0 && b == 0 { return a.sign == .minus ? b : a }
    return a > b ? a : b
}

extension Evaluator {
    /// `lhs op rhs` on two values; for comparisons, whether to keep the element.
    static func apply(_ op: BinaryOperator, _ lhs: Double, _ rhs: Double) -> (Double, Bool) {
        switch op {
        case .add: return (lhs + rhs, true)
        case .subtract: return (lhs - rhs, true)
        case .multiply: return (lhs * rhs, true)
        case .divide: return (lhs / rhs, true)
        case .power: return (pow(lhs, rhs), true)
        case .modulo: return (fmod(lhs, rhs), true)
        case .atan2: return (atan2(lhs, rhs), true)
        case .equal: return (lhs, lhs == rhs)
        case .notEqual: return (lhs, lhs != rhs)
        case .greater: return (lhs, lhs > rhs)
        case .less: return (lhs, lhs < rhs)
        case .greaterEqual: return (lhs, lhs >= rhs)
        case .lessEqual: return (lhs, lhs <= rhs)
        case .and, .or, .unless: return (lhs, true)
        }
    }

    /// Arithmetic drops the metric name; comparisons keep it unless `bool` is given, and so
    /// does `atan2` (as in Prometheus 2.42).
    static func dropsName(_ op: BinaryOperator) -> Bool {
        switch op {
        case .add, .subtract, .multiply, .divide, .power, .modulo: return true
        default: return false
        }
    }

    func binary(_ op: BinaryOperator, _ lhsExpr: Expr, _ rhsExpr: Expr, matching: VectorMatching?, returnBool: Bool, at time: Int64) throws(QueryError) -> Value {
        let lhs = try evaluate(lhsExpr, at: time)
        let rhs = try evaluate(rhsExpr, at: time)
        switch (lhs, rhs) {
        case (.scalar(let a), .scalar(let b)):
            var (value, keep) = Self.apply(op, a, b)
            if op.isComparison { value = keep ? 1 : 0 }
            return .scalar(value)
        case (.vector(let samples), .scalar(let b)):
            return .vector(try scalarOperation(op, samples, b, scalarOnLeft: false, returnBool: returnBool, time: time))
        case (.scalar(let a), .vector(let samples)):
            return .vector(try scalarOperation(op, samples, a, scalarOnLeft: true, returnBool: returnBool, time: time))
        case (.vector(let left), .vector(let right)):
            let vectorMatching = matching ?? VectorMatching(cardinality: op.isSetOperator ? .manyToMany : .oneToOne)
            switch op {
            case .and: return .vector(setAnd(left, right, vectorMatching))
            case .or: return .vector(setOr(left, right, vectorMatching))
            case .unless: return .vector(setUnless(left, right, vectorMatching))
            default: return .vector(try vectorOperation(op, left, right, vectorMatching, returnBool: returnBool, time: time))
            }
        default:
            throw .execution("binary operation on values of the wrong type")
        }
    }

    private func scalarOperation(
        _ op: BinaryOperator, _ samples: [VectorSample], _ scalar: Double, scalarOnLeft: Bool, returnBool: Bool, time: Int64
    ) throws(QueryError) -> [VectorSample] {
        var result: [VectorSample] = []
        result.reserveCapacity(samples.count)
        for sample in samples {
            let (a, b) = scalarOnLeft ? (scalar, sample.value) : (sample.value, scalar)
            var (value, keep) = Self.apply(op, a, b)
            // A comparison keeps the vector's own value, whichever side it is on.
            if op.isComparison && scalarOnLeft { value = b }
            if returnBool {
                value = keep ? 1 : 0
                keep = true
            }
            guard keep else { continue }
            let labels = Self.dropsName(op) || returnBool ? memo.droppingName(sample.labels) : sample.labels
            result.append(VectorSample(labels: labels, timestamp: time, value: value))
        }
        if Self.dropsName(op) || returnBool { try checkUnique(result) }
        return result
    }

    /// The labels a sample is matched on.
    static func signature(_ labels: Labels, _ matching: VectorMatching) -> Labels {
        if matching.on {
            return Labels(labels.filter { matching.labels.contains($0.name) })
        }
        return Labels(labels.filter { $0.name != Labels.metricName && !matching.labels.contains($0.name) })
    }

    private func setAnd(_ left: [VectorSample], _ right: [VectorSample], _ matching: VectorMatching) -> [VectorSample] {
        let present = Set(right.map { Self.signature($0.labels, matching) })
        return left.filter { present.contains(Self.signature($0.labels, matching)) }
    }

    private func setOr(_ left: [VectorSample], _ right: [VectorSample], _ matching: VectorMatching) -> [VectorSample] {
        let present = Set(left.map { Self.signature($0.labels, matching) })
        return left + right.filter { !present.contains(Self.signature($0.labels, matching)) }
    }

    private func setUnless(_ left: [VectorSample], _ right: [VectorSample], _ matching: VectorMatching) -> [VectorSample] {
        let present = Set(right.map { Self.signature($0.labels, matching) })
        return left.filter { !present.contains(Self.signature($0.labels, matching)) }
    }

    private func vectorOperation(
        _ op: BinaryOperator, _ left: [VectorSample], _ right: [VectorSample], _ matching: VectorMatching, returnBool: Bool, time: Int64
    ) throws(QueryError) -> [VectorSample] {
        // group_right swaps the sides: the "one" side is always `one` below.
        let swapped = matching.cardinality == .oneToMany
        let many = swapped ? right : left
        let one = swapped ? left : right
        var oneBySignature: [Labels: VectorSample] = [:]
        for sample in one {
            let signature = Self.signature(sample.labels, matching)
            if let existing = oneBySignature[signature] {
                let side = swapped ? "left" : "right"
                throw .execution(
                    "found duplicate series for the match group \(signature) on the \(side) hand-side of the operation: [\(existing.labels), \(sample.labels)];many-to-many matching not allowed: matching labels must be unique on one side")
            }
            oneBySignature[signature] = sample
        }
        // One-to-one: each signature may match once. Group modifiers: each result once per group.
        var matched: [Labels: Set<Labels>] = [:]
        var result: [VectorSample] = []
        for sample in many {
            let signature = Self.signature(sample.labels, matching)
            guard let partner = oneBySignature[signature] else { continue }
            // Operands in the order written, whichever side is the "many" one.
            let (a, b) = swapped ? (partner.value, sample.value) : (sample.value, partner.value)
            var (value, keep) = Self.apply(op, a, b)
            if returnBool {
                value = keep ? 1 : 0
                keep = true
            }
            guard keep else { continue }
            let labels = resultLabels(sample.labels, partner.labels, op, matching, returnBool: returnBool)
            if matching.cardinality == .oneToOne {
                guard matched[signature] == nil else {
                    throw .execution("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
                }
                matched[signature] = []
            } else {
                guard matched[signature, default: []].insert(labels).inserted else {
                    throw .execution("multiple matches for labels: grouping labels must ensure unique matches")
                }
            }
            result.append(VectorSample(labels: labels, timestamp: time, value: value))
        }
        try checkUnique(result)
        return result
    }

    func resultLabels(_ many: Labels, _ one: Labels, _ op: BinaryOperator, _ matching: VectorMatching, returnBool: Bool) -> Labels {
        var labels = many
        if Self.dropsName(op) || returnBool { labels = memo.droppingName(labels) }
        if matching.cardinality == .oneToOne {
            if matching.on {
                labels = Labels(labels.filter { matching.labels.contains($0.name) })
            } else {
                for name in matching.labels { labels = labels.removing(name) }
            }
        }
        for name in matching.include {
            labels = labels.setting(name, to: one[name] ?? "")
        }
        return labels
    }
}
