/// Appends JSON text to a byte buffer without Foundation: for the hot paths that write the same
/// shapes many times a second (log records, claim response bodies, stored violations).
/// Values go through the typed methods, which escape; `open`/`key`/`member` place the commas.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Appends `text` as it is: punctuation, keys the caller knows need no escaping, numbers.
    public mutating func raw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// Appends `text` as a quoted JSON string with every required escape.
    public mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        let utf8 = text.utf8
        if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: utf8)
        } else {
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0..<0x20:
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0xF)]])
                default: bytes.append(byte)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// A JSON string, or `null` for `nil`.
    public mutating func string(orNull text: String?) {
        if let text { string(text) } else { raw("null") }
    }

    public mutating func integer(_ value: some BinaryInteger) {
        raw(String(value))
    }

    /// A JSON array of strings.
    public mutating func strings(_ values: [String]) {
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(value)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    // MARK: - Objects and arrays

    /// Opens an object or array (`{` or `[`), after a comma when it is not the first element.
    public mutating func open(_ bracket: Character) {
        separate()
        raw(String(bracket))
    }

    /// Closes an object or array: `}` or `]`.
    public mutating func close(_ bracket: Character) {
        raw(String(bracket))
    }

    /// Writes `"name":`, after a comma unless it is the object's first member. `name` must need
    /// no escaping (callers pass their own constant keys).
    public mutating func key(_ name: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: name.utf8)
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    /// Writes `"name":` like ``key(_:)``, escaping `name` where JSON needs it (names that come
    /// from data rather than from the caller's constants).
    public mutating func key(escaping name: String) {
        separate()
        string(name)
        bytes.append(UInt8(ascii: ":"))
    }

    /// A member whose value is a string.
    public mutating func member(_ name: String, _ value: String) {
        key(name)
        string(value)
    }

    /// A member whose value is a string or `null`.
    public mutating func member(_ name: String, orNull value: String?) {
        key(name)
        string(orNull: value)
    }

    /// A member whose value is an integer.
    public mutating func member(_ name: String, _ value: some BinaryInteger) {
        key(name)
        integer(value)
    }

    /// Lets `write` append text that is already valid JSON straight to the buffer (numbers and
    /// punctuation written byte by byte on hot paths, without building strings).
    public mutating func appendRaw(_ write: (inout [UInt8]) -> Void) {
        write(&bytes)
    }

    /// A comma, unless the last byte opened an object or array or was a key's colon: the
    /// separator is derived from what was written, so callers never track "first element".
    /// ``open(_:)`` and ``key(_:)`` call it; call it before a scalar element of an array.
    public mutating func separate() {
        guard let last = bytes.last, last != UInt8(ascii: "{"), last != UInt8(ascii: "["), last != UInt8(ascii: ":") else { return }
        bytes.append(UInt8(ascii: ","))
    }

    /// The text written so far.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}
