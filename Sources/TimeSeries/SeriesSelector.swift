/// A series selector as the Prometheus HTTP API takes it in `match[]`: a metric name, a brace
/// list of label matchers, or both — `up`, `{job="claimsd"}`, `http_requests_total{code=~"5.."}`.
///
/// At least one matcher must not match the empty string, as Prometheus requires, so a selector
/// can never select every series by accident.
public enum SeriesSelector {
    /// The matchers `text` stands for.
    public static func parse(_ text: String) throws(SeriesSelectorError) -> [LabelMatcher] {
        var scanner = SelectorScanner(Array(text.utf8))
        var matchers: [LabelMatcher] = []
        scanner.skipSpaces()
        let name = scanner.identifier(allowingColon: true)
        if !name.isEmpty { matchers.append(.equal(Labels.metricName, name)) }
        scanner.skipSpaces()
        if scanner.peek == UInt8(ascii: "{") {
            scanner.advance()
            while true {
                scanner.skipSpaces()
                if scanner.peek == UInt8(ascii: "}") {
                    scanner.advance()
                    break
                }
                let label = scanner.identifier(allowingColon: false)
                guard !label.isEmpty else { throw SeriesSelectorError(selector: text, problem: "expected a label name at offset \(scanner.offset)") }
                scanner.skipSpaces()
                guard let kind = scanner.matchOperator() else { throw SeriesSelectorError(selector: text, problem: "expected =, !=, =~ or !~ after \"\(label)\"") }
                scanner.skipSpaces()
                guard let value = scanner.quoted() else { throw SeriesSelectorError(selector: text, problem: "expected a quoted value for \"\(label)\"") }
                do {
                    matchers.append(try LabelMatcher(kind, label, value))
                } catch {
                    throw SeriesSelectorError(selector: text, problem: error.description)
                }
                scanner.skipSpaces()
                if scanner.peek == UInt8(ascii: ",") {
                    scanner.advance()
                } else if scanner.peek != UInt8(ascii: "}") {
                    throw SeriesSelectorError(selector: text, problem: "expected ',' or '}' at offset \(scanner.offset)")
                }
            }
        }
        scanner.skipSpaces()
        guard scanner.atEnd else { throw SeriesSelectorError(selector: text, problem: "unexpected text at offset \(scanner.offset)") }
        guard !matchers.isEmpty else { throw SeriesSelectorError(selector: text, problem: "a selector needs a metric name or at least one label matcher") }
        guard matchers.contains(where: { !$0.matches("") }) else {
            throw SeriesSelectorError(selector: text, problem: "vector selector must contain at least one non-empty matcher")
        }
        return matchers
    }
}

/// A `match[]` selector that does not parse.
public struct SeriesSelectorError: Error, Sendable, CustomStringConvertible {
    public var selector: String
    public var problem: String
    public var description: String { "invalid series selector \"\(selector)\": \(problem)" }
}

private struct SelectorScanner {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }
    var peek: UInt8? { atEnd ? nil : bytes[offset] }
    mutating func advance() { offset += 1 }

    mutating func skipSpaces() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { offset += 1 }
    }

    mutating func identifier(allowingColon: Bool) -> String {
        let start = offset
        while let byte = peek {
            let letter = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || (allowingColon && byte == 0x3A)
            let digit = byte >= 0x30 && byte <= 0x39
            guard letter || (digit && offset > start) else { break }
            offset += 1
        }
        return String(decoding: bytes[start..<offset], as: UTF8.self)
    }

    mutating func matchOperator() -> LabelMatcher.Kind? {
        guard let first = peek else { return nil }
        let second = offset + 1 < bytes.count ? bytes[offset + 1] : 0
        switch (first, second) {
        case (UInt8(ascii: "="), UInt8(ascii: "~")): offset += 2; return .regexMatch
        case (UInt8(ascii: "!"), UInt8(ascii: "=")): offset += 2; return .notEqual
        case (UInt8(ascii: "!"), UInt8(ascii: "~")): offset += 2; return .regexNoMatch
        case (UInt8(ascii: "="), _): offset += 1; return .equal
        default: return nil
        }
    }

    /// A string in double quotes, single quotes or backticks, with Go's escapes in the first two.
    mutating func quoted() -> String? {
        guard let quote = peek, quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") || quote == UInt8(ascii: "`") else { return nil }
        offset += 1
        var value: [UInt8] = []
        while let byte = peek {
            offset += 1
            if byte == quote { return String(validating: value, as: UTF8.self) }
            guard byte == UInt8(ascii: "\\"), quote != UInt8(ascii: "`") else {
                value.append(byte)
                continue
            }
            guard let escaped = peek else { return nil }
            offset += 1
            switch escaped {
            case UInt8(ascii: "n"): value.append(0x0A)
            case UInt8(ascii: "t"): value.append(0x09)
            case UInt8(ascii: "r"): value.append(0x0D)
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"): value.append(escaped)
            default: return nil
            }
        }
        return nil
    }
}
