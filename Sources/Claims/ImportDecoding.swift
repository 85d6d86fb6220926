import Foundation

/// The formats a bulk import reads.
public enum ImportFormat: String, Sendable, CaseIterable {
    /// A CSV export with many claims, grouped by the claim-number column.
    case csv
    /// Newline-delimited JSON: one claim (object or array of lines) per line.
    case ndjson
}

/// One claim read from a bulk import, or the piece of input that could not be read as a claim.
public struct ImportItem: Sendable {
    /// Where the item is in the input: `csv lines 2-5`, `ndjson line 3`.
    public var source: String
    /// The claim, or why the input could not be read as one.
    public var claim: Result<RawClaim, ClaimDecodingError>
    /// The input exactly as it arrived, kept so a rejected claim can be reviewed and resubmitted.
    public var original: ImportOriginal
}

/// The input behind one import item.
public enum ImportOriginal: Sendable, Equatable {
    /// The CSV header and the records of one claim.
    case csv(header: [String], rows: [[String]])
    /// One NDJSON line.
    case text(String)

    /// The original as one JSON value: `{"header": […], "rows": [[…]]}` for CSV; the line itself
    /// when it is JSON, else the line as a JSON string. NUL characters, which PostgreSQL's jsonb
    /// cannot hold (not even escaped), are kept as U+FFFD.
    public var json: String {
        switch self {
        case .csv(let header, let rows):
            return Self.encode(CSVOriginal(header: header.map(\.replacingNUL), rows: rows.map { $0.map(\.replacingNUL) }))
        case .text(let text):
            if !text.contains("\\u0000"), (try? JSONReader.parse(Array(text.utf8))) != nil { return text }
            return Self.encode(text.replacingNUL)
        }
    }

    private struct CSVOriginal: Encodable {
        var header: [String]
        var rows: [[String]]
    }

    private static func encode(_ value: some Encodable) -> String {
        // Strings and arrays of strings always encode; "null" is only a formal fallback.
        (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}

extension ClaimDecoding {
    /// The claims of a bulk import, in input order. Throws only when the input as a whole cannot
    /// be read (an empty or broken CSV); a bad NDJSON line becomes an unreadable item instead.
    public static func importItems(from bytes: [UInt8], format: ImportFormat) throws(ClaimDecodingError) -> [ImportItem] {
        switch format {
        case .csv: return try csvItems(from: bytes)
        case .ndjson: return ndjsonItems(from: bytes)
        }
    }

    static func csvItems(from bytes: [UInt8]) throws(ClaimDecodingError) -> [ImportItem] {
        let table: CSVTable
        do {
            table = try CSVParser.parse(bytes: bytes)
        } catch {
            throw .csv(error)
        }
        return groups(of: table).map { group in
            ImportItem(
                source: "csv " + describe(lines: group.claim.sourceLines), claim: .success(group.claim),
                original: .csv(header: table.header, rows: group.records.map(\.fields)))
        }
    }

    static func ndjsonItems(from bytes: [UInt8]) -> [ImportItem] {
        var items: [ImportItem] = []
        var lineNumber = 0
        var start = bytes.startIndex
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start += 3 }  // a UTF-8 BOM
        while start < bytes.endIndex {
            lineNumber += 1
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            var line = bytes[start..<end]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            start = end + 1
            // Blank: only spaces, tabs and carriage returns.
            guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "\r") }) else { continue }
            let text = String(decoding: line, as: UTF8.self)
            let source = "ndjson line \(lineNumber)"
            do {
                var claim = try claim(fromJSON: Data(line))
                claim.sourceLines = Array(repeating: lineNumber, count: claim.lines.count)
                items.append(ImportItem(source: source, claim: .success(claim), original: .text(text)))
            } catch {
                items.append(ImportItem(source: source, claim: .failure(error), original: .text(text)))
            }
        }
        return items
    }

    /// `line 4`, `lines 2-5` for a run, or `lines 2, 7, 9` otherwise.
    static func describe(lines: [Int]) -> String {
        guard let first = lines.first, let last = lines.last else { return "lines" }
        if lines.count == 1 { return "line \(first)" }
        if last - first == lines.count - 1, lines == Array(first...last) { return "lines \(first)-\(last)" }
        return "lines " + lines.map(String.init).joined(separator: ", ")
    }
}
