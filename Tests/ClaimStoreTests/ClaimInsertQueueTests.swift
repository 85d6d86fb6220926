@testable import ClaimStore
import Claims
import Foundation
import Postgres
import Testing
import TestSupport
import Schema

/// Group commit against the real PostgreSQL: which claims share a transaction is read from the
/// rows' `xmin` (the id of the transaction that inserted them).
@Suite struct ClaimInsertQueueTests {
    let factory = ClaimFactory()

    /// Holds the outbox ordering lock in a transaction of its own, so that the queue's first
    /// statement blocks and the claims sent meanwhile wait in the queue; releases it on return.
    /// `store` sends one claim (plain `create` unless given).
    func withOrderingLockHeld<Stored: Sendable>(
        _ client: PostgresClient, repository: PostgresClaimRepository, first: StoredClaim, then rest: [StoredClaim],
        storing store: @escaping @Sendable (StoredClaim) async throws -> Stored
    ) async throws -> [Task<Stored, any Error>] {
        try await client.withTransaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresClaimRepository.outboxLockKey))")
            let blocked = Task { try await store(first) }
            try await waitUntil {
                try await client.query("SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted").rows[0].decode("n", as: Int.self) == 1
            }
            let waiting = rest.map { claim in Task { try await store(claim) } }
            try await waitUntil { repository.insertQueue.waitingCount == rest.count }
            return [blocked] + waiting
        }
    }

    @Test func claimsArrivingWhileOneIsWrittenShareACommitWithinTheLimits() async throws {
        try await ScratchDatabase.with(maxConnections: 4) { client, _ in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let repository = PostgresClaimRepository(client: client, cipher: TestEnvironment.cipher, insertLimits: .init(maxClaims: 20, maxWriters: 1))
            let claims = (0..<51).map { index in
                var claim = factory.stored(factory.claim(npi: "1000000\(String(format: "%03d", index % 7))", dollars: Int64(index)))
                claim.lines.append(factory.line(npi: claim.providerNPI, netFee: Money(cents: 1)))
                claim.lines[1].lineNumber = 2
                claim.netFee = claim.lines[0].netFee + claim.lines[1].netFee
                return claim
            }
            let tasks = try await withOrderingLockHeld(client, repository: repository, first: claims[0], then: Array(claims.dropFirst())) {
                try await repository.create($0, idempotency: nil)
            }
            for task in tasks { #expect(try await task.value == nil) }

            // One transaction for the first claim, then the 50 that waited in batches of 20, 20, 10.
            let transactions = try await client.query(
                "SELECT xmin::text::bigint AS transaction, count(*)::int AS claims FROM claims GROUP BY transaction ORDER BY transaction"
            ).rows.map { try $0.decode("claims", as: Int.self) }
            #expect(transactions == [1, 20, 20, 10])
            // Each claim's lines and its one creation event were committed with the claim.
            let mismatched = try await client.query(
                """
                SELECT count(*)::int AS n FROM claims c
                WHERE (SELECT count(*) FROM claim_lines l WHERE l.claim_id = c.id AND l.xmin::text = c.xmin::text) <> 2
                   OR (SELECT count(*) FROM outbox_events e WHERE e.claim_id = c.id AND e.xmin::text = c.xmin::text
                       AND e.event_type = 'claim.created' AND e.net_fee_delta = c.net_fee) <> 1
                """
            ).rows[0].decode("n", as: Int.self)
            #expect(mismatched == 0)
            let stored = try await client.query("SELECT sum(net_fee)::text AS total, count(*)::int AS n FROM outbox_events").rows[0]
            #expect(try stored.decode("n", as: Int.self) == 51)
            #expect(try stored.decode("total", as: String.self) == claims.reduce(Money.zero) { $0 + $1.netFee }.description)
            // Sequences were drawn under the ordering lock: batch by batch, in commit order.
            let ordered = try await client.query(
                "SELECT bool_and(xmin_order = seq_order) AS ordered FROM (SELECT rank() OVER (ORDER BY xmin::text::bigint) AS xmin_order, rank() OVER (ORDER BY min_seq) AS seq_order FROM (SELECT xmin, min(sequence) AS min_seq FROM outbox_events GROUP BY xmin) AS t) AS r"
            ).rows[0].decode("ordered", as: Bool.self)
            #expect(ordered)
        }
    }

    /// Runs `body` with clients set up as claimsd's own (`ServiceConfiguration.postgres`: every
    /// statement planned afresh) and its insert writers' (``ClaimInsertQueue/sessionSettings``
    /// over them), one connection each, and a repository storing through them; shuts both down.
    func withClaimsdSessions(
        _ database: ScratchDatabase, _ body: (PostgresClient, PostgresClient, PostgresClaimRepository) async throws -> Void
    ) async throws {
        let session = try PostgresClient(
            configuration: .init(conninfo: database.url, maxConnections: 1, sessionSettings: ["plan_cache_mode": "force_custom_plan"]),
            logger: TestEnvironment.quietLogger)
        let writers = session.separateClient(maxConnections: 1, sessionSettings: ClaimInsertQueue.sessionSettings)
        let repository = PostgresClaimRepository(client: session, cipher: TestEnvironment.cipher, insertLimits: .init(maxWriters: 1), writers: writers)
        do {
            try await body(session, writers, repository)
        } catch {
            await session.shutdown()
            await writers.shutdown()
            throw error
        }
        await session.shutdown()
        await writers.shutdown()
    }

    /// claimsd's sessions plan every statement afresh (`force_custom_plan`). On a `claims` table
    /// of one page PostgreSQL then checks each line's claim by a sequential scan, and planned
    /// once per line that cost a quarter of PostgreSQL's CPU under load. The insert statement
    /// lets the check's plan be kept and rules sequential scans out: storing claims into a
    /// nearly empty, analyzed table must probe `claims` by index only (the statement without
    /// `keptForeignKeyPlans` made one sequential scan per line here).
    @Test func theLinesForeignKeyIsCheckedByIndexEvenOnANearlyEmptyTable() async throws {
        try await ScratchDatabase.with(maxConnections: 2) { client, database in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            try await client.query("ALTER TABLE claims SET (autovacuum_enabled = false)")
            try await withClaimsdSessions(database) { _, writers, repository in
                _ = try await repository.create(factory.stored(factory.claim(npi: "1000000001", dollars: 1)), idempotency: nil)
                try await client.query("VACUUM ANALYZE claims")
                @Sendable func scans() async throws -> (sequential: Int, indexed: Int) {
                    let row = try await client.query(
                        "SELECT seq_scan::int AS sequential, coalesce(idx_scan, 0)::int AS indexed FROM pg_stat_user_tables WHERE relname = 'claims'"
                    ).rows[0]
                    return (sequential: try row.decode("sequential", as: Int.self), indexed: try row.decode("indexed", as: Int.self))
                }
                let before = try await scans()
                for index in 0..<12 {
                    _ = try await repository.create(factory.stored(factory.claim(npi: "1000000001", dollars: Int64(index + 2))), idempotency: nil)
                }
                // The writer session's counters reach the shared view at its next statement's end.
                try await writers.query("SELECT pg_stat_force_next_flush()")
                try await writers.query("SELECT 1")
                // Twelve checks at least, however they were made.
                try await waitUntil(timeout: .seconds(20)) {
                    let now = try await scans()
                    return now.indexed + now.sequential - before.indexed - before.sequential >= 12
                }
                let after = try await scans()
                #expect(after.sequential == before.sequential, "sequential scans of claims: \(after.sequential - before.sequential)")
            }
        }
    }

    /// The insert statement is planned once per writer session and its plan kept: PostgreSQL
    /// counts a generic plan for each execution and no custom one (a writer session set up as
    /// the others, planning afresh, counts a custom plan per execution).
    @Test func theInsertStatementIsPlannedOncePerWriterSession() async throws {
        try await ScratchDatabase.with(maxConnections: 2) { client, database in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            try await withClaimsdSessions(database) { _, writers, repository in
                for index in 0..<8 {
                    _ = try await repository.create(factory.stored(factory.claim(npi: "1000000001", dollars: Int64(index + 1))), idempotency: nil)
                }
                let plans = try await writers.query(
                    "SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE statement LIKE '%INSERT INTO outbox_events%' AND statement NOT LIKE '%pg_prepared_statements%'"
                ).rows
                try #require(plans.count == 1, "prepared insert statements in the writer session: \(plans.count)")
                #expect(try plans[0].decode("custom", as: Int.self) == 0)
                #expect(try plans[0].decode("generic", as: Int.self) == 8)
            }
        }
    }

    @Test func aClaimTheServerRefusesFailsAloneAndTheRestOfItsBatchIsStored() async throws {
        try await ScratchDatabase.with(maxConnections: 4) { client, _ in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let repository = PostgresClaimRepository(client: client, cipher: TestEnvironment.cipher, insertLimits: .init(maxWriters: 1))
            var claims = (0..<10).map { factory.stored(factory.claim(npi: "1000000001", dollars: Int64($0 + 1))) }
            // NUMERIC(14, 2) holds less than 10^12 dollars: the server refuses this one.
            claims[6] = factory.stored(factory.claim(npi: "1000000002", dollars: 2_000_000_000_000))
            let tasks = try await withOrderingLockHeld(client, repository: repository, first: claims[0], then: Array(claims.dropFirst())) {
                try await repository.create($0, idempotency: nil)
            }
            for (index, task) in tasks.enumerated() {
                if index == 6 {
                    await #expect { try await task.value } throws: { ($0 as? PostgresError)?.sqlState == "22003" }
                } else {
                    #expect(try await task.value == nil)
                }
            }
            let stored = try await client.query("SELECT id FROM claims ORDER BY id").rows.map { try $0.decode("id", as: UUID.self) }
            #expect(stored == claims.enumerated().filter { $0.offset != 6 }.map(\.element.id))
            let events = try await client.query("SELECT count(*)::int AS n FROM outbox_events").rows[0].decode("n", as: Int.self)
            #expect(events == 9)
        }
    }

    /// A screened batch the server refuses for another reason than a claimed line is looked up
    /// and written again the usual way: the one claim at fault fails alone, the others are stored.
    @Test func aScreenedBatchTheServerRefusesIsStoredClaimByClaim() async throws {
        try await ScratchDatabase.with(maxConnections: 4) { client, _ in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let repository = PostgresClaimRepository(client: client, cipher: TestEnvironment.cipher, insertLimits: .init(maxWriters: 1))
            var claims = (1...6).map { index in
                var claim = factory.stored(factory.claim(npi: "1000000001", dollars: Int64(index)))
                claim.lines[0].subscriberID = "S-\(index)"
                return claim
            }
            // NUMERIC(14, 2) holds less than 10^12 dollars: the server refuses this one.
            claims[2] = factory.stored(factory.claim(npi: "1000000002", dollars: 2_000_000_000_000))
            claims[2].lines[0].subscriberID = "S-3"
            let tasks = try await withOrderingLockHeld(client, repository: repository, first: claims[0], then: Array(claims.dropFirst())) {
                try await repository.createScreened($0, audit: nil, screening: FlagsClaimedLines())
            }
            for (index, task) in tasks.enumerated() {
                if index == 2 {
                    await #expect { try await task.value } throws: { ($0 as? PostgresError)?.sqlState == "22003" }
                } else {
                    #expect(try await task.value.flags.isEmpty)
                }
            }
            // The refused batch of five was looked up once before being written claim by claim.
            #expect(repository.insertQueue.lookupsBeforeInsert == 1)
            let stored = try await client.query("SELECT id FROM claims").rows.map { try $0.decode("id", as: UUID.self) }
            #expect(stored.count == 5 && Set(stored) == Set(claims.enumerated().filter { $0.offset != 2 }.map(\.element.id)))
        }
    }

    /// Flags each line a stored claim holds already, as `duplicate_line` does; with `holdsAll`,
    /// holds every claim (as a flag of another rule would with flagged claims held).
    struct FlagsClaimedLines: BatchScreening {
        var holdsAll = false
        var needsClaimedLines: Bool { true }
        func apply(to claims: inout [StoredClaim], claimed: [Set<Int>]) {
            for index in claims.indices {
                claims[index].flags = claimed[index].sorted().map { ClaimFlag(rule: "duplicate_line", line: $0, message: "claimed") }
                if holdsAll { claims[index].status = .held }
            }
        }
    }

    /// A held claim writes no event, so the insert has no event row to take the ordering lock
    /// for: the check of claimed lines still runs, and a duplicate is still flagged.
    @Test func aHeldClaimIsCheckedForClaimedLinesToo() async throws {
        try await ScratchDatabase.with(maxConnections: 4) { client, _ in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let repository = PostgresClaimRepository(client: client, cipher: TestEnvironment.cipher, insertLimits: .init(maxWriters: 1))
            let holding = FlagsClaimedLines(holdsAll: true)
            let first = try await repository.createScreened(factory.stored(factory.claim(npi: "1000000001", dollars: 10)), audit: nil, screening: holding)
            let again = try await repository.createScreened(factory.stored(factory.claim(npi: "1000000001", dollars: 10)), audit: nil, screening: holding)
            #expect(first.status == .held && first.flags.isEmpty)
            #expect(again.status == .held && again.flags == [ClaimFlag(rule: "duplicate_line", line: 1, message: "claimed")])
            #expect(repository.insertQueue.lookupsBeforeInsert == 1)
            let events = try await client.query("SELECT count(*)::int AS n FROM outbox_events").rows[0].decode("n", as: Int.self)
            #expect(events == 0)
        }
    }

    /// A claim whose lines are new is screened and stored by one statement, with no lookup of
    /// its own; a claim with a stored line is refused by that statement, looked up, flagged and
    /// stored; and the batches right after it are looked up first.
    @Test func screenedClaimsAreLookedUpInTheirInsertUnlessALineIsClaimed() async throws {
        try await ScratchDatabase.with(maxConnections: 4) { client, _ in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let repository = PostgresClaimRepository(client: client, cipher: TestEnvironment.cipher, insertLimits: .init(maxWriters: 1))
            func claim(subscriber: String) -> StoredClaim {
                var claim = factory.stored(factory.claim(npi: "1000000001", dollars: 10))
                claim.lines[0].subscriberID = subscriber
                return claim
            }
            let first = try await repository.createScreened(claim(subscriber: "S-1"), audit: nil, screening: FlagsClaimedLines())
            let second = try await repository.createScreened(claim(subscriber: "S-2"), audit: nil, screening: FlagsClaimedLines())
            #expect(first.flags.isEmpty && second.flags.isEmpty)
            #expect(repository.insertQueue.lookupsBeforeInsert == 0)

            let duplicate = claim(subscriber: "S-1")
            let flagged = try await repository.createScreened(duplicate, audit: nil, screening: FlagsClaimedLines())
            #expect(flagged.flags == [ClaimFlag(rule: "duplicate_line", line: 1, message: "claimed")])
            #expect(repository.insertQueue.lookupsBeforeInsert == 1)
            let third = try await repository.createScreened(claim(subscriber: "S-3"), audit: nil, screening: FlagsClaimedLines())
            #expect(third.flags.isEmpty)
            #expect(repository.insertQueue.lookupsBeforeInsert == 2)

            // Each stored once, the duplicate with its flag, each with its creation event.
            let rows = try await client.query("SELECT id, flags::text AS flags FROM claims").rows
            let stored = try rows.map { try ($0.decode("id", as: UUID.self), $0.decode("flags", as: String.self)) }
            #expect(stored.count == 4 && Set(stored.map(\.0)) == [first.id, second.id, duplicate.id, third.id])
            #expect(stored.filter { $0.1 != "[]" }.map(\.0) == [duplicate.id])
            // The refused statement drew no sequence number: the feed's sequences have no gap.
            let sequences = try await client.query("SELECT sequence FROM outbox_events ORDER BY sequence").rows.map { try $0.decode("sequence", as: Int.self) }
            #expect(sequences == [1, 2, 3, 4])
        }
    }
}
