@testable import Claims
import Foundation
import Testing
import TestSupport

let today = CalendarDate(year: 2026, month: 11, day: 22)!

/// A valid line in the spelling of the shared export; `changes` replace or remove (nil) fields.
func sampleLine(_ changes: [String: String?] = [:]) -> RawLine {
    var fields: [(key: String, value: String?)] = [
        ("service date", "3/28/18 0:00"), ("submitted procedure", "D4346"), ("quadrant", nil), ("Plan/Group #", "GRP-1000"),
        ("Subscriber#", "3730189502"), ("Provider NPI", "1497775530"), ("provider fees", "$130.00 "), ("Allowed fees", "$65.00 "),
        ("member coinsurance", "$16.25 "), ("member copay", "$0.00 "),
    ]
    for (key, value) in changes {
        if let index = fields.firstIndex(where: { $0.key == key }) {
            fields[index].value = value ?? nil
        } else {
            fields.append((key, value ?? nil))
        }
    }
    return RawLine(fields: fields)
}

func violations(_ outcome: ValidationOutcome) -> [Violation] {
    switch outcome {
    case .accepted(let claim): return claim.warnings
    case .rejected(let violations, _): return violations
    }
}

@Suite struct SharedSampleTests {
    static let sampleURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/data/claim_1234.csv").standardized

    @Test func theSharedExportPricesToTheCent() throws {
        let bytes = try [UInt8](Data(contentsOf: Self.sampleURL))
        let raw = try ClaimDecoding.claim(fromCSV: bytes)
        guard case .accepted(let claim) = ClaimValidator().validate(raw, today: today) else {
            Issue.record("the shared sample was rejected: \(violations(ClaimValidator().validate(raw, today: today)))")
            return
        }
        #expect(claim.lines.map(\.netFee.description) == ["0.00", "0.00", "81.25", "35.60"])
        #expect(claim.netFee.description == "116.85")
        #expect(claim.lines.map(\.submittedProcedure) == ["D0180", "D0210", "D4346", "D4211"])
        #expect(claim.lines.map(\.quadrant) == [nil, nil, nil, "UR"])
        #expect(claim.lines.allSatisfy { $0.serviceDate.description == "2018-03-28" && $0.groupID == "GRP-1000" })
        #expect(claim.providerNPI == "1497775530")
        #expect(claim.warnings.isEmpty)
        #expect(claim.ignoredFields.isEmpty)
    }
}

@Suite struct ClaimValidatorTests {
    let validator = ClaimValidator()

    @Test func aValidLineIsPriced() throws {
        guard case .accepted(let claim) = validator.validate(RawClaim(lines: [sampleLine()]), today: today) else {
            Issue.record("rejected")
            return
        }
        #expect(claim.lines.first?.netFee == Money(cents: 8125))
    }

    @Test func everyViolationIsReportedAtOnceWithLineFieldAndRule() {
        let claim = RawClaim(lines: [
            sampleLine(["submitted procedure": "X123", "Provider NPI": "12345", "quadrant": "NW"]),
            sampleLine(["service date": "2/30/18", "provider fees": "lots", "Subscriber#": nil]),
            sampleLine(["member copay": "-1.00", "service date": "1/1/2099"]),
        ])
        let found = Set(violations(validator.validate(claim, today: today)).map { "\($0.line ?? 0):\($0.field):\($0.rule)" })
        #expect(found == [
            "1:submitted_procedure:cdt_code", "1:provider_npi:npi_format", "1:quadrant:quadrant_code",
            "2:service_date:date_format", "2:provider_fees:money_format", "2:subscriber_id:subscriber_id_required",
            "3:member_copay:member_copay_non_negative", "3:service_date:service_date_not_in_future",
        ])
    }

    @Test(arguments: ClaimField.mandatory)
    func everyFieldButTheQuadrantIsRequired(_ field: ClaimField) {
        let key = sampleLine().fields.first { ClaimField.matching($0.key) == field }?.key ?? ""
        let outcome = validator.validate(RawClaim(lines: [sampleLine([key: "  "])]), today: today)
        #expect(violations(outcome).map(\.rule) == ["\(field.rawValue)_required"])
        #expect(violations(outcome).first?.severity == .reject)
    }

    @Test func aBadCheckDigitIsAWarningByDefault() {
        guard case .accepted(let claim) = validator.validate(RawClaim(lines: [sampleLine(["Provider NPI": "1497775531"])]), today: today) else {
            Issue.record("a check-digit failure must not reject by default")
            return
        }
        #expect(claim.warnings.map(\.rule) == ["npi_check_digit"])
        #expect(claim.warnings.first?.severity == .warn)
    }

    @Test func npiCheckDigits() {
        #expect(isValidNPICheckDigit("1497775530"))
        #expect(isValidNPICheckDigit("1234567893"))
        #expect(!isValidNPICheckDigit("1234567890"))
        #expect(!isValidNPICheckDigit("123456789"))
        #expect(!isValidNPICheckDigit("12345678a3"))
        #expect(!isValidNPICheckDigit("12345678931"))
        #expect(!isValidNPICheckDigit("١٢٣٤٥٦٧٨٩٣"))
        // Every nine-digit start has exactly one valid check digit: the Luhn digit of
        // "80840" + start, worked out here the long way.
        var random = SplitMix.forTest("NPI check digits", variable: "CLAIMS_TEST_NPI_SEED")
        for _ in 0..<500 {
            let start = (0..<9).map { _ in Int.random(in: 0...9, using: &random) }
            let payload = [8, 0, 8, 4, 0] + start
            let sum = payload.reversed().enumerated().reduce(0) { sum, element in
                let value = element.offset % 2 == 0 ? element.element * 2 : element.element
                return sum + (value > 9 ? value - 9 : value)
            }
            let valid = (0...9).filter { isValidNPICheckDigit(start.map(String.init).joined() + String($0)) }
            #expect(valid == [(10 - sum % 10) % 10])
        }
    }

    @Test func codesAreUpperCasedAtTheEdge() throws {
        guard case .accepted(let claim) = validator.validate(RawClaim(lines: [sampleLine(["submitted procedure": "d4346", "quadrant": "ur"])]), today: today)
        else {
            Issue.record("rejected")
            return
        }
        #expect(claim.lines.first?.submittedProcedure == "D4346")
        #expect(claim.lines.first?.quadrant == "UR")
    }

    @Test func claimLevelRules() {
        #expect(violations(validator.validate(RawClaim(lines: []), today: today)).map(\.rule) == ["lines_required"])
        let twoProviders = RawClaim(lines: [sampleLine(), sampleLine(["Provider NPI": "1234567893"])])
        #expect(violations(validator.validate(twoProviders, today: today)).map(\.rule) == ["single_provider"])
        let conflicting = RawLine(fields: sampleLine().fields + [("provider_npi", "1234567893")])
        #expect(violations(validator.validate(RawClaim(lines: [conflicting]), today: today)).map(\.rule) == ["duplicate_field"])
    }

    /// Invisible characters in a field name (zero-width space, byte-order mark, no-break space)
    /// are ignored to match it, with a warning naming the field; a visible character outside
    /// ASCII makes the name a different one.
    @Test func invisibleCharactersInKeysAreIgnoredWithAWarningAndVisibleOnesAreNot() {
        func renamed(_ from: String, to: String) -> RawLine {
            RawLine(fields: sampleLine().fields.map { $0.key == from ? (to, $0.value) : $0 })
        }
        for key in ["Provider\u{200B} NPI", "\u{FEFF}Provider NPI", "Provider\u{00A0}NPI", "Pro\u{00AD}vider NPI"] {
            guard case .accepted(let claim) = validator.validate(RawClaim(lines: [renamed("Provider NPI", to: key)]), today: today) else {
                Issue.record("\(key.unicodeScalars.map { String($0.value, radix: 16) }) was not matched")
                continue
            }
            #expect(claim.lines.first?.providerNPI == "1497775530")
            #expect(claim.warnings.contains { $0.rule == "invisible_characters" && $0.field == "provider_npi" && $0.severity == .warn })
        }
        // Visible letters outside ASCII, or an emoji, name no field: the NPI is then missing.
        for key in ["Providér NPI", "Provider 💥NPI"] {
            let outcome = validator.validate(RawClaim(lines: [renamed("Provider NPI", to: key)]), today: today)
            #expect(violations(outcome).map(\.rule).contains("provider_npi_required"), "\(key)")
        }
        // Plain ASCII spellings carry no warning.
        guard case .accepted(let plain) = validator.validate(RawClaim(lines: [sampleLine()]), today: today) else {
            Issue.record("the sample line was rejected")
            return
        }
        #expect(!plain.warnings.contains { $0.rule == "invisible_characters" })
    }

    @Test func singleProviderCanBeRelaxedToAWarningOrSwitchedOff() throws {
        let twoProviders = RawClaim(lines: [sampleLine(), sampleLine(["Provider NPI": "1234567893"])])
        let warned = ClaimValidator(rules: try RuleSet.standard(overriddenBy: Data(#"{"rules": [{"name": "single_provider", "severity": "warn"}]}"#.utf8)))
        guard case .accepted(let claim) = warned.validate(twoProviders, today: today) else {
            Issue.record("a relaxed single_provider still rejected the claim")
            return
        }
        #expect(claim.warnings.map(\.rule) == ["single_provider"])
        // Each provider's part is its own lines' net fees, in NPI order.
        let shares = claim.providerShares
        #expect(shares.map(\.providerNPI) == [claim.lines[1].providerNPI, claim.lines[0].providerNPI].sorted())
        #expect(shares.reduce(.zero) { $0 + $1.netFee } == claim.netFee)
        #expect(claim.providerNPI == claim.lines[0].providerNPI)

        let off = ClaimValidator(rules: try RuleSet.standard(overriddenBy: Data(#"{"rules": [{"name": "single_provider", "severity": "off"}]}"#.utf8)))
        guard case .accepted(let quiet) = off.validate(twoProviders, today: today) else {
            Issue.record("single_provider off still rejected the claim")
            return
        }
        #expect(quiet.warnings.isEmpty)
        // Only its severity can change.
        #expect(throws: RuleSetError.self) {
            try RuleSet.standard(overriddenBy: Data(#"{"rules": [{"name": "single_provider", "field": "group_id", "severity": "warn"}]}"#.utf8))
        }
        #expect(RuleSet.standard.singleProviderSeverity == .reject)
    }

    @Test func unknownFieldsAreIgnoredAndListed() throws {
        let line = RawLine(fields: sampleLine().fields + [("favourite colour", "blue"), ("claim number", "C-1")])
        guard case .accepted(let claim) = validator.validate(RawClaim(lines: [line, line]), today: today) else {
            Issue.record("rejected")
            return
        }
        #expect(claim.ignoredFields == ["favourite colour"])
    }
}

@Suite struct CompiledPatternTests {
    @Test func fixedShapePatternsAgreeWithTheRegularExpressionEngine() throws {
        let patterns = ["D[0-9]{4}", "[0-9]{10}", "GRP-[0-9]{4}", "[A-Z]{2}[0-9a-f]{3}", "ab_c/d:e#f g", "[DX]1"]
        let alphabet = Array("D0189AZafgX-_/:# \n\té")
        for source in patterns {
            let pattern = try CompiledPattern(source)
            #expect(pattern.fixedShape != nil, "\(source) should take the byte path")
            var samples = ["D0180", "D01800", "D018", "d0180", "D0180\n", "\nD0180", "1234567893", "GRP-1000", "AB0af", "ab_c/d:e#f g", "X1", ""]
            var random = SplitMix.forTest("pattern \(source)", variable: "CLAIMS_TEST_PATTERN_SEED")
            for _ in 0..<2_000 {
                samples.append(String((0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! }))
            }
            for sample in samples {
                #expect(pattern.matches(sample) == pattern.matchesExpression(sample), "\(source) on \(sample.debugDescription)")
            }
        }
    }

    @Test func otherPatternsUseTheRegularExpressionEngine() throws {
        for source in ["D[0-9]+", "D\\d{4}", "[^0-9]{2}", "(UR|UL)", "D.{4}", "[0-9]{2,3}", "[a-]", "x{0}"] {
            #expect(try CompiledPattern(source).fixedShape == nil, "\(source)")
        }
        let alternation = try CompiledPattern("D[0-9]+")
        #expect(alternation.matches("D12345"))
        #expect(!alternation.matches("D12345\n"))
    }
}

@Suite struct RuleSetTests {
    @Test func theStandardRulesAreAValidSet() throws {
        let rules = try RuleSet(rules: RuleSet.standardRules)
        #expect(rules.rules.count == RuleSet.standardRules.count)
        #expect(rules.patterns.count == 2)
    }

    @Test func anOperatorCanTightenRelaxAndAddRules() throws {
        let json = """
            {"rules": [
              {"name": "npi_check_digit", "severity": "reject"},
              {"name": "quadrant_code", "severity": "off"},
              {"name": "group_format", "field": "group_id", "kind": "pattern", "pattern": "GRP-[0-9]{4}", "message": "must look like GRP-1234"},
              {"name": "fee_cap", "field": "provider_fees", "kind": "max_amount", "max_cents": 100000, "severity": "warn"}
            ]}
            """
        let validator = ClaimValidator(rules: try RuleSet.standard(overriddenBy: Data(json.utf8)))
        let outcome = validator.validate(
            RawClaim(lines: [sampleLine(["Provider NPI": "1497775531", "quadrant": "NW", "Plan/Group #": "G1", "provider fees": "$2,000.00"])]),
            today: today)
        guard case .rejected(let found, _) = outcome else {
            Issue.record("expected a rejection")
            return
        }
        #expect(Set(found.map(\.rule)) == ["npi_check_digit", "group_format", "fee_cap"])
        #expect(found.first { $0.rule == "group_format" }?.message == "must look like GRP-1234")
        #expect(found.first { $0.rule == "fee_cap" }?.severity == .warn)
    }

    @Test func invalidRuleFilesAreRefusedWithAReason() {
        let cases: [(String, RuleSetError)] = [
            (#"{"rules": [{"name": "provider_npi_required", "severity": "warn"}]}"#, .mandatoryFieldRelaxed(rule: "provider_npi_required", field: .providerNPI)),
            (#"{"rules": [{"name": "x", "field": "group_id", "kind": "pattern", "pattern": "("}]}"#, .invalidPattern(rule: "x", pattern: "(")),
            (#"{"rules": [{"name": "x", "field": "group_id"}]}"#, .missingParameter(rule: "x", parameter: "field and kind (it is not a standard rule)")),
            (#"{"rules": [{"name": "x", "field": "group_id", "kind": "non_negative"}]}"#, .wrongField(rule: "x", field: .groupID, expected: "a money field")),
            (#"{"rules": [{"name": "x", "field": "quadrant", "kind": "one_of"}]}"#, .missingParameter(rule: "x", parameter: "values")),
        ]
        for (json, expected) in cases {
            #expect(throws: expected) { try RuleSet.standard(overriddenBy: Data(json.utf8)) }
        }
        #expect(throws: RuleSetError.self) { try RuleSet.standard(overriddenBy: Data("not json".utf8)) }
    }
}

@Suite struct ClaimDecodingTests {
    @Test func aBareArrayOfSeedStyleLines() throws {
        let json = """
            [{"service_dttm": "2018-03-28 00:00:00", "submitted_proc": "D0180", "quadrant": null, "group_id": "GRP-1000",
              "subscriber_id": 3730189502, "provider_npi": 1497775530, "provider_fees": 100.0, "allowed_fees": 100.00,
              "member_co_ins": 0, "member_co_pay": 0}]
            """
        let raw = try ClaimDecoding.claim(fromJSON: Data(json.utf8))
        guard case .accepted(let claim) = ClaimValidator().validate(raw, today: today) else {
            Issue.record("rejected: \(violations(ClaimValidator().validate(raw, today: today)))")
            return
        }
        #expect(claim.lines.first?.providerNPI == "1497775530")
        #expect(claim.lines.first?.subscriberID == "3730189502")
        #expect(claim.netFee == .zero)
    }

    @Test func aClaimObjectKeepsExactDecimalsAndItsNumber() throws {
        let json = #"{"Claim Number": "C-77", "LINES": [{"Provider NPI": "1497775530", "provider fees": 130.1, "member copay": "$0.20"}]}"#
        let raw = try ClaimDecoding.claim(fromJSON: Data(json.utf8))
        #expect(raw.externalClaimNumber == "C-77")
        let fields = Dictionary(uniqueKeysWithValues: raw.lines[0].fields.map { ($0.key, $0.value) })
        #expect(fields["provider fees"] == "130.1")
        #expect(Money(parsing: fields["provider fees"]!! ) == Money(cents: 13010))
    }

    @Test func badBodiesAreDescribed() {
        #expect(throws: ClaimDecodingError.self) { try ClaimDecoding.claim(fromJSON: Data("{".utf8)) }
        #expect(throws: ClaimDecodingError.unexpectedShape("the body must be a claim object with a \"lines\" array, or an array of line objects")) {
            try ClaimDecoding.claim(fromJSON: Data("42".utf8))
        }
        #expect(throws: ClaimDecodingError.unexpectedShape("$[1] must be an object of line fields")) {
            try ClaimDecoding.claim(fromJSON: Data("[{}, 3]".utf8))
        }
        #expect(throws: ClaimDecodingError.unexpectedShape("\"lines\" must be an array of line objects")) {
            try ClaimDecoding.claim(fromJSON: Data(#"{"lines": {}}"#.utf8))
        }
    }

    @Test func csvWithExtraColumnsAndRaggedRows() throws {
        let csv = "Claim Number,service date,extra,\"Provider\nNPI\"\r\nC-1,3/28/18,x,1497775530\r\nC-1,3/28/18\r\n"
        let raw = try ClaimDecoding.claim(fromCSV: Array(csv.utf8))
        #expect(raw.externalClaimNumber == "C-1")
        #expect(raw.lines.count == 2)
        #expect(raw.readProblems.map(\.rule) == ["csv_columns"])
        #expect(raw.readProblems.first?.line == 2)
    }

    @Test func csvGroupsClaimsByNumber() throws {
        let csv = "claim number,provider npi\nA,1\nB,2\nA,3\n"
        let claims = try ClaimDecoding.claims(from: try CSVParser.parse(csv))
        #expect(claims.map(\.externalClaimNumber) == ["A", "B"])
        #expect(claims.map(\.lines.count) == [2, 1])
        #expect(throws: ClaimDecodingError.self) { try ClaimDecoding.claim(fromCSV: Array(csv.utf8)) }
    }
}

@Suite struct UUIDv7Tests {
    @Test func idsAreVersion7AndSortInCreationOrder() {
        let generator = UUIDv7Generator()
        let now = Date()
        let ids = (0..<5000).map { _ in generator.next(now: now) }
        #expect(Set(ids).count == 5000)
        #expect(ids.map { $0.uuidString.lowercased() } == ids.map { $0.uuidString.lowercased() }.sorted())
        #expect(ids.allSatisfy { $0.uuidString.dropFirst(14).first == "7" })
        let later = generator.next(now: now.addingTimeInterval(1))
        #expect(later.uuidString > ids[0].uuidString)
    }
}
