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
        var characters = Substring(text.trimmingSpaces)
        guard !characters.isEmpty else { return nil }
        var negative = false
        if characters.first == "(" && characters.last == ")" {
            negative = true
            characters = characters.dropFirst().dropLast()
        }
        if characters.first == "-" {
            negative.toggle()
            characters = characters.dropFirst()
        } else if characters.first == "+" {
            characters = characters.dropFirst()
        }
        if characters.first == "$" { characters = characters.dropFirst() }
        if !negative, characters.first == "-" {
            negative = true
            characters = characters.dropFirst()
        }
        let parts = characters.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return nil }
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !whole.isEmpty || !fraction.isEmpty, fraction.count <= 2, fraction.allSatisfy(\.isASCIIDigit) else { return nil }
        // "12." is a half-typed number, not an amount.
        if parts.count == 2, fraction.isEmpty { return nil }
        // Thousands separators only in groups of three: "1,300" yes, "1,30" no.
        let groups = whole.split(separator: ",", omittingEmptySubsequences: false)
        guard groups.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }) else { return nil }
        if groups.count > 1 {
            guard let first = groups.first, (1...3).contains(first.count), groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
        }
        let digits = groups.joined()
        guard digits.count <= 15 else { return nil }
        let units = Int64(digits.isEmpty ? "0" : digits) ?? 0
        let paddedFraction = fraction + String(repeating: "0", count: 2 - fraction.count)
        let cents = units * 100 + (Int64(paddedFraction) ?? 0)
        self.init(cents: negative ? -cents : cents)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace (spaces, tabs, non-breaking spaces, line breaks).
    var trimmingSpaces: Substring {
        let text = Substring(self)
        guard let start = text.firstIndex(where: { !$0.isWhitespace }), let end = text.lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return text[start...end]
    }
}
