@testable import Claims
import Foundation
import Testing

/// A rejected claim's original, turned into the text an operator edits, reads back as the same
/// claim: CSV quoting survives the round trip, JSON keeps its values' text exactly.
@Suite struct CorrectableInputTests {
    @Test func csvRecordsComeBackAsTheSameClaim() throws {
        let csv = "Claim Number,Provider NPI,provider fees,note\nB,1,\"$1,000.00\",\"said \"\"hi\"\"\"\nB,1,$3.00,\"two\nlines\"\n"
        let item = try #require(try ClaimDecoding.importItems(from: Array(csv.utf8), format: .csv).first)
        let input = CorrectableInput(originalJSON: item.original.json, importFormat: .csv)
        #expect(input.format == .csv)
        #expect(input.text == "Claim Number,Provider NPI,provider fees,note\nB,1,\"$1,000.00\",\"said \"\"hi\"\"\"\nB,1,$3.00,\"two\nlines\"\n")
        let again = try #require(try ClaimDecoding.importItems(from: Array(input.text.utf8), format: .csv).first)
        #expect(again.original == item.original)
        #expect(try input.claim().lines.count == 2)
    }

    @Test func jsonIsIndentedWithItsNumbersAsWritten() throws {
        let line = #"{"claim_number":"N1","lines":[{"fees":130.10,"codes":["a",1],"x":{}}],"empty":[]}"#
        let input = CorrectableInput(originalJSON: ImportOriginal.text(line).json, importFormat: .ndjson)
        #expect(input.format == .json)
        #expect(
            input.text == """
                {
                  "claim_number": "N1",
                  "lines": [
                    {
                      "fees": 130.10,
                      "codes": ["a", 1],
                      "x": {}
                    }
                  ],
                  "empty": []
                }
                """)
        #expect(try JSONReader.parse(Array(input.text.utf8)) == JSONReader.parse(Array(line.utf8)))
    }

    @Test func aLineThatWasNotJSONIsOfferedAsItWas() {
        let input = CorrectableInput(originalJSON: ImportOriginal.text("{\"claim_number\": oops").json, importFormat: .ndjson)
        #expect(input == CorrectableInput(format: .json, text: "{\"claim_number\": oops"))
        #expect(throws: ClaimDecodingError.self) { try input.claim() }
    }
}
