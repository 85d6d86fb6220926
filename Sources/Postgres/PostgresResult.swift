/// The rows and command status of one statement, copied out of libpq's result.
public struct PostgresResult: Sendable {
    /// Column names in result order.
    public let columns: [String]
    /// The returned rows (empty for commands that return none).
    public let rows: [PostgresRow]
    /// Rows inserted, updated, deleted or copied, when the command reports a count.
    public let affectedRows: Int?

    init(columns: [String], values: [[String?]], affectedRows: Int?) {
        self.columns = columns
        let index = ColumnIndex(columns)
        self.rows = values.map { PostgresRow(values: $0, index: index) }
        self.affectedRows = affectedRows
    }
}

/// Column name to position, shared by every row of one result.
final class ColumnIndex: Sendable {
    let positions: [String: Int]

    init(_ columns: [String]) {
        var positions: [String: Int] = [:]
        for (position, name) in columns.enumerated() where positions[name] == nil {
            positions[name] = position
        }
        self.positions = positions
    }
}

/// One result row; values are read by column name and decoded to the type asked for.
public struct PostgresRow: Sendable {
    /// Raw text values in column order; `nil` is SQL NULL.
    public let values: [String?]
    let index: ColumnIndex

    /// The value of `column` as `type`; throws when the column is missing, NULL or unreadable.
    public func decode<Value: PostgresDecodable>(_ column: String, as type: Value.Type = Value.self) throws -> Value {
        guard let value = try decodeIfPresent(column, as: type) else {
            throw PostgresError(code: .decoding, message: "column \"\(column)\" is NULL, expected \(Value.self)")
        }
        return value
    }

    /// The value of `column` as `type`, or `nil` when it is NULL.
    public func decodeIfPresent<Value: PostgresDecodable>(_ column: String, as type: Value.Type = Value.self) throws -> Value? {
        guard let position = index.positions[column] else {
            throw PostgresError(code: .decoding, message: "result has no column \"\(column)\"")
        }
        guard let text = values[position] else { return nil }
        guard let value = Value(postgresText: text) else {
            throw PostgresError(code: .decoding, message: "column \"\(column)\" value \"\(text)\" is not a valid \(Value.self)")
        }
        return value
    }
}
