/// The two metric exposition formats a target may answer with.
public enum ExpositionFormat: String, Sendable {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`): timestamps in milliseconds.
    case prometheusText = "text/plain"
    /// OpenMetrics 1.0 (`application/openmetrics-text`): timestamps in seconds, `# EOF` at the end.
    case openMetrics = "application/openmetrics-text"

    /// The `Accept` header Prometheus sends: OpenMetrics preferred, text 0.0.4 accepted.
    public static let acceptHeader = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

    /// The format a `Content-Type` names; anything but OpenMetrics is read as text 0.0.4, as
    /// Prometheus does.
    public init(contentType: String?) {
        let mediaType = contentType?.split(separator: ";").first.map { $0.filter { $0 != " " && $0 != "\t" }.lowercased() }
        self = mediaType == "application/openmetrics-text" ? .openMetrics : .prometheusText
    }
}

/// One sample line of an exposition: the series' labels (with `__name__`), its value and the
/// timestamp it carried (milliseconds), if any.
public struct ExposedSample: Sendable, Equatable {
    public var labels: Labels
    public var value: Double
    public var timestamp: Int64?
    /// The line it was on (1-based).
    public var line: Int

    public init(labels: Labels, value: Double, timestamp: Int64? = nil, line: Int = 0) {
        self.labels = labels
        self.value = value
        self.timestamp = timestamp
        self.line = line
    }

    public static func == (lhs: ExposedSample, rhs: ExposedSample) -> Bool {
        lhs.labels == rhs.labels && lhs.value.bitPattern == rhs.value.bitPattern && lhs.timestamp == rhs.timestamp
    }
}

/// What an exposition says about a metric family: its type, help text and unit, as the
/// Prometheus metadata API reports them (`untyped` is reported as `unknown`).
public struct MetricMetadata: Sendable, Hashable {
    public var type = "unknown"
    public var help = ""
    public var unit = ""

    public init(type: String = "unknown", help: String = "", unit: String = "") {
        self.type = type
        self.help = help
        self.unit = unit
    }
}

/// An exposition that does not follow its format: the line and what is wrong with it.
public struct ExpositionError: Error, Sendable, CustomStringConvertible, Equatable {
    /// 1-based line number.
    public var line: Int
    public var problem: String
    public var description: String { "line \(line): \(problem)" }
}

/// Reads the Prometheus text format 0.0.4 and OpenMetrics 1.0: every sample with its labels,
/// value and timestamp. Exemplars are checked and ignored; `# HELP`, `# TYPE` and `# UNIT`
/// are checked and not kept. The first malformed line fails the whole exposition, so nothing
/// of a bad scrape is stored.
public struct ExpositionParser {
    private let bytes: [UInt8]
    private let format: ExpositionFormat
    private var position = 0
    private var line = 1
    private var fragment = false
    private var endedWithEOF = false
    /// HELP, TYPE and UNIT lines seen, by family name.
    private var metadata: [String: MetricMetadata] = [:]

    private init(bytes: [UInt8], format: ExpositionFormat) {
        self.bytes = bytes
        self.format = format
    }

    /// The samples of `text`, in order.
    public static func parse(_ text: [UInt8], format: ExpositionFormat) throws(ExpositionError) -> [ExposedSample] {
        var parser = ExpositionParser(bytes: text, format: format)
        return try parser.parseAll()
    }

    /// The samples of `text` and the metadata of its metric families, by family name.
    public static func parseWithMetadata(
        _ text: [UInt8], format: ExpositionFormat
    ) throws(ExpositionError) -> (samples: [ExposedSample], metadata: [String: MetricMetadata]) {
        var parser = ExpositionParser(bytes: text, format: format)
        let samples = try parser.parseAll()
        return (samples, parser.metadata)
    }

    /// The samples of one piece of a longer exposition that starts at line `firstLine`: whole
    /// lines, `# EOF` not required (the caller checks the end). `sawEOF` tells whether the piece
    /// held it.
    static func parseFragment(_ text: [UInt8], format: ExpositionFormat, firstLine: Int, sawEOF: inout Bool) throws(ExpositionError) -> [ExposedSample] {
        var parser = ExpositionParser(bytes: text, format: format)
        parser.line = firstLine
        parser.fragment = true
        let samples = try parser.parseAll()
        sawEOF = parser.endedWithEOF
        return samples
    }

    private static let space = UInt8(ascii: " ")
    private static let tab = UInt8(ascii: "\t")
    private static let newline = UInt8(ascii: "\n")
    private static let hash = UInt8(ascii: "#")
    private static let metricTypes: Set<String> = ["counter", "gauge", "histogram", "summary", "untyped"]
    private static let openMetricsTypes: Set<String> = ["counter", "gauge", "histogram", "gaugehistogram", "stateset", "info", "summary", "unknown"]

    private func fail(_ problem: String) -> ExpositionError {
        ExpositionError(line: line, problem: problem)
    }

    private mutating func parseAll() throws(ExpositionError) -> [ExposedSample] {
        var samples: [ExposedSample] = []
        var sawEOF = false
        while position < bytes.count {
            let end = bytes[position...].firstIndex(of: Self.newline) ?? bytes.count
            if sawEOF { throw fail("content after # EOF") }
            let lineBytes = bytes[position..<end]
            if format == .openMetrics && end == bytes.count && !fragment {
                // OpenMetrics lines all end in a newline except possibly after # EOF.
                if !(lineBytes.elementsEqual("# EOF".utf8)) { throw fail("the last line must end with a newline") }
            }
            if let sample = try parseLine(lineBytes, sawEOF: &sawEOF) { samples.append(sample) }
            position = end + 1
            line += 1
        }
        endedWithEOF = sawEOF
        if format == .openMetrics && !sawEOF && !fragment {
            throw ExpositionError(line: line, problem: "missing # EOF at the end of an OpenMetrics exposition")
        }
        return samples
    }

    private mutating func parseLine(_ text: ArraySlice<UInt8>, sawEOF: inout Bool) throws(ExpositionError) -> ExposedSample? {
        var cursor = Cursor(bytes: text)
        if format == .prometheusText {
            cursor.skipBlanks()
            if cursor.atEnd { return nil }
        } else if text.isEmpty {
            throw fail("empty line (not allowed in OpenMetrics)")
        }
        if cursor.peek == Self.hash {
            try parseComment(&cursor, sawEOF: &sawEOF)
            return nil
        }
        return try parseSample(&cursor)
    }

    private mutating func parseComment(_ cursor: inout Cursor, sawEOF: inout Bool) throws(ExpositionError) {
        cursor.advance()  // '#'
        if format == .openMetrics {
            let rest = String(decoding: cursor.rest, as: UTF8.self)
            if rest == " EOF" {
                sawEOF = true
                return
            }
            guard cursor.peek == Self.space else { throw fail("a comment line must be # HELP, # TYPE, # UNIT or # EOF") }
            cursor.advance()
        } else {
            cursor.skipBlanks()
        }
        let keyword = cursor.token()
        switch keyword {
        case "HELP", "TYPE", "UNIT":
            if format == .prometheusText && keyword == "UNIT" { return }
            guard cursor.peek == Self.space || cursor.peek == Self.tab else {
                if format == .prometheusText { return }
                throw fail("expected a metric name after # \(keyword)")
            }
            cursor.skipBlanks()
            let name = cursor.token()
            guard isValidMetricName(name) else {
                if format == .prometheusText && keyword != "TYPE" && name.isEmpty { return }
                throw fail("invalid metric name \"\(name)\" in # \(keyword)")
            }
            if keyword == "TYPE" {
                cursor.skipBlanks()
                let type = cursor.token()
                let known = format == .openMetrics ? Self.openMetricsTypes : Self.metricTypes
                guard known.contains(type) else { throw fail("unknown metric type \"\(type)\" for \(name)") }
                metadata[name, default: MetricMetadata()].type = type == "untyped" ? "unknown" : type
            } else if keyword == "HELP" {
                if cursor.peek == Self.space || cursor.peek == Self.tab { cursor.advance() }
                guard let help = String(validating: cursor.rest, as: UTF8.self) else { throw fail("help text is not valid UTF-8") }
                metadata[name, default: MetricMetadata()].help = Self.unescapeHelp(help)
            } else {
                cursor.skipBlanks()
                metadata[name, default: MetricMetadata()].unit = String(decoding: cursor.rest, as: UTF8.self)
            }
        default:
            if format == .openMetrics { throw fail("a comment line must be # HELP, # TYPE, # UNIT or # EOF") }
        }
    }

    private func parseSample(_ cursor: inout Cursor) throws(ExpositionError) -> ExposedSample {
        let name = cursor.metricName()
        guard !name.isEmpty else { throw fail("expected a metric name, found \"\(cursor.preview)\"") }
        var labels = [Label(Labels.metricName, name)]
        var blanks = format == .prometheusText ? cursor.skipBlanks() : 0
        if cursor.peek == UInt8(ascii: "{") {
            cursor.advance()
            try parseLabels(&cursor, into: &labels)
            blanks = format == .prometheusText ? cursor.skipBlanks() : 0
        }
        var names = Set<String>()
        for label in labels {
            guard names.insert(label.name).inserted else { throw fail("label \"\(label.name)\" appears twice in \(name)") }
        }
        if format == .prometheusText {
            guard !cursor.atEnd else { throw fail("missing value for \(name)") }
            guard blanks > 0 else { throw fail("expected a space before the value, found \"\(cursor.preview)\"") }
        } else {
            try expectSeparator(&cursor, before: "value")
        }
        let valueText = cursor.token()
        guard let value = Self.parseFloat(valueText) else { throw fail("invalid value \"\(valueText)\" for \(name)") }
        var timestamp: Int64?
        if format == .prometheusText {
            cursor.skipBlanks()
            if !cursor.atEnd {
                let text = cursor.token()
                guard let milliseconds = Int64(text) else { throw fail("invalid timestamp \"\(text)\" for \(name) (milliseconds expected)") }
                timestamp = milliseconds
                cursor.skipBlanks()
            }
            if !cursor.atEnd { throw fail("unexpected \"\(cursor.preview)\" after the sample of \(name)") }
        } else {
            if cursor.peek == Self.space {
                cursor.advance()
                if cursor.peek != Self.hash {
                    let text = cursor.token()
                    guard let seconds = Self.parseFloat(text), seconds.isFinite else { throw fail("invalid timestamp \"\(text)\" for \(name) (seconds expected)") }
                    timestamp = Int64((seconds * 1000).rounded())
                    if cursor.peek == Self.space { cursor.advance() }
                }
                if cursor.peek == Self.hash { try parseExemplar(&cursor) }
            }
            if !cursor.atEnd { throw fail("unexpected \"\(cursor.preview)\" after the sample of \(name)") }
        }
        return ExposedSample(labels: Labels(labels), value: value, timestamp: timestamp, line: line)
    }

    private func expectSeparator(_ cursor: inout Cursor, before what: String) throws(ExpositionError) {
        guard cursor.peek == Self.space || (format == .prometheusText && cursor.peek == Self.tab) else {
            throw fail(cursor.atEnd ? "missing \(what)" : "expected a space before the \(what), found \"\(cursor.preview)\"")
        }
        if format == .prometheusText { cursor.skipBlanks() } else { cursor.advance() }
    }

    /// ` # {labels} value [timestamp]`: checked, then dropped.
    private func parseExemplar(_ cursor: inout Cursor) throws(ExpositionError) {
        cursor.advance()
        guard cursor.peek == Self.space else { throw fail("invalid exemplar") }
        cursor.advance()
        guard cursor.peek == UInt8(ascii: "{") else { throw fail("an exemplar must start with a label set") }
        cursor.advance()
        var ignored: [Label] = []
        try parseLabels(&cursor, into: &ignored)
        try expectSeparator(&cursor, before: "exemplar value")
        let value = cursor.token()
        guard Self.parseFloat(value) != nil else { throw fail("invalid exemplar value \"\(value)\"") }
        if cursor.peek == Self.space {
            cursor.advance()
            let timestamp = cursor.token()
            guard Self.parseFloat(timestamp) != nil else { throw fail("invalid exemplar timestamp \"\(timestamp)\"") }
        }
    }

    private func parseLabels(_ cursor: inout Cursor, into labels: inout [Label]) throws(ExpositionError) {
        while true {
            if format == .prometheusText { cursor.skipBlanks() }
            if cursor.peek == UInt8(ascii: "}") {
                cursor.advance()
                return
            }
            let name = cursor.labelName()
            guard !name.isEmpty else { throw fail(cursor.atEnd ? "unterminated label set" : "expected a label name, found \"\(cursor.preview)\"") }
            if format == .prometheusText { cursor.skipBlanks() }
            guard cursor.peek == UInt8(ascii: "=") else { throw fail("expected '=' after label name \"\(name)\"") }
            cursor.advance()
            if format == .prometheusText { cursor.skipBlanks() }
            guard cursor.peek == UInt8(ascii: "\"") else { throw fail("expected a quoted value for label \"\(name)\"") }
            cursor.advance()
            guard let value = cursor.quotedValue() else { throw fail("unterminated or invalid value for label \"\(name)\"") }
            labels.append(Label(name, value))
            if format == .prometheusText { cursor.skipBlanks() }
            if cursor.peek == UInt8(ascii: ",") {
                cursor.advance()
            } else if cursor.peek != UInt8(ascii: "}") {
                throw fail("expected ',' or '}' after the value of label \"\(name)\"")
            }
        }
    }

    /// Help text with `\\` and `\n` (and, in OpenMetrics, `\"`) unescaped.
    static func unescapeHelp(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var result = ""
        var escaping = false
        for character in text {
            if escaping {
                switch character {
                case "n": result.append("\n")
                case "\\", "\"": result.append(character)
                default: result.append("\\"); result.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                result.append(character)
            }
        }
        if escaping { result.append("\\") }
        return result
    }

    /// A float as Go's `strconv.ParseFloat` reads it in expositions: decimal or exponent form,
    /// `NaN`, `+Inf`, `-Inf` (case-insensitive).
    static func parseFloat(_ text: String) -> Double? {
        guard !text.isEmpty else { return nil }
        switch text.lowercased() {
        case "nan": return .nan
        case "+inf", "inf", "+infinity", "infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default:
            // Only plain decimal notation; Swift would also take hexadecimal floats.
            guard text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2B || $0 == 0x2D || $0 == 0x65 || $0 == 0x45 }) else { return nil }
            return Double(text)
        }
    }
}

/// A position in one line.
private struct Cursor {
    let bytes: ArraySlice<UInt8>
    var index: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var atEnd: Bool { index >= bytes.endIndex }
    var peek: UInt8? { atEnd ? nil : bytes[index] }
    var rest: ArraySlice<UInt8> { bytes[index...] }
    /// A short excerpt of what follows, for messages.
    var preview: String { String(decoding: bytes[index..<min(index + 20, bytes.endIndex)], as: UTF8.self) }

    mutating func advance() { index += 1 }

    /// Skips spaces and tabs; returns how many.
    @discardableResult
    mutating func skipBlanks() -> Int {
        let start = index
        while let byte = peek, byte == 0x20 || byte == 0x09 { index += 1 }
        return index - start
    }

    /// Bytes up to the next blank.
    mutating func token() -> String {
        let start = index
        while let byte = peek, byte != 0x20, byte != 0x09 { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func metricName() -> String {
        let start = index
        while let byte = peek, Self.isNameByte(byte, first: index == start, colon: true) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func labelName() -> String {
        let start = index
        while let byte = peek, Self.isNameByte(byte, first: index == start, colon: false) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// The text up to the closing quote with `\\`, `\"` and `\n` unescaped (any other escape
    /// kept as written, as Prometheus does); nil when unterminated or not UTF-8.
    mutating func quotedValue() -> String? {
        var value: [UInt8] = []
        while let byte = peek {
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: value, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let next = peek else { return nil }
                index += 1
                switch next {
                case UInt8(ascii: "n"): value.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "\\"), UInt8(ascii: "\""): value.append(next)
                default: value.append(contentsOf: [byte, next])
                }
            default:
                value.append(byte)
            }
        }
        return nil
    }

    private static func isNameByte(_ byte: UInt8, first: Bool, colon: Bool) -> Bool {
        if (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F { return true }
        if colon && byte == 0x3A { return true }
        return !first && byte >= 0x30 && byte <= 0x39
    }
}
