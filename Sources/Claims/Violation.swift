/// How much a broken rule matters.
public enum Severity: String, Sendable, Codable, CaseIterable {
    /// The claim is rejected (422) and nothing is stored.
    case reject
    /// The claim is accepted and the violation is recorded on it as a warning.
    case warn
    /// The rule is switched off.
    case off
}

/// One broken rule: where (line and field), which rule, and what to do about it.
public struct Violation: Sendable, Equatable, Codable, Hashable {
    /// 1-based line number within the claim; `nil` for claim-level problems.
    public var line: Int?
    /// The field, by its canonical name (`provider_npi`), or a claim-level name.
    public var field: String
    /// The rule's name (`cdt_code`, `npi_check_digit`, …).
    public var rule: String
    public var severity: Severity
    /// What is wrong, in words a client can act on; never echoes personal data.
    public var message: String

    public init(line: Int?, field: String, rule: String, severity: Severity, message: String) {
        self.line = line
        self.field = field
        self.rule = rule
        self.severity = severity
        self.message = message
    }
}
