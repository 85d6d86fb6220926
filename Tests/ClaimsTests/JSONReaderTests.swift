@testable import Claims
import Foundation
import Testing

@Suite struct JSONReaderTests {
    func read(_ text: String) throws -> JSONValue {
        try JSONReader.parse(Array(text.utf8))
    }

    @Test func readsEveryKindOfValueAndKeepsNumbersAsWritten() throws {
        let value = try read(#" {"a": [1, -0.50, 130.10, 2E+3, true, false, null, "x"], "b": {}, "c": [], "a": "dup"} "#)
        #expect(value == .object([
            .init(key: "a", value: .array([.number("1"), .number("-0.50"), .number("130.10"), .number("2E+3"), .bool(true), .bool(false), .null, .string("x")])),
            .init(key: "b", value: .object([])),
            .init(key: "c", value: .array([])),
            .init(key: "a", value: .string("dup")),
        ]))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try read(#""q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00 é""#) == .string("q\" b\\ s/ \u{8}\u{C}\n\r\t é 😀 é"))
        #expect(try read("\u{FEFF}\"bom\"") == .string("bom"))
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "01", "-", "1.", ".5", "1e", "+1", "tru", "nul", "\"abc", "\"a\u{1}b\"", #""\x""#, #""\u12""#,
        #""\ud83d""#, #""\ude00""#, "[1] 2", "{\"a\" 1}", "{1:2}", "NaN", "'a'",
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONReadError.self) { try read(text) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONReadError.self) { try JSONReader.parse([0x22, 0xC3, 0x28, 0x22]) }
        let deep = String(repeating: "[", count: JSONReader.maxDepth + 1) + String(repeating: "]", count: JSONReader.maxDepth + 1)
        #expect(throws: JSONReadError(reason: "the JSON nests deeper than \(JSONReader.maxDepth) levels", offset: JSONReader.maxDepth)) { try read(deep) }
        let fine = String(repeating: "[", count: JSONReader.maxDepth) + String(repeating: "]", count: JSONReader.maxDepth)
        #expect((try? read(fine)) != nil)
    }

    @Test func errorsSayWhereAndWhat() {
        #expect(throws: JSONReadError(reason: "unexpected ']' where a value was expected", offset: 3)) { try read("[1,]") }
        #expect(throws: JSONReadError(reason: "a string is not terminated", offset: 1)) { try read(" \"abc") }
    }

    /// Agrees with Foundation's parser on what is and is not JSON, over a spread of documents.
    @Test func agreesWithJSONSerializationOnValidity() {
        let documents = [
            "[]", "{}", "[1,2,3]", "{\"a\":{\"b\":[null]}}", "[1e5, 1E-5, -0, 0.0]", "[\"\\u0041\"]", "[01]", "[1,,2]", "{\"a\":}", "[true false]",
            "[\"\\/\"]", "[-]", "[1.5e+]", "  [  ]  ", "[\"é\"]",
        ]
        for document in documents {
            let ours = (try? read(document)) != nil
            let foundation = (try? JSONSerialization.jsonObject(with: Data(document.utf8), options: [.fragmentsAllowed])) != nil
            #expect(ours == foundation, "\(document)")
        }
    }
}
