import Foundation
import JSONText

/// A rejected claim's input in the form an operator edits to correct it: for a CSV import the
/// header and the claim's records as CSV text, for an NDJSON import the claim as indented JSON.
/// The corrected text is read by the same decoding as a new claim in that format.
public struct CorrectableInput: Sendable, Equatable {
    /// How the text is read back.
    public enum Format: String, Sendable, CaseIterable {
        case csv
        case json
    }

    public var format: Format
    public var text: String

    public init(format: Format, text: String) {
        self.format = format
        self.text = text
    }

    /// The editable form of an import item's original (``ImportOriginal/json``) from an import
    /// in `importFormat`. An original that is not what that format keeps is offered as it is.
    public init(originalJSON: String, importFormat: ImportFormat) {
        let value = try? JSONReader.parse(Array(originalJSON.utf8))
        switch (importFormat, value) {
        case (.csv, .object(let members)?):
            let header = members.first { $0.key == "header" }?.value
            let rows = members.first { $0.key == "rows" }?.value
            if case .array(let names)? = header, case .array(let records)? = rows {
                let lines = [names] + records.map { record -> [JSONValue] in
                    if case .array(let fields) = record { return fields }
                    return []
                }
                self.init(format: .csv, text: lines.map { Self.csvRecord($0.map { $0.text ?? "" }) }.joined(separator: "\n") + "\n")
                return
            }
        case (.ndjson, .string(let line)?):
            // A line that was not JSON, kept as a string: the line itself.
            self.init(format: .json, text: line)
            return
        case (.ndjson, let parsed?):
            var writer = JSONWriter(capacity: originalJSON.utf8.count * 2)
            Self.indented(parsed, depth: 0, into: &writer)
            self.init(format: .json, text: String(decoding: writer.bytes, as: UTF8.self))
            return
        default:
            break
        }
        self.init(format: importFormat == .csv ? .csv : .json, text: originalJSON)
    }

    /// The claim the text holds, read as a new claim in ``format`` is.
    public func claim() throws(ClaimDecodingError) -> RawClaim {
        switch format {
        case .csv: return try ClaimDecoding.claim(fromCSV: Array(text.utf8))
        case .json: return try ClaimDecoding.claim(fromJSON: Data(text.utf8))
        }
    }

    /// One CSV record: a field with a comma, quote or line break is quoted, quotes doubled.
    static func csvRecord(_ fields: [String]) -> String {
        fields.map { field in
            guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ",")
    }

    /// `value` as JSON, two spaces per level; an array of plain values stays on one line.
    static func indented(_ value: JSONValue, depth: Int, into writer: inout JSONWriter) {
        let inner = String(repeating: "  ", count: depth + 1)
        let closing = String(repeating: "  ", count: depth)
        switch value {
        case .string(let text): writer.string(text)
        case .number(let text): writer.raw(text)
        case .bool(let flag): writer.raw(flag ? "true" : "false")
        case .null: writer.raw("null")
        case .object(let members):
            guard !members.isEmpty else { return writer.raw("{}") }
            writer.raw("{\n")
            for (index, member) in members.enumerated() {
                writer.raw(inner)
                writer.string(member.key)
                writer.raw(": ")
                indented(member.value, depth: depth + 1, into: &writer)
                writer.raw(index == members.count - 1 ? "\n" : ",\n")
            }
            writer.raw(closing + "}")
        case .array(let elements):
            let nested = elements.contains {
                switch $0 {
                case .array, .object: true
                default: false
                }
            }
            guard nested else {
                writer.raw("[")
                for (index, element) in elements.enumerated() {
                    if index > 0 { writer.raw(", ") }
                    indented(element, depth: depth + 1, into: &writer)
                }
                return writer.raw("]")
            }
            writer.raw("[\n")
            for (index, element) in elements.enumerated() {
                writer.raw(inner)
                indented(element, depth: depth + 1, into: &writer)
                writer.raw(index == elements.count - 1 ? "\n" : ",\n")
            }
            writer.raw(closing + "]")
        }
    }
}
