public import Foundation

/// The validation rules in force, in the order they are checked.
public struct RuleSet: Sendable {
    public private(set) var rules: [ValidationRule]
    /// How many fields, how long a text and how many ignored names a claim may carry.
    public var limits = ClaimLimits.standard
    /// What a claim whose lines name more than one provider gets (`single_provider`): `reject`
    /// by default, because the original services billed a claim to one provider; `warn` or `off`
    /// accept it, and each line's net fee then counts towards its own provider.
    public var singleProviderSeverity: Severity = .reject
    /// Compiled `pattern` rules, by rule name.
    let patterns: [String: CompiledPattern]

    public init(rules: [ValidationRule]) throws(RuleSetError) {
        var patterns: [String: CompiledPattern] = [:]
        var seen = Set<String>()
        for rule in rules {
            guard seen.insert(rule.name).inserted else { throw RuleSetError.duplicateName(rule.name) }
            switch rule.kind {
            case .pattern:
                guard let source = rule.pattern else { throw RuleSetError.missingParameter(rule: rule.name, parameter: "pattern") }
                do {
                    patterns[rule.name] = try CompiledPattern(source)
                } catch {
                    throw RuleSetError.invalidPattern(rule: rule.name, pattern: source)
                }
            case .oneOf:
                guard let values = rule.values, !values.isEmpty else { throw RuleSetError.missingParameter(rule: rule.name, parameter: "values") }
            case .maxAmount:
                guard rule.maxCents != nil else { throw RuleSetError.missingParameter(rule: rule.name, parameter: "max_cents") }
                guard rule.field.isMoney else { throw RuleSetError.wrongField(rule: rule.name, field: rule.field, expected: "a money field") }
            case .nonNegative:
                guard rule.field.isMoney else { throw RuleSetError.wrongField(rule: rule.name, field: rule.field, expected: "a money field") }
            case .notInFuture:
                guard rule.field == .serviceDate else { throw RuleSetError.wrongField(rule: rule.name, field: rule.field, expected: "service_date") }
            case .npiCheckDigit:
                guard rule.field == .providerNPI else { throw RuleSetError.wrongField(rule: rule.name, field: rule.field, expected: "provider_npi") }
            case .required:
                // A claim line cannot be stored or priced without these: their presence rules
                // may not be relaxed.
                if ClaimField.mandatory.contains(rule.field), rule.severity != .reject {
                    throw RuleSetError.mandatoryFieldRelaxed(rule: rule.name, field: rule.field)
                }
            }
        }
        for field in ClaimField.mandatory where !rules.contains(where: { $0.kind == .required && $0.field == field && $0.severity == .reject }) {
            throw RuleSetError.mandatoryFieldRelaxed(rule: "\(field.rawValue)_required", field: field)
        }
        self.rules = rules
        self.patterns = patterns
    }

    /// The rules the service starts with.
    public static let standardRules: [ValidationRule] = {
        var rules = ClaimField.mandatory.map { ValidationRule(name: "\($0.rawValue)_required", field: $0, kind: .required) }
        rules += [
            ValidationRule(name: "cdt_code", field: .submittedProcedure, kind: .pattern, pattern: "D[0-9]{4}",
                message: "must be a CDT code: the letter D and four digits, like D0180"),
            ValidationRule(name: "npi_format", field: .providerNPI, kind: .pattern, pattern: "[0-9]{10}", message: "must be exactly 10 digits"),
            ValidationRule(name: "npi_check_digit", field: .providerNPI, kind: .npiCheckDigit, severity: .warn,
                message: "fails the NPI check digit (Luhn over 80840 + NPI); check for a typo"),
            ValidationRule(name: "quadrant_code", field: .quadrant, kind: .oneOf, values: ["UR", "UL", "LR", "LL"], message: "must be one of UR, UL, LR, LL"),
            ValidationRule(name: "service_date_not_in_future", field: .serviceDate, kind: .notInFuture, message: "must not be in the future"),
        ]
        rules += ClaimField.allCases.filter(\.isMoney).map {
            ValidationRule(name: "\($0.rawValue)_non_negative", field: $0, kind: .nonNegative, message: "must not be negative")
        }
        return rules
    }()

    /// The standard rules, compiled once. They always form a valid set (a unit test proves it);
    /// failing here would be a programming error in `standardRules`, not bad input.
    public static let standard: RuleSet = {
        do {
            return try RuleSet(rules: standardRules)
        } catch {
            preconditionFailure("the standard validation rules are invalid: \(error)")
        }
    }()

    /// The standard rules changed by a JSON document of the form
    /// `{"rules": [{"name": "npi_check_digit", "severity": "reject"}, {"name": "my_rule", "field": "group_id", "kind": "pattern", "pattern": "GRP-[0-9]+"}]}`:
    /// an entry naming a standard rule changes the properties it gives; any other entry adds a
    /// rule and must give `field` and `kind`. `"severity": "off"` switches a rule off.
    public static func standard(overriddenBy json: Data) throws(RuleSetError) -> RuleSet {
        let document: RuleDocument
        do {
            document = try JSONDecoder().decode(RuleDocument.self, from: json)
        } catch {
            throw RuleSetError.unreadable("\(error)")
        }
        var rules = standardRules
        var singleProvider: Severity?
        for entry in document.rules {
            if entry.name == Self.singleProviderRule {
                // A structural rule: only its severity can change.
                guard let severity = entry.severity, entry.field == nil, entry.kind == nil, entry.pattern == nil, entry.values == nil,
                    entry.maxCents == nil, entry.message == nil
                else { throw RuleSetError.missingParameter(rule: entry.name, parameter: "only a severity (reject, warn or off)") }
                singleProvider = severity
            } else if let index = rules.firstIndex(where: { $0.name == entry.name }) {
                entry.apply(to: &rules[index])
            } else {
                guard let field = entry.field, let kind = entry.kind else {
                    throw RuleSetError.missingParameter(rule: entry.name, parameter: "field and kind (it is not a standard rule)")
                }
                var rule = ValidationRule(name: entry.name, field: field, kind: kind)
                entry.apply(to: &rule)
                rules.append(rule)
            }
        }
        var ruleSet = try RuleSet(rules: rules)
        if let limits = document.limits { ruleSet.limits = try limits.applied(to: ruleSet.limits) }
        if let singleProvider { ruleSet.singleProviderSeverity = singleProvider }
        return ruleSet
    }

    /// The name of the rule that a claim's lines share one provider NPI.
    public static let singleProviderRule = "single_provider"
}

/// A `pattern` rule's regular expression, matched against the whole value.
///
/// Patterns that are a fixed run of characters and simple classes, like `D[0-9]{4}` or
/// `[0-9]{10}`, are matched byte by byte: every claim line passes through them, and the
/// regular-expression engine costs far more than the comparison. Any other pattern goes to
/// `NSRegularExpression`, which is immutable once made and documented thread-safe for matching.
struct CompiledPattern: @unchecked Sendable {
    let expression: NSRegularExpression
    /// The bytes allowed at each position, when the pattern has that fixed shape.
    let fixedShape: [ASCIISet]?

    init(_ source: String) throws {
        // \A and \z, not ^ and $: "$" would also match before a final line break.
        expression = try NSRegularExpression(pattern: "\\A(?:" + source + ")\\z")
        fixedShape = Self.fixedShape(of: source)
    }

    func matches(_ text: String) -> Bool {
        guard let fixedShape else { return matchesExpression(text) }
        var position = 0
        for byte in text.utf8 {
            guard position < fixedShape.count, fixedShape[position].contains(byte) else { return false }
            position += 1
        }
        return position == fixedShape.count
    }

    /// The regular-expression engine's answer, whatever the pattern's shape.
    func matchesExpression(_ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// The allowed bytes per position for a pattern made only of literal characters (letters,
    /// digits, `-`, `_`, `/`, `:`, `#`, space) and classes like `[0-9A-F]`, each optionally
    /// repeated `{n}` times; `nil` for any other pattern.
    static func fixedShape(of source: String) -> [ASCIISet]? {
        let bytes = Array(source.utf8)
        var positions: [ASCIISet] = []
        var index = 0
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        while index < bytes.count {
            var allowed = ASCIISet()
            if bytes[index] == UInt8(ascii: "[") {
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "]") {
                    let lower = bytes[index]
                    guard isAlphanumeric(lower) else { return nil }
                    if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "-"), bytes[index + 2] != UInt8(ascii: "]") {
                        let upper = bytes[index + 2]
                        guard isAlphanumeric(upper), lower <= upper else { return nil }
                        for byte in lower...upper { allowed.insert(byte) }
                        index += 3
                    } else {
                        allowed.insert(lower)
                        index += 1
                    }
                }
                guard index < bytes.count, !allowed.isEmpty else { return nil }
                index += 1
            } else if isAlphanumeric(bytes[index]) || "-_/:# ".utf8.contains(bytes[index]) {
                allowed.insert(bytes[index])
                index += 1
            } else {
                return nil
            }
            var repeats = 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "{") {
                guard let close = bytes[index...].firstIndex(of: UInt8(ascii: "}")),
                    bytes[(index + 1)..<close].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                    let count = Int(String(decoding: bytes[(index + 1)..<close], as: UTF8.self)), (1...256).contains(count)
                else { return nil }
                repeats = count
                index = close + 1
            }
            positions += repeatElement(allowed, count: repeats)
        }
        return positions.isEmpty ? nil : positions
    }
}

/// A set of ASCII bytes, one bit each.
struct ASCIISet: Sendable {
    private var low: UInt64 = 0
    private var high: UInt64 = 0

    var isEmpty: Bool { low == 0 && high == 0 }

    mutating func insert(_ byte: UInt8) {
        if byte < 64 { low |= 1 << byte } else if byte < 128 { high |= 1 << (byte - 64) }
    }

    func contains(_ byte: UInt8) -> Bool {
        byte < 64 ? low & (1 << byte) != 0 : byte < 128 && high & (1 << (byte - 64)) != 0
    }
}

/// One entry of a rules file: a change to a standard rule or a new rule.
struct RuleDocument: Decodable {
    struct Entry: Decodable {
        var name: String
        var field: ClaimField?
        var kind: ValidationRule.Kind?
        var severity: Severity?
        var pattern: String?
        var values: [String]?
        var maxCents: Int64?
        var message: String?

        enum CodingKeys: String, CodingKey {
            case name, field, kind, severity, pattern, values, message
            case maxCents = "max_cents"
        }

        func apply(to rule: inout ValidationRule) {
            if let field { rule.field = field }
            if let kind { rule.kind = kind }
            if let severity { rule.severity = severity }
            if let pattern { rule.pattern = pattern }
            if let values { rule.values = values }
            if let maxCents { rule.maxCents = maxCents }
            if let message { rule.message = message }
        }
    }

    /// `{"max_fields_per_line": 2000, "max_ignored_fields_kept": 50, "max_text_length": 128}`.
    struct Limits: Decodable {
        var maxFieldsPerLine: Int?
        var maxIgnoredFieldsKept: Int?
        var maxTextLength: Int?

        enum CodingKeys: String, CodingKey {
            case maxFieldsPerLine = "max_fields_per_line"
            case maxIgnoredFieldsKept = "max_ignored_fields_kept"
            case maxTextLength = "max_text_length"
        }

        func applied(to limits: ClaimLimits) throws(RuleSetError) -> ClaimLimits {
            var result = limits
            func check(_ value: Int?, _ name: String, _ range: ClosedRange<Int>) throws(RuleSetError) -> Int? {
                guard let value else { return nil }
                guard range.contains(value) else { throw .invalidLimit(name: name, value: value, range: range) }
                return value
            }
            if let value = try check(maxFieldsPerLine, "max_fields_per_line", 20...100_000) { result.maxFieldsPerLine = value }
            if let value = try check(maxIgnoredFieldsKept, "max_ignored_fields_kept", 0...10_000) { result.maxIgnoredFieldsKept = value }
            if let value = try check(maxTextLength, "max_text_length", 64...10_000) { result.maxTextLength = value }
            return result
        }
    }

    var rules: [Entry]
    var limits: Limits?
}

/// Why a rule set cannot be used; claimsd refuses to start with it.
public enum RuleSetError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(String)
    case duplicateName(String)
    case missingParameter(rule: String, parameter: String)
    case invalidPattern(rule: String, pattern: String)
    case wrongField(rule: String, field: ClaimField, expected: String)
    case mandatoryFieldRelaxed(rule: String, field: ClaimField)
    case invalidLimit(name: String, value: Int, range: ClosedRange<Int>)

    public var description: String {
        switch self {
        case .unreadable(let reason): return "the rules file is not valid JSON of the form {\"rules\": [...], \"limits\": {...}}: \(reason)"
        case .duplicateName(let name): return "two rules are named \"\(name)\""
        case .missingParameter(let rule, let parameter): return "rule \"\(rule)\" needs \(parameter)"
        case .invalidPattern(let rule, let pattern): return "rule \"\(rule)\" has an invalid regular expression: \(pattern)"
        case .wrongField(let rule, let field, let expected): return "rule \"\(rule)\" applies to \(field.rawValue) but needs \(expected)"
        case .mandatoryFieldRelaxed(let rule, let field):
            return "rule \"\(rule)\": \(field.rawValue) is needed to store and price a claim, so its required rule must stay at severity reject"
        case .invalidLimit(let name, let value, let range):
            return "limits.\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(value)"
        }
    }
}

extension ClaimField {
    /// Fields every line must have: all but the quadrant.
    public static let mandatory: [ClaimField] = allCases.filter { $0 != .quadrant }
}
