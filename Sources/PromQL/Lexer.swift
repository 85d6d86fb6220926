import TimeSeries

/// A position in a query: 1-based line and column, as Prometheus reports parse errors.
public struct SourcePosition: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var description: String { "\(line):\(column)" }
}

/// A query that does not parse: where, and what was wrong, worded like Prometheus
/// (`1:14: parse error: unexpected …`).
public struct ParseError: Error, Sendable, CustomStringConvertible, Equatable {
    public var position: SourcePosition
    public var message: String
    public var description: String { "\(position): parse error: \(message)" }
}

/// The kinds of tokens of PromQL.
enum TokenKind: Equatable, Sendable {
    case identifier(String)
    /// A metric name containing `:` (only valid as a metric name).
    case metricIdentifier(String)
    case number(Double)
    /// A duration such as `5m` or `1h30m`, in milliseconds.
    case duration(Int64)
    case string(String)
    case leftParen, rightParen, leftBrace, rightBrace, leftBracket, rightBracket
    case comma, colon, at
    case plus, minus, multiply, divide, modulo, power
    case equal, notEqual, greater, less, greaterEqual, lessEqual
    case assign, regexMatch, regexNoMatch
    case end

    var text: String {
        switch self {
        case .identifier(let name), .metricIdentifier(let name): return "identifier \"\(name)\""
        case .number(let value): return "number \"\(value)\""
        case .duration: return "duration"
        case .string(let text): return "string \"\(text)\""
        case .leftParen: return "\"(\""
        case .rightParen: return "\")\""
        case .leftBrace: return "\"{\""
        case .rightBrace: return "\"}\""
        case .leftBracket: return "\"[\""
        case .rightBracket: return "\"]\""
        case .comma: return "\",\""
        case .colon: return "\":\""
        case .at: return "\"@\""
        case .plus: return "\"+\""
        case .minus: return "\"-\""
        case .multiply: return "\"*\""
        case .divide: return "\"/\""
        case .modulo: return "\"%\""
        case .power: return "\"^\""
        case .equal: return "\"==\""
        case .notEqual: return "\"!=\""
        case .greater: return "\">\""
        case .less: return "\"<\""
        case .greaterEqual: return "\">=\""
        case .lessEqual: return "\"<=\""
        case .assign: return "\"=\""
        case .regexMatch: return "\"=~\""
        case .regexNoMatch: return "\"!~\""
        case .end: return "end of input"
        }
    }
}

struct Token: Sendable {
    let kind: TokenKind
    let position: SourcePosition
    /// Byte offset of the token's first character.
    let offset: Int
    /// Whether whitespace or a comment came right before it.
    let spaceBefore: Bool
}

/// Splits a query into tokens. Numbers followed directly by a unit (`5m`, `1h30m`) are
/// durations; `Inf` and `NaN` (any case) are numbers; `#` starts a comment to the end of the line.
struct Lexer {
    private let bytes: [UInt8]
    private var offset = 0
    private var line = 1
    private var lineStart = 0

    init(_ query: String) {
        bytes = Array(query.utf8)
    }

    private func position(at index: Int) -> SourcePosition {
        // Columns count characters, as Prometheus does (runes), from 1.
        let column = String(decoding: bytes[lineStart..<index], as: UTF8.self).count + 1
        return SourcePosition(line: line, column: column)
    }

    private func fail(_ message: String, at index: Int) -> ParseError {
        ParseError(position: position(at: index), message: message)
    }

    mutating func tokens() throws(ParseError) -> [Token] {
        var result: [Token] = []
        while true {
            let spaced = skipSpaceAndComments()
            let start = offset
            let kind = try next()
            result.append(Token(kind: kind, position: position(at: start), offset: start, spaceBefore: spaced))
            if kind == .end { return result }
        }
    }

    private mutating func skipSpaceAndComments() -> Bool {
        var skipped = false
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == 0x20 || byte == 0x09 || byte == 0x0D {
                offset += 1
            } else if byte == 0x0A {
                offset += 1
                line += 1
                lineStart = offset
            } else if byte == UInt8(ascii: "#") {
                while offset < bytes.count && bytes[offset] != 0x0A { offset += 1 }
            } else {
                break
            }
            skipped = true
        }
        return skipped
    }

    private func peek(_ ahead: Int = 0) -> UInt8? {
        offset + ahead < bytes.count ? bytes[offset + ahead] : nil
    }

    private mutating func next() throws(ParseError) -> TokenKind {
        guard let byte = peek() else { return .end }
        let start = offset
        switch byte {
        case UInt8(ascii: "("): offset += 1; return .leftParen
        case UInt8(ascii: ")"): offset += 1; return .rightParen
        case UInt8(ascii: "{"): offset += 1; return .leftBrace
        case UInt8(ascii: "}"): offset += 1; return .rightBrace
        case UInt8(ascii: "["): offset += 1; return .leftBracket
        case UInt8(ascii: "]"): offset += 1; return .rightBracket
        case UInt8(ascii: ","): offset += 1; return .comma
        case UInt8(ascii: ":"):
            offset += 1
            return .colon
        case UInt8(ascii: "@"): offset += 1; return .at
        case UInt8(ascii: "+"): offset += 1; return .plus
        case UInt8(ascii: "-"): offset += 1; return .minus
        case UInt8(ascii: "*"): offset += 1; return .multiply
        case UInt8(ascii: "/"): offset += 1; return .divide
        case UInt8(ascii: "%"): offset += 1; return .modulo
        case UInt8(ascii: "^"): offset += 1; return .power
        case UInt8(ascii: "="):
            offset += 1
            if peek() == UInt8(ascii: "=") { offset += 1; return .equal }
            if peek() == UInt8(ascii: "~") { offset += 1; return .regexMatch }
            return .assign
        case UInt8(ascii: "!"):
            offset += 1
            if peek() == UInt8(ascii: "=") { offset += 1; return .notEqual }
            if peek() == UInt8(ascii: "~") { offset += 1; return .regexNoMatch }
            throw fail("unexpected character after '!': \(peek().map { "'\(Character(Unicode.Scalar($0)))'" } ?? "end of input")", at: start)
        case UInt8(ascii: ">"):
            offset += 1
            if peek() == UInt8(ascii: "=") { offset += 1; return .greaterEqual }
            return .greater
        case UInt8(ascii: "<"):
            offset += 1
            if peek() == UInt8(ascii: "=") { offset += 1; return .lessEqual }
            return .less
        case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "`"):
            return .string(try string(quote: byte))
        default:
            if isDigit(byte) || (byte == UInt8(ascii: ".") && peek(1).map(isDigit) == true) { return try number() }
            if isIdentifierStart(byte) { return identifier() }
            let scalar = String(decoding: bytes[start...].prefix(4), as: UTF8.self).first.map(String.init) ?? "?"
            throw fail("unexpected character: '\(scalar)'", at: start)
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || byte == UInt8(ascii: ":")
    }
    private func isIdentifierByte(_ byte: UInt8) -> Bool { isIdentifierStart(byte) || isDigit(byte) }

    private mutating func identifier() -> TokenKind {
        let start = offset
        while let byte = peek(), isIdentifierByte(byte) { offset += 1 }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        switch text.lowercased() {
        case "inf": return .number(.infinity)
        case "nan": return .number(.nan)
        default: break
        }
        return text.contains(":") ? .metricIdentifier(text) : .identifier(text)
    }

    private mutating func number() throws(ParseError) -> TokenKind {
        let start = offset
        // Hexadecimal integers.
        if peek() == UInt8(ascii: "0"), let x = peek(1), x == UInt8(ascii: "x") || x == UInt8(ascii: "X") {
            offset += 2
            let digits = offset
            while let byte = peek(), isDigit(byte) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66) { offset += 1 }
            guard offset > digits, let value = UInt64(String(decoding: bytes[digits..<offset], as: UTF8.self), radix: 16) else {
                throw fail("bad number or duration syntax: \"\(String(decoding: bytes[start..<offset], as: UTF8.self))\"", at: start)
            }
            return .number(Double(value))
        }
        while let byte = peek(), isDigit(byte) { offset += 1 }
        // A unit right after digits makes a duration: 5m, 1h30m, 500ms.
        if let byte = peek(), "smhdwy".utf8.contains(byte) {
            offset = start
            return .duration(try duration())
        }
        if peek() == UInt8(ascii: ".") {
            offset += 1
            while let byte = peek(), isDigit(byte) { offset += 1 }
        }
        if let byte = peek(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            var lookahead = 1
            if let sign = peek(1), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { lookahead = 2 }
            if let digit = peek(lookahead), isDigit(digit) {
                offset += lookahead
                while let byte = peek(), isDigit(byte) { offset += 1 }
            }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if let byte = peek(), isIdentifierByte(byte) {
            while let byte = peek(), isIdentifierByte(byte) { offset += 1 }
            throw fail("bad number or duration syntax: \"\(String(decoding: bytes[start..<offset], as: UTF8.self))\"", at: start)
        }
        guard let value = Double(text) else { throw fail("bad number or duration syntax: \"\(text)\"", at: start) }
        return .number(value)
    }

    private mutating func duration() throws(ParseError) -> Int64 {
        let start = offset
        while let byte = peek(), isDigit(byte) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) { offset += 1 }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        guard let milliseconds = PrometheusDuration.milliseconds(text), text != "0" else { throw fail("bad duration syntax: \"\(text)\"", at: start) }
        return milliseconds
    }

    private mutating func string(quote: UInt8) throws(ParseError) -> String {
        let start = offset
        offset += 1
        var value: [UInt8] = []
        while let byte = peek() {
            offset += 1
            if byte == quote { 
                guard let text = String(validating: value, as: UTF8.self) else { throw fail("invalid UTF-8 in string", at: start) }
                return text
            }
            if byte == 0x0A && quote != UInt8(ascii: "`") { throw fail("unterminated quoted string", at: start) }
            guard byte == UInt8(ascii: "\\"), quote != UInt8(ascii: "`") else {
                value.append(byte)
                continue
            }
            guard let escaped = peek() else { break }
            offset += 1
            switch escaped {
            case UInt8(ascii: "a"): value.append(0x07)
            case UInt8(ascii: "b"): value.append(0x08)
            case UInt8(ascii: "f"): value.append(0x0C)
            case UInt8(ascii: "n"): value.append(0x0A)
            case UInt8(ascii: "r"): value.append(0x0D)
            case UInt8(ascii: "t"): value.append(0x09)
            case UInt8(ascii: "v"): value.append(0x0B)
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"): value.append(escaped)
            case UInt8(ascii: "x"):
                guard let byte = hexDigits(2) else { throw fail("unknown escape sequence in string", at: offset) }
                value.append(UInt8(byte))
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                guard let code = hexDigits(escaped == UInt8(ascii: "u") ? 4 : 8), let scalar = Unicode.Scalar(code) else {
                    throw fail("invalid Unicode escape in string", at: offset)
                }
                value.append(contentsOf: Array(String(Character(scalar)).utf8))
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                offset -= 1
                guard let code = octalDigits(), code < 256 else { throw fail("invalid octal escape in string", at: offset) }
                value.append(UInt8(code))
            default:
                throw fail("unknown escape sequence \"\\\(Character(Unicode.Scalar(escaped)))\" in string", at: offset - 2)
            }
        }
        throw fail("unterminated quoted string", at: start)
    }

    private mutating func hexDigits(_ count: Int) -> UInt32? {
        guard offset + count <= bytes.count, let value = UInt32(String(decoding: bytes[offset..<offset + count], as: UTF8.self), radix: 16) else { return nil }
        offset += count
        return value
    }

    private mutating func octalDigits() -> UInt32? {
        guard offset + 3 <= bytes.count, let value = UInt32(String(decoding: bytes[offset..<offset + 3], as: UTF8.self), radix: 8) else { return nil }
        offset += 3
        return value
    }
}

