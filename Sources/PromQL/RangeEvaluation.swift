import TimeSeries

/// One series of a node's values at every step of a range query.
struct StepSeries {
    var labels: Labels
    /// The value at each step; meaningful where `present` is true.
    var values: [Double]
    var present: [Bool]
    /// How many steps have a value.
    var points = 0

    init(labels: Labels, steps: Int) {
        self.labels = labels
        values = Array(repeating: 0, count: steps)
        present = Array(repeating: false, count: steps)
    }

    mutating func set(_ step: Int, _ value: Double) {
        if !present[step] {
            present[step] = true
            points += 1
        }
        values[step] = value
    }
}

/// A node's values at every step of a range query: a scalar per step, or series.
enum StepValues {
    case scalar([Double])
    case series([StepSeries])
}

/// Range queries node by node over all steps, as Prometheus evaluates them: each selector's
/// series is walked once with moving window bounds, and everything that depends only on a
/// series' labels (the name dropped, the grouping key, the matching signature, the histogram
/// group) is worked out once per series rather than once per step.
///
/// Nodes without a vectorised form here (set operators, group modifiers, `topk`, subqueries,
/// label functions, …) are evaluated step by step and their results gathered into the same
/// shape, so a query mixes both freely. Where a vectorised node would need the step-by-step
/// evaluator's error checks (two series left with the same labels), that node is evaluated
/// step by step instead, which reports exactly what an instant query at that step reports.
extension Evaluator {
    var stepCount: Int { Int((end - start) / step) + 1 }

    func stepTime(_ index: Int) -> Int64 { start + Int64(index) * step }

    /// The matrix of a range query evaluated node by node; nil when some step's values cannot
    /// be held in this shape (the caller then evaluates the query step by step).
    func rangeMatrix(_ expr: Expr) throws(QueryError) -> [RangeSeries]? {
        guard let values = try stepValues(expr) else { return nil }
        var result: [RangeSeries] = []
        switch values {
        case .scalar(let numbers):
            result.append(RangeSeries(labels: .empty, samples: numbers.enumerated().map { Sample(stepTime($0.offset), $0.element) }))
        case .series(let series):
            var points = 0
            for entry in series where entry.points > 0 {
                points += entry.points
                if points > engine.maxSamples { throw .tooManySamples(limit: engine.maxSamples) }
                var samples: [Sample] = []
                samples.reserveCapacity(entry.points)
                for index in entry.present.indices where entry.present[index] {
                    samples.append(Sample(stepTime(index), entry.values[index]))
                }
                result.append(RangeSeries(labels: entry.labels, samples: samples))
            }
        }
        return result.sorted { $0.labels < $1.labels }
    }

    func checkDeadline() throws(QueryError) {
        if ContinuousClock.now > deadline { throw .timeout(engine.timeout) }
        if Task.isCancelled { throw .canceled }
    }

    /// `expr` at every step: vectorised where this file knows how, step by step otherwise.
    func stepValues(_ expr: Expr) throws(QueryError) -> StepValues? {
        try checkDeadline()
        if let vectorised = try vectorisedValues(expr) {
            try checkPoints(vectorised)
            return vectorised
        }
        return try stepwiseValues(expr)
    }

    private func checkPoints(_ values: StepValues) throws(QueryError) {
        guard case .series(let series) = values else { return }
        var points = 0
        for entry in series { points += entry.points }
        if points > engine.maxSamples { throw .tooManySamples(limit: engine.maxSamples) }
    }

    /// The node's own vectorised evaluation, or nil to evaluate it step by step.
    private func vectorisedValues(_ expr: Expr) throws(QueryError) -> StepValues? {
        switch expr {
        case .number(let value): return .scalar(Array(repeating: value, count: stepCount))
        case .parenthesized(let inner): return try stepValues(inner)
        case .vector(let selector): return .series(selectSteps(selector))
        case .negate(let inner):
            switch try stepValues(inner) {
            case .scalar(let numbers): return .scalar(numbers.map { -$0 })
            case .series(let series): return unique(series.map { mapped($0, labels: memo.droppingName($0.labels)) { -$0 } })
            case nil: return nil
            }
        case .binary(let op, let lhs, let rhs, let matching, let returnBool):
            return try binarySteps(op, lhs, rhs, matching: matching, returnBool: returnBool)
        case .aggregate(let op, let operand, let parameter, let grouping, let without):
            return parameter == nil ? try aggregateSteps(op, operand, grouping: grouping, without: without) : nil
        case .call(let name, let arguments):
            return try callSteps(name, arguments)
        case .string, .matrix, .subquery:
            return nil
        }
    }

    /// `expr` evaluated at each step by the instant evaluator, gathered by labels; nil when a
    /// step yields two elements with the same labels (only the step-by-step query keeps those).
    private func stepwiseValues(_ expr: Expr) throws(QueryError) -> StepValues? {
        let steps = stepCount
        if expr.type == .scalar {
            var numbers = Array(repeating: Double.nan, count: steps)
            for index in 0..<steps {
                guard case .scalar(let value) = try evaluate(expr, at: stepTime(index)) else { return nil }
                numbers[index] = value
            }
            return .scalar(numbers)
        }
        var positions: [Labels: Int] = [:]
        var series: [StepSeries] = []
        var points = 0
        for index in 0..<steps {
            guard case .vector(let samples) = try evaluate(expr, at: stepTime(index)) else { return nil }
            for sample in samples {
                let position: Int
                if let known = positions[sample.labels] {
                    position = known
                } else {
                    position = series.count
                    positions[sample.labels] = position
                    series.append(StepSeries(labels: sample.labels, steps: steps))
                }
                if series[position].present[index] { return nil }
                series[position].set(index, sample.value)
            }
            points += samples.count
            if points > engine.maxSamples { throw .tooManySamples(limit: engine.maxSamples) }
        }
        return .series(series)
    }

    /// The series, or nil (evaluate step by step) when two of them have the same labels.
    private func unique(_ series: [StepSeries]) -> StepValues? {
        var seen = Set<Labels>(minimumCapacity: series.count)
        for entry in series where !seen.insert(entry.labels).inserted { return nil }
        return .series(series)
    }

    private func mapped(_ series: StepSeries, labels: Labels, _ transform: (Double) -> Double) -> StepSeries {
        var result = series
        result.labels = labels
        for index in result.values.indices where result.present[index] { result.values[index] = transform(result.values[index]) }
        return result
    }

    // MARK: Selectors

    /// An instant selector at every step: one forward walk per series.
    private func selectSteps(_ selector: VectorSelector) -> [StepSeries] {
        let steps = stepCount
        let selected = loaded[SelectorKey(matchers: selector.matchers)] ?? []
        var result: [StepSeries] = []
        result.reserveCapacity(selected.count)
        for series in selected {
            var output = StepSeries(labels: series.labels, steps: steps)
            let samples = series.samples
            var last = -1
            for index in 0..<steps {
                let reference = atTime(selector.at, default: stepTime(index)) - selector.offset
                while last + 1 < samples.count && samples[last + 1].timestamp <= reference { last += 1 }
                guard last >= 0 else { continue }
                let sample = samples[last]
                guard sample.timestamp >= reference - engine.lookbackDelta, !StaleMarker.isMarker(sample.value) else { continue }
                output.set(index, sample.value)
            }
            if output.points > 0 { result.append(output) }
        }
        return result
    }

    /// A function of a range selector's window at every step: the window's bounds move forward
    /// through each series once, and each window is a slice of the loaded samples.
    private func windowSteps(
        _ selector: VectorSelector, range: Int64, keepName: Bool, _ function: (WindowSeries) -> Double?
    ) throws(QueryError) -> StepValues? {
        let steps = stepCount
        let selected = loaded[SelectorKey(matchers: selector.matchers)] ?? []
        var result: [StepSeries] = []
        result.reserveCapacity(selected.count)
        for series in selected {
            try checkDeadline()
            let labels = keepName ? series.labels : memo.droppingName(series.labels)
            var output = StepSeries(labels: labels, steps: steps)
            let samples = series.samples
            var first = 0
            var last = -1
            for index in 0..<steps {
                let rangeEnd = atTime(selector.at, default: stepTime(index)) - selector.offset
                let rangeStart = rangeEnd - range
                while last + 1 < samples.count && samples[last + 1].timestamp <= rangeEnd { last += 1 }
                while first < samples.count && samples[first].timestamp < rangeStart { first += 1 }
                guard first <= last else { continue }
                var window = samples[first...last]
                if series.hasStaleMarkers {
                    window = ArraySlice(window.filter { !StaleMarker.isMarker($0.value) })
                    guard !window.isEmpty else { continue }
                }
                if let value = function(WindowSeries(labels: series.labels, samples: window, rangeStart: rangeStart, rangeEnd: rangeEnd)) {
                    output.set(index, value)
                }
            }
            if output.points > 0 { result.append(output) }
        }
        return unique(result)
    }

    // MARK: Functions

    private func callSteps(_ name: String, _ arguments: [Expr]) throws(QueryError) -> StepValues? {
        if name == "time" {
            return .scalar((0..<stepCount).map { Double(stepTime($0)) / 1000 })
        }
        if let transform = Self.elementwise[name] {
            guard case .series(let series)? = try stepValues(arguments[0]) else { return nil }
            return unique(series.map { mapped($0, labels: memo.droppingName($0.labels), transform) })
        }
        if let function = Self.overTime[name] {
            guard case .matrix(let selector, let range) = arguments[0] else { return nil }
            return try windowSteps(selector, range: range, keepName: false, function)
        }
        switch name {
        case "last_over_time", "present_over_time":
            guard case .matrix(let selector, let range) = arguments[0] else { return nil }
            let keepName = name == "last_over_time"
            return try windowSteps(selector, range: range, keepName: keepName) { window in keepName ? window.samples.last?.value : 1 }
        case "histogram_quantile":
            return try histogramQuantileSteps(arguments)
        default:
            return nil
        }
    }

    /// histogram_quantile with each series' bucket bound and group worked out once.
    private func histogramQuantileSteps(_ arguments: [Expr]) throws(QueryError) -> StepValues? {
        guard case .scalar(let quantiles)? = try stepValues(arguments[0]),
            case .series(let series)? = try stepValues(arguments[1])
        else { return nil }
        var positions: [Labels: Int] = [:]
        var members: [[(bound: Double, series: Int)]] = []
        var keys: [Labels] = []
        for (index, entry) in series.enumerated() {
            guard let bound = entry.labels["le"].flatMap(parseGoFloat) else { continue }
            let key = memo.bucketGroup(entry.labels)
            if let position = positions[key] {
                members[position].append((bound, index))
            } else {
                positions[key] = keys.count
                keys.append(key)
                members.append([(bound, index)])
            }
        }
        var result: [StepSeries] = []
        var buckets: [(Double, Double)] = []
        for (key, group) in zip(keys, members) {
            try checkDeadline()
            var output = StepSeries(labels: key, steps: stepCount)
            for index in 0..<stepCount {
                buckets.removeAll(keepingCapacity: true)
                for member in group where series[member.series].present[index] {
                    buckets.append((member.bound, series[member.series].values[index]))
                }
                if !buckets.isEmpty { output.set(index, bucketQuantile(quantiles[index], buckets)) }
            }
            result.append(output)
        }
        return .series(result)
    }

    // MARK: Aggregations

    private func aggregateSteps(
        _ op: AggregateOperator, _ operand: Expr, grouping: [String], without: Bool
    ) throws(QueryError) -> StepValues? {
        switch op {
        case .sum, .min, .max, .avg, .group, .stddev, .stdvar, .count: break
        case .quantile, .count_values, .topk, .bottomk: return nil
        }
        guard case .series(let series)? = try stepValues(operand) else { return nil }
        let keys = memo.groupKeys(grouping: grouping, without: without)
        let steps = stepCount
        var positions: [Labels: Int] = [:]
        var order: [Labels] = []
        // Group `g` at step `i` is groups[g * steps + i], started where started[…] is true.
        var groups: [Group] = []
        var started: [Bool] = []
        for entry in series {
            try checkDeadline()
            let key = keys.key(for: entry.labels)
            let position: Int
            if let known = positions[key] {
                position = known
            } else {
                position = order.count
                positions[key] = position
                order.append(key)
                groups.append(contentsOf: repeatElement(Group(first: 0), count: steps))
                started.append(contentsOf: repeatElement(false, count: steps))
            }
            let base = position * steps
            for index in 0..<steps where entry.present[index] {
                if started[base + index] {
                    groups[base + index].add(entry.values[index], op)
                } else {
                    groups[base + index] = Group(first: entry.values[index])
                    started[base + index] = true
                }
            }
        }
        var result: [StepSeries] = []
        result.reserveCapacity(order.count)
        for (position, key) in order.enumerated() {
            var output = StepSeries(labels: key, steps: steps)
            for index in 0..<steps where started[position * steps + index] {
                output.set(index, groups[position * steps + index].result(op))
            }
            result.append(output)
        }
        return .series(result)
    }

    // MARK: Binary operators

    private func binarySteps(
        _ op: BinaryOperator, _ lhsExpr: Expr, _ rhsExpr: Expr, matching: VectorMatching?, returnBool: Bool
    ) throws(QueryError) -> StepValues? {
        if op.isSetOperator { return nil }
        if let matching, matching.cardinality != .oneToOne { return nil }
        guard let lhs = try stepValues(lhsExpr), let rhs = try stepValues(rhsExpr) else { return nil }
        switch (lhs, rhs) {
        case (.scalar(let a), .scalar(let b)):
            return .scalar(zip(a, b).map { a, b in
                let (value, keep) = Self.apply(op, a, b)
                return op.isComparison ? (keep ? 1 : 0) : value
            })
        case (.series(let series), .scalar(let numbers)):
            return scalarSteps(op, series, numbers, scalarOnLeft: false, returnBool: returnBool)
        case (.scalar(let numbers), .series(let series)):
            return scalarSteps(op, series, numbers, scalarOnLeft: true, returnBool: returnBool)
        case (.series(let left), .series(let right)):
            return try vectorSteps(op, left, right, matching ?? VectorMatching(), returnBool: returnBool)
        }
    }

    private func scalarSteps(_ op: BinaryOperator, _ series: [StepSeries], _ numbers: [Double], scalarOnLeft: Bool, returnBool: Bool) -> StepValues? {
        let dropsName = Self.dropsName(op) || returnBool
        var result: [StepSeries] = []
        result.reserveCapacity(series.count)
        for entry in series {
            var output = StepSeries(labels: dropsName ? memo.droppingName(entry.labels) : entry.labels, steps: stepCount)
            for index in entry.present.indices where entry.present[index] {
                let (a, b) = scalarOnLeft ? (numbers[index], entry.values[index]) : (entry.values[index], numbers[index])
                var (value, keep) = Self.apply(op, a, b)
                if op.isComparison && scalarOnLeft { value = b }
                if returnBool {
                    value = keep ? 1 : 0
                    keep = true
                }
                if keep { output.set(index, value) }
            }
            if output.points > 0 { result.append(output) }
        }
        return dropsName ? unique(result) : .series(result)
    }

    /// One-to-one matching between two vectors, each pair found once: nil (step by step) when
    /// signatures repeat on either side, where matching errors depend on the step.
    private func vectorSteps(_ op: BinaryOperator, _ left: [StepSeries], _ right: [StepSeries], _ matching: VectorMatching, returnBool: Bool) throws(QueryError) -> StepValues? {
        var partners: [Labels: Int] = [:]
        for (index, entry) in right.enumerated() {
            guard partners.updateValue(index, forKey: Self.signature(entry.labels, matching)) == nil else { return nil }
        }
        var seen = Set<Labels>(minimumCapacity: left.count)
        var result: [StepSeries] = []
        for entry in left {
            try checkDeadline()
            let signature = Self.signature(entry.labels, matching)
            guard seen.insert(signature).inserted else { return nil }
            guard let partnerIndex = partners[signature] else { continue }
            let partner = right[partnerIndex]
            var output = StepSeries(labels: resultLabels(entry.labels, partner.labels, op, matching, returnBool: returnBool), steps: stepCount)
            for index in entry.present.indices where entry.present[index] && partner.present[index] {
                var (value, keep) = Self.apply(op, entry.values[index], partner.values[index])
                if returnBool {
                    value = keep ? 1 : 0
                    keep = true
                }
                if keep { output.set(index, value) }
            }
            if output.points > 0 { result.append(output) }
        }
        return unique(result)
    }
}
