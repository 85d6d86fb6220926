public import Claims
public import JSONText

extension JSONWriter {
    /// Violations as a JSON array with sorted keys, the same text `JSONEncoder` writes with
    /// `.sortedKeys`; a violation without a line has no `line` key. Written for every stored claim
    /// and every response, where `JSONEncoder` was many times slower.
    public mutating func violations(_ violations: [Violation]) {
        raw("[")
        for (index, violation) in violations.enumerated() {
            if index > 0 { raw(",") }
            raw("{\"field\":")
            string(violation.field)
            if let line = violation.line {
                raw(",\"line\":")
                integer(line)
            }
            raw(",\"message\":")
            string(violation.message)
            raw(",\"rule\":")
            string(violation.rule)
            raw(",\"severity\":")
            string(violation.severity.rawValue)
            raw("}")
        }
        raw("]")
    }
}
