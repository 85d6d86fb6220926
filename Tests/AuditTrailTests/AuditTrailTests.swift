@testable import AuditTrail
import Postgres
import Schema
import TestSupport
import Testing

/// The audit trail against the real PostgreSQL: rows are appended and sealed into a chain, the
/// database refuses changes, and changes made behind its back are found by verification.
@Suite struct AuditTrailTests {
    static func event(_ number: Int, action: AuditAction = .claimRead, outcome: AuditOutcome = .allowed, at: String? = nil) -> AuditEvent {
        AuditEvent(
            at: at, actor: AuditActor(principal: "api_key:abcdefghijkl", role: "admin", requestID: "req-\(number)", clientAddress: "10.0.0.\(number)", userAgent: "tests"),
            action: action, resourceType: "claim", resourceID: "claim-\(number)", outcome: outcome, detail: #"{"n":\#(number)}"#)
    }

    static func migrated(_ body: (PostgresClient, PostgresAuditStore) async throws -> Void) async throws {
        try await ScratchDatabase.with { postgres, _ in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            try await body(postgres, PostgresAuditStore(client: postgres))
        }
    }

    @Test func appendedRowsAreSealedInOrderAndVerify() async throws {
        try await Self.migrated { postgres, store in
            try await store.append([Self.event(1), Self.event(2, outcome: .denied)])
            try await store.append([AuditEvent(actor: .commandLine, action: .userCreate, resourceType: "user", resourceID: nil)])
            var report = try await store.verify()
            #expect(report.unsealedRows == 3 && report.sealedRows == 0 && report.isIntact)
            #expect(try await store.seal(limit: 2) == 2)
            #expect(try await store.seal() == 1)
            #expect(try await store.seal() == 0)
            report = try await store.verify()
            #expect(report == AuditChainReport(sealedRows: 3, firstSequence: 1, lastSequence: 3, unsealedRows: 0, oldestUnsealedSeconds: nil, problems: []))
            // Chain positions follow the ids; each link follows the previous link's hash.
            let rows = try await postgres.query(
                """
                SELECT e.id, c.seq, e.action, e.outcome, c.previous_hash = lag(c.hash) OVER (ORDER BY c.seq) AS linked
                FROM audit_chain c JOIN audit_events e ON e.id = c.event_id ORDER BY c.seq
                """
            ).rows
            #expect(try rows.map { try $0.decode("id", as: Int64.self) } == [1, 2, 3])
            #expect(try rows.map { try $0.decode("seq", as: Int64.self) } == [1, 2, 3])
            #expect(try rows.map { try $0.decode("action", as: String.self) } == ["claim.read", "claim.read", "user.create"])
            #expect(try rows.map { try $0.decode("outcome", as: String.self) } == ["allowed", "denied", "allowed"])
            #expect(try rows.dropFirst().allSatisfy { try $0.decode("linked", as: Bool.self) })
        }
    }

    /// Migration 10 lets PostgreSQL inline the row hash (declared STABLE instead of IMMUTABLE);
    /// a chain sealed before it must verify after it, and sealing must go on from it.
    @Test func aChainSealedBeforeMigration10VerifiesAfterIt() async throws {
        try await ScratchDatabase.with { postgres, _ in
            _ = try await Migrator(client: postgres, migrations: Migration.bundled.filter { $0.version <= 9 }, logger: TestEnvironment.quietLogger).migrate()
            let store = PostgresAuditStore(client: postgres)
            try await store.append((1...5).map { Self.event($0) })
            #expect(try await store.seal() == 5)
            let volatility = "SELECT provolatile::text AS v FROM pg_proc WHERE proname = 'audit_row_hash'"
            #expect(try await postgres.query(PostgresQuery(sql: volatility)).rows.first?.decode("v", as: String.self) == "i")
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            #expect(try await postgres.query(PostgresQuery(sql: volatility)).rows.first?.decode("v", as: String.self) == "s")
            try await store.append((6...8).map { Self.event($0) })
            #expect(try await store.seal() == 3)
            let report = try await store.verify()
            #expect(report == AuditChainReport(sealedRows: 8, firstSequence: 1, lastSequence: 8, unsealedRows: 0, oldestUnsealedSeconds: nil, problems: []))
        }
    }

    @Test func theDatabaseRefusesUpdateDeleteAndTruncate() async throws {
        try await Self.migrated { postgres, store in
            try await store.append([Self.event(1), Self.event(2)])
            try await store.seal(limit: 1)
            for statement in [
                "UPDATE audit_events SET outcome = 'denied' WHERE id = 1",
                "UPDATE audit_events SET outcome = 'denied' WHERE id = 2",
                "DELETE FROM audit_events WHERE id = 1",
                "TRUNCATE audit_events",
                "UPDATE audit_chain SET hash = '\\x00' WHERE seq = 1",
                "DELETE FROM audit_chain WHERE seq = 1",
                "TRUNCATE audit_chain",
            ] {
                await #expect {
                    try await postgres.query(PostgresQuery(sql: statement))
                } throws: { error in
                    "\(error)".contains("is append-only")
                }
            }
            #expect(try await postgres.query("SELECT count(*) AS n FROM audit_events WHERE outcome = 'allowed'").rows.first?.decode("n", as: Int.self) == 2)
            #expect(try await store.verify().isIntact)
        }
    }

    @Test func changesBehindTheTriggersBackBreakTheChain() async throws {
        try await Self.migrated { postgres, store in
            try await store.append((1...6).map { Self.event($0) })
            try await store.seal()
            // Someone who owns the tables switches the guards off on the partitions holding the rows.
            for table in ["audit_events", "audit_chain"] {
                let partition = try #require(
                    try await postgres.query(PostgresQuery(sql: "SELECT tableoid::regclass::text AS name FROM \(table) LIMIT 1")).rows.first?.decode("name", as: String.self))
                try await postgres.query(PostgresQuery(sql: "ALTER TABLE \(partition) DISABLE TRIGGER USER"))
            }

            try await postgres.query("UPDATE audit_events SET outcome = 'denied' WHERE id = 2")
            #expect(try await store.verify().problems == [AuditChainProblem(kind: .altered, sequence: 2, id: 2)])

            try await postgres.query("DELETE FROM audit_events WHERE id = 4")
            #expect(try await store.verify().problems == [AuditChainProblem(kind: .altered, sequence: 2, id: 2), AuditChainProblem(kind: .removed, sequence: 4, id: 4)])

            // A link removed with its event leaves a gap; the newest links removed leave the head behind.
            try await postgres.query("DELETE FROM audit_chain WHERE seq = 4")
            try await postgres.query("DELETE FROM audit_events WHERE id = 6")
            try await postgres.query("DELETE FROM audit_chain WHERE seq = 6")
            let report = try await store.verify()
            #expect(
                report.problems == [
                    AuditChainProblem(kind: .altered, sequence: 2, id: 2), AuditChainProblem(kind: .missing, sequence: 4, id: nil),
                    AuditChainProblem(kind: .truncated, sequence: 6, id: nil),
                ], "\(report.problems)")
            #expect(report.problems.map(\.description).joined(separator: "\n").contains("was changed after it was sealed"))

            // A link whose hash is recomputed to match the changed event still breaks the link after it.
            try await postgres.query(
                "UPDATE audit_chain c SET hash = audit_row_hash(c.previous_hash, c.seq, e) FROM audit_events e WHERE e.id = c.event_id AND c.seq = 2")
            #expect(try await store.verify().problems.first == AuditChainProblem(kind: .relinked, sequence: 3, id: 3))

            // An event taken off the sealing queue is found too.
            try await store.append([Self.event(7)])
            try await postgres.query("DELETE FROM audit_pending")
            #expect(try await store.verify().problems.last == AuditChainProblem(kind: .unqueued, sequence: 0, id: 7))
        }
    }

    @Test func monthlyPartitionsAreKeptAheadAndDroppedAfterRetention() async throws {
        try await Self.migrated { postgres, store in
            // The migration made this month and the next two.
            #expect(try await store.ensurePartitions(monthsAhead: 2) == 0)
            #expect(try await store.ensurePartitions(monthsAhead: 3) == 1)
            for table in ["audit_events", "audit_chain"] {
                try await postgres.query(
                    PostgresQuery(sql: "CREATE TABLE \(table)_y2020m01 PARTITION OF \(table) FOR VALUES FROM ('2020-01-01T00:00:00Z') TO ('2020-02-01T00:00:00Z')"))
            }
            try await store.append([Self.event(1, at: "2020-01-15T10:00:00Z"), Self.event(2)])
            try await store.seal()
            #expect(try await store.dropPartitions(olderThan: 100 * 365 * 86_400).isEmpty)
            #expect(try await store.dropPartitions(olderThan: 365 * 86_400) == ["audit_events_y2020m01"])
            let left = try await postgres.query("SELECT resource_id FROM audit_events").rows.map { try $0.decode("resource_id", as: String.self) }
            #expect(left == ["claim-2"])
            #expect(try await postgres.query("SELECT to_regclass('audit_chain_y2020m01') IS NULL AS gone").rows.first?.decode("gone", as: Bool.self) == true)
            // The chain now starts at position 2; that is retention, not tampering.
            let report = try await store.verify()
            #expect(report.isIntact && report.firstSequence == 2 && report.lastSequence == 2)
        }
    }
}
