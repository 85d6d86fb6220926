import Foundation
import TimeSeries

/// Prometheus's quantile over plain values: sorted with NaN first, linear between ranks.
func quantile(_ q: Double, _ values: [Double]) -> Double {
    guard !values.isEmpty, !q.isNaN else { return .nan }
    if q < 0 { return -.infinity }
    if q > 1 { return .infinity }
    let sorted = values.sorted { lhs, rhs in lhs.isNaN ? !rhs.isNaN : (rhs.isNaN ? false : lhs < rhs) }
    let n = Double(sorted.count)
    let rank = q * (n - 1)
    let lower = max(0, rank.rounded(.down))
    let upper = min(n - 1, lower + 1)
    let weight = rank - rank.rounded(.down)
    return sorted[Int(lower)] * (1 - weight) + sorted[Int(upper)] * weight
}

/// Kahan–Babuška compensated addition, as Prometheus sums.
@inline(never)
func kahanAdd(_ value: Double, _ sum: Double, _ compensation: Double) -> (Double, Double) {
    let total = sum + value
    var c = compensation
    if abs(sum) >= abs(value) {
        c += (sum - total) + value
    } else {
        c += (value - total) + sum
    }
    return (total, c)
}

extension Evaluator {
    /// The grouping key of `labels`: the `by` labels, or all but the `without` ones and the name.
    static func groupLabels(_ labels: Labels, grouping: [String], without: Bool) -> Labels {
        if without {
            return Labels(labels.filter { $0.name != Labels.metricName && !grouping.contains($0.name) })
        }
        return Labels(labels.filter { grouping.contains($0.name) })
    }

    func aggregate(_ op: AggregateOperator, _ operandExpr: Expr, parameter parameterExpr: Expr?, grouping: [String], without: Bool, at time: Int64) throws(QueryError) -> Value {
        guard case .vector(let samples) = try evaluate(operandExpr, at: time) else { throw .execution("aggregation over a non-vector") }
        var scalarParameter = Double.nan
        var stringParameter = ""
        if let parameterExpr {
            switch try evaluate(parameterExpr, at: time) {
            case .scalar(let value): scalarParameter = value
            case .string(let text): stringParameter = text
            default: break
            }
        }
        switch op {
        case .topk, .bottomk:
            // NaN fails both comparisons, as in Prometheus.
            guard scalarParameter >= -9.223372036854775e18, scalarParameter <= 9.223372036854775e18 else {
                throw .execution("Scalar value \(formatGoFloat(scalarParameter)) overflows int64")
            }
            let k = Int(scalarParameter.rounded(.towardZero))
            guard k >= 1 else { return .vector([]) }
            return .vector(selectK(samples, k: k, top: op == .topk, grouping: grouping, without: without, time: time))
        case .count_values:
            guard isValidLabelName(stringParameter) else { throw .execution("invalid label name \"\(stringParameter)\"") }
            var counts: [Labels: Double] = [:]
            var order: [Labels] = []
            for sample in samples {
                let key = Self.groupLabels(sample.labels, grouping: grouping, without: without).setting(stringParameter, to: formatGoFloat(sample.value))
                if counts[key] == nil { order.append(key) }
                counts[key, default: 0] += 1
            }
            return .vector(order.map { VectorSample(labels: $0, timestamp: time, value: counts[$0] ?? 0) })
        default:
            break
        }
        let keys = memo.groupKeys(grouping: grouping, without: without)
        var positions: [Labels: Int] = [:]
        var groups: [Group] = []
        var values: [[Double]] = []  // quantile's
        var order: [Labels] = []
        for sample in samples {
            let key = keys.key(for: sample.labels)
            if let position = positions[key] {
                if op == .quantile { values[position].append(sample.value) } else { groups[position].add(sample.value, op) }
            } else {
                positions[key] = groups.count
                groups.append(Group(first: sample.value))
                if op == .quantile { values.append([sample.value]) }
                order.append(key)
            }
        }
        return .vector(order.indices.map { position in
            let value = op == .quantile ? quantile(scalarParameter, values[position]) : groups[position].result(op)
            return VectorSample(labels: order[position], timestamp: time, value: value)
        })
    }

    /// topk and bottomk exactly as Prometheus picks them, ties included: a binary heap per group
    /// (Go's container/heap), NaN treated as the smallest (topk) or largest (bottomk), the
    /// first sample of a group placed on the heap directly, later ones popping the top and
    /// pushing themselves when strictly better (or when the top is NaN); each group's result
    /// sorted best first.
    private func selectK(_ samples: [VectorSample], k: Int, top: Bool, grouping: [String], without: Bool, time: Int64) -> [VectorSample] {
        var heaps: [Labels: SampleHeap] = [:]
        var order: [Labels] = []
        let keys = memo.groupKeys(grouping: grouping, without: without)
        for sample in samples {
            let key = keys.key(for: sample.labels)
            guard var heap = heaps[key] else {
                heaps[key] = SampleHeap(top: top, first: sample)
                order.append(key)
                continue
            }
            heaps[key] = nil
            if heap.elements.count < k || heap.replacesTop(sample) {
                if heap.elements.count == k {
                    if k == 1 {
                        heap.elements[0] = sample
                        heaps[key] = heap
                        continue
                    }
                    heap.pop()
                }
                heap.push(sample)
            }
            heaps[key] = heap
        }
        var result: [VectorSample] = []
        for key in order {
            guard let heap = heaps[key] else { continue }
            // sort.Sort(sort.Reverse(heap)): an unstable sort in Go; order within ties does not
            // change which samples are returned.
            let sorted = heap.elements.sorted { heap.less($1, $0) }
            result.append(contentsOf: sorted.map { VectorSample(labels: $0.labels, timestamp: time, value: $0.value) })
        }
        return result
    }
}

/// Go's container/heap over samples, with Prometheus's orderings for topk and bottomk.
struct SampleHeap {
    let top: Bool
    var elements: [VectorSample]

    init(top: Bool, first: VectorSample) {
        self.top = top
        elements = [first]
    }

    /// vectorByValueHeap (topk) and vectorByReverseValueHeap (bottomk).
    func less(_ a: VectorSample, _ b: VectorSample) -> Bool {
        if a.value.isNaN { return true }
        return top ? a.value < b.value : a.value > b.value
    }

    func replacesTop(_ sample: VectorSample) -> Bool {
        let head = elements[0].value
        return (top ? head < sample.value : head > sample.value) || head.isNaN
    }

    /// heap.Pop: the top swapped to the end, the heap restored, the end removed.
    mutating func pop() {
        let last = elements.count - 1
        elements.swapAt(0, last)
        _ = down(0, last)
        elements.removeLast()
    }

    mutating func push(_ sample: VectorSample) {
        elements.append(sample)
        up(elements.count - 1)
    }

    private mutating func up(_ start: Int) {
        var j = start
        while true {
            let i = (j - 1) / 2
            if i == j || !less(elements[j], elements[i]) { break }
            elements.swapAt(i, j)
            j = i
        }
    }

    private mutating func down(_ start: Int, _ n: Int) -> Bool {
        var i = start
        while true {
            let left = 2 * i + 1
            if left >= n { break }
            var j = left
            let right = left + 1
            if right < n && less(elements[right], elements[left]) { j = right }
            if !less(elements[j], elements[i]) { break }
            elements.swapAt(i, j)
            i = j
        }
        return i > start
    }
}

/// The running state of one aggregation group, for every operator but `quantile` (which keeps
/// its values apart): plain numbers only, so arrays of groups hold no references.
struct Group {
    var value: Double
    var mean: Double
    var count: Double = 1
    /// Welford's running sum of squared differences (stddev, stdvar).
    var squares: Double = 0

    init(first: Double) {
        value = first
        mean = first
    }

    mutating func add(_ sample: Double, _ op: AggregateOperator) {
        switch op {
        case .sum:
            value += sample
        case .avg:
            count += 1
            if mean.isInfinite {
                if sample.isInfinite && (mean > 0) == (sample > 0) { return }
                if !sample.isInfinite && !sample.isNaN { return }
            }
            mean += sample / count - mean / count
        case .max:
            if value < sample || value.isNaN { value = sample }
        case .min:
            if value > sample || value.isNaN { value = sample }
        case .count, .group:
            count += 1
        case .stddev, .stdvar:
            count += 1
            let delta = sample - mean
            mean += delta / count
            squares += delta * (sample - mean)
        default:
            break
        }
    }

    func result(_ op: AggregateOperator) -> Double {
        switch op {
        case .sum: return value
        case .avg: return mean
        case .max, .min: return value
        case .count: return count
        case .group: return 1
        case .stdvar: return squares / count
        case .stddev: return (squares / count).squareRoot()
        default: return value
        }
    }
}

/// A float as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it (count_values' label values).
func formatGoFloat(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value == .infinity { return "+Inf" }
    if value == -.infinity { return "-Inf" }
    if value == value.rounded(), abs(value) < 1e21 {
        return String(format: "%.0f", value)
    }
    // Shortest representation that reads back exactly, without an exponent.
    var text = "\(value)"
    if text.contains("e") {
        let decimal = Decimal(value)
        text = "\(decimal)"
    }
    return text
}
