import JSONText
import PromQL
import TimeSeries

/// JSON exactly as Prometheus's HTTP API writes it: `{"status":"success","data":…}`, sample
/// values as strings in Go's shortest plain notation (`"NaN"`, `"+Inf"`, `"-Inf"`), timestamps
/// as Unix seconds with up to three decimals.
enum APIJSON {
    /// A value as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it.
    static func value(_ number: Double) -> String {
        if number.isNaN { return "NaN" }
        if number == .infinity { return "+Inf" }
        if number == -.infinity { return "-Inf" }
        // Whole numbers (counters, most gauges) need no shortest-digits search.
        if number == number.rounded(), abs(number) < 1e15 {
            return number == 0 && number.sign == .minus ? "-0" : String(Int64(number))
        }
        return plainDecimal(number)
    }

    /// Shortest digits that read back exactly, never in exponent form.
    static func plainDecimal(_ number: Double) -> String {
        let text = "\(number)"
        guard let exponentIndex = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else {
            return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
        }
        var mantissa = String(text[..<exponentIndex])
        let exponent = Int(text[text.index(after: exponentIndex)...]) ?? 0
        var negative = false
        if mantissa.hasPrefix("-") {
            negative = true
            mantissa.removeFirst()
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        var point = parts[0].count + exponent
        while digits.hasPrefix("0") && digits.count > 1 {
            digits.removeFirst()
            point -= 1
        }
        var result: String
        if point <= 0 {
            result = "0." + String(repeating: "0", count: -point) + digits
        } else if point >= digits.count {
            result = digits + String(repeating: "0", count: point - digits.count)
        } else {
            result = String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
        }
        if result.contains(".") {
            while result.hasSuffix("0") { result.removeLast() }
            if result.hasSuffix(".") { result.removeLast() }
        }
        return (negative ? "-" : "") + result
    }

    /// Milliseconds as Unix seconds: `1700000000`, `1700000000.5`, `1700000000.123`.
    static func timestamp(_ milliseconds: Int64) -> String {
        let negative = milliseconds < 0
        let magnitude = milliseconds.magnitude
        var text = (negative ? "-" : "") + String(magnitude / 1000)
        let fraction = magnitude % 1000
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 3 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text
    }

    static func labels(_ labels: Labels, into writer: inout JSONWriter) {
        writer.open("{")
        for label in labels {
            writer.key(label.name)
            writer.string(label.value)
        }
        writer.close("}")
    }

    static func point(_ timestamp: Int64, _ value: String, into writer: inout JSONWriter) {
        point(self.timestamp(timestamp), value, into: &writer)
    }

    /// A point whose time is already written out. Sample values are digits, signs, `.`, `NaN`
    /// and `Inf` only, so they are quoted without an escaping pass.
    static func point(_ timestamp: String, _ value: String, into writer: inout JSONWriter) {
        writer.open("[")
        writer.raw(timestamp)
        writer.raw(",\"")
        writer.raw(value)
        writer.raw("\"")
        writer.close("]")
    }

    /// `{"status":"success","data":{"resultType":…,"result":…}}`.
    static func result(_ value: QueryValue) -> [UInt8] {
        var writer = JSONWriter()
        writer.open("{")
        writer.key("status")
        writer.string("success")
        writer.key("data")
        writer.open("{")
        writer.key("resultType")
        writer.string(value.resultType)
        writer.key("result")
        switch value {
        case .scalar(let time, let number):
            point(time, self.value(number), into: &writer)
        case .string(let time, let text):
            writer.open("[")
            writer.raw(timestamp(time))
            writer.raw(",")
            writer.string(text)
            writer.close("]")
        case .vector(let samples):
            writer.open("[")
            for sample in samples {
                writer.open("{")
                writer.key("metric")
                labels(sample.labels, into: &writer)
                writer.key("value")
                point(sample.timestamp, self.value(sample.value), into: &writer)
                writer.close("}")
            }
            writer.close("]")
        case .matrix(let series):
            // The series of a range query share their step times: each is written out once.
            var times: [Int64: String] = [:]
            writer.open("[")
            for one in series {
                writer.open("{")
                writer.key("metric")
                labels(one.labels, into: &writer)
                writer.key("values")
                writer.open("[")
                for sample in one.samples {
                    let time: String
                    if let known = times[sample.timestamp] {
                        time = known
                    } else {
                        time = timestamp(sample.timestamp)
                        times[sample.timestamp] = time
                    }
                    point(time, self.value(sample.value), into: &writer)
                }
                writer.close("]")
                writer.close("}")
            }
            writer.close("]")
        }
        writer.close("}")
        writer.close("}")
        return writer.bytes
    }

    /// `{"status":"success","data":<what body writes>}`.
    static func success(_ body: (inout JSONWriter) -> Void) -> [UInt8] {
        var writer = JSONWriter()
        writer.open("{")
        writer.key("status")
        writer.string("success")
        writer.key("data")
        body(&writer)
        writer.close("}")
        return writer.bytes
    }

    /// `{"status":"error","errorType":…,"error":…}`.
    static func error(type: String, message: String) -> [UInt8] {
        var writer = JSONWriter()
        writer.open("{")
        writer.key("status")
        writer.string("error")
        writer.key("errorType")
        writer.string(type)
        writer.key("error")
        writer.string(message)
        writer.close("}")
        return writer.bytes
    }
}
