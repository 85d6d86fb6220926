import Claims
import Foundation
import Testing

/// A stored claim's warnings and ignored field names read back without Foundation.
@Suite struct StoredJSONTests {
    let violations = [
        Violation(line: 2, field: "provider_npi", rule: "npi_check_digit", severity: .warn, message: "the check digit does not match \"quoted\" \\ text"),
        Violation(line: nil, field: "claim", rule: "single_provider", severity: .reject, message: "é — ünïcode"),
    ]

    @Test func whatTheEncoderWritesReadsBackEqual() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(violations), as: UTF8.self)
        #expect(try StoredJSON.violations(text) == violations)
        #expect(try StoredJSON.violations("[]") == [])
        #expect(try StoredJSON.strings(#"["Plan/Group #", "extra \"x\""]"#) == ["Plan/Group #", #"extra "x""#])
        #expect(try StoredJSON.strings("[]") == [])
    }

    /// PostgreSQL's jsonb text: a space after each colon and comma, keys by length then name.
    @Test func jsonbTextReadsBackEqual() throws {
        let text = #"[{"line": 2, "rule": "npi_check_digit", "field": "provider_npi", "message": "the check digit does not match \"quoted\" \\ text", "severity": "warn"}, {"rule": "single_provider", "field": "claim", "message": "é — ünïcode", "severity": "reject"}]"#
        #expect(try StoredJSON.violations(text) == violations)
        #expect(try StoredJSON.violations(#" [ {"line": null, "rule": "r", "field": "f", "message": "m", "severity": "off"} ] "#) == [
            Violation(line: nil, field: "f", rule: "r", severity: .off, message: "m")
        ])
    }

    @Test(arguments: [
        "{}", "[1]", "not json", #"[{"rule": "r", "field": "f", "message": "m"}]"#, #"[{"rule": "r", "field": "f", "message": "m", "severity": "loud"}]"#,
        #"[{"rule": "r", "field": "f", "message": "m", "severity": "warn", "extra": 1}]"#, #"[{"line": 1.5, "rule": "r", "field": "f", "message": "m", "severity": "warn"}]"#,
    ])
    func textClaimsdNeverWroteIsRefusedWithAReason(_ text: String) {
        #expect(throws: StoredJSONError.self) { try StoredJSON.violations(text) }
    }

    @Test func namesThatAreNotStringsAreRefused() {
        #expect(throws: StoredJSONError.self) { try StoredJSON.strings("[1]") }
        #expect(throws: StoredJSONError.self) { try StoredJSON.strings(#"{"a": "b"}"#) }
    }
}
