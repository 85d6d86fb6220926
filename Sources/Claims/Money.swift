/// An exact amount of money in integer cents; never binary floating point.
public struct Money: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The amount in cents (negative for credits).
    public var cents: Int64

    public init(cents: Int64) {
        self.cents = cents
    }

    public static let zero = Money(cents: 0)

    public static func + (lhs: Money, rhs: Money) -> Money { Money(cents: lhs.cents + rhs.cents) }
    public static func - (lhs: Money, rhs: Money) -> Money { Money(cents: lhs.cents - rhs.cents) }
    public static func += (lhs: inout Money, rhs: Money) { lhs.cents += rhs.cents }
    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.cents < rhs.cents }

    /// The amount as a decimal string with two places: `"116.85"`, `"-0.50"`, `"0.00"`.
    public var description: String {
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return (cents < 0 ? "-" : "") + "\(magnitude / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }

    /// Reads money as people and spreadsheets write it: `"$1,300.00 "`, `"1300"`, `"-$5.5"`,
    /// `"(5.00)"` (accounting negative), `"12.345"` is refused (sub-cent amounts are ambiguous).
    /// Returns `nil` for anything that is not exactly an amount.
    public init?(parsing text: String) {
        // One pass over the UTF-8 bytes: this runs for every amount of every imported line.
        var bytes = text.trimmingSpaces.utf8[...]
        guard !bytes.isEmpty else { return nil }
        var negative = false
        if bytes.first == UInt8(ascii: "("), bytes.last == UInt8(ascii: ")") {
            negative = true
            bytes = bytes.dropFirst().dropLast()
        }
        if bytes.first == UInt8(ascii: "-") {
            negative.toggle()
            bytes = bytes.dropFirst()
        } else if bytes.first == UInt8(ascii: "+") {
            bytes = bytes.dropFirst()
        }
        if bytes.first == UInt8(ascii: "$") { bytes = bytes.dropFirst() }
        if !negative, bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }

        var units: Int64 = 0
        var wholeDigits = 0
        var commas = 0
        var groupLength = 0
        var index = bytes.startIndex
        scan: while index < bytes.endIndex {
            switch bytes[index] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                units = units * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                wholeDigits += 1
                groupLength += 1
                guard wholeDigits <= 15 else { return nil }
            case UInt8(ascii: ","):
                // Thousands separators only in groups of three: "1,300" yes, "1,30" no.
                guard commas == 0 ? (1...3).contains(groupLength) : groupLength == 3 else { return nil }
                commas += 1
                groupLength = 0
            case UInt8(ascii: "."):
                break scan
            default:
                return nil
            }
            index = bytes.index(after: index)
        }
        if commas > 0, groupLength != 3 { return nil }

        var fraction: Int64 = 0
        var fractionDigits = 0
        if index < bytes.endIndex {  // at the "."
            index = bytes.index(after: index)
            while index < bytes.endIndex {
                let byte = bytes[index]
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), fractionDigits < 2 else { return nil }
                fraction = fraction * 10 + Int64(byte - UInt8(ascii: "0"))
                fractionDigits += 1
                index = bytes.index(after: index)
            }
            // "12." is a half-typed number, not an amount.
            guard fractionDigits > 0 else { return nil }
        }
        guard wholeDigits > 0 || fractionDigits > 0 else { return nil }
        if fractionDigits == 1 { fraction *= 10 }
        let cents = units * 100 + fraction
        self.init(cents: negative ? -cents : cents)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace (spaces, tabs, non-breaking spaces, line breaks).
    var trimmingSpaces: Substring {
        // Most values are ASCII at both ends: trim ASCII blanks byte by byte (stepping by
        // Character would run grapheme breaking on every value), and only look at Unicode
        // whitespace (non-breaking spaces, …) when a non-ASCII byte is at an end.
        let isASCIIBlank = { (byte: UInt8) in byte == 0x20 || (0x09...0x0D).contains(byte) }
        let whole = Substring(self)
        let utf8 = whole.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end, isASCIIBlank(utf8[start]) { start = utf8.index(after: start) }
        while start < end, isASCIIBlank(utf8[utf8.index(before: end)]) { end = utf8.index(before: end) }
        // ASCII bytes are Unicode scalar boundaries, so these byte positions are valid indices.
        let text = whole[start..<end]
        if let first = text.utf8.first, let last = text.utf8.last, first < 0x80, last < 0x80 { return text }
        guard let from = text.firstIndex(where: { !$0.isWhitespace }), let through = text.lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return text[from...through]
    }
}
