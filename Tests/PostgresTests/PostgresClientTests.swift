import Foundation
import Postgres
import Testing
import TestSupport

/// Against the real PostgreSQL scripts/test.sh started; each test has its own database.
@Suite struct PostgresClientTests {
    @Test func bindParametersRoundTripEveryTypeAndNull() async throws {
        try await ScratchDatabase.with { client, _ in
            let id = UUID()
            let hostile = "'; DROP TABLE claims; --"
            let none: Int? = nil
            let result = try await client.query(
                "SELECT \(42)::int AS i, \(Int64.max)::bigint AS big, \(hostile)::text AS t, \(true)::bool AS b, \(id)::uuid AS u, \(none)::int AS n, \(1.5)::float8 AS d")
            let row = try #require(result.rows.first)
            #expect(try row.decode("i", as: Int.self) == 42)
            #expect(try row.decode("big", as: Int64.self) == .max)
            #expect(try row.decode("t", as: String.self) == hostile)
            #expect(try row.decode("b", as: Bool.self))
            #expect(try row.decode("u", as: UUID.self) == id)
            #expect(try row.decodeIfPresent("n", as: Int.self) == nil)
            #expect(try row.decode("d", as: Double.self) == 1.5)
            #expect(result.columns == ["i", "big", "t", "b", "u", "n", "d"])
        }
    }

    @Test func arrayLiteralsRoundTripThroughUnnestWithQuotesBackslashesAndNull() async throws {
        try await ScratchDatabase.with { client, _ in
            let values: [String?] = ["plain", "with, comma", "{braces}", "quote \" inside", "back\\slash", "NULL", "", nil, " spaced ", "ünïcode"]
            let rows = try await client.query(
                "SELECT value, ordinality::int AS n FROM unnest(\(postgresArrayLiteral(values))::text[]) WITH ORDINALITY AS element(value, ordinality) ORDER BY ordinality"
            ).rows
            #expect(try rows.map { try $0.decodeIfPresent("value", as: String.self) } == values)
            let empty = try await client.query("SELECT cardinality(\(postgresArrayLiteral([]))::int[]) AS n").rows.first
            #expect(try empty?.decode("n", as: Int.self) == 0)
        }
    }

    @Test func sessionSettingsApplyToEveryPooledConnection() async throws {
        try await ScratchDatabase.with { _, database in
            let client = try PostgresClient(
                configuration: .init(conninfo: database.url, maxConnections: 3, sessionSettings: ["plan_cache_mode": "force_custom_plan", "application_name": "settings-test"]),
                logger: TestEnvironment.quietLogger)
            // Three connections at once, so each is a new session.
            let modes = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await client.withConnection { connection in
                            let row = try #require(try await connection.query("SELECT current_setting('plan_cache_mode') AS m, current_setting('application_name') AS a, pg_sleep(0.2)::text").rows.first)
                            return [try row.decode("m", as: String.self), try row.decode("a", as: String.self)]
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(modes == Array(repeating: ["force_custom_plan", "settings-test"], count: 3))
            #expect(await client.statistics().open == 3)
            await client.shutdown()

            let broken = try PostgresClient(
                configuration: .init(conninfo: database.url, maxConnections: 1, sessionSettings: ["plan_cache_mode": "sometimes"]), logger: TestEnvironment.quietLogger)
            await #expect(throws: PostgresError.self) { try await broken.query("SELECT 1") }
            await broken.shutdown()
        }
    }

    @Test func statementsArePreparedOncePerConnectionAndTheCacheIsBounded() async throws {
        try await ScratchDatabase.with { client, _ in
            try await client.withConnection { connection in
                for _ in 0..<3 { try await connection.query("SELECT \(1)::int + 0 AS same") }
                let once = try await connection.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = \("SELECT $1::int + 0 AS same")").rows.first
                #expect(try once?.decode("n", as: Int.self) == 1)

                for index in 0..<140 { try await connection.query("SELECT \(index)::int + \(unescaped: String(index)) AS distinct_\(unescaped: String(index))") }
                let kept = try await connection.query("SELECT count(*)::int AS n FROM pg_prepared_statements").rows.first
                #expect(try kept?.decode("n", as: Int.self) ?? 0 <= 128)
                // An evicted statement is prepared again and still answers.
                let again = try await connection.query("SELECT \(0)::int + 0 AS distinct_0").rows.first
                #expect(try again?.decode("distinct_0", as: Int.self) == 0)
            }
        }
    }

    @Test func decodingReportsMissingNullAndMistypedColumns() async throws {
        try await ScratchDatabase.with { client, _ in
            let row = try #require(try await client.query("SELECT 'x' AS word, NULL::int AS nothing").rows.first)
            #expect(throws: PostgresError.self) { try row.decode("absent", as: String.self) }
            #expect(throws: PostgresError.self) { try row.decode("nothing", as: Int.self) }
            #expect(throws: PostgresError.self) { try row.decode("word", as: Int.self) }
        }
    }

    @Test func serverErrorsCarrySQLStateAndMessage() async throws {
        try await ScratchDatabase.with { client, _ in
            try await client.query("CREATE TABLE t (id int PRIMARY KEY)")
            try await client.query("INSERT INTO t VALUES (\(1))")
            let duplicate = await #expect(throws: PostgresError.self) { try await client.query("INSERT INTO t VALUES (\(1))") }
            #expect(duplicate?.code == .server)
            #expect(duplicate?.sqlState == "23505")
            #expect(duplicate?.sqlStateClass == "23")
            #expect(duplicate?.message.contains("duplicate key") == true)

            let syntax = await #expect(throws: PostgresError.self) { try await client.query("SELEC 1") }
            #expect(syntax?.sqlState == "42601")
            // The connection that saw the errors is still usable.
            #expect(try await client.query("SELECT count(*)::int AS n FROM t").rows.first?.decode("n", as: Int.self) == 1)
        }
    }

    @Test func transactionsCommitOrRollBackAsAWhole() async throws {
        try await ScratchDatabase.with { client, _ in
            try await client.query("CREATE TABLE t (id int PRIMARY KEY)")
            try await client.withTransaction { connection in
                try await connection.query("INSERT INTO t VALUES (\(1))")
                try await connection.query("INSERT INTO t VALUES (\(2))")
            }
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await client.withTransaction { connection in
                    try await connection.query("INSERT INTO t VALUES (\(3))")
                    throw Abort()
                }
            }
            await #expect(throws: PostgresError.self) {
                try await client.withTransaction { connection in
                    try await connection.query("INSERT INTO t VALUES (\(4))")
                    try await connection.query("INSERT INTO t VALUES (\(1))")
                }
            }
            let ids = try await client.query("SELECT id FROM t ORDER BY id").rows.map { try $0.decode("id", as: Int.self) }
            #expect(ids == [1, 2])
        }
    }

    @Test func copyLoadsRowsExactlyIncludingSpecialCharacters() async throws {
        try await ScratchDatabase.with { client, _ in
            try await client.query("CREATE TABLE t (n int, note text, amount numeric(14,2))")
            let tricky: [[String?]] = [
                ["1", "tab\there", "1.10"],
                ["2", "new\nline \\ back", "0.00"],
                ["3", nil, "1300.00"],
                ["4", "ünïcødé, \"quoted\"", "-2.50"],
            ]
            let count = try await client.copyFrom("COPY t (n, note, amount) FROM STDIN", rows: tricky)
            #expect(count == 4)
            let rows = try await client.query("SELECT n, note, amount::text AS amount FROM t ORDER BY n").rows
            let read = try rows.map { [String(try $0.decode("n", as: Int.self)), try $0.decodeIfPresent("note", as: String.self), try $0.decode("amount", as: String.self)] }
            #expect(read == tricky)
        }
    }

    @Test func copyLoadsAHundredThousandRows() async throws {
        try await ScratchDatabase.with { client, _ in
            try await client.query("CREATE TABLE t (n int, label text)")
            let rows: [[String?]] = (0..<100_000).map { [String($0), "row \($0)"] }
            #expect(try await client.copyFrom("COPY t (n, label) FROM STDIN", rows: rows) == 100_000)
            let sum = try await client.query("SELECT count(*)::int AS c, sum(n)::bigint AS s FROM t").rows.first
            #expect(try sum?.decode("c", as: Int.self) == 100_000)
            #expect(try sum?.decode("s", as: Int64.self) == Int64(99_999 * 100_000 / 2))
        }
    }

    @Test func aFailedCopyReportsTheServerErrorAndKeepsNothing() async throws {
        try await ScratchDatabase.with { client, _ in
            try await client.query("CREATE TABLE t (n int NOT NULL)")
            let error = await #expect(throws: PostgresError.self) {
                try await client.copyFrom("COPY t (n) FROM STDIN", rows: [["1"], ["not a number"]])
            }
            #expect(error?.sqlState == "22P02")
            #expect(try await client.query("SELECT count(*)::int AS c FROM t").rows.first?.decode("c", as: Int.self) == 0)
        }
    }

    @Test func thePoolNeverOpensMoreConnectionsThanConfigured() async throws {
        try await ScratchDatabase.with(maxConnections: 3) { client, database in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 {
                    group.addTask { try await client.query("SELECT pg_sleep(0.05)") }
                }
                try await group.waitForAll()
            }
            let open = try await client.query("SELECT count(*)::int AS c FROM pg_stat_activity WHERE datname = \(database.name)").rows.first
            #expect(try open?.decode("c", as: Int.self) == 3)
            #expect(await client.statistics().open == 3)
        }
    }

    @Test func connectingToANonexistentServerFailsWithConnectionFailed() async throws {
        let client = try PostgresClient(configuration: .init(conninfo: "postgresql://claimsd@127.0.0.1:1/claimsd"), logger: TestEnvironment.quietLogger)
        let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
        #expect(error?.code == .connectionFailed)
        await client.shutdown()
    }
}
