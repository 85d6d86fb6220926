import Foundation
import TimeSeries

/// Go's text/template built-ins and Prometheus's template functions, with their outputs.
public enum TemplateFunctions {
    static let names: Set<String> = [
        // Go's text/template built-ins.
        "and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "html", "js", "urlquery",
        // Prometheus's.
        "query", "first", "label", "value", "strvalue", "args", "reReplaceAll", "safeHtml", "match", "title", "toUpper", "toLower",
        "graphLink", "tableLink", "sortByLabel", "humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
        "humanizeTimestamp", "toTime", "pathPrefix", "externalURL", "parseDuration", "stripPort",
    ]

    static func call(_ name: String, _ arguments: [TemplateValue], query: @Sendable (String) throws -> [TemplateSample]) throws(TemplateError) -> TemplateValue {
        func count(_ expected: Int) throws(TemplateError) {
            guard arguments.count == expected else {
                throw TemplateError("wrong number of args for \(name): want \(expected) got \(arguments.count)")
            }
        }
        func string(_ index: Int) throws(TemplateError) -> String {
            guard case .string(let text) = arguments[index] else {
                throw TemplateError("wrong type for value; expected string; got \(arguments[index].typeName)")
            }
            return text
        }
        func sample(_ index: Int) throws(TemplateError) -> TemplateSample? {
            switch arguments[index] {
            case .sample(let sample): return sample
            case .null: return nil
            default: throw TemplateError("wrong type for value; expected *template.sample; got \(arguments[index].typeName)")
            }
        }
        switch name {
        case "and":
            guard !arguments.isEmpty else { throw TemplateError("wrong number of args for and: want at least 1 got 0") }
            return arguments.first { !$0.isTrue } ?? arguments[arguments.count - 1]
        case "or":
            guard !arguments.isEmpty else { throw TemplateError("wrong number of args for or: want at least 1 got 0") }
            return arguments.first { $0.isTrue } ?? arguments[arguments.count - 1]
        case "not":
            try count(1)
            return .bool(!arguments[0].isTrue)
        case "len":
            try count(1)
            switch arguments[0] {
            case .string(let text): return .int(text.utf8.count)
            case .map(let pairs): return .int(pairs.count)
            case .samples(let samples): return .int(samples.count)
            case .list(let items): return .int(items.count)
            default: throw TemplateError("error calling len: len of type \(arguments[0].typeName)")
            }
        case "index":
            guard var current = arguments.first else { throw TemplateError("wrong number of args for index: want at least 1 got 0") }
            for key in arguments.dropFirst() {
                switch (current, key) {
                case (.map(let pairs), .string(let name)): current = .string(pairs[name] ?? "")
                case (.samples(let samples), .int(let position)):
                    guard samples.indices.contains(position) else { throw TemplateError("error calling index: index out of range: \(position)") }
                    current = .sample(samples[position])
                case (.list(let items), .int(let position)):
                    guard items.indices.contains(position) else { throw TemplateError("error calling index: index out of range: \(position)") }
                    current = items[position]
                default: throw TemplateError("error calling index: can't index item of type \(current.typeName)")
                }
            }
            return current
        case "print":
            var text = ""
            for (position, argument) in arguments.enumerated() {
                if position > 0, !isString(arguments[position - 1]), !isString(argument) { text += " " }
                text += argument.printed
            }
            return .string(text)
        case "println":
            return .string(arguments.map(\.printed).joined(separator: " ") + "\n")
        case "printf":
            guard !arguments.isEmpty else { throw TemplateError("wrong number of args for printf: want at least 1 got 0") }
            return .string(GoPrintf.format(try string(0), Array(arguments.dropFirst())))
        case "eq":
            guard arguments.count >= 2 else { throw TemplateError("error calling eq: missing argument for comparison") }
            for other in arguments.dropFirst() where try compare(arguments[0], other, name) == 0 { return .bool(true) }
            return .bool(false)
        case "ne", "lt", "le", "gt", "ge":
            try count(2)
            let order = try compare(arguments[0], arguments[1], name)
            switch name {
            case "ne": return .bool(order != 0)
            case "lt": return .bool(order < 0)
            case "le": return .bool(order <= 0)
            case "gt": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case "html":
            return .string(htmlEscape(arguments.map(\.printed).joined()))
        case "js":
            return .string(arguments.map(\.printed).joined().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'").replacingOccurrences(of: "\"", with: "\\\""))
        case "urlquery":
            return .string(queryEscape(arguments.map(\.printed).joined()))
        case "query":
            try count(1)
            let text = try string(0)
            do {
                return .samples(try query(text))
            } catch let error as TemplateError {
                throw error
            } catch {
                throw TemplateError("error calling query: \(error)")
            }
        case "first":
            try count(1)
            guard case .samples(let samples) = arguments[0] else { throw TemplateError("wrong type for value; expected template.queryResult; got \(arguments[0].typeName)") }
            guard let first = samples.first else { throw TemplateError("error calling first: first() called on vector with no elements") }
            return .sample(first)
        case "label":
            try count(2)
            return .string(try sample(1)?.labels[try string(0)] ?? "")
        case "value":
            try count(1)
            return .float(try sample(0)?.value ?? 0)
        case "strvalue":
            try count(1)
            return .string(try sample(0)?.labels["__value__"] ?? "")
        case "args":
            var pairs: [String: TemplateValue] = [:]
            for (position, argument) in arguments.enumerated() { pairs["arg\(position)"] = argument }
            return .record(pairs, type: "map[string]interface {}")
        case "reReplaceAll":
            try count(3)
            return .string(try GoRegex.replaceAll(pattern: try string(0), replacement: try string(1), in: try string(2)))
        case "safeHtml":
            try count(1)
            return .string(try string(0))
        case "match":
            try count(2)
            return .bool(try GoRegex.matches(pattern: try string(0), text: try string(1)))
        case "title":
            try count(1)
            return .string(title(try string(0)))
        case "toUpper":
            try count(1)
            return .string(try string(0).uppercased())
        case "toLower":
            try count(1)
            return .string(try string(0).lowercased())
        case "graphLink", "tableLink":
            try count(1)
            return .string("/graph?g0.expr=\(queryEscape(try string(0)))&g0.tab=\(name == "graphLink" ? 0 : 1)")
        case "sortByLabel":
            try count(2)
            let label = try string(0)
            guard case .samples(let samples) = arguments[1] else { throw TemplateError("wrong type for value; expected template.queryResult; got \(arguments[1].typeName)") }
            return .samples(samples.enumerated().sorted { left, right in
                let (a, b) = (left.element.labels[label] ?? "", right.element.labels[label] ?? "")
                return a == b ? left.offset < right.offset : a < b
            }.map(\.element))
        case "humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "toTime":
            try count(1)
            let number = try float(arguments[0])
            switch name {
            case "humanize": return .string(Humanize.decimal(number))
            case "humanize1024": return .string(Humanize.binary(number))
            case "humanizeDuration": return .string(Humanize.duration(number))
            case "humanizePercentage": return .string(GoFormat.float(number * 100, verb: "g", precision: 4) + "%")
            case "humanizeTimestamp":
                if number.isNaN || number.isInfinite { return .string(GoFormat.float(number, verb: "g", precision: 4)) }
                guard abs(number * 1e9) < 9.2e18 else { throw TemplateError("error calling humanizeTimestamp: \(GoFormat.value(number)) cannot be represented as a nanoseconds timestamp since it overflows int64") }
                return .string(GoTime.string(seconds: number))
            default:
                guard !number.isNaN, !number.isInfinite else { throw TemplateError("error calling toTime: value is NaN or Inf") }
                guard abs(number * 1e9) < 9.2e18 else { throw TemplateError("error calling toTime: \(GoFormat.value(number)) cannot be represented as a nanoseconds timestamp since it overflows int64") }
                return .time(number)
            }
        case "pathPrefix", "externalURL":
            throw TemplateError("\(name) is not available in alert templates")
        case "parseDuration":
            try count(1)
            let text = try string(0)
            guard let milliseconds = PrometheusDuration.milliseconds(text) else { throw TemplateError("error calling parseDuration: not a valid duration string: \"\(text)\"") }
            return .float(Double(milliseconds) / 1000)
        case "stripPort":
            try count(1)
            let address = try string(0)
            if address.hasPrefix("["), let close = address.firstIndex(of: "]") { return .string(String(address[address.index(after: address.startIndex)..<close])) }
            guard let colon = address.lastIndex(of: ":"), address.filter({ $0 == ":" }).count == 1 else { return .string(address) }
            return .string(String(address[..<colon]))
        default:
            throw TemplateError("function \"\(name)\" not defined")
        }
    }

    private static func isString(_ value: TemplateValue) -> Bool {
        if case .string = value { return true }
        return false
    }

    /// Prometheus's `convertToFloat`: numbers, numeric strings and times.
    static func float(_ value: TemplateValue) throws(TemplateError) -> Double {
        switch value {
        case .float(let number): return number
        case .int(let number): return Double(number)
        case .time(let seconds): return seconds
        case .string(let text):
            if let number = Double(text) { return number }
            switch text.lowercased() {
            case "nan": return .nan
            case "inf", "+inf": return .infinity
            case "-inf": return -.infinity
            default: throw TemplateError("strconv.ParseFloat: parsing \"\(text)\": invalid syntax")
            }
        default: throw TemplateError("can't convert \(value.typeName) to float")
        }
    }

    /// Go's basic comparison: numbers with numbers, strings with strings, booleans for (in)equality.
    private static func compare(_ left: TemplateValue, _ right: TemplateValue, _ name: String) throws(TemplateError) -> Int {
        switch (left, right) {
        case (.string(let a), .string(let b)): return a == b ? 0 : (a < b ? -1 : 1)
        case (.bool(let a), .bool(let b)):
            guard name == "eq" || name == "ne" else { throw TemplateError("error calling \(name): invalid type for comparison") }
            return a == b ? 0 : 1
        default:
            guard let a = number(left), let b = number(right) else { throw TemplateError("error calling \(name): incompatible types for comparison") }
            return a == b ? 0 : (a < b ? -1 : 1)
        }
    }

    private static func number(_ value: TemplateValue) -> Double? {
        switch value {
        case .float(let number): return number
        case .int(let number): return Double(number)
        default: return nil
        }
    }

    /// Go's `strings.Title`: the first letter of each word in upper case.
    static func title(_ text: String) -> String {
        var result = ""
        var previous: Character = " "
        for character in text {
            let startsWord = !(previous.isLetter || previous.isNumber || previous == "_" || previous == "'")
            result += startsWord ? character.uppercased() : String(character)
            previous = character
        }
        return result
    }

    static func htmlEscape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "'": escaped += "&#39;"
            case "\"": escaped += "&#34;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// Go's `url.QueryEscape` (also used for `generatorURL`s).
    public static func queryEscape(_ text: String) -> String {
        var escaped = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                escaped.append(Character(UnicodeScalar(byte)))
            case UInt8(ascii: " "):
                escaped += "+"
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                escaped += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return escaped
    }
}

/// Prometheus's humanize functions (the `%.4g` forms with SI or binary prefixes).
enum Humanize {
    static func decimal(_ input: Double) -> String {
        var number = input
        if number == 0 || number.isNaN || number.isInfinite { return GoFormat.float(number, verb: "g", precision: 4) }
        var prefix = ""
        if abs(number) >= 1 {
            for candidate in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
                if abs(number) < 1000 { break }
                prefix = candidate
                number /= 1000
            }
        } else {
            for candidate in ["m", "u", "n", "p", "f", "a", "z", "y"] {
                if abs(number) >= 1 { break }
                prefix = candidate
                number *= 1000
            }
        }
        return GoFormat.float(number, verb: "g", precision: 4) + prefix
    }

    static func binary(_ input: Double) -> String {
        var number = input
        if abs(number) <= 1 || number.isNaN || number.isInfinite { return GoFormat.float(number, verb: "g", precision: 4) }
        var prefix = ""
        for candidate in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
            if abs(number) < 1024 { break }
            prefix = candidate
            number /= 1024
        }
        return GoFormat.float(number, verb: "g", precision: 4) + prefix
    }

    static func duration(_ input: Double) -> String {
        var number = input
        if number.isNaN || number.isInfinite { return GoFormat.float(number, verb: "g", precision: 4) }
        if number == 0 { return GoFormat.float(number, verb: "g", precision: 4) + "s" }
        if abs(number) >= 1 {
            var sign = ""
            if number < 0 {
                sign = "-"
                number = -number
            }
            // Go's int64(v) of a float beyond int64's range is the minimum int64 on amd64.
            let whole = number < 9.223_372_036_854_775_807e18 ? Int64(number) : Int64.min
            let seconds = whole % 60
            let minutes = whole / 60 % 60
            let hours = whole / 3600 % 24
            let days = whole / 86_400
            if days != 0 { return "\(sign)\(days)d \(hours)h \(minutes)m \(seconds)s" }
            if hours != 0 { return "\(sign)\(hours)h \(minutes)m \(seconds)s" }
            if minutes != 0 { return "\(sign)\(minutes)m \(seconds)s" }
            return sign + GoFormat.float(number, verb: "g", precision: 4) + "s"
        }
        var prefix = ""
        for candidate in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if abs(number) >= 1 { break }
            prefix = candidate
            number *= 1000
        }
        return GoFormat.float(number, verb: "g", precision: 4) + prefix + "s"
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %e %g %q %x %t %%`, with
/// flags, width and precision.
enum GoPrintf {
    static func format(_ format: String, _ arguments: [TemplateValue]) -> String {
        var output = ""
        var characters = Array(format)[...]
        var next = 0
        while let character = characters.popFirst() {
            guard character == "%" else {
                output.append(character)
                continue
            }
            var flags = ""
            while let flag = characters.first, "+-# 0".contains(flag) {
                flags.append(flag)
                characters.removeFirst()
            }
            var width: Int?
            while let digit = characters.first, let value = digit.wholeNumberValue {
                width = (width ?? 0) * 10 + value
                characters.removeFirst()
            }
            var precision: Int?
            if characters.first == "." {
                characters.removeFirst()
                precision = 0
                while let digit = characters.first, let value = digit.wholeNumberValue {
                    precision = (precision ?? 0) * 10 + value
                    characters.removeFirst()
                }
            }
            guard let verb = characters.popFirst() else {
                output += "%!(NOVERB)"
                break
            }
            if verb == "%" {
                output += "%"
                continue
            }
            guard next < arguments.count else {
                output += "%!\(verb)(MISSING)"
                continue
            }
            let argument = arguments[next]
            next += 1
            output += render(argument, verb: verb, flags: flags, width: width, precision: precision)
        }
        if next < arguments.count {
            output += "%!(EXTRA " + arguments[next...].map { "\($0.typeName)=\($0.printed)" }.joined(separator: ", ") + ")"
        }
        return output
    }

    private static func render(_ argument: TemplateValue, verb: Character, flags: String, width: Int?, precision: Int?) -> String {
        let left = flags.contains("-")
        switch (verb, argument) {
        case ("v", .float(let number)), ("g", .float(let number)), ("G", .float(let number)), ("f", .float(let number)),
            ("F", .float(let number)), ("e", .float(let number)), ("E", .float(let number)):
            return GoFormat.float(number, verb: verb == "F" ? "f" : verb, precision: precision, flags: flags, width: width)
        case ("d", .int(let number)), ("v", .int(let number)):
            var text = String(abs(number))
            if let precision, text.count < precision { text = String(repeating: "0", count: precision - text.count) + text }
            text = (number < 0 ? "-" : (flags.contains("+") ? "+" : "")) + text
            return GoFormat.pad(text, width: width, left: left, zero: flags.contains("0") && precision == nil)
        case ("x", .int(let number)), ("X", .int(let number)):
            let text = String(number, radix: 16, uppercase: verb == "X")
            return GoFormat.pad(text, width: width, left: left, zero: flags.contains("0"))
        case ("f", .int), ("e", .int), ("g", .int):
            return "%!\(verb)(int=\(argument.printed))"
        case ("d", .float(let number)):
            return "%!d(float64=\(GoFormat.value(number)))"
        case ("q", .string(let text)):
            return GoFormat.pad(quote(text), width: width, left: left)
        case ("x", .string(let text)):
            return text.utf8.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        case ("t", .bool(let flag)):
            return flag ? "true" : "false"
        case ("s", _), ("v", _):
            var text = argument.printed
            if let precision, case .string = argument { text = String(text.prefix(precision)) }
            return GoFormat.pad(text, width: width, left: left)
        default:
            return "%!\(verb)(\(argument.typeName)=\(argument.printed))"
        }
    }

    private static func quote(_ text: String) -> String {
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case "\r": quoted += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16)
                    quoted += "\\x" + (hex.count == 1 ? "0" : "") + hex
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }
}
