import DataProtection
import EncryptedColumns
import Foundation
import Logging
import Postgres
import Schema
import Testing
import TestSupport

/// The protected columns against the real PostgreSQL: plain rows of schema 6 encrypted by the
/// migration, the keyring checked at start, and rotation.
@Suite struct EncryptedColumnsTests {
    let keyring = DataKeyring.generate(dataKeyID: "k1", indexKeyID: "i1")

    /// Migrates `client` with the preparation that encrypts plain values under `cipher`.
    func migrate(_ client: PostgresClient, cipher: FieldCipher) async throws {
        try await Migrator(
            client: client,
            preparations: [PlaintextEncryption.migrationVersion: { connection in
                try await PlaintextEncryption(cipher: cipher, batchSize: 2, logger: TestEnvironment.quietLogger).run(on: connection)
            }],
            logger: TestEnvironment.quietLogger
        ).migrate()
    }

    /// A database at schema 6 holding plain values in every protected column.
    func withPlainDatabase(_ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        try await ScratchDatabase.with { client, _ in
            try await Migrator(client: client, migrations: Migration.bundled.filter { $0.version <= 6 }, logger: TestEnvironment.quietLogger).migrate()
            try await client.withConnection { connection in
                try await connection.execute(
                    script: """
                        INSERT INTO claims (id, provider_npi, net_fee, line_count, service_date_from, service_date_to) VALUES
                          ('00000000-0000-7000-8000-000000000001', '1000000001', 30.00, 2, '2024-01-01', '2024-01-01'),
                          ('00000000-0000-7000-8000-000000000002', '1000000002', 5.00, 1, '2024-01-01', '2024-01-01');
                        INSERT INTO claim_lines (claim_id, line_number, service_date, submitted_procedure, group_id, subscriber_id, provider_npi,
                                                 provider_fees, allowed_fees, member_coinsurance, member_copay, net_fee) VALUES
                          ('00000000-0000-7000-8000-000000000001', 1, '2024-01-01', 'D0180', 'G', 'PLAIN-SUB-A', '1000000001', 10, 0, 0, 0, 10.00),
                          ('00000000-0000-7000-8000-000000000001', 2, '2024-01-01', 'D0180', 'G', 'PLAIN-SUB-A', '1000000001', 20, 0, 0, 0, 20.00),
                          ('00000000-0000-7000-8000-000000000002', 1, '2024-01-01', 'D0180', 'G', 'PLAIN-SUB-B', '1000000002', 5, 0, 0, 0, 5.00);
                        INSERT INTO users (id, email, full_name, password_hash, role, scope_subscriber_id) VALUES
                          ('00000000-0000-4000-8000-000000000001', 'm@example.org', 'Plain Member Name', 'x', 'member', 'PLAIN-SUB-A'),
                          ('00000000-0000-4000-8000-000000000002', 'a@example.org', 'Plain Admin Name', 'x', 'admin', NULL);
                        INSERT INTO api_keys (id, name, secret_hash, role, scope_subscriber_id, created_by) VALUES
                          ('abcdefghijkl', 'member app', 'x', 'member', 'PLAIN-SUB-B', 'test');
                        INSERT INTO rejected_claims (id, import_id, source, raw, violations) VALUES
                          ('00000000-0000-7000-8000-0000000000aa', '00000000-0000-7000-8000-0000000000ff', 'csv line 2',
                           '{"subscriber_id": "PLAIN-SUB-C"}', '[]');
                        INSERT INTO idempotency_keys (scope, key, request_hash, response_status, response_body) VALUES
                          ('principal:x', 'key-1', 'h', 201, '{"subscriber_id":"PLAIN-SUB-A"}');
                        """)
            }
            try await body(client)
        }
    }

    @Test func theMigrationEncryptsEveryPlainValueAndDropsThePlainColumns() async throws {
        try await withPlainDatabase { client in
            let cipher = FieldCipher(keyring: keyring)
            try await migrate(client, cipher: cipher)
            let version = try await client.query("SELECT max(version)::int AS v FROM schema_migrations").rows[0].decode("v", as: Int.self)
            #expect(version == Migration.bundled.count)
            let plainColumns = try await client.query(
                """
                SELECT count(*)::int AS n FROM information_schema.columns
                WHERE (table_name, column_name) IN (('claim_lines', 'subscriber_id'), ('users', 'full_name'), ('users', 'scope_subscriber_id'),
                       ('api_keys', 'scope_subscriber_id'), ('rejected_claims', 'raw'), ('idempotency_keys', 'response_body'))
                """
            ).rows[0].decode("n", as: Int.self)
            #expect(plainColumns == 0)

            // Each value opens, in its own row, to what was there; the blind index matches.
            let lines = try await client.query(
                "SELECT claim_id::text AS id, line_number::text AS n, subscriber_id_sealed AS s, subscriber_id_index AS i FROM claim_lines ORDER BY 1, 2"
            ).rows
            var subscribers: [String] = []
            for row in lines {
                let id: String = try row.decode("id")
                let number: String = try row.decode("n")
                let sealed: PostgresBytes = try row.decode("s")
                let subscriber = try cipher.openString(sealed.bytes, context: ProtectedColumn.subscriberID.context(id, number))
                subscribers.append(subscriber)
                #expect(try row.decode("i", as: PostgresBytes.self).bytes == cipher.blindIndex(subscriber))
                #expect(FieldCipher.keyID(of: sealed.bytes) == "k1")
            }
            #expect(subscribers == ["PLAIN-SUB-A", "PLAIN-SUB-A", "PLAIN-SUB-B"])
            let member = try await client.query(
                "SELECT full_name_sealed AS f, scope_subscriber_id_sealed AS s FROM users WHERE id = '00000000-0000-4000-8000-000000000001'"
            ).rows[0]
            let userKey = "00000000-0000-4000-8000-000000000001"
            #expect(try cipher.openString(member.decode("f", as: PostgresBytes.self).bytes, context: ProtectedColumn.userFullName.context(userKey)) == "Plain Member Name")
            #expect(try cipher.openString(member.decode("s", as: PostgresBytes.self).bytes, context: ProtectedColumn.userScopeSubscriberID.context(userKey)) == "PLAIN-SUB-A")
            let admin = try await client.query("SELECT scope_subscriber_id_sealed AS s FROM users WHERE role = 'admin'").rows[0]
            #expect(try admin.decodeIfPresent("s", as: PostgresBytes.self) == nil)
            let key = try await client.query("SELECT scope_subscriber_id_sealed AS s FROM api_keys").rows[0].decode("s", as: PostgresBytes.self)
            #expect(try cipher.openString(key.bytes, context: ProtectedColumn.apiKeyScopeSubscriberID.context("abcdefghijkl")) == "PLAIN-SUB-B")
            let raw = try await client.query("SELECT raw_sealed AS r FROM rejected_claims").rows[0].decode("r", as: PostgresBytes.self)
            let rawText = try cipher.openString(raw.bytes, context: ProtectedColumn.rejectedClaimRaw.context("00000000-0000-7000-8000-0000000000aa"))
            #expect(rawText.contains("PLAIN-SUB-C"))
            let body = try await client.query("SELECT response_body_sealed AS b FROM idempotency_keys").rows[0].decode("b", as: PostgresBytes.self)
            #expect(try cipher.openString(body.bytes, context: ProtectedColumn.idempotencyResponse.context("principal:x", "key-1")) == #"{"subscriber_id":"PLAIN-SUB-A"}"#)
        }
    }

    @Test func withoutTheKeyringTheMigrationStopsAndChangesNothing() async throws {
        try await withPlainDatabase { client in
            do {
                try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
                Issue.record("migration 8 ran over plain values")
            } catch let error as MigrationError {
                #expect(error.description.contains("migration 8"))
                #expect(error.description.contains("CLAIMS_DATA_KEYS"))
            }
            let version = try await client.query("SELECT max(version)::int AS v FROM schema_migrations").rows[0].decode("v", as: Int.self)
            #expect(version == 7)
            let plain = try await client.query("SELECT count(*)::int AS n FROM claim_lines WHERE subscriber_id IS NOT NULL").rows[0].decode("n", as: Int.self)
            #expect(plain == 3)
            // With the keyring, the same database then completes.
            try await migrate(client, cipher: FieldCipher(keyring: keyring))
            let after = try await client.query("SELECT max(version)::int AS v FROM schema_migrations").rows[0].decode("v", as: Int.self)
            #expect(after == Migration.bundled.count)
        }
    }

    @Test func aKeyringThatDoesNotFitTheDatabaseIsRefused() async throws {
        try await ScratchDatabase.with { client, _ in
            try await migrate(client, cipher: FieldCipher(keyring: keyring))
            let registry = DataKeyRegistry(cipher: FieldCipher(keyring: keyring))
            try await registry.verify(client: client)
            try await registry.verify(client: client)  // again: nothing changes

            // The same id with other bytes.
            let impostor = DataKeyring.generate(dataKeyID: "k1", indexKeyID: "i1")
            let sameIndex = try DataKeyring(text: impostor.text.replacingOccurrences(of: impostor.text.split(separator: "\n").last!, with: keyring.text.split(separator: "\n").last!))
            await #expect(throws: DataKeyError.keyMismatch(id: "k1")) { try await DataKeyRegistry(cipher: FieldCipher(keyring: sameIndex)).verify(client: client) }
            // Another index key, or the same id with other bytes.
            await #expect(throws: DataKeyError.indexKeyMismatch(recorded: "i1", given: "i1")) {
                try await DataKeyRegistry(cipher: FieldCipher(keyring: impostor)).verify(client: client)
            }
            let otherIndex = DataKeyring.generate(dataKeyID: "k1", indexKeyID: "i2")
            await #expect(throws: DataKeyError.indexKeyMismatch(recorded: "i1", given: "i2")) {
                try await DataKeyRegistry(cipher: FieldCipher(keyring: otherIndex)).verify(client: client)
            }
            // A new key is recorded; leaving out the old one, still in use, is then refused.
            let rotated = try keyring.addingDataKey(id: "k2")
            try await DataKeyRegistry(cipher: FieldCipher(keyring: rotated)).verify(client: client)
            await #expect(throws: DataKeyError.missingKeys(["k1"])) {
                try await DataKeyRegistry(cipher: FieldCipher(keyring: try rotated.removingDataKey(id: "k1"))).verify(client: client)
            }
            #expect(DataKeyError.missingKeys(["k1"]).description.contains("'k1'"))
        }
    }

    @Test func rotationReencryptsEverythingAndRetiresTheOldKey() async throws {
        try await withPlainDatabase { client in
            try await migrate(client, cipher: FieldCipher(keyring: keyring))
            let rotated = FieldCipher(keyring: try keyring.addingDataKey(id: "k2"))
            let rotation = DataKeyRotation(cipher: rotated, batchSize: 2)
            let pendingBefore = try await rotation.pending(client: client).values.reduce(0, +)
            #expect(pendingBefore == 9)  // 3 lines, 2 names and 1 member scope, 1 key scope, 1 rejected input, 1 response

            let calls = Calls()
            let report = try await rotation.run(client: client) { done, total in calls.append(done, total) }
            #expect(report.reencrypted == pendingBefore)
            #expect(report.retired == ["k1"])
            #expect(calls.values.last?.0 == pendingBefore)
            #expect(calls.values.allSatisfy { $0.1 == pendingBefore })
            #expect(try await rotation.pending(client: client).values.reduce(0, +) == 0)
            // Again: nothing left to do.
            #expect(try await rotation.run(client: client).reencrypted == 0)

            // The old key may leave the keyring: everything opens without it, and start-up accepts it.
            let withoutOld = FieldCipher(keyring: try rotated.keyring.removingDataKey(id: "k1"))
            try await DataKeyRegistry(cipher: withoutOld).verify(client: client)
            let lines = try await client.query("SELECT claim_id::text AS id, line_number::text AS n, subscriber_id_sealed AS s FROM claim_lines ORDER BY 1, 2").rows
            let opened = try lines.map { row in
                try withoutOld.openString(
                    try row.decode("s", as: PostgresBytes.self).bytes,
                    context: ProtectedColumn.subscriberID.context(try row.decode("id", as: String.self), try row.decode("n", as: String.self)))
            }
            #expect(opened == ["PLAIN-SUB-A", "PLAIN-SUB-A", "PLAIN-SUB-B"])
            let status = try await DataKeyRegistry(cipher: withoutOld).status(client: client)
            #expect(status.map(\.id) == ["k1", "k2"])
            #expect(status[0].retiredAt != nil && !status[0].inKeyring)
            #expect(status[1].retiredAt == nil && status[1].encrypts)
        }
    }
}

/// Progress calls, collected from a `@Sendable` closure.
final class Calls: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [(Int, Int)] = []

    func append(_ done: Int, _ total: Int) { lock.withLock { recorded.append((done, total)) } }
    var values: [(Int, Int)] { lock.withLock { recorded } }
}
