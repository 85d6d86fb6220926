/// Any JSON value. Numbers keep their text exactly as written, so `130.1` is read as 130.10,
/// never through binary floating point; objects keep their members in document order,
/// duplicates included (the validator reports a field given twice).
enum JSONValue: Equatable, Sendable {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([Member])

    struct Member: Equatable, Sendable {
        var key: String
        var value: JSONValue
    }

    /// The value as text for a line field; `nil` for null, arrays and objects.
    var text: String? {
        switch self {
        case .string(let text), .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null, .array, .object: return nil
        }
    }
}

/// A strict RFC 8259 reader over UTF-8 bytes: one pass, no Foundation, clear positions in errors.
/// Claims arrive as JSON on every request, and a general-purpose Decodable round trip was the
/// largest cost of intake.
struct JSONReader {
    /// Deeper nesting is refused rather than risking the stack.
    static let maxDepth = 256

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The one value the bytes hold (whitespace around it allowed).
    static func parse(_ bytes: [UInt8]) throws(JSONReadError) -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { reader.index = 3 }
        reader.skipWhitespace()
        let value = try reader.readValue()
        reader.skipWhitespace()
        guard reader.index == bytes.count else { throw reader.unexpected("after the end of the JSON value") }
        return value
    }

    private mutating func readValue() throws(JSONReadError) -> JSONValue {
        guard index < bytes.count else { throw JSONReadError(reason: "the JSON ends where a value was expected", offset: index) }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try readObject()
        case UInt8(ascii: "["): return try readArray()
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try readNumber())
        default: throw unexpected("where a value was expected")
        }
    }

    private mutating func readObject() throws(JSONReadError) -> JSONValue {
        try enter()
        index += 1
        var members: [JSONValue.Member] = []
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw unexpected("where an object key (a string) was expected") }
            let key = try readString()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw unexpected("where ':' was expected after an object key") }
            index += 1
            skipWhitespace()
            members.append(JSONValue.Member(key: key, value: try readValue()))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return .object(members)
            default: throw unexpected("where ',' or '}' was expected in an object")
            }
        }
    }

    private mutating func readArray() throws(JSONReadError) -> JSONValue {
        try enter()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try readValue())
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return .array(elements)
            default: throw unexpected("where ',' or ']' was expected in an array")
            }
        }
    }

    private mutating func enter() throws(JSONReadError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw JSONReadError(reason: "the JSON nests deeper than \(Self.maxDepth) levels", offset: index) }
    }

    private mutating func readString() throws(JSONReadError) -> String {
        let start = index
        index += 1  // the opening quote
        let contentStart = index
        // Fast path: no escapes, so the bytes are the string.
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
            guard bytes[index] >= 0x20 else { throw unexpected("inside a string (control characters must be escaped)") }
            index += 1
        }
        guard index < bytes.count else { throw JSONReadError(reason: "a string is not terminated", offset: start) }
        if bytes[index] == UInt8(ascii: "\"") {
            index += 1
            return try text(bytes[contentStart..<(index - 1)], start: start)
        }
        var buffer = Array(bytes[contentStart..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return try text(buffer[...], start: start)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(escape)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try readHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        // A surrogate pair: the low half must follow as another \u escape.
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw JSONReadError(reason: "a \\u escape has an unpaired surrogate", offset: index)
                        }
                        index += 2
                        let low = try readHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw JSONReadError(reason: "a \\u escape has an unpaired surrogate", offset: index) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw JSONReadError(reason: "a \\u escape has an unpaired surrogate", offset: index) }
                    buffer.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    index -= 1
                    throw unexpected("after '\\' in a string")
                }
            default:
                guard byte >= 0x20 else { throw unexpected("inside a string (control characters must be escaped)") }
                buffer.append(byte)
                index += 1
            }
        }
        throw JSONReadError(reason: "a string is not terminated", offset: start)
    }

    private func text(_ utf8: ArraySlice<UInt8>, start: Int) throws(JSONReadError) -> String {
        guard let text = String(validating: utf8, as: UTF8.self) else { throw JSONReadError(reason: "a string is not valid UTF-8", offset: start) }
        return text
    }

    private mutating func readHex4() throws(JSONReadError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw JSONReadError(reason: "a \\u escape needs four hex digits", offset: index) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw JSONReadError(reason: "a \\u escape needs four hex digits", offset: index)
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as written.
    private mutating func readNumber() throws(JSONReadError) -> String {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, isDigit(first) else { throw unexpected("where a digit was expected in a number") }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek, isDigit(digit) else { throw unexpected("where a digit was expected after '.'") }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek, isDigit(digit) else { throw unexpected("where a digit was expected in an exponent") }
            skipDigits()
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func expectWord(_ word: StaticString) throws(JSONReadError) {
        let count = word.utf8CodeUnitCount
        let matches = word.withUTF8Buffer { expected in index + count <= bytes.count && bytes[index..<(index + count)].elementsEqual(expected) }
        guard matches else { throw unexpected("where a value was expected") }
        index += count
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private mutating func skipDigits() {
        while let byte = peek, isDigit(byte) { index += 1 }
    }

    private mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    private func unexpected(_ context: String) -> JSONReadError {
        guard let byte = peek else { return JSONReadError(reason: "the JSON ends \(context)", offset: index) }
        let shown = (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : Self.hexByte(byte)
        return JSONReadError(reason: "unexpected \(shown) \(context)", offset: index)
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "byte 0x" + (hex.count == 1 ? "0" + hex : hex)
    }
}

/// Where and why a JSON document could not be read.
struct JSONReadError: Error, Equatable, CustomStringConvertible {
    var reason: String
    /// Byte offset from the start of the document.
    var offset: Int

    var description: String { "\(reason) (at byte \(offset))" }
}
