import Postgres
import Testing
import TestSupport

/// Stops and restarts the chaos PostgreSQL; serialized so no other test sees it down.
@Suite(.serialized) struct PostgresRecoveryTests {
    @Test func aQueryAfterPostgresRestartsSucceedsOnTheSameClient() async throws {
        let client = try PostgresClient(configuration: .init(conninfo: TestEnvironment.chaosDatabaseURL, maxConnections: 2), logger: TestEnvironment.quietLogger)
        // Fill the pool with connections that the restart will break.
        async let first: PostgresResult = client.query("SELECT pg_sleep(0.05)")
        async let second: PostgresResult = client.query("SELECT pg_sleep(0.05)")
        _ = try await (first, second)
        #expect(await client.statistics().idle == 2)

        try await TestEnvironment.services("stop", "postgres", "chaos")
        let whileDown = await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
        #expect(whileDown?.code == .connectionFailed)

        try await TestEnvironment.services("start", "postgres", "chaos")
        let row = try await client.query("SELECT 7 AS seven").rows.first
        #expect(try row?.decode("seven", as: Int.self) == 7)
        await client.shutdown()
    }
}
