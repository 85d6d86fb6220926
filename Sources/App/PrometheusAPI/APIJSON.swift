import JSONText
import PromQL
import TimeSeries

/// JSON exactly as Prometheus's HTTP API writes it: `{"status":"success","data":…}`, sample
/// values as strings in Go's shortest plain notation (`"NaN"`, `"+Inf"`, `"-Inf"`), timestamps
/// as Unix seconds with up to three decimals.
enum APIJSON {
    /// A value as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it.
    static func value(_ number: Double) -> String {
        var bytes: [UInt8] = []
        appendValue(number, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends a value as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it: the shortest
    /// digits that read back exactly, never in exponent form.
    static func appendValue(_ number: Double, to out: inout [UInt8]) {
        if number.isNaN { return out.append(contentsOf: [0x4E, 0x61, 0x4E]) }
        if number == .infinity { return out.append(contentsOf: [0x2B, 0x49, 0x6E, 0x66]) }
        if number == -.infinity { return out.append(contentsOf: [0x2D, 0x49, 0x6E, 0x66]) }
        // Whole numbers (counters, most gauges) need no shortest-digits search.
        if number == number.rounded(), abs(number) < 1e15 {
            if number == 0 && number.sign == .minus { return out.append(contentsOf: [0x2D, 0x30]) }
            return appendInteger(Int64(number), to: &out)
        }
        var text = number.description
        text.withUTF8 { appendPlain($0, to: &out) }
    }

    /// Appends the decimal digits of `value`.
    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(0x2D) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[23 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            out.append(contentsOf: buffer[(24 - count)...])
        }
    }

    /// Swift's shortest round-trip text of a finite double (`1.5`, `1e-05`, `1.2345e+17`)
    /// rewritten without an exponent.
    static func appendPlain(_ text: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let zero = UInt8(ascii: "0")
        guard let exponentAt = text.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) else {
            // No exponent: as written, without a trailing ".0".
            let end = text.count >= 2 && text[text.count - 2] == UInt8(ascii: ".") && text[text.count - 1] == zero ? text.count - 2 : text.count
            out.append(contentsOf: text[0..<end])
            return
        }
        var exponent = 0
        var exponentNegative = false
        for byte in text[(exponentAt + 1)...] {
            if byte == UInt8(ascii: "-") {
                exponentNegative = true
            } else if byte >= zero && byte <= UInt8(ascii: "9") {
                exponent = exponent * 10 + Int(byte - zero)
            }
        }
        if exponentNegative { exponent = -exponent }
        var digits: [UInt8] = []
        digits.reserveCapacity(exponentAt)
        var point = 0
        var seenPoint = false
        var negative = false
        for byte in text[0..<exponentAt] {
            switch byte {
            case UInt8(ascii: "-"): negative = true
            case UInt8(ascii: "."): seenPoint = true
            default:
                // Leading zeros carry no digit.
                if digits.isEmpty && byte == zero {
                    if !seenPoint { continue }
                    point -= 1
                    continue
                }
                digits.append(byte)
                if !seenPoint { point += 1 }
            }
        }
        if digits.isEmpty { return out.append(zero) }
        point += exponent
        while digits.count > 1, digits.last == zero, digits.count > point { digits.removeLast() }
        if negative { out.append(UInt8(ascii: "-")) }
        if point <= 0 {
            out.append(contentsOf: [zero, UInt8(ascii: ".")])
            out.append(contentsOf: repeatElement(zero, count: -point))
            out.append(contentsOf: digits)
        } else if point >= digits.count {
            out.append(contentsOf: digits)
            out.append(contentsOf: repeatElement(zero, count: point - digits.count))
        } else {
            out.append(contentsOf: digits[0..<point])
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: digits[point...])
        }
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
            var times: [Int64: [UInt8]] = [:]
            writer.open("[")
            for one in series {
                writer.open("{")
                writer.key("metric")
                labels(one.labels, into: &writer)
                writer.key("values")
                writer.appendRaw { out in
                    out.append(UInt8(ascii: "["))
                    for (index, sample) in one.samples.enumerated() {
                        out.append(contentsOf: index == 0 ? [UInt8(ascii: "[")] : [UInt8(ascii: ","), UInt8(ascii: "[")])
                        if let known = times[sample.timestamp] {
                            out.append(contentsOf: known)
                        } else {
                            let time = Array(timestamp(sample.timestamp).utf8)
                            times[sample.timestamp] = time
                            out.append(contentsOf: time)
                        }
                        // Sample values are digits, signs, `.`, `NaN` and `Inf` only: quoted
                        // without an escaping pass.
                        out.append(contentsOf: [UInt8(ascii: ","), UInt8(ascii: "\"")])
                        appendValue(sample.value, to: &out)
                        out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: "]")])
                    }
                    out.append(UInt8(ascii: "]"))
                }
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
