import Foundation

/// Bounds on what one claim may carry, checked at the edge so that nothing the database cannot
/// hold (or that would make intake work grow faster than the input) gets past validation.
/// Set in the rules file's `limits` object; the defaults are generous for real exports.
public struct ClaimLimits: Sendable, Equatable {
    /// Most fields (JSON keys or CSV columns) one line may have.
    public var maxFieldsPerLine = 1_000
    /// Most names of unknown fields kept with a claim; the rest are counted in a warning.
    public var maxIgnoredFieldsKept = 100
    /// Longest text value (ids, codes, claim numbers) and longest unknown field name kept, in
    /// characters.
    public var maxTextLength = 256

    /// Largest magnitude of any amount: $100,000,000.00. Not configurable: it keeps a line's net
    /// fee (three amounts) times a claim's 1,000 lines inside the database's NUMERIC(14,2).
    public static let maxAmountCents: Int64 = 10_000_000_000

    public init() {}

    /// The default limits.
    public static let standard = ClaimLimits()
}

extension String {
    /// Whether the text holds a NUL character, which PostgreSQL text cannot store.
    public var containsNUL: Bool { utf8.contains(0) }

    /// Whether the text has more than `limit` characters, counted as Unicode code points the way
    /// PostgreSQL and JSON Schema's `maxLength` count them (an accented letter written with a
    /// combining mark is two). Counted only when its bytes could be more.
    public func isLonger(thanCharacters limit: Int) -> Bool {
        utf8.count > limit && unicodeScalars.count > limit
    }

    /// The text with each NUL replaced by U+FFFD, for keeping rejected input as it arrived in
    /// columns that cannot hold NUL (text and jsonb).
    public var replacingNUL: String { containsNUL ? replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : self }
}
