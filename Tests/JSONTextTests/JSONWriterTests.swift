import Foundation
import JSONText
import Testing

@Suite struct JSONWriterTests {
    @Test(arguments: ["plain", "", "quote \" backslash \\ slash /", "lines\n\r\ttab", "bell \u{7} nul \u{0} unit \u{1F}", "é ✓ 😀"])
    func stringsReadBackExactly(_ text: String) throws {
        var writer = JSONWriter()
        writer.raw("[")
        writer.string(text)
        writer.raw("]")
        #expect(try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String] == [text])
    }

    @Test func controlCharactersUseLowercaseUnicodeEscapes() {
        var writer = JSONWriter()
        writer.string("\u{1}\u{1F}")
        #expect(writer.text == #""\u0001\u001f""#)
    }

    @Test func nullsIntegersAndStringArrays() throws {
        var writer = JSONWriter()
        writer.raw("{\"a\":")
        writer.string(orNull: nil)
        writer.raw(",\"b\":")
        writer.string(orNull: "x")
        writer.raw(",\"c\":")
        writer.integer(-42)
        writer.raw(",\"d\":")
        writer.strings(["p", "q\""])
        writer.raw(",\"e\":")
        writer.strings([])
        writer.raw("}")
        #expect(writer.text == #"{"a":null,"b":"x","c":-42,"d":["p","q\""],"e":[]}"#)
        #expect(try JSONSerialization.jsonObject(with: Data(writer.bytes)) is [String: Any])
    }

    @Test func membersAndElementsGetTheirCommasFromWhatWasWritten() throws {
        var writer = JSONWriter()
        writer.open("{")
        writer.member("a", "x")
        writer.member("b", orNull: nil)
        writer.key("c")
        writer.open("[")
        for value in 1...2 {
            writer.open("{")
            writer.member("n", value)
            writer.close("}")
        }
        writer.close("]")
        writer.key("d")
        writer.open("[")
        writer.close("]")
        writer.key("e")
        writer.open("{")
        writer.close("}")
        writer.member("f", -7)
        writer.close("}")
        #expect(writer.text == #"{"a":"x","b":null,"c":[{"n":1},{"n":2}],"d":[],"e":{},"f":-7}"#)
        #expect(try JSONSerialization.jsonObject(with: Data(writer.bytes)) is [String: Any])
    }
}
