import Foundation
@testable import Schema
import Postgres
import Testing
import TestSupport

@Suite struct MigratorTests {
    @Test func appliesBundledMigrationsOnceAndRecordsThem() async throws {
        try await ScratchDatabase.with { client, _ in
            let migrator = Migrator(client: client, logger: TestEnvironment.quietLogger)
            let applied = try await migrator.migrate()
            #expect(applied.map(\.version) == Migration.bundled.map(\.version))
            #expect(try await migrator.migrate().isEmpty)
            let recorded = try await migrator.appliedVersions()
            #expect(recorded == Dictionary(uniqueKeysWithValues: Migration.bundled.map { ($0.version, $0.checksum) }))
            // The schema really exists.
            let tables = try await client.query(
                "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('claims', 'claim_lines', 'outbox_events')")
            #expect(try tables.rows.first?.decode("n", as: Int.self) == 3)
        }
    }

    @Test func instancesStartingTogetherApplyEachMigrationExactlyOnce() async throws {
        try await ScratchDatabase.with(maxConnections: 8) { client, _ in
            let migrations = (1...5).map { Migration(version: $0, name: "step\($0)", sql: "CREATE TABLE step\($0) (id int); SELECT pg_sleep(0.02)") }
            let appliedCounts = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await Migrator(client: client, migrations: migrations, logger: TestEnvironment.quietLogger).migrate().count }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(appliedCounts.reduce(0, +) == 5)
            let rows = try await client.query("SELECT count(*)::int AS n FROM schema_migrations").rows
            #expect(try rows.first?.decode("n", as: Int.self) == 5)
        }
    }

    @Test func aFailingMigrationIsRolledBackAndStopsTheRun() async throws {
        try await ScratchDatabase.with { client, _ in
            let migrations = [
                Migration(version: 1, name: "good", sql: "CREATE TABLE good (id int)"),
                Migration(version: 2, name: "bad", sql: "CREATE TABLE half (id int); SELECT * FROM missing_table"),
                Migration(version: 3, name: "later", sql: "CREATE TABLE later (id int)"),
            ]
            let migrator = Migrator(client: client, migrations: migrations, logger: TestEnvironment.quietLogger)
            let error = await #expect(throws: MigrationError.self) { try await migrator.migrate() }
            guard case .failed(let version, _, let underlying) = error else {
                Issue.record("expected a failed migration, got \(String(describing: error))")
                return
            }
            #expect(version == 2)
            #expect(underlying.contains("42P01"))
            #expect(try await migrator.appliedVersions().keys.sorted() == [1])
            let half = try await client.query("SELECT to_regclass('half') IS NULL AS gone").rows.first
            #expect(try half?.decode("gone", as: Bool.self) == true)
        }
    }

    @Test func anEditedMigrationIsRefused() async throws {
        try await ScratchDatabase.with { client, _ in
            let original = [Migration(version: 1, name: "t", sql: "CREATE TABLE t (id int)")]
            try await Migrator(client: client, migrations: original, logger: TestEnvironment.quietLogger).migrate()
            let edited = [Migration(version: 1, name: "t", sql: "CREATE TABLE t (id bigint)")]
            await #expect(throws: MigrationError.checksumMismatch(version: 1, name: "t")) {
                try await Migrator(client: client, migrations: edited, logger: TestEnvironment.quietLogger).migrate()
            }
        }
    }

    /// Claims stored before provider shares existed get theirs from their lines, counting only
    /// where the claim's status counts towards the ranking.
    @Test func providerSharesAreBackfilledFromTheLines() async throws {
        try await ScratchDatabase.with { client, _ in
            let before = Migration.bundled.filter { $0.version < 4 }
            try await Migrator(client: client, migrations: before, logger: TestEnvironment.quietLogger).migrate()
            try await client.withConnection { connection in
                try await connection.execute(
                    script: """
                        INSERT INTO claims (id, status, provider_npi, net_fee, line_count, service_date_from, service_date_to) VALUES
                          ('00000000-0000-7000-8000-000000000001', 'submitted', '1000000001', 30.00, 2, '2024-01-01', '2024-01-01'),
                          ('00000000-0000-7000-8000-000000000002', 'voided', '1000000002', 5.00, 1, '2024-01-01', '2024-01-01');
                        INSERT INTO claim_lines (claim_id, line_number, service_date, submitted_procedure, group_id, subscriber_id, provider_npi,
                                                 provider_fees, allowed_fees, member_coinsurance, member_copay, net_fee) VALUES
                          ('00000000-0000-7000-8000-000000000001', 1, '2024-01-01', 'D0180', 'G', 'S', '1000000001', 10, 0, 0, 0, 10.00),
                          ('00000000-0000-7000-8000-000000000001', 2, '2024-01-01', 'D0180', 'G', 'S', '1000000001', 20, 0, 0, 0, 20.00),
                          ('00000000-0000-7000-8000-000000000002', 1, '2024-01-01', 'D0180', 'G', 'S', '1000000002', 5, 0, 0, 0, 5.00);
                        """)
            }
            // Up to the encryption of plain values, which needs claimsd's keys (see DataProtectionTests).
            try await Migrator(client: client, migrations: Migration.bundled.filter { $0.version < 7 }, logger: TestEnvironment.quietLogger).migrate()
            let shares = try await client.query(
                "SELECT provider_npi, net_fee::text AS fee, counts FROM claim_provider_shares ORDER BY provider_npi"
            ).rows.map { "\(try $0.decode("provider_npi", as: String.self)):\(try $0.decode("fee", as: String.self)):\(try $0.decode("counts", as: Bool.self))" }
            #expect(shares == ["1000000001:30.00:true", "1000000002:5.00:false"])
        }
    }

    /// claimsd's sessions plan every statement afresh; the screening lookup, called once per
    /// group of claims, keeps its plan (its settings fix it to index probes anyway).
    @Test func theClaimedLinesLookupKeepsItsPlanAcrossCalls() async throws {
        try await ScratchDatabase.with { client, _ in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let rows = try await client.query(
                "SELECT array_to_string(proconfig, ',') AS settings FROM pg_proc WHERE proname = 'claimed_line_positions'").rows
            let settings = try rows.first?.decode("settings", as: String.self) ?? ""
            #expect(settings.contains("plan_cache_mode=force_generic_plan"), "\(settings)")
            #expect(settings.contains("enable_seqscan=off"), "\(settings)")
        }
    }

    @Test func everyBundledMigrationFileIsRegisteredInOrder() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/Schema/sql").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        let registered = Migration.bundled.map { String(format: "V%04d__%@.sql", $0.version, $0.name) }
        #expect(registered == files)
        #expect(Migration.bundled.map(\.version) == Array(1...Migration.bundled.count))
    }
}
