public import DataProtection
public import Logging
public import Postgres

/// Encrypts the values that migration 7 found in plain columns, in batches, before migration 8
/// drops those columns: the preparation of migration 8 (see ``Migrator/Preparation``).
public struct PlaintextEncryption: Sendable {
    /// The migration whose SQL must wait for this.
    public static let migrationVersion = 8

    let cipher: FieldCipher
    let batchSize: Int
    let logger: Logger

    public init(cipher: FieldCipher, batchSize: Int = 1_000, logger: Logger) {
        self.cipher = cipher
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    /// Checks the keyring against the database, then encrypts every plain value; returns how
    /// many values it encrypted.
    @discardableResult
    public func run(on connection: PostgresConnection) async throws -> Int {
        try await DataKeyRegistry(cipher: cipher).verify(on: connection)
        var total = 0
        for column in ProtectedColumn.all {
            let batches = ColumnBatches(
                column: column, condition: "\(column.plaintextColumn) IS NOT NULL", parameter: nil, values: [column.plaintext], batchSize: batchSize)
            let pending = try await batches.count(on: connection)
            guard pending > 0 else { continue }
            logger.notice(
                "encrypting plain values", metadata: ["event": "plaintext_encrypting", "table": "\(column.table)", "column": "\(column.plaintextColumn)", "rows": "\(pending)"])
            var assignments = [(column: column.sealedColumn, type: "bytea")]
            if let index = column.blindIndexColumn { assignments.append((index, "bytea")) }
            // The plain column is emptied in the same statement: a batch is all done or not at all.
            let done = try await batches.forEachBatch(on: connection) { rows, connection in
                let updates = rows.map { row -> [String?] in
                    let plain = row.values[0] ?? ""
                    var values: [String?] = row.key
                    values.append(PostgresBytes(cipher.seal(plain, context: column.context(rowKey: row.key))).postgresText)
                    if column.blindIndexColumn != nil { values.append(PostgresBytes(cipher.blindIndex(plain)).postgresText) }
                    return values
                }
                return try await batches.update(
                    set: assignments, rows: updates, alsoSet: ", \(column.plaintextColumn) = NULL", on: connection)
            }
            total += done
            logger.notice(
                "plain values encrypted", metadata: ["event": "plaintext_encrypted", "table": "\(column.table)", "column": "\(column.plaintextColumn)", "rows": "\(done)"])
        }
        return total
    }
}
