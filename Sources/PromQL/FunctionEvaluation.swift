import Foundation
import TimeSeries

extension Evaluator {
    func call(_ name: String, _ arguments: [Expr], at time: Int64) throws(QueryError) -> Value {
        switch name {
        case "time": return .scalar(Double(time) / 1000)
        case "pi": return .scalar(Double.pi)
        case "vector":
            guard case .scalar(let value) = try evaluate(arguments[0], at: time) else { throw .execution("vector() needs a scalar") }
            return .vector([VectorSample(labels: .empty, timestamp: time, value: value)])
        case "scalar":
            guard case .vector(let samples) = try evaluate(arguments[0], at: time) else { throw .execution("scalar() needs a vector") }
            return .scalar(samples.count == 1 ? samples[0].value : .nan)
        case "absent":
            guard case .vector(let samples) = try evaluate(arguments[0], at: time) else { throw .execution("absent() needs a vector") }
            return .vector(samples.isEmpty ? [VectorSample(labels: Self.absentLabels(arguments[0]), timestamp: time, value: 1)] : [])
        case "absent_over_time":
            guard case .matrix(let series) = try evaluate(arguments[0], at: time) else { throw .execution("absent_over_time() needs a range") }
            return .vector(series.isEmpty ? [VectorSample(labels: Self.absentLabels(arguments[0]), timestamp: time, value: 1)] : [])
        case "timestamp":
            let samples: [VectorSample]
            // Straight from a selector, the samples' own times; otherwise the evaluation time.
            if case .vector(let selector) = arguments[0] {
                samples = instantSelect(selector, at: time)
            } else {
                guard case .vector(let evaluated) = try evaluate(arguments[0], at: time) else { throw .execution("timestamp() needs a vector") }
                samples = evaluated.map { VectorSample(labels: $0.labels, timestamp: time, value: $0.value) }
            }
            let result = samples.map { VectorSample(labels: memo.droppingName($0.labels), timestamp: time, value: Double($0.timestamp) / 1000) }
            try checkUnique(result)
            return .vector(result)
        case "label_replace":
            return .vector(try labelReplace(arguments, at: time))
        case "label_join":
            return .vector(try labelJoin(arguments, at: time))
        case "histogram_quantile":
            return .vector(try histogramQuantile(arguments, at: time))
        case "sort", "sort_desc":
            guard case .vector(let samples) = try evaluate(arguments[0], at: time) else { throw .execution("\(name)() needs a vector") }
            let ascending = name == "sort"
            return .vector(
                samples.sorted { a, b in
                    if a.value.isNaN { return false }
                    if b.value.isNaN { return true }
                    return ascending ? a.value < b.value : a.value > b.value
                })
        default:
            break
        }
        if let transform = Self.elementwise[name] {
            return .vector(try mapValues(arguments, at: time) { value, _ in transform(value) })
        }
        switch name {
        case "round":
            let nearest = arguments.count > 1 ? try scalar(arguments[1], at: time) : 1
            let inverse = 1 / nearest
            return .vector(try mapValues(arguments, at: time) { value, _ in (value * inverse + 0.5).rounded(.down) / inverse })
        case "clamp":
            let low = try scalar(arguments[1], at: time)
            let high = try scalar(arguments[2], at: time)
            if high < low { return .vector([]) }
            return .vector(try mapValues(arguments, at: time) { value, _ in goMax(low, goMin(high, value)) })
        case "clamp_max":
            let high = try scalar(arguments[1], at: time)
            return .vector(try mapValues(arguments, at: time) { value, _ in goMin(value, high) })
        case "clamp_min":
            let low = try scalar(arguments[1], at: time)
            return .vector(try mapValues(arguments, at: time) { value, _ in goMax(value, low) })
        case "day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year":
            let component = Self.dateComponent(name)
            if arguments.isEmpty {
                return .vector([VectorSample(labels: .empty, timestamp: time, value: component(Double(time) / 1000))])
            }
            return .vector(try mapValues(arguments, at: time) { value, _ in component(value) })
        default:
            break
        }
        if let function = Self.overTime[name] {
            guard case .matrix(let series) = try evaluate(arguments[0], at: time) else { throw .execution("\(name)() needs a range vector") }
            var result: [VectorSample] = []
            result.reserveCapacity(series.count)
            for window in series {
                guard let value = function(window) else { continue }
                result.append(VectorSample(labels: memo.droppingName(window.labels), timestamp: time, value: value))
            }
            try checkUnique(result)
            return .vector(result)
        }
        return try callWithParameters(name, arguments, at: time)
    }

    private func callWithParameters(_ name: String, _ arguments: [Expr], at time: Int64) throws(QueryError) -> Value {
        switch name {
        case "quantile_over_time":
            let q = try scalar(arguments[0], at: time)
            return try overTime(arguments[1], at: time, keepName: false) { window in quantile(q, window.samples.map(\.value)) }
        case "predict_linear":
            let seconds = try scalar(arguments[1], at: time)
            return try overTime(arguments[0], at: time, keepName: false) { window in
                guard window.samples.count >= 2 else { return nil }
                let (slope, intercept) = linearRegression(window.samples, interceptTime: time)
                return intercept + slope * seconds
            }
        case "holt_winters":
            let smoothing = try scalar(arguments[1], at: time)
            let trend = try scalar(arguments[2], at: time)
            guard smoothing > 0, smoothing < 1 else { throw .execution("invalid smoothing factor. Expected: 0 < sf < 1, got: \(String(format: "%f", smoothing))") }
            guard trend > 0, trend < 1 else { throw .execution("invalid trend factor. Expected: 0 < tf < 1, got: \(String(format: "%f", trend))") }
            return try overTime(arguments[0], at: time, keepName: false) { window in holtWinters(window.samples, smoothing, trend) }
        case "present_over_time":
            return try overTime(arguments[0], at: time, keepName: false) { _ in 1 }
        case "last_over_time":
            return try overTime(arguments[0], at: time, keepName: true) { window in window.samples.last?.value }
        default:
            throw .execution("function \(name) is not implemented")
        }
    }

    private func overTime(_ argument: Expr, at time: Int64, keepName: Bool, _ function: (WindowSeries) -> Double?) throws(QueryError) -> Value {
        guard case .matrix(let series) = try evaluate(argument, at: time) else { throw .execution("a range vector is needed") }
        var result: [VectorSample] = []
        for window in series {
            guard let value = function(window) else { continue }
            result.append(VectorSample(labels: keepName ? window.labels : memo.droppingName(window.labels), timestamp: time, value: value))
        }
        try checkUnique(result)
        return .vector(result)
    }

    private func scalar(_ expr: Expr, at time: Int64) throws(QueryError) -> Double {
        guard case .scalar(let value) = try evaluate(expr, at: time) else { throw .execution("a scalar is needed") }
        return value
    }

    /// Applies `transform` to each element's value, dropping the metric name.
    private func mapValues(_ arguments: [Expr], at time: Int64, _ transform: (Double, Labels) -> Double) throws(QueryError) -> [VectorSample] {
        guard case .vector(let samples) = try evaluate(arguments[0], at: time) else { throw .execution("an instant vector is needed") }
        let result = samples.map { VectorSample(labels: memo.droppingName($0.labels), timestamp: time, value: transform($0.value, $0.labels)) }
        try checkUnique(result)
        return result
    }

    static let elementwise: [String: @Sendable (Double) -> Double] = [
        "abs": { abs($0) }, "ceil": { $0.rounded(.up) }, "floor": { $0.rounded(.down) }, "exp": { Foundation.exp($0) },
        "sqrt": { $0.squareRoot() }, "ln": { Foundation.log($0) }, "log2": { Foundation.log2($0) }, "log10": { Foundation.log10($0) },
        "sin": { Foundation.sin($0) }, "cos": { Foundation.cos($0) }, "tan": { Foundation.tan($0) }, "asin": { Foundation.asin($0) },
        "acos": { Foundation.acos($0) }, "atan": { Foundation.atan($0) }, "sinh": { Foundation.sinh($0) }, "cosh": { Foundation.cosh($0) },
        "tanh": { Foundation.tanh($0) }, "asinh": { Foundation.asinh($0) }, "acosh": { Foundation.acosh($0) }, "atanh": { Foundation.atanh($0) },
        "deg": { $0 * 180 / Double.pi }, "rad": { $0 * Double.pi / 180 },
        "sgn": { $0 < 0 ? -1 : ($0 > 0 ? 1 : $0) },
    ]

    /// The `_over_time` family and the counter functions over a window; nil drops the series.
    static let overTime: [String: @Sendable (WindowSeries) -> Double?] = [
        "count_over_time": { Double($0.samples.count) },
        "sum_over_time": { window in
            var sum = 0.0
            var compensation = 0.0
            for sample in window.samples { (sum, compensation) = kahanAdd(sample.value, sum, compensation) }
            return sum.isInfinite ? sum : sum + compensation
        },
        "avg_over_time": { window in
            var mean = 0.0
            var count = 0.0
            var compensation = 0.0
            for sample in window.samples {
                count += 1
                if mean.isInfinite {
                    if sample.value.isInfinite && (mean > 0) == (sample.value > 0) { continue }
                    if !sample.value.isInfinite && !sample.value.isNaN { continue }
                }
                (mean, compensation) = kahanAdd(sample.value / count - mean / count, mean, compensation)
            }
            return mean.isInfinite ? mean : mean + compensation
        },
        "min_over_time": { window in
            var result = window.samples[window.samples.startIndex].value
            for sample in window.samples where sample.value < result || result.isNaN { result = sample.value }
            return result
        },
        "max_over_time": { window in
            var result = window.samples[window.samples.startIndex].value
            for sample in window.samples where sample.value > result || result.isNaN { result = sample.value }
            return result
        },
        "stddev_over_time": { standardVariance($0.samples).squareRoot() },
        "stdvar_over_time": { standardVariance($0.samples) },
        "changes": { window in
            var changes = 0.0
            var previous = window.samples[window.samples.startIndex].value
            for sample in window.samples.dropFirst() {
                if sample.value != previous && !(sample.value.isNaN && previous.isNaN) { changes += 1 }
                previous = sample.value
            }
            return changes
        },
        "resets": { window in
            var resets = 0.0
            var previous = window.samples[window.samples.startIndex].value
            for sample in window.samples.dropFirst() {
                if sample.value < previous { resets += 1 }
                previous = sample.value
            }
            return resets
        },
        "rate": { extrapolatedRate($0, isCounter: true, isRate: true) },
        "increase": { extrapolatedRate($0, isCounter: true, isRate: false) },
        "delta": { extrapolatedRate($0, isCounter: false, isRate: false) },
        "irate": { instantValue($0, isRate: true) },
        "idelta": { instantValue($0, isRate: false) },
        "deriv": { window in
            guard window.samples.count >= 2 else { return nil }
            return linearRegression(window.samples, interceptTime: window.samples[window.samples.startIndex].timestamp).slope
        },
    ]

    /// Labels for absent(): the equality matchers of a selector argument, except the name and
    /// any label matched more than once or not by equality.
    static func absentLabels(_ expr: Expr) -> Labels {
        let matchers: [LabelMatcher]
        switch expr {
        case .vector(let selector): matchers = selector.matchers
        case .matrix(let selector, _): matchers = selector.matchers
        default: return .empty
        }
        var labels = Labels.empty
        var removed: [String] = []
        for matcher in matchers where matcher.name != Labels.metricName {
            if matcher.kind == .equal && labels[matcher.name] == nil {
                labels = labels.setting(matcher.name, to: matcher.value)
            } else {
                removed.append(matcher.name)
            }
        }
        for name in removed { labels = labels.removing(name) }
        return labels
    }

    /// The date parts of Unix seconds in UTC. Prometheus converts the value to a Go int64
    /// first, which turns NaN and ±Inf (and anything out of range) into the minimum int64:
    /// the date 292277026596-12-04 15:30:08 UTC, a Sunday, day 339 of its year.
    static func dateComponent(_ name: String) -> @Sendable (Double) -> Double {
        { seconds in
            guard seconds.isFinite, abs(seconds) < 9.2e15 else {
                switch name {
                case "day_of_month": return 4
                case "day_of_week": return 0
                case "day_of_year": return 339
                case "days_in_month": return 31
                case "hour": return 15
                case "minute": return 30
                case "month": return 12
                default: return 292_277_026_596
                }
            }
            // Go's int64(v) truncates toward zero: -0.5 is 1970-01-01T00:00:00.
            let date = Date(timeIntervalSince1970: seconds.rounded(.towardZero))
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone.current
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: date)
            switch name {
            case "day_of_month": return Double(parts.day ?? 0)
            case "day_of_week": return Double((parts.weekday ?? 1) - 1)
            case "day_of_year": return Double(calendar.ordinality(of: .day, in: .year, for: date) ?? 0)
            case "days_in_month": return Double(calendar.range(of: .day, in: .month, for: date)?.count ?? 0)
            case "hour": return Double(parts.hour ?? 0)
            case "minute": return Double(parts.minute ?? 0)
            case "month": return Double(parts.month ?? 0)
            default: return Double(parts.year ?? 0)
            }
        }
    }

    private func stringArgument(_ expr: Expr, at time: Int64) throws(QueryError) -> String {
        guard case .string(let text) = try evaluate(expr, at: time) else { throw .execution("a string is needed") }
        return text
    }

    private func labelReplace(_ arguments: [Expr], at time: Int64) throws(QueryError) -> [VectorSample] {
        guard case .vector(let samples) = try evaluate(arguments[0], at: time) else { throw .execution("label_replace() needs a vector") }
        let destination = try stringArgument(arguments[1], at: time)
        let replacement = try stringArgument(arguments[2], at: time)
        let source = try stringArgument(arguments[3], at: time)
        let pattern = try stringArgument(arguments[4], at: time)
        let regex: Regex<AnyRegexOutput>
        do {
            regex = try Regex("^(?:" + pattern + ")$")
        } catch {
            throw .execution("invalid regular expression in label_replace(): \(pattern)")
        }
        guard isValidLabelName(destination) else { throw .execution("invalid destination label name in label_replace(): \(destination)") }
        var result: [VectorSample] = []
        for sample in samples {
            let value = sample.labels[source] ?? ""
            guard let match = try? regex.firstMatch(in: value) else {
                result.append(VectorSample(labels: sample.labels, timestamp: time, value: sample.value))
                continue
            }
            let expanded = expand(replacement, match: match)
            result.append(VectorSample(labels: sample.labels.setting(destination, to: expanded), timestamp: time, value: sample.value))
        }
        try checkUnique(result)
        return result
    }

    /// Go's Regexp.ExpandString: `$1`, `${1}`, `$name`, `${name}`, `$$`.
    private func expand(_ template: String, match: Regex<AnyRegexOutput>.Match) -> String {
        var output = ""
        let characters = Array(template)
        var index = 0
        func group(_ reference: String) -> String {
            if let number = Int(reference) {
                guard number < match.output.count, let substring = match.output[number].substring else { return "" }
                return String(substring)
            }
            if let named = match.output[reference], let substring = named.substring { return String(substring) }
            return ""
        }
        while index < characters.count {
            let character = characters[index]
            guard character == "$", index + 1 < characters.count else {
                output.append(character)
                index += 1
                continue
            }
            let next = characters[index + 1]
            if next == "$" {
                output.append("$")
                index += 2
            } else if next == "{" {
                guard let close = characters[(index + 2)...].firstIndex(of: "}") else {
                    output.append(character)
                    index += 1
                    continue
                }
                output += group(String(characters[(index + 2)..<close]))
                index = close + 1
            } else {
                var end = index + 1
                while end < characters.count, characters[end].isLetter || characters[end].isNumber || characters[end] == "_" { end += 1 }
                guard end > index + 1 else {
                    output.append(character)
                    index += 1
                    continue
                }
                output += group(String(characters[(index + 1)..<end]))
                index = end
            }
        }
        return output
    }

    private func labelJoin(_ arguments: [Expr], at time: Int64) throws(QueryError) -> [VectorSample] {
        guard case .vector(let samples) = try evaluate(arguments[0], at: time) else { throw .execution("label_join() needs a vector") }
        let destination = try stringArgument(arguments[1], at: time)
        let separator = try stringArgument(arguments[2], at: time)
        var sources: [String] = []
        for argument in arguments.dropFirst(3) { sources.append(try stringArgument(argument, at: time)) }
        guard isValidLabelName(destination) else { throw .execution("invalid destination label name in label_join(): \(destination)") }
        let result = samples.map { sample in
            let joined = sources.map { sample.labels[$0] ?? "" }.joined(separator: separator)
            return VectorSample(labels: sample.labels.setting(destination, to: joined), timestamp: time, value: sample.value)
        }
        try checkUnique(result)
        return result
    }

    private func histogramQuantile(_ arguments: [Expr], at time: Int64) throws(QueryError) -> [VectorSample] {
        let q = try scalar(arguments[0], at: time)
        guard case .vector(let samples) = try evaluate(arguments[1], at: time) else { throw .execution("histogram_quantile() needs a vector") }
        var groups: [Labels: [(Double, Double)]] = [:]
        var order: [Labels] = []
        for sample in samples {
            guard let bound = sample.labels["le"].flatMap(parseGoFloat) else { continue }
            let key = memo.bucketGroup(sample.labels)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append((bound, sample.value))
        }
        return order.map { key in VectorSample(labels: key, timestamp: time, value: bucketQuantile(q, groups[key] ?? [])) }
    }
}

/// strconv.ParseFloat for bucket bounds: decimal, exponent, Inf and NaN forms.
func parseGoFloat(_ text: String) -> Double? {
    switch text.lowercased() {
    case "+inf", "inf", "+infinity", "infinity": return .infinity
    case "-inf", "-infinity": return -.infinity
    case "nan": return .nan
    default: return Double(text)
    }
}

/// The quantile of classic buckets (upper bound, cumulative count), as Prometheus computes it.
func bucketQuantile(_ q: Double, _ input: [(Double, Double)]) -> Double {
    if q.isNaN { return .nan }
    if q < 0 { return -.infinity }
    if q > 1 { return .infinity }
    guard !input.isEmpty else { return .nan }
    var buckets = input.sorted { $0.0 < $1.0 }
    guard buckets[buckets.count - 1].0 == .infinity else { return .nan }
    // Merge buckets with the same bound.
    var merged: [(Double, Double)] = []
    for bucket in buckets {
        if let last = merged.last, last.0 == bucket.0 {
            merged[merged.count - 1].1 += bucket.1
        } else {
            merged.append(bucket)
        }
    }
    buckets = merged
    // Counts must not decrease with the bound.
    var highest = -Double.infinity
    for index in buckets.indices {
        if buckets[index].1 > highest {
            highest = buckets[index].1
        } else if buckets[index].1 < highest {
            buckets[index].1 = highest
        }
    }
    guard buckets.count >= 2 else { return .nan }
    let observations = buckets[buckets.count - 1].1
    guard observations != 0 else { return .nan }
    var rank = q * observations
    var b = 0
    while b < buckets.count - 1 && !(buckets[b].1 >= rank) { b += 1 }
    if b == buckets.count - 1 { return buckets[buckets.count - 2].0 }
    if b == 0 && buckets[0].0 <= 0 { return buckets[0].0 }
    var bucketStart = 0.0
    let bucketEnd = buckets[b].0
    var count = buckets[b].1
    if b > 0 {
        bucketStart = buckets[b - 1].0
        count -= buckets[b - 1].1
        rank -= buckets[b - 1].1
    }
    return bucketStart + (bucketEnd - bucketStart) * (rank / count)
}

/// rate, increase and delta: the change over the window, extrapolated to its edges.
func extrapolatedRate(_ window: WindowSeries, isCounter: Bool, isRate: Bool) -> Double? {
    let samples = window.samples
    guard samples.count >= 2 else { return nil }
    let first = samples[samples.startIndex]
    let last = samples[samples.endIndex - 1]
    var result = last.value - first.value
    if isCounter {
        var previous = 0.0
        for sample in samples {
            if sample.value < previous { result += previous }
            previous = sample.value
        }
    }
    var durationToStart = Double(first.timestamp - window.rangeStart) / 1000
    let durationToEnd = Double(window.rangeEnd - last.timestamp) / 1000
    let sampledInterval = Double(last.timestamp - first.timestamp) / 1000
    let averageInterval = sampledInterval / Double(samples.count - 1)
    if isCounter && result > 0 && first.value >= 0 {
        let durationToZero = sampledInterval * (first.value / result)
        if durationToZero < durationToStart { durationToStart = durationToZero }
    }
    let threshold = averageInterval * 1.1
    var extrapolateTo = sampledInterval
    extrapolateTo += durationToStart < threshold ? durationToStart : averageInterval / 2
    extrapolateTo += durationToEnd < threshold ? durationToEnd : averageInterval / 2
    var factor = extrapolateTo / sampledInterval
    if isRate { factor /= Double(window.rangeEnd - window.rangeStart) / 1000 }
    return result * factor
}

/// irate and idelta: from the last two samples.
func instantValue(_ window: WindowSeries, isRate: Bool) -> Double? {
    let samples = window.samples
    guard samples.count >= 2 else { return nil }
    let last = samples[samples.endIndex - 1]
    let previous = samples[samples.endIndex - 2]
    var result = isRate && last.value < previous.value ? last.value : last.value - previous.value
    let interval = last.timestamp - previous.timestamp
    guard interval != 0 else { return nil }
    if isRate { result /= Double(interval) / 1000 }
    return result
}

/// Least-squares slope and intercept, x in seconds from `interceptTime`.
func linearRegression(_ samples: ArraySlice<Sample>, interceptTime: Int64) -> (slope: Double, intercept: Double) {
    var n = 0.0
    var sumX = 0.0, cX = 0.0, sumY = 0.0, cY = 0.0, sumXY = 0.0, cXY = 0.0, sumX2 = 0.0, cX2 = 0.0
    let initial = samples[samples.startIndex].value
    var constant = true
    for (index, sample) in samples.enumerated() {
        if constant && index > 0 && sample.value != initial { constant = false }
        n += 1
        let x = Double(sample.timestamp - interceptTime) / 1000
        (sumX, cX) = kahanAdd(x, sumX, cX)
        (sumY, cY) = kahanAdd(sample.value, sumY, cY)
        (sumXY, cXY) = kahanAdd(x * sample.value, sumXY, cXY)
        (sumX2, cX2) = kahanAdd(x * x, sumX2, cX2)
    }
    if constant {
        return initial.isInfinite ? (.nan, .nan) : (0, initial)
    }
    sumX += cX
    sumY += cY
    sumXY += cXY
    sumX2 += cX2
    let covariance = sumXY - sumX * sumY / n
    let variance = sumX2 - sumX * sumX / n
    let slope = covariance / variance
    return (slope, sumY / n - slope * sumX / n)
}

/// Population variance with compensated sums, as stdvar_over_time computes it.
func standardVariance(_ samples: ArraySlice<Sample>) -> Double {
    var count = 0.0
    var mean = 0.0, cMean = 0.0, aux = 0.0, cAux = 0.0
    for sample in samples {
        count += 1
        let delta = sample.value - (mean + cMean)
        (mean, cMean) = kahanAdd(delta / count, mean, cMean)
        (aux, cAux) = kahanAdd(delta * (sample.value - (mean + cMean)), aux, cAux)
    }
    return (aux + cAux) / count
}

/// Double exponential smoothing over the window's values.
func holtWinters(_ samples: ArraySlice<Sample>, _ smoothing: Double, _ trend: Double) -> Double? {
    guard samples.count >= 2 else { return nil }
    let base = samples.startIndex
    var s0 = 0.0
    var s1 = samples[base].value
    var b = samples[base + 1].value - samples[base].value
    for index in (base + 1)..<samples.endIndex {
        let x = smoothing * samples[index].value
        if index - 1 != base { b = trend * (s1 - s0) + (1 - trend) * b }
        let y = (1 - smoothing) * (s1 + b)
        s0 = s1
        s1 = x + y
    }
    return s1
}
