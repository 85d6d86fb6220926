public import Foundation

/// Why a request body could not be read as claims at all (as opposed to rule violations).
public enum ClaimDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformedJSON(String)
    case unexpectedShape(String)
    case csv(CSVError)

    public var description: String {
        switch self {
        case .malformedJSON(let reason): return "the body is not valid JSON: \(reason)"
        case .unexpectedShape(let reason): return reason
        case .csv(let error): return error.description
        }
    }
}

/// Reads claims from the shapes clients send: JSON objects or arrays, and CSV exports.
public enum ClaimDecoding {
    /// A claim from JSON: `{"claim_number": …, "lines": [{…}, …]}`, a bare array of line objects
    /// (as posted straight from a spreadsheet export), or a single line object. Numbers keep
    /// their exact decimal text, so `130.1` stays 130.10, never a binary fraction.
    public static func claim(fromJSON data: Data) throws(ClaimDecodingError) -> RawClaim {
        let value: JSONValue
        do {
            value = try JSONReader.parse(Array(data))
        } catch {
            throw .malformedJSON(error.description)
        }
        return try claim(from: value)
    }

    static func claim(from value: JSONValue) throws(ClaimDecodingError) -> RawClaim {
        switch value {
        case .array(let elements):
            return RawClaim(lines: try lines(from: elements, path: "$"))
        case .object(let members):
            let linesKey = members.first { ["lines", "claimlines", "items"].contains(ClaimField.normalizedKey($0.key)) }
            var number: String?
            if let numberMember = members.first(where: { ClaimField.isExternalClaimNumber($0.key) }) {
                number = numberMember.value.text
            }
            guard let linesKey else {
                // One line posted on its own.
                return RawClaim(externalClaimNumber: number, lines: [try line(from: value, path: "$")])
            }
            guard case .array(let elements) = linesKey.value else {
                throw .unexpectedShape("\"\(linesKey.key)\" must be an array of line objects")
            }
            return RawClaim(externalClaimNumber: number, lines: try lines(from: elements, path: "$.\(linesKey.key)"))
        default:
            throw .unexpectedShape("the body must be a claim object with a \"lines\" array, or an array of line objects")
        }
    }

    private static func lines(from elements: [JSONValue], path: String) throws(ClaimDecodingError) -> [RawLine] {
        var lines: [RawLine] = []
        for (index, element) in elements.enumerated() { lines.append(try line(from: element, path: "\(path)[\(index)]")) }
        return lines
    }

    private static func line(from value: JSONValue, path: String) throws(ClaimDecodingError) -> RawLine {
        guard case .object(let members) = value else {
            throw .unexpectedShape("\(path) must be an object of line fields")
        }
        var fields: [(key: String, value: String?)] = []
        fields.reserveCapacity(members.count)
        for member in members {
            switch member.value {
            case .object, .array:
                fields.append((member.key, "\u{FFFD}nested"))  // kept so a known field reports a format error
            case .number(let text) where text.utf8.contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }):
                // 1.3e3 is 1300 exactly: Decimal keeps it decimal.
                fields.append((member.key, Decimal(string: text).map { "\($0)" } ?? text))
            default:
                fields.append((member.key, member.value.text))
            }
        }
        return RawLine(fields: fields)
    }

    /// A claim from a CSV export with one claim per file, like `../shared/data/claim_1234.csv`:
    /// a header row, then one line per row. Unknown columns are ignored; a "claim number" column,
    /// when present, gives the external claim number.
    public static func claim(fromCSV bytes: [UInt8]) throws(ClaimDecodingError) -> RawClaim {
        let table: CSVTable
        do {
            table = try CSVParser.parse(bytes: bytes)
        } catch {
            throw .csv(error)
        }
        let claims = try claims(from: table)
        guard claims.count <= 1 else {
            throw .unexpectedShape("the CSV holds \(claims.count) different claim numbers; post it to /api/v1/claims/import instead")
        }
        return claims.first ?? RawClaim(lines: [])
    }

    /// Claims from a CSV table, grouped by the claim-number column (one claim when there is none),
    /// in first-seen order. Rows whose cell count differs from the header's are reported as read
    /// problems of their claim.
    public static func claims(from table: CSVTable) throws(ClaimDecodingError) -> [RawClaim] {
        groups(of: table).map(\.claim)
    }

    /// A claim from a CSV table and the records it was made of.
    struct CSVGroup {
        var claim: RawClaim
        var records: [CSVRecord]
    }

    static func groups(of table: CSVTable) -> [CSVGroup] {
        let numberColumns = table.header.indices.filter { ClaimField.isExternalClaimNumber(table.header[$0]) }
        let numberColumn = numberColumns.first
        var order: [String] = []
        var grouped: [String: CSVGroup] = [:]
        for record in table.records {
            let number = numberColumn.flatMap { $0 < record.fields.count ? String(record.fields[$0].trimmingSpaces) : nil } ?? ""
            var group = grouped.removeValue(forKey: number)
                ?? CSVGroup(claim: RawClaim(externalClaimNumber: number.isEmpty ? nil : number, lines: []), records: [])
            if group.records.isEmpty {
                order.append(number)
                if numberColumns.count > 1 {
                    // Which one would name the claim is a guess; a single claim's POST refuses
                    // two columns for one field too.
                    group.claim.readProblems.append(
                        Violation(line: nil, field: "claim_number", rule: "duplicate_field", severity: .reject,
                            message: "the header names the claim number in \(numberColumns.count) columns (\(numberColumns.map { table.header[$0] }.joined(separator: ", "))); keep one"))
                }
            }
            if record.fields.count != table.header.count {
                group.claim.readProblems.append(
                    Violation(line: group.claim.lines.count + 1, field: "row", rule: "csv_columns", severity: .reject,
                        message: "CSV line \(record.line) has \(record.fields.count) cells but the header has \(table.header.count)"))
            }
            let cells = zip(table.header, record.fields).map { (key: $0.0, value: Optional($0.1)) }
            group.claim.lines.append(RawLine(fields: cells))
            group.claim.sourceLines.append(record.line)
            group.records.append(record)
            grouped[number] = group
        }
        return order.compactMap { grouped[$0] }
    }
}
