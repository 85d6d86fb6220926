public import DataProtection
public import Postgres

/// Re-encrypts every stored value under the keyring's encrypting key, then retires the keys no
/// value uses any more, so they may leave the keyring.
///
/// Resumable: each batch commits alone and a value already under the encrypting key is not
/// visited again. A value changed by claimsd while a batch was reading it is left as claimsd
/// wrote it (already under the encrypting key).
public struct DataKeyRotation: Sendable {
    /// Progress: values re-encrypted so far, and the total there was to do.
    public typealias Progress = @Sendable (_ done: Int, _ total: Int) -> Void

    let cipher: FieldCipher
    let batchSize: Int

    public init(cipher: FieldCipher, batchSize: Int = 500) {
        self.cipher = cipher
        self.batchSize = max(1, batchSize)
    }

    /// What a rotation did.
    public struct Report: Sendable, Equatable {
        /// Values re-encrypted.
        public var reencrypted: Int
        /// Keys found unused and marked retired.
        public var retired: [String]
    }

    /// Values not under the encrypting key, per column.
    public func pending(client: PostgresClient) async throws -> [ProtectedColumn: Int] {
        try await client.withConnection { connection in
            var counts: [ProtectedColumn: Int] = [:]
            for column in ProtectedColumn.all { counts[column] = try await batches(column).count(on: connection) }
            return counts
        }
    }

    /// Rotates every column; `progress` is called after each batch.
    public func run(client: PostgresClient, progress: Progress = { _, _ in }) async throws -> Report {
        try await DataKeyRegistry(cipher: cipher).verify(client: client)
        return try await client.withConnection { connection in
            // Rotation reads every table: no request's timeouts apply (the connection is closed
            // with the client at the end of the command).
            try await connection.query("SELECT set_config('statement_timeout', '0', false)")
            try await connection.query("SELECT set_config('idle_in_transaction_session_timeout', '0', false)")
            var totals: [ProtectedColumn: Int] = [:]
            for column in ProtectedColumn.all { totals[column] = try await batches(column).count(on: connection) }
            let total = totals.values.reduce(0, +)
            var done = 0
            progress(0, total)
            for column in ProtectedColumn.all where totals[column, default: 0] > 0 {
                let batches = batches(column)
                _ = try await batches.forEachBatch(on: connection) { rows, connection in
                    var updates: [[String?]] = []
                    for row in rows {
                        guard let text = row.values[0], let old = PostgresBytes(postgresText: text) else { continue }
                        let context = column.context(rowKey: row.key)
                        let plain = try cipher.open(old.bytes, context: context)
                        updates.append(row.key + [PostgresBytes(cipher.seal(plain, context: context)).postgresText, text])
                    }
                    let changed = try await batches.update(
                        set: [(column.sealedColumn, "bytea")], carrying: [("old", "bytea")], rows: updates,
                        condition: " AND t.\(column.sealedColumn) = v.c_old", on: connection)
                    done += rows.count
                    progress(min(done, total), total)
                    return changed
                }
            }
            let retired = try await retireUnused(on: connection)
            return Report(reencrypted: done, retired: retired)
        }
    }

    /// Marks retired every key other than the encrypting one that no value uses.
    func retireUnused(on connection: PostgresConnection) async throws -> [String] {
        let candidates: [String] = try await connection.query(
            "SELECT key_id FROM data_keys WHERE retired_at IS NULL AND key_id <> \(cipher.encryptingKeyID) ORDER BY key_id"
        ).rows.map { try $0.decode("key_id") }
        var retired: [String] = []
        for id in candidates {
            var used = false
            for column in ProtectedColumn.all where !used {
                let sql = "SELECT EXISTS (SELECT 1 FROM \(column.table) WHERE sealed_key_id(\(column.sealedColumn)) = $1) AS used"
                used = try await connection.query(PostgresQuery(sql: sql, binds: [id])).rows[0].decode("used")
            }
            guard !used else { continue }
            try await connection.query("UPDATE data_keys SET retired_at = now() WHERE key_id = \(id) AND retired_at IS NULL")
            retired.append(id)
        }
        return retired
    }

    private func batches(_ column: ProtectedColumn) -> ColumnBatches {
        ColumnBatches(
            column: column, condition: "\(column.sealedColumn) IS NOT NULL AND sealed_key_id(\(column.sealedColumn)) <> $1",
            parameter: cipher.encryptingKeyID, values: [column.sealedColumn], batchSize: batchSize)
    }
}
