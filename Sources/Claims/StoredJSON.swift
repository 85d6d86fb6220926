/// Why JSON a claim was stored with could not be read back: the column was changed by hand or
/// by something other than claimsd.
public struct StoredJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
}

/// Reads back the JSON kept beside a stored claim — its warnings and ignored field names — with
/// the intake's own reader instead of Foundation's decoder: every read of a claim does this, and
/// `JSONDecoder` was a visible share of a GET's CPU.
public enum StoredJSON {
    /// The violations in `text`: a JSON array of objects with `field`, `rule`, `severity`,
    /// `message` and an optional `line`, as ``Violation``'s `Codable` form and PostgreSQL's
    /// `jsonb` text write them (keys in any order, any white space).
    public static func violations(_ text: String) throws(StoredJSONError) -> [Violation] {
        let elements = try array(text, of: "violations")
        var violations: [Violation] = []
        violations.reserveCapacity(elements.count)
        for element in elements {
            guard case .object(let members) = element else { throw StoredJSONError(description: "a stored violation is not a JSON object") }
            var line: Int?
            var field: String?
            var rule: String?
            var severity: Severity?
            var message: String?
            for member in members {
                switch (member.key, member.value) {
                case ("line", .number(let number)):
                    guard let value = Int(number) else { throw StoredJSONError(description: "a stored violation's line \(number) is not a whole number") }
                    line = value
                case ("line", .null): line = nil
                case ("field", .string(let text)): field = text
                case ("rule", .string(let text)): rule = text
                case ("severity", .string(let text)): severity = Severity(rawValue: text)
                case ("message", .string(let text)): message = text
                default: throw StoredJSONError(description: "a stored violation has an unexpected member \"\(member.key)\"")
                }
            }
            guard let field, let rule, let severity, let message else {
                throw StoredJSONError(description: "a stored violation lacks field, rule, a known severity or message")
            }
            violations.append(Violation(line: line, field: field, rule: rule, severity: severity, message: message))
        }
        return violations
    }

    /// The screening flags in `text`: a JSON array of objects with `rule`, `message` and an
    /// optional `line`.
    public static func flags(_ text: String) throws(StoredJSONError) -> [ClaimFlag] {
        let elements = try array(text, of: "flags")
        return try elements.map { element throws(StoredJSONError) in
            guard case .object(let members) = element else { throw StoredJSONError(description: "a stored flag is not a JSON object") }
            var line: Int?
            var rule: String?
            var message: String?
            for member in members {
                switch (member.key, member.value) {
                case ("line", .number(let number)): line = Int(number)
                case ("line", .null): line = nil
                case ("rule", .string(let text)): rule = text
                case ("message", .string(let text)): message = text
                default: throw StoredJSONError(description: "a stored flag has an unexpected member \"\(member.key)\"")
                }
            }
            guard let rule, let message else { throw StoredJSONError(description: "a stored flag lacks rule or message") }
            return ClaimFlag(rule: rule, line: line, message: message)
        }
    }

    /// The strings in `text`, a JSON array of strings.
    public static func strings(_ text: String) throws(StoredJSONError) -> [String] {
        let elements = try array(text, of: "names")
        var strings: [String] = []
        strings.reserveCapacity(elements.count)
        for element in elements {
            guard case .string(let text) = element else { throw StoredJSONError(description: "a stored name is not a JSON string") }
            strings.append(text)
        }
        return strings
    }

    /// The elements of the JSON array in `text` (stored `what`); `[]`, what most claims hold,
    /// without parsing.
    private static func array(_ text: String, of what: String) throws(StoredJSONError) -> [JSONValue] {
        if text == "[]" { return [] }
        let value: JSONValue
        do {
            value = try JSONReader.parse(Array(text.utf8))
        } catch {
            throw StoredJSONError(description: "stored \(what) cannot be read: \(error)")
        }
        guard case .array(let elements) = value else { throw StoredJSONError(description: "stored \(what) are not a JSON array: \(text.prefix(80))") }
        return elements
    }
}
