/// A CSV document split into its header and records.
public struct CSVTable: Sendable, Equatable {
    /// The header cells as written (quotes removed, line breaks kept).
    public var header: [String]
    /// The records after the header, each with the 1-based physical line it starts on.
    public var records: [CSVRecord]
}

/// One CSV record and where it starts in the input.
public struct CSVRecord: Sendable, Equatable {
    public var line: Int
    public var fields: [String]
}

/// Why a CSV document could not be read at all.
public enum CSVError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case unterminatedQuote(line: Int)
    case invalidUTF8

    public var description: String {
        switch self {
        case .empty: return "the CSV document is empty: expected a header row and at least one record"
        case .unterminatedQuote(let line): return "a quoted field starting on line \(line) is never closed"
        case .invalidUTF8: return "the CSV document is not valid UTF-8"
        }
    }
}

/// RFC 4180 CSV, tolerant of what spreadsheet exports do: a UTF-8 byte-order mark, CRLF, LF or
/// CR line ends, quoted fields with commas, doubled quotes and line breaks (also in headers),
/// blank lines (skipped). Works on bytes, so 100k rows parse in milliseconds.
public enum CSVParser {
    public static func parse(_ text: String) throws(CSVError) -> CSVTable {
        try parse(bytes: Array(text.utf8))
    }

    public static func parse(bytes input: [UInt8]) throws(CSVError) -> CSVTable {
        var start = 0
        if input.count >= 3, input[0] == 0xEF, input[1] == 0xBB, input[2] == 0xBF { start = 3 }
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")

        var rows: [CSVRecord] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var rowLine = 1
        var index = start
        var rowHasContent = false

        func finishField() throws(CSVError) {
            guard let text = String(validating: field, as: UTF8.self) else { throw CSVError.invalidUTF8 }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
        }

        while index < input.count {
            let byte = input[index]
            if byte == quote && field.isEmpty {
                // Quoted field: read to the closing quote; "" is a literal quote.
                let quoteLine = line
                index += 1
                var closed = false
                while index < input.count {
                    let inner = input[index]
                    if inner == quote {
                        if index + 1 < input.count, input[index + 1] == quote {
                            field.append(quote)
                            index += 2
                            continue
                        }
                        closed = true
                        index += 1
                        break
                    }
                    if inner == lf || (inner == cr && (index + 1 >= input.count || input[index + 1] != lf)) { line += 1 }
                    field.append(inner)
                    index += 1
                }
                guard closed else { throw CSVError.unterminatedQuote(line: quoteLine) }
                rowHasContent = true
                // Characters between the closing quote and the separator (e.g. trailing spaces) are kept.
                continue
            }
            if byte == comma {
                try finishField()
                rowHasContent = true
                index += 1
                continue
            }
            if byte == cr || byte == lf {
                if byte == cr, index + 1 < input.count, input[index + 1] == lf { index += 1 }
                index += 1
                if rowHasContent || !field.isEmpty {
                    try finishField()
                    appendUnlessBlank(CSVRecord(line: rowLine, fields: fields), to: &rows)
                }
                fields.removeAll(keepingCapacity: true)
                line += 1
                rowLine = line
                rowHasContent = false
                continue
            }
            field.append(byte)
            index += 1
        }
        if rowHasContent || !field.isEmpty {
            try finishField()
            appendUnlessBlank(CSVRecord(line: rowLine, fields: fields), to: &rows)
        }
        guard let header = rows.first else { throw CSVError.empty }
        return CSVTable(header: header.fields, records: Array(rows.dropFirst()))
    }

    /// Rows whose cells are all blank (",,,", trailing spaces) carry nothing: skip them.
    private static func appendUnlessBlank(_ record: CSVRecord, to rows: inout [CSVRecord]) {
        if record.fields.contains(where: { !$0.trimmingSpaces.isEmpty }) { rows.append(record) }
    }
}
