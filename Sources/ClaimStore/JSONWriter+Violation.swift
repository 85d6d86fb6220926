public import Claims
public import JSONText

extension JSONWriter {
    /// Violations as a JSON array with sorted keys, the same text `JSONEncoder` writes with
    /// `.sortedKeys`; a violation without a line has no `line` key. Written for every stored claim
    /// and every response, where `JSONEncoder` was many times slower.
    public mutating func violations(_ violations: [Violation]) {
        open("[")
        for violation in violations { self.violation(violation) }
        close("]")
    }

    /// One violation as a JSON object with sorted keys; `sourceLine`, when given, is the input
    /// line it is on (an import's report).
    public mutating func violation(_ violation: Violation, sourceLine: Int? = nil) {
        open("{")
        member("field", violation.field)
        if let line = violation.line { member("line", line) }
        member("message", violation.message)
        member("rule", violation.rule)
        member("severity", violation.severity.rawValue)
        if let sourceLine { member("source_line", sourceLine) }
        close("}")
    }
}

extension JSONWriter {
    /// Screening flags as a JSON array of objects with sorted keys; a flag about the whole
    /// claim has no `line` key.
    public mutating func flags(_ flags: [ClaimFlag]) {
        open("[")
        for flag in flags {
            open("{")
            if let line = flag.line { member("line", line) }
            member("message", flag.message)
            member("rule", flag.rule)
            close("}")
        }
        close("]")
    }
}
