/// A claim as received: its lines' key/value pairs exactly as the client sent them.
public struct RawClaim: Sendable, Equatable {
    public var externalClaimNumber: String?
    public var lines: [RawLine]
    /// Problems found while reading the input (a CSV row with too many cells, …); they reject
    /// the claim together with the rule violations.
    public var readProblems: [Violation]
    /// Where each line came from in the input (the physical CSV or NDJSON line), when known.
    public var sourceLines: [Int]

    public init(externalClaimNumber: String? = nil, lines: [RawLine], readProblems: [Violation] = [], sourceLines: [Int] = []) {
        self.externalClaimNumber = externalClaimNumber
        self.lines = lines
        self.readProblems = readProblems
        self.sourceLines = sourceLines
    }
}

/// One line as received: keys in any spelling, values as text (`nil` for JSON null).
public struct RawLine: Sendable, Equatable {
    public var fields: [(key: String, value: String?)]

    public init(fields: [(key: String, value: String?)]) {
        self.fields = fields
    }

    public static func == (lhs: RawLine, rhs: RawLine) -> Bool {
        lhs.fields.map(\.key) == rhs.fields.map(\.key) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
    }
}

/// What validation decided about a claim.
public enum ValidationOutcome: Sendable, Equatable {
    case accepted(ValidatedClaim)
    /// Every violation at once (warnings included), and the keys that were ignored.
    case rejected(violations: [Violation], ignoredFields: [String])
}

/// Turns a raw claim into typed, priced lines by applying a ``RuleSet``; collects every
/// violation instead of stopping at the first.
public struct ClaimValidator: Sendable {
    public let rules: RuleSet

    public init(rules: RuleSet = .standard) {
        self.rules = rules
    }

    /// Most lines one claim may have.
    public static let maxLines = 1000

    /// Validates `claim` as of `today` (the day "not in the future" is measured against).
    public func validate(_ claim: RawClaim, today: CalendarDate) -> ValidationOutcome {
        var violations = claim.readProblems
        var ignored = IgnoredFields(limits: rules.limits)
        var lines: [ClaimLine] = []

        if claim.lines.isEmpty {
            violations.append(Violation(line: nil, field: "lines", rule: "lines_required", severity: .reject, message: "a claim needs at least one line"))
        }
        if claim.lines.count > Self.maxLines {
            return .rejected(
                violations: violations + [
                    Violation(line: nil, field: "lines", rule: "lines_limit", severity: .reject, message: "a claim has at most \(Self.maxLines) lines; split it")
                ], ignoredFields: [])
        }
        for (index, raw) in claim.lines.enumerated() {
            let number = index + 1
            guard let values = normalize(raw, line: number, violations: &violations, ignored: &ignored) else { continue }
            if let line = check(values, line: number, today: today, violations: &violations) {
                lines.append(line)
            }
        }
        if ignored.omitted > 0 {
            violations.append(
                Violation(line: nil, field: "fields", rule: "ignored_fields_limit", severity: .warn,
                    message: "\(ignored.omitted) more unknown field name(s) were ignored and are not listed (at most \(rules.limits.maxIgnoredFieldsKept) are kept, each at most \(rules.limits.maxTextLength) characters)"))
        }
        let providers = Set(lines.map(\.providerNPI))
        if providers.count > 1, rules.singleProviderSeverity != .off {
            violations.append(
                Violation(line: nil, field: ClaimField.providerNPI.rawValue, rule: RuleSet.singleProviderRule, severity: rules.singleProviderSeverity,
                    message: "all lines of a claim must have the same provider NPI; found \(providers.count) different ones"))
        }
        if let number = claim.externalClaimNumber {
            if number.containsNUL {
                violations.append(Self.nulViolation(line: nil, field: "claim_number"))
            } else if number.isLonger(thanCharacters: 64) {
                violations.append(
                    Violation(line: nil, field: "claim_number", rule: "claim_number_length", severity: .reject, message: "must be at most 64 characters"))
            }
        }

        if violations.contains(where: { $0.severity == .reject }) || lines.count != claim.lines.count {
            return .rejected(violations: violations, ignoredFields: ignored.names)
        }
        return .accepted(
            ValidatedClaim(
                externalClaimNumber: claim.externalClaimNumber.map { String($0.trimmingSpaces) }, lines: lines, warnings: violations,
                ignoredFields: ignored.names))
    }

    /// The names of unknown fields, each once, in first-seen order, up to the limits; how many
    /// more there were.
    struct IgnoredFields {
        let limits: ClaimLimits
        private(set) var names: [String] = []
        private var seen = Set<String>()
        private(set) var omitted = 0

        init(limits: ClaimLimits) {
            self.limits = limits
        }

        mutating func insert(_ name: String) {
            guard seen.insert(name).inserted else { return }
            guard names.count < limits.maxIgnoredFieldsKept, !name.isLonger(thanCharacters: limits.maxTextLength) else {
                omitted += 1
                return
            }
            names.append(name)
        }
    }

    /// The violation of a text holding NUL, which PostgreSQL cannot store (any input field).
    public static func nulViolation(line: Int?, field: String) -> Violation {
        Violation(line: line, field: field, rule: "nul_character", severity: .reject,
            message: "contains a NUL character (\\u0000), which cannot be stored; remove it")
    }

    /// Maps keys to fields; trims values; blank counts as missing. Procedure and quadrant codes
    /// are upper-cased here, at the edge, so "d0180" and "ur" are accepted as D0180 and UR.
    /// A line with more fields than the limit is rejected whole (nil), without reading them.
    private func normalize(_ raw: RawLine, line: Int, violations: inout [Violation], ignored: inout IgnoredFields) -> FieldMap<String>? {
        let limits = rules.limits
        guard raw.fields.count <= limits.maxFieldsPerLine else {
            violations.append(
                Violation(line: line, field: "line", rule: "fields_limit", severity: .reject,
                    message: "has \(raw.fields.count) fields; a line may have at most \(limits.maxFieldsPerLine)"))
            return nil
        }
        var values = FieldMap<String>()
        for (key, value) in raw.fields {
            guard let (field, invisible) = ClaimField.matchingReportingInvisible(key) else {
                if key.containsNUL {
                    violations.append(Self.nulViolation(line: line, field: "field name"))
                } else if !ClaimField.isExternalClaimNumber(key) {
                    ignored.insert(key)
                }
                continue
            }
            if invisible {
                violations.append(
                    Violation(line: line, field: field.rawValue, rule: "invisible_characters", severity: .warn,
                        message: "the field name carries invisible characters (zero-width or non-ASCII spaces), ignored to match it; check the export"))
            }
            if value?.containsNUL == true {
                violations.append(Self.nulViolation(line: line, field: field.rawValue))
                continue
            }
            guard var text = value.map({ String($0.trimmingSpaces) }), !text.isEmpty else { continue }
            if text.isLonger(thanCharacters: limits.maxTextLength) {
                violations.append(
                    Violation(line: line, field: field.rawValue, rule: "text_length", severity: .reject,
                        message: "must be at most \(limits.maxTextLength) characters"))
                continue
            }
            if field == .submittedProcedure || field == .quadrant { text = text.uppercased() }
            if let existing = values[field], existing != text {
                violations.append(
                    Violation(line: line, field: field.rawValue, rule: "duplicate_field", severity: .reject,
                        message: "given twice with different values (check for two columns naming the same field)"))
            }
            values[field] = text
        }
        return values
    }

    /// Applies every rule to one line and builds it when nothing rejects it.
    private func check(_ values: FieldMap<String>, line: Int, today: CalendarDate, violations: inout [Violation]) -> ClaimLine? {
        var money = FieldMap<Money>()
        var date: CalendarDate?
        var rejected = false
        func report(_ rule: ValidationRule, _ fallback: String) {
            guard rule.severity != .off else { return }
            if rule.severity == .reject { rejected = true }
            violations.append(Violation(line: line, field: rule.field.rawValue, rule: rule.name, severity: rule.severity, message: rule.message ?? fallback))
        }

        // Values that cannot be read at all are rejected whatever the rules say.
        for (field, text) in values.entries {
            if field.isMoney {
                if let amount = Money(parsing: text) {
                    money[field] = amount
                    if amount.cents.magnitude > ClaimLimits.maxAmountCents.magnitude {
                        rejected = true
                        violations.append(
                            Violation(line: line, field: field.rawValue, rule: "amount_range", severity: .reject,
                                message: "must be at most \(Money(cents: ClaimLimits.maxAmountCents)) in magnitude"))
                    }
                } else {
                    rejected = true
                    violations.append(
                        Violation(line: line, field: field.rawValue, rule: "money_format", severity: .reject,
                            message: "is not an amount of money; write it like 1300.00 or $1,300.00 (at most two decimals)"))
                }
            } else if field == .serviceDate {
                if let parsed = CalendarDate(parsing: text) {
                    date = parsed
                } else {
                    rejected = true
                    violations.append(
                        Violation(line: line, field: field.rawValue, rule: "date_format", severity: .reject,
                            message: "is not a date; write it like 2018-03-28 or 3/28/18"))
                }
            }
        }

        for rule in rules.rules {
            let value = values[rule.field]
            switch rule.kind {
            case .required:
                if value == nil { report(rule, "is required") }
            case .pattern:
                if let value, rules.patterns[rule.name]?.matches(value) == false { report(rule, "does not have the expected format") }
            case .oneOf:
                if let value, !(rule.values ?? []).contains(value) { report(rule, "must be one of \((rule.values ?? []).joined(separator: ", "))") }
            case .nonNegative:
                if let amount = money[rule.field], amount < .zero { report(rule, "must not be negative") }
            case .maxAmount:
                if let amount = money[rule.field], let limit = rule.maxCents, amount.cents > limit {
                    report(rule, "must be at most \(Money(cents: limit))")
                }
            case .notInFuture:
                if let date, date > today { report(rule, "must not be in the future") }
            case .npiCheckDigit:
                if let value, value.count == 10, value.allSatisfy(\.isASCIIDigit), !isValidNPICheckDigit(value) {
                    report(rule, "fails the NPI check digit")
                }
            }
        }

        guard !rejected, let date, let procedure = values[.submittedProcedure], let group = values[.groupID],
            let subscriber = values[.subscriberID], let npi = values[.providerNPI],
            let providerFees = money[.providerFees], let allowedFees = money[.allowedFees],
            let coinsurance = money[.memberCoinsurance], let copay = money[.memberCopay]
        else { return nil }
        return ClaimLine(
            lineNumber: line, serviceDate: date, submittedProcedure: procedure, quadrant: values[.quadrant], groupID: group,
            subscriberID: subscriber, providerNPI: npi, providerFees: providerFees, allowedFees: allowedFees,
            memberCoinsurance: coinsurance, memberCopay: copay)
    }
}
