@testable import App
@testable import ClaimStore
@testable import Claims
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Testing
import TestSupport
import Schema

/// Every list query the API can send is answered from an index, on a table big enough that the
/// planner would rather scan it than use a useless index.
@Suite struct ListQueryPlanTests {
    @Test func everyListQueryUsesAnIndex() async throws {
        try await ScratchDatabase.with { client, _ in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let (csv, _) = ImportTests.export(count: 20_000, rejectEvery: 1_000_000)
            let items = try ClaimDecoding.importItems(from: Array(csv.utf8), format: .csv)
            let repository = PostgresClaimRepository(client: client, cipher: TestEnvironment.cipher)
            let report = try await ClaimImporter(repository: repository, validator: ClaimValidator(), batchSize: 5_000)
                .run(items, importID: UUID(), today: CalendarDate(year: 2026, month: 1, day: 1)!)
            #expect(report.accepted.count == 20_000)
            // A tenth voided, so the status filter has something to select.
            try await client.query("UPDATE claims SET status = 'voided' WHERE external_claim_number LIKE '%7'")
            try await client.query("ANALYZE claims")
            try await client.query("ANALYZE claim_lines")

            let some = try #require(report.accepted.dropFirst(100).first?.id)
            let queries: [(String, ClaimListQuery)] = [
                ("newest first", ClaimListQuery(limit: 50)),
                ("by provider", ClaimListQuery(providerNPI: "1000000042", limit: 50)),
                ("by status", ClaimListQuery(status: .voided, limit: 50)),
                ("by service dates", ClaimListQuery(serviceDateFrom: CalendarDate(year: 2018, month: 3, day: 2), serviceDateTo: CalendarDate(year: 2018, month: 3, day: 2), limit: 50)),
                ("next page by provider", ClaimListQuery(providerNPI: "1000000042", after: some, limit: 50)),
                ("everything", ClaimListQuery(providerNPI: "1000000042", status: .submitted, serviceDateFrom: CalendarDate(year: 2018, month: 1, day: 1), after: some, limit: 50)),
                // A member's claims, found by the blind index of its subscriber id.
                ("a member's claims", { var query = ClaimListQuery(limit: 50); query.onlySubscriber = "SUB-0042"; return query }()),
            ]
            for (name, query) in queries {
                let statement = PostgresClaimRepository.listStatement(query, cipher: TestEnvironment.cipher)
                let plan = try await client.query(PostgresQuery(sql: "EXPLAIN " + statement.sql, binds: statement.binds)).rows
                    .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
                #expect(!plan.contains("Seq Scan"), "\(name):\n\(plan)")
                #expect(plan.contains("Index"), "\(name):\n\(plan)")
            }
        }
    }
}
