@testable import App
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Redis
import Testing
import TestSupport
import Schema

/// The claims API over HTTP against a migrated scratch database.
@Suite struct ClaimsAPITests {
    static let sampleCSV = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/data/claim_1234.csv").standardized

    /// Runs `body` with a test client for an app on a fresh, migrated database, whose pool has
    /// `maxConnections`.
    func withApp(maxConnections: Int = 2, _ body: @escaping @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void) async throws {
        try await ScratchDatabase.with { client, database in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL, maxConnections: maxConnections)
            let app = Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings(), limits: IntakeLimits(maxClaimBytes: 64 * 1024)))
            do {
                let key = try await TestAccess.apiKey(client)
                try await app.test(.router) { try await body(AuthorizedClient($0, key: key), client) }
            } catch {
                await dependencies.postgres.shutdown()
                throw error
            }
            await dependencies.postgres.shutdown()
            await dependencies.redis.shutdown()
        }
    }

    func post(_ client: any TestClientProtocol, _ body: String, type: String = "application/json", key: String? = nil) async throws -> (TestResponse, [String: Any]) {
        var headers: HTTPFields = [.contentType: type]
        if let key { headers[.idempotencyKey] = key }
        let response = try await client.execute(uri: "/api/v1/claims", method: .post, headers: headers, body: ByteBuffer(string: body))
        return (response, (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:])
    }

    @Test func theSharedCSVIsStoredWithExactFigures() async throws {
        let csv = try String(contentsOf: Self.sampleCSV, encoding: .utf8)
        try await withApp { client, database in
            let (response, claim) = try await post(client, csv, type: "text/csv")
            #expect(response.status == .created)
            let id = try #require(claim["id"] as? String)
            #expect(response.headers[.location] == "/api/v1/claims/\(id)")
            #expect(claim["net_fee"] as? String == "116.85")
            #expect(claim["status"] as? String == "submitted")
            let lines = try #require(claim["lines"] as? [[String: Any]])
            #expect(lines.map { $0["net_fee"] as? String } == ["0.00", "0.00", "81.25", "35.60"])

            // Exact in PostgreSQL too, and the outbox has the creation event.
            let stored = try await database.query("SELECT net_fee::text AS n, (SELECT sum(net_fee)::text FROM claim_lines WHERE claim_id = \(id)::uuid) AS s FROM claims WHERE id = \(id)::uuid").rows.first
            #expect(try stored?.decode("n", as: String.self) == "116.85")
            #expect(try stored?.decode("s", as: String.self) == "116.85")
            let event = try await database.query("SELECT event_type, net_fee_delta::text AS d, provider_npi FROM outbox_events WHERE claim_id = \(id)::uuid").rows
            #expect(event.count == 1)
            #expect(try event.first?.decode("event_type", as: String.self) == "claim.created")
            #expect(try event.first?.decode("d", as: String.self) == "116.85")

            try await client.execute(uri: "/api/v1/claims/\(id)", method: .get) { response in
                #expect(response.status == .ok)
                let body = try json(response.body)
                #expect(body["net_fee"] as? String == "116.85")
                #expect((body["lines"] as? [[String: Any]])?.count == 4)
            }
            try await client.execute(uri: "/api/v1/claims/\(id)/status", method: .get) { response in
                let body = try json(response.body)
                #expect(body["status"] as? String == "submitted")
            }
        }
    }

    @Test func aSeedStyleJSONArrayIsAccepted() async throws {
        let body = """
            [{"service_dttm":"2018-03-28 00:00:00","submitted_proc":"D4346","quadrant":null,"group_id":"GRP-1000","subscriber_id":"3730189502",
              "provider_npi":"1497775530","provider_fees":130.00,"allowed_fees":65.00,"member_co_ins":16.25,"member_co_pay":0,"notes":"x"}]
            """
        try await withApp { client, _ in
            let (response, claim) = try await post(client, body)
            #expect(response.status == .created)
            #expect(claim["net_fee"] as? String == "81.25")
            #expect(claim["ignored_fields"] as? [String] == ["notes"])
        }
    }

    @Test func aClaimWithSeveralViolationsGetsEveryOneAndNothingIsStored() async throws {
        let body = """
            {"lines": [
              {"service date":"3/28/18","submitted procedure":"X1","Plan/Group #":"G","Subscriber#":"1","Provider NPI":"123",
               "provider fees":"$1,3.00","Allowed fees":"1","member coinsurance":"-2","member copay":"0","quadrant":"NW"},
              {"service date":"2/30/18"}
            ]}
            """
        try await withApp { client, database in
            let (response, problem) = try await post(client, body)
            #expect(response.status == .unprocessableContent)
            #expect(response.headers[.contentType] == "application/problem+json")
            let errors = try #require(problem["errors"] as? [[String: Any]])
            let found = Set(errors.map { "\($0["line"] as? Int ?? 0):\($0["field"] as? String ?? ""):\($0["rule"] as? String ?? "")" })
            #expect(found.isSuperset(of: [
                "1:submitted_procedure:cdt_code", "1:provider_npi:npi_format", "1:provider_fees:money_format",
                "1:member_coinsurance:member_coinsurance_non_negative", "1:quadrant:quadrant_code", "2:service_date:date_format",
                "2:provider_npi:provider_npi_required",
            ]))
            let count = try await database.query("SELECT count(*)::int AS n FROM claims").rows.first
            #expect(try count?.decode("n", as: Int.self) == 0)
        }
    }

    @Test func badBodiesGetClearClientErrors() async throws {
        try await withApp { client, _ in
            #expect(try await post(client, "{not json").0.status == .badRequest)
            #expect(try await post(client, "<claim/>", type: "application/xml").0.status == .unsupportedMediaType)
            let (tooLarge, problem) = try await post(client, "[" + String(repeating: " ", count: 70 * 1024) + "]")
            #expect(tooLarge.status == .contentTooLarge)
            #expect((problem["detail"] as? String)?.contains("65536 bytes") == true)
            try await client.execute(uri: "/api/v1/claims/not-a-uuid", method: .get) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/api/v1/claims/\(UUID())", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/v1/claims?limit=0&status=lost&cursor=zz", method: .get) { response in
                #expect(response.status == .badRequest)
                let detail = try json(response.body)["detail"] as? String ?? ""
                #expect(detail.contains("limit") && detail.contains("status") && detail.contains("cursor"))
            }
        }
    }

    @Test func anIdempotentRetryReturnsTheOriginalAndADifferentBodyConflicts() async throws {
        let csv = try String(contentsOf: Self.sampleCSV, encoding: .utf8)
        try await withApp { client, database in
            let (first, original) = try await post(client, csv, type: "text/csv", key: "retry-1")
            let (second, replayed) = try await post(client, csv, type: "text/csv", key: "retry-1")
            #expect(first.status == .created)
            #expect(second.status == .created)
            #expect(second.headers[.idempotentReplayed] == "true")
            #expect(replayed["id"] as? String == original["id"] as? String)
            let (conflict, problem) = try await post(client, csv.replacingOccurrences(of: "$178.00", with: "$179.00"), type: "text/csv", key: "retry-1")
            #expect(conflict.status == .conflict)
            #expect(problem["type"] as? String == "https://claimsd.dev/problems/idempotency-key-reused")
            let count = try await database.query("SELECT count(*)::int AS n FROM claims").rows.first
            #expect(try count?.decode("n", as: Int.self) == 1)
        }
    }

    @Test func concurrentRetriesWithOneKeyStoreOneClaim() async throws {
        let csv = try String(contentsOf: Self.sampleCSV, encoding: .utf8)
        // A connection for each request: they wait for each other's key, never for the pool
        // (a loaded machine once kept one past the pool's 5 s and it got a 503).
        try await withApp(maxConnections: 9) { client, database in
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let (response, body) = try await post(client, csv, type: "text/csv", key: "race")
                        return "\(response.status.code) \(body["id"] as? String ?? "no id")"
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(answers.count == 1 && answers.first?.hasPrefix("201 ") == true, "\(answers)")
            let count = try await database.query("SELECT count(*)::int AS n FROM outbox_events").rows.first
            #expect(try count?.decode("n", as: Int.self) == 1)
        }
    }

    @Test func updateAndVoidWriteOutboxDeltas() async throws {
        let csv = try String(contentsOf: Self.sampleCSV, encoding: .utf8)
        try await withApp { client, database in
            let id = try #require(try await post(client, csv, type: "text/csv").1["id"] as? String)
            // Re-price: drop the last line (35.60), so the claim goes from 116.85 to 81.25.
            let fewer = csv.split(whereSeparator: \.isNewline).dropLast().joined(separator: "\r\n") + "\r\n"
            try await client.execute(uri: "/api/v1/claims/\(id)", method: .put, headers: [.contentType: "text/csv"], body: ByteBuffer(string: fewer)) { response in
                #expect(response.status == .ok)
                let body = try json(response.body)
                #expect(body["net_fee"] as? String == "81.25")
                #expect(body["line_count"] as? Int == 3)
            }
            try await client.execute(uri: "/api/v1/claims/\(id)", method: .delete) { response in
                #expect(response.status == .ok)
                let body = try json(response.body)
                #expect(body["status"] as? String == "voided")
            }
            // Voided claims are kept, cannot be re-priced, and a second DELETE changes nothing.
            try await client.execute(uri: "/api/v1/claims/\(id)", method: .put, headers: [.contentType: "text/csv"], body: ByteBuffer(string: csv)) { response in
                #expect(response.status == .conflict)
            }
            try await client.execute(uri: "/api/v1/claims/\(id)", method: .delete) { #expect($0.status == .ok) }
            let events = try await database.query("SELECT event_type, net_fee_delta::text AS d FROM outbox_events ORDER BY sequence").rows
            #expect(try events.map { try $0.decode("event_type", as: String.self) } == ["claim.created", "claim.updated", "claim.voided"])
            #expect(try events.map { try $0.decode("d", as: String.self) } == ["116.85", "-35.60", "-81.25"])
            let sum = try await database.query("SELECT sum(net_fee_delta)::text AS s FROM outbox_events").rows.first
            #expect(try sum?.decode("s", as: String.self) == "0.00")
        }
    }

    @Test func listingFiltersAndPagesNewestFirst() async throws {
        let csv = try String(contentsOf: Self.sampleCSV, encoding: .utf8)
        try await withApp { client, _ in
            var created: [String] = []
            for index in 0..<5 {
                let body = index % 2 == 0 ? csv : csv.replacingOccurrences(of: "1497775530", with: "1234567893")
                created.append(try #require(try await post(client, body, type: "text/csv").1["id"] as? String))
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let uri = "/api/v1/claims?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.execute(uri: uri, method: .get) { try json($0.body) }
                seen += (page["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                cursor = page["next_cursor"] as? String
                // Absent values are null, never left out: the last page's cursor, claim numbers.
                #expect(page.keys.contains("next_cursor"))
                #expect((page["items"] as? [[String: Any]] ?? []).allSatisfy { $0["claim_number"] is NSNull })
            } while cursor != nil
            #expect(seen == created.reversed())

            let filtered = try await client.execute(uri: "/api/v1/claims?provider_npi=1234567893&service_date_from=2018-03-01&service_date_to=2018-03-31", method: .get) {
                try json($0.body)
            }
            #expect((filtered["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [created[3], created[1]])
            let none = try await client.execute(uri: "/api/v1/claims?service_date_from=2019-01-01", method: .get) { try json($0.body) }
            #expect((none["items"] as? [Any])?.isEmpty == true)
        }
    }
}
