import Access
@testable import App
import AuditTrail
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Postgres
import Schema
import TestSupport
import Testing

/// What the audit trail records for requests: changes in their own transaction, reads,
/// refusals and logins through the queue, each with who, from where, and the outcome.
@Suite struct AuditTests {
    static let npiA = "1497775530"
    static let npiB = "1234567893"

    struct Row: Equatable, CustomStringConvertible {
        var principal: String
        var action: String
        var resource: String
        var outcome: String
        var detail: String
        var description: String { "\(principal) \(action) \(resource) \(outcome) \(detail)" }
    }

    static func rows(_ postgres: PostgresClient) async throws -> [Row] {
        try await postgres.query(
            "SELECT principal, action, coalesce(resource_id, '-') AS resource, outcome, coalesce(detail::text, '-') AS detail FROM audit_events ORDER BY id"
        ).rows.map {
            Row(
                principal: try $0.decode("principal"), action: try $0.decode("action"), resource: try $0.decode("resource"), outcome: try $0.decode("outcome"),
                detail: try $0.decode("detail"))
        }
    }

    /// A migrated scratch database, dependencies, the router, and the service that writes the
    /// audit queue (run by hand: `flush()`, `seal()`).
    static func withAuditedRouter(
        auditEnabled: Bool = true,
        _ body: (PostgresClient, AppDependencies, Router<ClaimsRequestContext>, AuditService) async throws -> Void
    ) async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL, auditEnabled: auditEnabled)
            let router = buildRouter(dependencies: dependencies, access: try await TestAccess.settings(), traffic: TrafficSettings(rateLimits: []))
            let service = AuditService(
                recorder: dependencies.audit, store: PostgresAuditStore(client: postgres), retentionSeconds: 0, logger: TestEnvironment.quietLogger,
                metrics: dependencies.telemetry.factory)
            try await body(postgres, dependencies, router, service)
        }
    }

    @Test func everyClaimAccessIsAuditedWithItsOutcome() async throws {
        try await Self.withAuditedRouter { postgres, dependencies, router, service in
            let admin = try await TestAccess.apiKey(postgres, role: .admin)
            let providerB = try await TestAccess.apiKey(postgres, role: .provider, scope: Scope(npis: [Self.npiB]))
            let metrics = try await TestAccess.apiKey(postgres, role: .metrics)
            @Sendable func principal(_ key: String) -> String { "api_key:" + (APIKey.parse(key)?.id ?? "?") }

            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
                func send(_ method: HTTPRequest.Method, _ uri: String, key: String?, body: String? = nil) async throws -> TestResponse {
                    var headers: HTTPFields = [.userAgent: "audit-tests/1", .contentType: "application/json"]
                    if let key { headers[.authorization] = "Bearer " + key }
                    return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                }
                let created = try await send(.post, "/api/v1/claims", key: admin, body: AccessMatrixTests.claimJSON(npi: Self.npiA, subscriber: "S-A"))
                #expect(created.status == .created)
                let id = try #require((try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: Any])?["id"] as? String)
                // The creation is in the trail as soon as the answer is: same transaction.
                let afterCreate = try await Self.rows(postgres)
                #expect(afterCreate == [Row(principal: principal(admin), action: "claim.create", resource: id, outcome: "allowed", detail: "-")], "\(afterCreate)")
                let detailRow = try #require(try await postgres.query("SELECT role, request_id, user_agent FROM audit_events").rows.first)
                #expect(try detailRow.decode("role", as: String.self) == "admin" && detailRow.decode("user_agent", as: String.self) == "audit-tests/1")
                #expect(try detailRow.decode("request_id", as: String.self) == created.headers[.requestID])

                #expect(try await send(.get, "/api/v1/claims/\(id)", key: admin).status == .ok)
                #expect(try await send(.get, "/api/v1/claims/\(id)", key: providerB).status == .notFound)
                let missing = UUID().uuidString.lowercased()
                #expect(try await send(.get, "/api/v1/claims/\(missing)", key: admin).status == .notFound)
                #expect(try await send(.get, "/api/v1/claims?limit=5", key: admin).status == .ok)
                #expect(try await send(.post, "/api/v1/claims", key: providerB, body: AccessMatrixTests.claimJSON(npi: Self.npiA, subscriber: "S-A")).status == .forbidden)
                #expect(try await send(.get, "/api/v1/claims", key: metrics).status == .forbidden)
                #expect(try await send(.get, "/api/v1/claims", key: nil).status == .unauthorized)
                #expect(try await send(.get, "/api/v1/claims", key: "ck_abcdefghijkl_" + String(repeating: "x", count: 43)).status == .unauthorized)
                #expect(try await send(.delete, "/api/v1/claims/\(id)", key: admin).status == .ok)

                #expect(await service.flush() == 8)
                await service.seal()
                let rows = try await Self.rows(postgres)
                let expected = [
                    Row(principal: principal(admin), action: "claim.create", resource: id, outcome: "allowed", detail: "-"),
                    // Written in its transaction, so before the queued reads that came earlier.
                    Row(principal: principal(admin), action: "claim.void", resource: id, outcome: "allowed", detail: "-"),
                    Row(principal: principal(admin), action: "claim.read", resource: id, outcome: "allowed", detail: "-"),
                    Row(principal: principal(providerB), action: "claim.read", resource: id, outcome: "denied", detail: #"{"reason": "out_of_scope"}"#),
                    Row(principal: principal(admin), action: "claim.read", resource: missing, outcome: "error", detail: #"{"reason": "not_found"}"#),
                    Row(
                        principal: principal(admin), action: "claim.list", resource: "-", outcome: "allowed",
                        detail: #"{"ids": ["\#(id)"], "count": 1, "query": "limit=5"}"#),
                    Row(principal: principal(providerB), action: "claim.create", resource: "-", outcome: "denied", detail: #"{"reason": "provider_scope"}"#),
                    Row(
                        principal: principal(metrics), action: "access.denied", resource: "-", outcome: "denied",
                        detail: #"{"route": "/api/v1/claims", "method": "GET", "status": 403}"#),
                    Row(principal: "anonymous", action: "access.denied", resource: "-", outcome: "denied", detail: #"{"route": "/api/v1/claims", "method": "GET", "status": 401}"#),
                    Row(
                        principal: "anonymous", action: "access.denied", resource: "-", outcome: "denied",
                        detail: #"{"route": "/api/v1/claims", "method": "GET", "reason": "unknown_api_key", "status": 401}"#),
                ]
                #expect(rows == expected, "\(rows.map(\.description).joined(separator: "\n"))")
                // The service seals up to the newest usable mark: a transaction still open elsewhere on
                // the test server may hold a round back, so it is given a few.
                var report = try await PostgresAuditStore(client: postgres).verify()
                for _ in 0..<100 where report.unsealedRows > 0 {
                    try await Task.sleep(for: .milliseconds(50))
                    await service.seal()
                    report = try await PostgresAuditStore(client: postgres).verify()
                }
                #expect(report.isIntact && report.sealedRows == Int64(expected.count) && report.unsealedRows == 0, "\(report)")
            }
        }
    }

    @Test func loginsAndAccountChangesAreAudited() async throws {
        try await Self.withAuditedRouter { postgres, dependencies, router, service in
            let admin = try await TestAccess.apiKey(postgres, role: .admin)
            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
                let json: HTTPFields = [.contentType: "application/json"]
                var asAdmin = json
                asAdmin[.authorization] = "Bearer " + admin
                let user = try await client.execute(
                    uri: "/api/v1/users", method: .post, headers: asAdmin,
                    body: ByteBuffer(string: #"{"email":"kim@example.org","password":"correct horse battery","role":"auditor"}"#))
                #expect(user.status == .created)
                let userID = try #require((try JSONSerialization.jsonObject(with: Data(buffer: user.body)) as? [String: Any])?["id"] as? String)
                let wrong = try await client.execute(
                    uri: "/api/v1/login", method: .post, headers: json, body: ByteBuffer(string: #"{"username":"kim@example.org","password":"not the password"}"#))
                #expect(wrong.status == .unauthorized)
                let login = try await client.execute(
                    uri: "/api/v1/login", method: .post, headers: json, body: ByteBuffer(string: #"{"username":"kim@example.org","password":"correct horse battery"}"#))
                #expect(login.status == .ok)
                let key = try await client.execute(uri: "/api/v1/api-keys", method: .post, headers: asAdmin, body: ByteBuffer(string: #"{"role":"metrics","name":"prom"}"#))
                #expect(key.status == .created)
                let keyID = try #require((try JSONSerialization.jsonObject(with: Data(buffer: key.body)) as? [String: Any])?["id"] as? String)
                #expect(try await client.execute(uri: "/api/v1/api-keys/\(keyID)", method: .delete, headers: asAdmin).status == .noContent)
                await service.flush()
                let adminPrincipal = "api_key:" + (APIKey.parse(admin)?.id ?? "?")
                let rows = try await Self.rows(postgres)
                // Account changes commit with their audit rows; logins go through the queue.
                #expect(rows == [
                    Row(principal: adminPrincipal, action: "user.create", resource: userID, outcome: "allowed", detail: #"{"role": "auditor"}"#),
                    Row(principal: adminPrincipal, action: "api_key.create", resource: keyID, outcome: "allowed", detail: #"{"role": "metrics"}"#),
                    Row(principal: adminPrincipal, action: "api_key.revoke", resource: keyID, outcome: "allowed", detail: "-"),
                    Row(principal: "anonymous", action: "auth.login_failed", resource: userID, outcome: "denied", detail: #"{"reason": "wrong_password"}"#),
                    Row(principal: "user:" + userID, action: "auth.login", resource: userID, outcome: "allowed", detail: "-"),
                ], "\(rows.map(\.description).joined(separator: "\n"))")
                // Nothing secret is in the trail.
                let dump = try await postgres.query("SELECT string_agg(audit_events::text, ' ') AS all_rows FROM audit_events").rows.first?.decode("all_rows", as: String.self) ?? ""
                #expect(!dump.contains("correct horse") && !dump.contains("not the password") && !dump.contains(String(admin.suffix(43))))
            }
        }
    }

    @Test func auditorsPageThroughTheTrailWithFilters() async throws {
        try await Self.withAuditedRouter { postgres, _, router, service in
            let store = PostgresAuditStore(client: postgres)
            let auditor = try await TestAccess.apiKey(postgres, role: .auditor)
            // Seven events: two principals, three actions, over three days.
            let events: [AuditEvent] = (1...7).map { number in
                AuditEvent(
                    at: "2026-11-2\(number % 3 + 1)T10:00:0\(number)Z", actor: AuditActor(principal: number % 2 == 0 ? "user:even" : "api_key:odd", role: "admin"),
                    action: number <= 3 ? .claimRead : number <= 5 ? .claimVoid : .login, resourceType: "claim", resourceID: "c\(number)",
                    outcome: number == 4 ? .denied : .allowed, detail: #"{"n":\#(number)}"#)
            }
            try await store.append(events)
            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
                func get(_ query: String) async throws -> (HTTPResponse.Status, [String: Any], String) {
                    let response = try await client.execute(uri: "/api/v1/audit" + query, method: .get, headers: [.authorization: "Bearer " + auditor])
                    let text = String(buffer: response.body)
                    return (response.status, (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:], text)
                }
                func resources(_ body: [String: Any]) -> [String] { (body["items"] as? [[String: Any]] ?? []).compactMap { $0["resource_id"] as? String } }

                // Pages of two, newest first, until no cursor.
                var seen: [String] = []
                var cursor: String? = nil
                repeat {
                    let (status, body, text) = try await get("?limit=2" + (cursor.map { "&cursor=" + $0 } ?? ""))
                    #expect(status == .ok, "\(text)")
                    seen += resources(body)
                    cursor = body["next_cursor"] as? String
                } while cursor != nil && seen.count < 20
                #expect(seen == ["c7", "c6", "c5", "c4", "c3", "c2", "c1"])

                #expect(resources(try await get("?principal=user:even").1) == ["c6", "c4", "c2"])
                #expect(resources(try await get("?action=claim.void").1) == ["c5", "c4"])
                #expect(resources(try await get("?outcome=denied").1) == ["c4"])
                #expect(resources(try await get("?resource_id=c3").1) == ["c3"])
                // Days 21, 22 and 23 hold numbers 3 and 6; 1, 4 and 7; 2 and 5.
                #expect(resources(try await get("?since=2026-11-22T00:00:00Z&until=2026-11-23T00:00:00Z").1) == ["c7", "c4", "c1"])
                // The same day written with offsets PostgreSQL's own time input refuses (beyond ±15:59),
                // and a bound in year 1: any RFC 3339 time is a bound, never a 500.
                #expect(resources(try await get("?since=2026-11-21T01:50:00-22:10&until=2026-11-23T23:59:00.000%2B23:59").1) == ["c7", "c4", "c1"])
                #expect(resources(try await get("?since=0001-01-01T00:00:00Z&principal=user:even").1) == ["c6", "c4", "c2"])
                let (_, first, _) = try await get("?resource_id=c2")
                let item = try #require((first["items"] as? [[String: Any]])?.first)
                #expect(item["principal"] as? String == "user:even" && item["action"] as? String == "claim.read" && (item["detail"] as? [String: Any])?["n"] as? Int == 2)
                #expect(item["at"] as? String == "2026-11-23T10:00:02.000000Z")

                let (bad, _, badText) = try await get("?outcome=maybe&since=yesterday&limit=0&cursor=zz")
                #expect(bad == .badRequest)
                for word in ["outcome", "since", "limit", "cursor"] { #expect(badText.contains(word), "\(word): \(badText)") }
            }
            // Each read of the trail is itself audited.
            #expect(await service.flush() >= 8)
            let reads = try await postgres.query("SELECT count(*) AS n FROM audit_events WHERE action = 'audit.read' AND principal LIKE 'api_key:%'").rows.first?.decode("n", as: Int.self)
            #expect(reads ?? 0 >= 8)
        }
    }

    @Test func importsAndPaymentResultsCommitWithTheirAuditRows() async throws {
        try await Self.withAuditedRouter { postgres, _, router, service in
            let admin = try await TestAccess.apiKey(postgres, role: .admin)
            let payer = try await TestAccess.apiKey(postgres, role: .payer)
            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
                let imported = try await client.execute(
                    uri: "/api/v1/claims/import", method: .post, headers: [.contentType: "text/csv", .authorization: "Bearer " + admin],
                    body: ByteBuffer(string: ImportTests.export(count: 4, rejectEvery: 4).csv))
                #expect(imported.status == .ok, "\(String(buffer: imported.body))")
                let report = try #require(try JSONSerialization.jsonObject(with: Data(buffer: imported.body)) as? [String: Any])
                let ids = Set((report["accepted_claims"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
                #expect(ids.count == 3)
                let importRow = try #require(try await postgres.query("SELECT resource_id, detail FROM audit_events WHERE action = 'claim.import'").rows.first)
                let detail = try #require(try JSONSerialization.jsonObject(with: Data(try importRow.decode("detail", as: String.self).utf8)) as? [String: Any])
                #expect(Set(detail["claim_ids"] as? [String] ?? []) == ids && detail["rejected"] as? Int == 1)
                #expect(try importRow.decode("resource_id", as: String.self) == report["import_id"] as? String)

                let claimID = try #require(ids.sorted().first)
                let paid = try await client.execute(
                    uri: "/api/v1/claims/\(claimID)/payment", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer " + payer],
                    body: ByteBuffer(string: #"{"outcome":"paid","payment_id":"pay-1"}"#))
                #expect(paid.status == .ok, "\(String(buffer: paid.body))")
                let payment = try await postgres.query(
                    "SELECT principal, resource_id FROM audit_events WHERE action = 'payment.report'").rows.map { try $0.decode("resource_id", as: String.self) }
                #expect(payment == [claimID])
                let feed = try await client.execute(uri: "/api/v1/payments/events?after=0", method: .get, headers: [.authorization: "Bearer " + payer])
                #expect(feed.status == .ok)
                let empty = try await client.execute(uri: "/api/v1/payments/events?after=1000", method: .get, headers: [.authorization: "Bearer " + payer])
                #expect(empty.status == .ok)
            }
            // The feed read that returned events is audited; the empty poll is not.
            #expect(await service.flush() == 1)
            let feedRead = try await postgres.query("SELECT detail->>'count' AS n FROM audit_events WHERE action = 'payments.read'").rows.map { try $0.decode("n", as: String.self) }
            #expect(feedRead == ["4"])
        }
    }

    @Test func withAuditingOffNothingIsRecorded() async throws {
        try await Self.withAuditedRouter(auditEnabled: false) { postgres, dependencies, router, _ in
            let admin = try await TestAccess.apiKey(postgres, role: .admin)
            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
                let created = try await client.execute(
                    uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer " + admin],
                    body: ByteBuffer(string: AccessMatrixTests.claimJSON(npi: Self.npiA, subscriber: "S-A")))
                #expect(created.status == .created)
                #expect(try await client.execute(uri: "/api/v1/claims", method: .get, headers: [.authorization: "Bearer " + admin]).status == .ok)
                #expect(try await client.execute(uri: "/api/v1/claims", method: .get).status == .unauthorized)
            }
            #expect(dependencies.audit.queued == 0)
            #expect(try await postgres.query("SELECT count(*) AS n FROM audit_events").rows.first?.decode("n", as: Int.self) == 0)
        }
    }
}
