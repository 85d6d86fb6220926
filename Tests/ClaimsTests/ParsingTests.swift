@testable import Claims
import Testing
import TestSupport

@Suite struct MoneyTests {
    @Test(arguments: [
        ("$1,300.00 ", 130_000), ("1300", 130_000), ("$100.00 ", 10_000), ("0", 0), ("$0.00 ", 0), ("16.25", 1625), (" 35.6", 3560),
        ("-5.5", -550), ("-$5.50", -550), ("$-5.50", -550), ("(12.00)", -1200), ("+3", 300), (".5", 50), ("1,234,567.89", 123_456_789),
        ("\u{00A0}7.00\t", 700),
    ])
    func readsAmountsAsWritten(_ text: String, _ cents: Int64) {
        #expect(Money(parsing: text) == Money(cents: cents))
    }

    @Test(arguments: ["", " ", "$", "abc", "12.345", "1,30.00", "1,3000", "12.3.4", "$$5", "5$", "1e3", "--5", "1 000", "NaN", "12.", "٣"])
    func refusesGarbage(_ text: String) {
        #expect(Money(parsing: text) == nil)
    }

    @Test func printsTwoDecimalPlaces() {
        #expect(Money(cents: 11685).description == "116.85")
        #expect(Money(cents: 5).description == "0.05")
        #expect(Money(cents: -50).description == "-0.50")
        #expect(Money.zero.description == "0.00")
    }
}

@Suite struct CalendarDateTests {
    @Test(arguments: [
        ("3/28/18 0:00", "2018-03-28"), ("3/28/2018", "2018-03-28"), ("03/28/18", "2018-03-28"), ("2018-03-28", "2018-03-28"),
        ("2018-03-28 00:00:00", "2018-03-28"), ("2018-03-28T00:00:00Z", "2018-03-28"), ("2018-03-28T23:59:59.123+02:00", "2018-03-28"),
        ("2018-03-28T10:15-05", "2018-03-28"), ("2018-03-28T10:15:60z", "2018-03-28"), ("3/28/18 9:05:07.5", "2018-03-28"),
        ("2/29/24 13:45", "2024-02-29"), ("12/31/99", "1999-12-31"), ("1/1/69", "2069-01-01"),
    ])
    func readsTheFormsExportsUse(_ text: String, _ iso: String) {
        #expect(CalendarDate(parsing: text)?.description == iso)
    }

    @Test func daysSinceTheEpochMapToCivilDates() {
        #expect(CalendarDate(daysSinceEpoch: 0).description == "1970-01-01")
        #expect(CalendarDate(daysSinceEpoch: 17_618).description == "2018-03-28")
        #expect(CalendarDate(daysSinceEpoch: 19_782).description == "2024-02-29")
        #expect(CalendarDate(daysSinceEpoch: -1).description == "1969-12-31")
    }

    @Test(arguments: [
        "", "yesterday", "2018-02-30", "2/29/23", "13/01/18", "2018-3-28x", "2018/03/28", "3/28/18 25:00", "3/28/18 0:0",
        "2018-03-28T00:00:00+2", "28.03.2018", "3/28", "3/28/118", "3/28/18 0:60", "3/28/18 0:00:61", "3/28/18 0:00:00.",
        "3/28/18 0:00+05:", "3/28/18 0:00+0530", "3/28/18 +1:00", "3/28/18 0:00:00:00", "3/28/18 :00", "3/28/18 123:00",
        "3/28/18 0:00.5", "3/28/18 0:00:0x",
    ])
    func refusesGarbageAndImpossibleDates(_ text: String) {
        #expect(CalendarDate(parsing: text) == nil)
    }
}

@Suite struct ClaimFieldTests {
    @Test(arguments: [
        ("service date", ClaimField.serviceDate), ("service_dttm", .serviceDate), ("Service Date", .serviceDate),
        ("submitted procedure", .submittedProcedure), ("submitted_proc", .submittedProcedure), ("quadrant", .quadrant),
        ("Plan/Group #", .groupID), ("group_id", .groupID), ("Subscriber#", .subscriberID), ("subscriber_id", .subscriberID),
        ("Provider NPI", .providerNPI), ("provider_npi", .providerNPI), ("provider fees", .providerFees), ("Allowed fees", .allowedFees),
        ("allowed_fees", .allowedFees), ("member coinsurance", .memberCoinsurance), ("member_co_ins", .memberCoinsurance),
        ("member copay", .memberCopay), ("member_co_pay", .memberCopay), ("PROVIDER-NPI", .providerNPI), ("provider\nfees", .providerFees),
    ])
    func matchesKeysWhateverTheirSpelling(_ key: String, _ field: ClaimField) {
        #expect(ClaimField.matching(key) == field)
    }

    @Test func hashedMatchingAgreesWithTheNormalizedTable() {
        #expect(ClaimField.synonymsByHash.count == ClaimField.synonyms.count, "two synonyms share a hash")
        let pieces = Array(ClaimField.synonyms.keys) + ["Provider", "NPI", "fee", "x", "9", " ", "_", "#", "/", "é", "Ｎ", "\u{200B}", "\u{FEFF}", "\u{00A0}"]
        var random = SplitMix.forTest("hashedMatchingAgreesWithTheNormalizedTable", variable: "CLAIMS_TEST_KEYS_SEED")
        for _ in 0..<5_000 {
            let key = (0..<Int.random(in: 0...3, using: &random)).map { _ in pieces.randomElement(using: &random)! }
                .joined(separator: ["", " ", "_"].randomElement(using: &random)!)
            // Invisible characters are ignored like punctuation; a visible one outside ASCII
            // makes the key a name of its own.
            let visibleNonASCII = key.unicodeScalars.contains { !$0.isASCII && !$0.isInvisible }
            #expect(ClaimField.matching(key) == (visibleNonASCII ? nil : ClaimField.synonyms[ClaimField.normalizedKey(key)]), "\(key.debugDescription)")
        }
        #expect(ClaimField.matching("provider npi x") == nil)
        #expect(ClaimField.matching("providernp") == nil)
    }

    @Test func unknownKeysMatchNothing() {
        #expect(ClaimField.matching("favourite colour") == nil)
        #expect(ClaimField.matching("") == nil)
        #expect(ClaimField.isExternalClaimNumber("Claim Number"))
        #expect(ClaimField.isExternalClaimNumber("claim_no"))
    }
}

@Suite struct CSVParserTests {
    @Test func readsQuotedHeadersCRLFAndTrailingSpaces() throws {
        let table = try CSVParser.parse("a,\"b c\",\"d, e\"\r\n1,2 ,\"x, \"\"y\"\"\"\r\n")
        #expect(table.header == ["a", "b c", "d, e"])
        #expect(table.records == [CSVRecord(line: 2, fields: ["1", "2 ", "x, \"y\""])])
    }

    @Test func skipsAByteOrderMarkAndAcceptsLFAndCR() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let lf = try CSVParser.parse(bytes: bom + Array("h1,h2\n1,2\n3,4".utf8))
        #expect(lf.header == ["h1", "h2"])
        #expect(lf.records.map(\.fields) == [["1", "2"], ["3", "4"]])
        let cr = try CSVParser.parse("h1,h2\r1,2\r")
        #expect(cr.records.map(\.fields) == [["1", "2"]])
    }

    @Test func keepsLineBreaksInsideQuotedHeadersAndCountsLines() throws {
        let table = try CSVParser.parse("\"Provider\r\nNPI\",\"member\ncopay\"\r\n1497775530,$0.00\r\n\r\n   ,  \r\n7,8\r\n")
        #expect(table.header == ["Provider\r\nNPI", "member\ncopay"])
        #expect(ClaimField.matching(table.header[0]) == .providerNPI)
        #expect(table.records.map(\.line) == [4, 7])
    }

    @Test func reportsEmptyInputAndUnclosedQuotes() {
        #expect(throws: CSVError.empty) { try CSVParser.parse("") }
        #expect(throws: CSVError.empty) { try CSVParser.parse("\r\n \r\n") }
        #expect(throws: CSVError.unterminatedQuote(line: 2)) { try CSVParser.parse("a,b\n1,\"open\n2,3\n") }
        #expect(throws: CSVError.invalidUTF8) { try CSVParser.parse(bytes: [0x61, 0x0A, 0xFF, 0xFE]) }
    }

    @Test func aHeaderWithoutRecordsHasNoRecords() throws {
        #expect(try CSVParser.parse("a,b,c\r\n").records.isEmpty)
    }

    @Test func keepsRaggedRowsForTheCallerToReport() throws {
        let table = try CSVParser.parse("a,b\n1\n1,2,3\n")
        #expect(table.records.map(\.fields.count) == [1, 3])
    }

    @Test func parsesAHundredThousandRows() throws {
        var text = "service date,submitted procedure,Provider NPI,provider fees\r\n"
        for row in 0..<100_000 { text += "3/28/18 0:00,D\(1000 + row % 9000),1497775530,\"$1,\(String(row % 1000).leftPadded(to: 3)).00 \"\r\n" }
        let table = try CSVParser.parse(text)
        #expect(table.records.count == 100_000)
        #expect(table.records[99_999].fields[3] == "$1,999.00 ")
        #expect(table.records[99_999].line == 100_001)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
