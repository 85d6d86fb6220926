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

    /// The chain's links in position order: `seq after_id–through_id events linked` (a
    /// single-event link shows as the range of its event), where `linked` says the link's
    /// previous hash is the hash of the link before it.
    static func links(_ postgres: PostgresClient) async throws -> [String] {
        try await postgres.query(
            """
            SELECT seq, coalesce(after_id, event_id - 1) AS after_id, coalesce(through_id, event_id) AS through_id, coalesce(events, 1) AS events,
                   coalesce(previous_hash = lag(hash) OVER (ORDER BY seq), true) AS linked
            FROM audit_chain ORDER BY seq
            """
        ).rows.map {
            "\(try $0.decode("seq", as: Int64.self)) \(try $0.decode("after_id", as: Int64.self))–\(try $0.decode("through_id", as: Int64.self)) "
                + "\(try $0.decode("events", as: Int.self)) \(try $0.decode("linked", as: Bool.self))"
        }
    }

    @Test func appendedRowsAreSealedInBatchesAndVerify() async throws {
        try await Self.migrated { postgres, store in
            try await store.append([Self.event(1), Self.event(2, outcome: .denied)])
            try await store.append([AuditEvent(actor: .commandLine, action: .userCreate, resourceType: "user", resourceID: nil)])
            var report = try await store.verify()
            #expect(report.unsealedRows == 3 && report.sealedRows == 0 && report.links == 0 && report.isIntact)
            // At most two events per link: the first link covers ids 1–2, the next id 3.
            #expect(try await store.sealEverything(limit: 2) == 3)
            #expect(try await store.seal() == 0)
            report = try await store.verify()
            #expect(report == AuditChainReport(sealedRows: 3, links: 2, firstSequence: 1, lastSequence: 2, unsealedRows: 0, oldestUnsealedSeconds: nil, problems: []))
            #expect(try await Self.links(postgres) == ["1 0–2 2 true", "2 2–3 1 true"])
            // Later events go on from the head.
            try await store.append((4...6).map { Self.event($0) })
            #expect(try await store.verify().unsealedRows == 3)
            #expect(try await store.sealEverything() == 3)
            #expect(try await Self.links(postgres) == ["1 0–2 2 true", "2 2–3 1 true", "3 3–6 3 true"])
            #expect(try await store.verify().isIntact)
            // Rounds with nothing new leave no marks behind (once a round finds its mark usable).
            let marks: PostgresQuery = "SELECT count(*) AS n FROM audit_seal_marks"
            for _ in 0..<100 {
                #expect(try await store.seal() == 0)
                if try await postgres.query(marks).rows.first?.decode("n", as: Int.self) == 0 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await postgres.query(marks).rows.first?.decode("n", as: Int.self) == 0)
        }
    }

    /// The sealer waits for an open transaction that wrote events (its ids may lie below ones
    /// already committed), and only for such: one that writes elsewhere does not hold it back.
    @Test func sealingWaitsForOpenEventWritersOnly() async throws {
        try await Self.migrated { postgres, store in
            try await postgres.query("CREATE TABLE unrelated (n int)")
            try await store.append([Self.event(1)])
            try await postgres.withTransaction { other in
                // Open, with a transaction id, writing another table: sealing goes on.
                try await other.query("INSERT INTO unrelated VALUES (1)")
                #expect(try await store.sealEverything(within: .seconds(20)) == 1)
            }
            try await postgres.withTransaction { writer in
                // Open, holding event 2; event 3 commits after it.
                try await PostgresAuditStore.append([Self.event(2)], on: writer)
                try await store.append([Self.event(3)])
                #expect(try await store.sealEverything(within: .seconds(2)) == 0)
                let report = try await store.verify()
                #expect(report.unsealedRows == 1 && report.isIntact, "only event 3 is visible, and it waits: \(report)")
            }
            #expect(try await store.sealEverything(within: .seconds(20)) == 2)
            let report = try await store.verify()
            #expect(report.sealedRows == 3 && report.unsealedRows == 0 && report.isIntact, "\(report)")
            #expect(try await Self.links(postgres) == ["1 0–1 1 true", "2 1–3 2 true"])
        }
    }

    /// A mark read after its transaction had already taken an id could be passed by a writer
    /// whose id it counted; the database refuses it.
    @Test func aMarkMustBeTheFirstThingOfItsTransaction() async throws {
        try await Self.migrated { postgres, _ in
            await #expect {
                try await postgres.withTransaction { connection in
                    try await connection.query("INSERT INTO audit_seal_marks (xid, bound) VALUES ('1', 0)")
                    try await connection.query("SELECT audit_mark()")
                }
            } throws: { error in
                "\(error)".contains("must run first in a transaction of its own")
            }
        }
    }

    /// A chain sealed one link per event (migrations 6–10) must verify after migration 11, with
    /// the events still queued then sealed by it, and batch sealing must go on from its head.
    @Test func aChainSealedBeforeMigration11VerifiesAfterIt() async throws {
        try await ScratchDatabase.with { postgres, _ in
            let upTo = { (version: Int) in
                Migrator(client: postgres, migrations: Migration.bundled.filter { $0.version <= version }, logger: TestEnvironment.quietLogger)
            }
            _ = try await upTo(9).migrate()
            let store = PostgresAuditStore(client: postgres)
            let sealQueued = "SELECT audit_seal(10000) AS sealed"
            try await store.append((1...5).map { Self.event($0) })
            #expect(try await postgres.query(PostgresQuery(sql: sealQueued)).rows.first?.decode("sealed", as: Int.self) == 5)
            let volatility = "SELECT provolatile::text AS v FROM pg_proc WHERE proname = 'audit_row_hash'"
            #expect(try await postgres.query(PostgresQuery(sql: volatility)).rows.first?.decode("v", as: String.self) == "i")
            _ = try await upTo(10).migrate()
            #expect(try await postgres.query(PostgresQuery(sql: volatility)).rows.first?.decode("v", as: String.self) == "s")
            try await store.append((6...7).map { Self.event($0) })
            #expect(try await postgres.query("SELECT audit_seal(1) AS sealed").rows.first?.decode("sealed", as: Int.self) == 1)
            // Event 7 is still queued when migration 11 runs: it is sealed by it, one link of its own.
            _ = try await upTo(11).migrate()
            #expect(try await postgres.query("SELECT to_regclass('audit_pending') IS NULL AS gone").rows.first?.decode("gone", as: Bool.self) == true)
            var report = try await store.verify()
            #expect(report == AuditChainReport(sealedRows: 7, links: 7, firstSequence: 1, lastSequence: 7, unsealedRows: 0, oldestUnsealedSeconds: nil, problems: []))
            try await store.append((8...10).map { Self.event($0) })
            #expect(try await store.sealEverything() == 3)
            report = try await store.verify()
            #expect(report == AuditChainReport(sealedRows: 10, links: 8, firstSequence: 1, lastSequence: 8, unsealedRows: 0, oldestUnsealedSeconds: nil, problems: []))
            #expect(try await Self.links(postgres).last == "8 7–10 3 true")
            // A single-event link changed behind the guard is still found.
            let partition = try #require(
                try await postgres.query("SELECT tableoid::regclass::text AS name FROM audit_events LIMIT 1").rows.first?.decode("name", as: String.self))
            try await postgres.query(PostgresQuery(sql: "ALTER TABLE \(partition) DISABLE TRIGGER USER"))
            try await postgres.query("UPDATE audit_events SET outcome = 'denied' WHERE id = 3")
            #expect(try await store.verify().problems == [AuditChainProblem(kind: .altered, sequence: 3, id: 3)])
        }
    }

    @Test func theDatabaseRefusesUpdateDeleteAndTruncate() async throws {
        try await Self.migrated { postgres, store in
            try await store.append([Self.event(1), Self.event(2)])
            try await store.sealEverything(limit: 1)
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
            // Three links: ids 1–2, 3–4 and 5–6.
            try await store.sealEverything(limit: 2)
            // Someone who owns the tables switches the guards off on the partitions holding the rows.
            for table in ["audit_events", "audit_chain"] {
                let partition = try #require(
                    try await postgres.query(PostgresQuery(sql: "SELECT tableoid::regclass::text AS name FROM \(table) LIMIT 1")).rows.first?.decode("name", as: String.self))
                try await postgres.query(PostgresQuery(sql: "ALTER TABLE \(partition) DISABLE TRIGGER USER"))
            }

            try await postgres.query("UPDATE audit_events SET outcome = 'denied' WHERE id = 2")
            var report = try await store.verify()
            #expect(report.problems == [AuditChainProblem(kind: .batchAltered, sequence: 1, id: nil, ids: 1...2)])
            #expect(report.problems.first?.description == "the events sealed at chain position 1 (ids 1–2 of one month) were changed, removed or added to after sealing")

            // A link whose hash is recomputed to match the changed event still breaks the link after it.
            try await postgres.query(
                """
                UPDATE audit_chain c SET hash = (SELECT b.hash FROM audit_batch_hash(c.previous_hash, c.seq, c.event_at, c.after_id, c.through_id) b)
                WHERE c.seq = 1
                """)
            #expect(try await store.verify().problems == [AuditChainProblem(kind: .relinked, sequence: 2, id: nil, ids: 3...4)])

            // An event removed from a link's range breaks that link.
            try await postgres.query("DELETE FROM audit_events WHERE id = 4")
            #expect(try await store.verify().problems == [AuditChainProblem(kind: .batchAltered, sequence: 2, id: nil, ids: 3...4)])

            // A link removed leaves a gap, and its remaining event in no link.
            try await postgres.query("DELETE FROM audit_chain WHERE seq = 2")
            #expect(
                try await store.verify().problems == [AuditChainProblem(kind: .missing, sequence: 2, id: nil), AuditChainProblem(kind: .unlinked, sequence: 0, id: 3)])

            // The newest link removed with its events leaves the head behind.
            try await postgres.query("DELETE FROM audit_events WHERE id = 6")
            try await postgres.query("DELETE FROM audit_chain WHERE seq = 3")
            report = try await store.verify()
            #expect(
                report.problems == [
                    AuditChainProblem(kind: .truncated, sequence: 3, id: nil), AuditChainProblem(kind: .unlinked, sequence: 0, id: 3),
                    AuditChainProblem(kind: .unlinked, sequence: 0, id: 5),
                ], "\(report.problems)")
        }
    }

    /// Events inserted behind the sealer with ids it has passed — plain INSERTs, which the
    /// guards allow — are found: in a sealed month's range they break its link, in a month
    /// without a link there they are in no link.
    @Test func eventsAddedBelowTheSealedPositionAreFound() async throws {
        try await Self.migrated { postgres, store in
            try await store.append([Self.event(1), Self.event(2)])
            try await store.sealEverything()
            #expect(try await store.verify().isIntact)
            try await postgres.query(
                """
                INSERT INTO audit_events (id, at, principal, action, outcome)
                VALUES (1, '2020-01-15T10:00:00Z', 'api_key:forger', 'claim.read', 'allowed'),
                       (2, now() - interval '1 microsecond', 'api_key:forger', 'claim.read', 'allowed')
                """)
            let report = try await store.verify()
            #expect(
                report.problems == [AuditChainProblem(kind: .batchAltered, sequence: 1, id: nil, ids: 1...2), AuditChainProblem(kind: .unlinked, sequence: 0, id: 1)],
                "\(report.problems)")
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
            // One link per month: January 2020 at position 1, this month at 2.
            try await store.sealEverything()
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
