import Foundation

/// A named, configurable validation rule over one field of every claim line.
///
/// Rules are values: the default set lives in ``RuleSet/standard``, and an operator can change a
/// rule's severity, switch it off or add new `pattern` / `one_of` / `max_amount` rules in a JSON
/// file (`CLAIMS_RULES_FILE`) without code changes.
public struct ValidationRule: Sendable, Equatable, Codable {
    /// What a rule checks.
    public enum Kind: String, Sendable, Codable {
        /// The field is present and not blank.
        case required
        /// The whole value matches `pattern` (a regular expression).
        case pattern
        /// The value is one of `values` (compared case-sensitively after trimming).
        case oneOf = "one_of"
        /// A money field is zero or more.
        case nonNegative = "non_negative"
        /// A money field is at most `maxCents`.
        case maxAmount = "max_amount"
        /// A date field is not after the day of submission.
        case notInFuture = "not_in_future"
        /// The NPI's Luhn check digit (computed over "80840" + the first nine digits) is right.
        case npiCheckDigit = "npi_check_digit"
    }

    public var name: String
    public var field: ClaimField
    public var kind: Kind
    public var severity: Severity
    public var pattern: String?
    public var values: [String]?
    public var maxCents: Int64?
    /// Overrides the default message.
    public var message: String?

    public init(
        name: String, field: ClaimField, kind: Kind, severity: Severity = .reject, pattern: String? = nil, values: [String]? = nil,
        maxCents: Int64? = nil, message: String? = nil
    ) {
        self.name = name
        self.field = field
        self.kind = kind
        self.severity = severity
        self.pattern = pattern
        self.values = values
        self.maxCents = maxCents
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case name, field, kind, severity, pattern, values, message
        case maxCents = "max_cents"
    }
}

/// Whether an NPI's last digit is its Luhn check digit over the prefix "80840".
public func isValidNPICheckDigit(_ npi: String) -> Bool {
    var digits = npi.utf8.makeIterator()
    // "80840" prefixed to the first nine digits: its doubled-and-summed Luhn share is 24.
    var sum = 24
    for position in 0..<10 {
        guard let byte = digits.next(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return false }
        let digit = Int(byte - UInt8(ascii: "0"))
        if position == 9 { return digits.next() == nil && (10 - sum % 10) % 10 == digit }
        // Counted from the right of the 14-digit payload, the NPI's first digit is doubled,
        // the second not, and so on.
        if position % 2 == 0 {
            let doubled = digit * 2
            sum += doubled > 9 ? doubled - 9 : doubled
        } else {
            sum += digit
        }
    }
    return false
}
