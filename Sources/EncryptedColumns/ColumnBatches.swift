import DataProtection
import Postgres

/// Walks the rows of a protected column's table that match a condition, in primary-key order,
/// a batch at a time, and rewrites their values: each batch commits alone, so a run can be
/// stopped anywhere and started again.
struct ColumnBatches {
    let column: ProtectedColumn
    /// The rows to visit (SQL over the table's columns; `$1` is `parameter`).
    let condition: String
    let parameter: String?
    /// The value columns each row is read with (SQL expressions, read as text).
    let values: [String]
    let batchSize: Int

    /// One row read: its key's text and its values.
    struct Row {
        var key: [String]
        var values: [String?]
    }

    /// How many rows match the condition.
    func count(on connection: PostgresConnection) async throws -> Int {
        let sql = "SELECT count(*)::bigint AS n FROM \(column.table) WHERE \(condition)"
        let rows = try await connection.query(PostgresQuery(sql: sql, binds: parameter.map { [$0] } ?? [])).rows
        return Int(try rows[0].decode("n", as: Int64.self))
    }

    /// Visits every matching row; `rewrite` gets a batch, inside its transaction, and returns how many it changed.
    func forEachBatch(on connection: PostgresConnection, _ rewrite: ([Row], PostgresConnection) async throws -> Int) async throws -> Int {
        var after: [String]?
        var changed = 0
        let keyColumns = column.rowKey.map(\.column)
        let keyList = keyColumns.joined(separator: ", ")
        while true {
            var binds: [String?] = parameter.map { [$0] } ?? []
            var sql = "SELECT "
            sql += keyColumns.enumerated().map { "\($1)::text AS k\($0)" }.joined(separator: ", ")
            sql += values.enumerated().map { ", \($1) AS v\($0)" }.joined()
            sql += " FROM \(column.table) WHERE (\(condition))"
            if let after {
                let placeholders = zip(after, column.rowKey).map { value, key in
                    binds.append(value)
                    return "$\(binds.count)::\(key.type)"
                }
                sql += " AND (\(keyList)) > (\(placeholders.joined(separator: ", ")))"
            }
            sql += " ORDER BY \(keyList) LIMIT \(batchSize)"
            let result = try await connection.query(PostgresQuery(sql: sql, binds: binds)).rows
            guard !result.isEmpty else { return changed }
            let rows = try result.map { row in
                Row(
                    key: try keyColumns.indices.map { try row.decode("k\($0)", as: String.self) },
                    values: try values.indices.map { try row.decodeIfPresent("v\($0)", as: String.self) })
            }
            try await connection.execute(script: "BEGIN")
            do {
                changed += try await rewrite(rows, connection)
                try await connection.execute(script: "COMMIT")
            } catch {
                try? await connection.execute(script: "ROLLBACK")
                throw error
            }
            after = rows.last?.key
            if rows.count < batchSize { return changed }
        }
    }

    /// `UPDATE … FROM unnest(keys…, new values…, carried values…)` matching rows by key. Each
    /// row is its key, then a value per assignment, then a value per `carried` column (named
    /// `v.c_<name>`, for `condition`). `alsoSet` adds assignments, `condition` adds conditions on
    /// the table (`t`) and the values (`v`).
    func update(
        set assignments: [(column: String, type: String)], carrying carried: [(name: String, type: String)] = [], rows: [[String?]],
        alsoSet: String = "", condition: String = "", on connection: PostgresConnection
    ) async throws -> Int {
        var binds = PostgresBindList()
        let types = column.rowKey.map(\.type) + assignments.map(\.type) + carried.map(\.type)
        let names = column.rowKey.map { "k_" + $0.column } + assignments.map { "n_" + $0.column } + carried.map { "c_" + $0.name }
        let source = binds.unnest(rows, types: types)
        let setList = assignments.map { "\($0.column) = v.n_\($0.column)" }.joined(separator: ", ")
        let match = column.rowKey.map { "t.\($0.column) = v.k_\($0.column)" }.joined(separator: " AND ")
        let sql = "UPDATE \(column.table) AS t SET \(setList)\(alsoSet) FROM \(source) AS v(\(names.joined(separator: ", "))) WHERE \(match)\(condition)"
        return try await connection.query(PostgresQuery(sql: sql, binds: binds.values)).affectedRows ?? 0
    }
}
