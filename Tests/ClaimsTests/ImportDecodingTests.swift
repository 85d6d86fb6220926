@testable import Claims
import Foundation
import Testing

@Suite struct ImportDecodingTests {
    @Test func csvClaimsAreGroupedByClaimNumberInFirstSeenOrder() throws {
        let csv = "Claim Number,Provider NPI,provider fees\nB,1,$1.00\nA,2,$2.00\nB,1,$3.00\n"
        let items = try ClaimDecoding.importItems(from: Array(csv.utf8), format: .csv)
        #expect(items.count == 2)
        let first = try items[0].claim.get()
        #expect(first.externalClaimNumber == "B")
        #expect(first.lines.count == 2)
        #expect(first.sourceLines == [2, 4])
        #expect(items[0].source == "csv lines 2, 4")
        #expect(items[1].source == "csv line 3")
        #expect(items[0].original == .csv(header: ["Claim Number", "Provider NPI", "provider fees"], rows: [["B", "1", "$1.00"], ["B", "1", "$3.00"]]))
    }

    @Test func csvWithoutAClaimNumberColumnIsOneClaim() throws {
        let items = try ClaimDecoding.importItems(from: Array("npi,fees\r\n1,2\r\n3,4\r\n".utf8), format: .csv)
        #expect(items.count == 1)
        #expect(items[0].source == "csv lines 2-3")
        #expect(try items[0].claim.get().externalClaimNumber == nil)
    }

    @Test func aBrokenCSVFailsAsAWhole() {
        #expect(throws: ClaimDecodingError.csv(.empty)) { try ClaimDecoding.importItems(from: [], format: .csv) }
        #expect(throws: ClaimDecodingError.csv(.unterminatedQuote(line: 2))) {
            try ClaimDecoding.importItems(from: Array("a\n\"b\n".utf8), format: .csv)
        }
    }

    @Test func ndjsonReadsEachLineOnItsOwnAndKeepsBadOnes() throws {
        // Line 3 is blank: spaces, a tab and carriage returns only.
        let text = "\u{FEFF}{\"claim_number\":\"1\",\"lines\":[{\"npi\":\"1\"}]}\r\n\n \t\r\r\n[{\"npi\":\"2\"},{\"npi\":\"3\"}]\nnot json\n{\"lines\":5}"
        let items = ClaimDecoding.ndjsonItems(from: Array(text.utf8))
        #expect(items.map(\.source) == ["ndjson line 1", "ndjson line 4", "ndjson line 5", "ndjson line 6"])
        #expect(try items[0].claim.get().externalClaimNumber == "1")
        #expect(try items[1].claim.get().lines.count == 2)
        #expect(try items[1].claim.get().sourceLines == [4, 4])
        guard case .failure(.malformedJSON) = items[2].claim else {
            Issue.record("expected a JSON error, got \(items[2].claim)")
            return
        }
        guard case .failure(.unexpectedShape) = items[3].claim else {
            Issue.record("expected a shape error, got \(items[3].claim)")
            return
        }
        // Readable JSON is kept as it is; anything else as a JSON string.
        #expect(items[3].original.json == "{\"lines\":5}")
        #expect(items[2].original.json == "\"not json\"")
    }

    @Test func csvOriginalsAreLosslessJSON() throws {
        let original = ImportOriginal.csv(header: ["a \"q\"", "b\nc"], rows: [["1", "x,y"]])
        let decoded = try JSONSerialization.jsonObject(with: Data(original.json.utf8)) as? [String: Any]
        #expect(decoded?["header"] as? [String] == ["a \"q\"", "b\nc"])
        #expect(decoded?["rows"] as? [[String]] == [["1", "x,y"]])
    }

    @Test(arguments: [([7], "line 7"), ([2, 3, 4], "lines 2-4"), ([2, 4], "lines 2, 4"), ([5, 4], "lines 5, 4")])
    func sourceLinesAreDescribedCompactly(_ lines: [Int], _ text: String) {
        #expect(ClaimDecoding.describe(lines: lines) == text)
    }
}
