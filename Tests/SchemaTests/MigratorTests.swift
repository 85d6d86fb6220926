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

    /// A session plans the screening lookup once (a generic plan) and keeps the plan. Planned
    /// while the tables are empty (a new database, or one truncated and analyzed), it must still
    /// probe one index per line: here the plan is made on empty tables, 20,000 lines are added
    /// (statistics not refreshed), and the next call must touch far fewer buffers than there are
    /// lines (a walk touches at least one per line). Measured: 273 with this lookup, 82,778 with
    /// migration 13's.
    @Test func theClaimedLinesLookupPlannedOnEmptyTablesStillProbesAnIndex() async throws {
        try await ScratchDatabase.with { client, _ in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            try await client.query("ALTER TABLE claims SET (autovacuum_enabled = false)")
            try await client.query("ALTER TABLE claim_lines SET (autovacuum_enabled = false)")
            try await client.query("VACUUM ANALYZE claims, claim_lines")
            // Subscriber 7's line will be stored; nobody's is under 'x'; subscriber 8's claim is voided.
            let lookup = """
                claimed_line_positions(ARRAY[sha256('x'::bytea), sha256('7'::bytea), sha256('8'::bytea)], ARRAY['D0180', 'D0180', 'D0180'],
                                       ARRAY['', '', ''], ARRAY['2018-03-28', '2018-03-28', '2018-03-28']::date[])
                """
            try await client.withConnection { connection in
                let positions = { try await connection.query(PostgresQuery(sql: "SELECT \(lookup) AS position")).rows.map { try $0.decode("position", as: Int.self) } }
                #expect(try await positions() == [])
                try await connection.query(
                    """
                    INSERT INTO claims (id, status, provider_npi, net_fee, line_count, service_date_from, service_date_to)
                    SELECT md5(n::text)::uuid, CASE WHEN n = 8 THEN 'voided' ELSE 'submitted' END, '1000000001', 10, 1, '2018-03-28', '2018-03-28'
                    FROM generate_series(1, 20000) AS n
                    """)
                try await connection.query(
                    """
                    INSERT INTO claim_lines (claim_id, line_number, service_date, submitted_procedure, group_id, subscriber_id_sealed,
                                             subscriber_id_index, provider_npi, provider_fees, allowed_fees, member_coinsurance, member_copay, net_fee)
                    SELECT md5(n::text)::uuid, 1, '2018-03-28', 'D0180', 'GRP-1', '\\x00', sha256(n::text::bytea), '1000000001', 10, 10, 0, 0, 10
                    FROM generate_series(1, 20000) AS n
                    """)
                #expect(try await positions() == [2])
                let plan = try await connection.query(PostgresQuery(sql: "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) SELECT \(lookup)")).rows
                    .map { try $0.decode("QUERY PLAN", as: String.self) }
                let buffers = plan.first { $0.contains("Buffers:") } ?? ""
                let touched = buffers.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.reduce(0, +)
                #expect(touched > 0 && touched < 2_000, "\(plan.joined(separator: "\n"))")
            }
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
