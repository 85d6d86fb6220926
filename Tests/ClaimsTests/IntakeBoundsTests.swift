@testable import Claims
import Foundation
import Testing

/// Input that PostgreSQL cannot store, or that would make intake work grow faster than the input,
/// is refused by validation with a named rule, never passed on to fail in the database.
@Suite struct IntakeBoundsTests {
    func rules(_ outcome: ValidationOutcome) -> [String] { violations(outcome).map(\.rule) }

    func isRejected(_ outcome: ValidationOutcome) -> Bool {
        if case .rejected = outcome { return true }
        return false
    }

    @Test func aHundredThousandColumnCSVIsRefusedInWellUnderASecond() throws {
        let columns = 100_000
        var header = "service date,submitted procedure,Plan/Group #,Subscriber#,Provider NPI,provider fees,Allowed fees,member coinsurance,member copay"
        var row = "3/28/18,D4346,GRP-1000,3730189502,1497775530,$130.00,$65.00,$16.25,$0.00"
        header += (0..<columns).map { ",extra \($0)" }.joined()
        row += String(repeating: ",x", count: columns)
        let csv = Array((header + "\n" + row + "\n").utf8)
        // CPU time of this thread, so other suites sharing the machine do not count.
        func threadCPUSeconds() -> Double {
            var spec = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
            return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
        }
        let before = threadCPUSeconds()
        let result = ClaimValidator().validate(try ClaimDecoding.claim(fromCSV: csv), today: today)
        let cpu = threadCPUSeconds() - before
        #expect(isRejected(result))
        #expect(rules(result).contains("fields_limit"))
        // Quadratic handling took 17 s of CPU here; linear handling of 1.6 MB takes a fraction
        // of a second even in a debug build.
        #expect(cpu < 1, "took \(cpu) s of CPU")
    }

    @Test func unknownFieldNamesAreKeptOnceAndUpToTheLimit() throws {
        var extra: [String: String?] = [:]
        for index in 0..<500 { extra["unknown \(index)"] = "v" }
        extra[String(repeating: "k", count: 300)] = "v"
        let outcome = ClaimValidator().validate(RawClaim(lines: [sampleLine(extra), sampleLine(extra)]), today: today)
        guard case .accepted(let claim) = outcome else {
            Issue.record("rejected: \(violations(outcome))")
            return
        }
        #expect(claim.ignoredFields.count == ClaimLimits.standard.maxIgnoredFieldsKept)
        #expect(Set(claim.ignoredFields).count == claim.ignoredFields.count)
        #expect(claim.ignoredFields.allSatisfy { $0.count <= ClaimLimits.standard.maxTextLength })
        let warning = try #require(claim.warnings.first { $0.rule == "ignored_fields_limit" })
        // 501 distinct names, 100 kept: the other 401 counted once each, on both lines.
        #expect(warning.message.hasPrefix("401 more"))
    }

    @Test func nulIsRefusedInEveryTextFieldAndFieldName() {
        for key in ["Plan/Group #", "Subscriber#", "submitted procedure", "Provider NPI", "quadrant", "provider fees", "service date"] {
            let outcome = ClaimValidator().validate(RawClaim(lines: [sampleLine([key: "A\u{0}B"])]), today: today)
            #expect(isRejected(outcome), "\(key)")
            let field = ClaimField.matching(key)?.rawValue
            #expect(violations(outcome).contains { $0.rule == "nul_character" && $0.field == field && $0.line == 1 }, "\(key): \(violations(outcome))")
        }
        let namedWithNUL = ClaimValidator().validate(RawClaim(lines: [sampleLine(["bad\u{0}name": "x"])]), today: today)
        #expect(rules(namedWithNUL).contains("nul_character"))
        #expect(isRejected(namedWithNUL))
        let numbered = ClaimValidator().validate(RawClaim(externalClaimNumber: "C-1\u{0}", lines: [sampleLine()]), today: today)
        #expect(violations(numbered).contains { $0.rule == "nul_character" && $0.field == "claim_number" })
    }

    @Test func nulFromJSONEscapesIsRefusedToo() throws {
        let json = #"{"lines":[{"service date":"2018-03-28","submitted procedure":"D4346","Plan/Group #":"GRP\u0000","Subscriber#":"3730189502","Provider NPI":"1497775530","provider fees":"130","Allowed fees":"65","member coinsurance":"16.25","member copay":"0"}]}"#
        let outcome = ClaimValidator().validate(try ClaimDecoding.claim(fromJSON: Data(json.utf8)), today: today)
        #expect(violations(outcome).contains { $0.rule == "nul_character" && $0.field == "group_id" })
    }

    @Test func amountsBeyondTheStorableRangeAreAValidationRule() {
        let limit = Money(cents: ClaimLimits.maxAmountCents)
        let atLimit = ClaimValidator().validate(RawClaim(lines: [sampleLine(["provider fees": limit.description])]), today: today)
        #expect(!rules(atLimit).contains("amount_range"))
        for amount in ["100000000.01", "1000000000000", "999999999999999", "-100000000.01"] {
            let outcome = ClaimValidator().validate(RawClaim(lines: [sampleLine(["provider fees": amount])]), today: today)
            #expect(isRejected(outcome), "\(amount)")
            #expect(violations(outcome).contains { $0.rule == "amount_range" && $0.field == "provider_fees" }, "\(amount)")
        }
        // A claim of 1,000 lines at the limit still fits NUMERIC(14,2): below 10^12 dollars.
        let worstLineCents = 3 * ClaimLimits.maxAmountCents
        #expect(Double(worstLineCents) * Double(ClaimValidator.maxLines) / 100 < 1e12)
    }

    @Test func longTextIsRefusedWithTheLimitNamed() {
        let long = String(repeating: "G", count: ClaimLimits.standard.maxTextLength + 1)
        let outcome = ClaimValidator().validate(RawClaim(lines: [sampleLine(["Plan/Group #": long])]), today: today)
        #expect(isRejected(outcome))
        #expect(violations(outcome).contains { $0.rule == "text_length" && $0.field == "group_id" && $0.message.contains("\(ClaimLimits.standard.maxTextLength)") })
        let fits = String(repeating: "G", count: ClaimLimits.standard.maxTextLength)
        #expect(!isRejected(ClaimValidator().validate(RawClaim(lines: [sampleLine(["Plan/Group #": fits])]), today: today)))
        // Counted in code points, as PostgreSQL and the OpenAPI document's maxLength count: "é"
        // written as e + a combining accent is two, though it shows as one letter.
        let combining = String(repeating: "e\u{301}", count: ClaimLimits.standard.maxTextLength / 2) + "G"
        #expect(combining.count <= ClaimLimits.standard.maxTextLength && combining.unicodeScalars.count > ClaimLimits.standard.maxTextLength)
        #expect(isRejected(ClaimValidator().validate(RawClaim(lines: [sampleLine(["Plan/Group #": combining])]), today: today)))
    }

    @Test func twoClaimNumberColumnsInAnImportAreADuplicateField() throws {
        let csv = "claim number,Claim #,service date,submitted procedure,Plan/Group #,Subscriber#,Provider NPI,provider fees,Allowed fees,member coinsurance,member copay\n"
            + "A-1,B-1,3/28/18,D4346,GRP-1000,3730189502,1497775530,$130.00,$65.00,$16.25,$0.00\n"
        let claims = try ClaimDecoding.claims(from: CSVParser.parse(csv))
        #expect(claims.count == 1)
        let outcome = ClaimValidator().validate(try #require(claims.first), today: today)
        #expect(violations(outcome).contains { $0.rule == "duplicate_field" && $0.field == "claim_number" })
    }

    @Test func limitsComeFromTheRulesFileWithinBounds() throws {
        let ruleSet = try RuleSet.standard(overriddenBy: Data(#"{"rules": [], "limits": {"max_fields_per_line": 50, "max_text_length": 100}}"#.utf8))
        #expect(ruleSet.limits.maxFieldsPerLine == 50)
        #expect(ruleSet.limits.maxTextLength == 100)
        #expect(ruleSet.limits.maxIgnoredFieldsKept == ClaimLimits.standard.maxIgnoredFieldsKept)
        var extra: [String: String?] = [:]
        for index in 0..<60 { extra["x\(index)"] = "v" }
        #expect(rules(ClaimValidator(rules: ruleSet).validate(RawClaim(lines: [sampleLine(extra)]), today: today)).contains("fields_limit"))
        #expect(throws: RuleSetError.invalidLimit(name: "max_text_length", value: 1, range: 64...10_000)) {
            try RuleSet.standard(overriddenBy: Data(#"{"rules": [], "limits": {"max_text_length": 1}}"#.utf8))
        }
    }
}
