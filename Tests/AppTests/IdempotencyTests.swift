@testable import App
import ClaimStore
import DataProtection
import Digests
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Postgres
import Schema
import Testing
import TestSupport

/// Idempotency keys: each caller's own, remembered for the retention and then purged, told apart
/// by a SHA-256 fingerprint of the body, and accepted on imports too.
@Suite struct IdempotencyTests {
    /// Runs `body` against a live server (so peers and `X-Forwarded-For` are real) that trusts
    /// 127.0.0.1 as a proxy, on a fresh, migrated database.
    func withApp(authenticated: Bool = true, _ body: @escaping @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void) async throws {
        try await ScratchDatabase.with { client, database in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            var access = try await TestAccess.settings()
            if !authenticated { access.mode = .off }
            let router = buildRouter(dependencies: dependencies, access: access, limits: IntakeLimits(maxImportBytes: 8 << 20), traffic: TrafficSettings(trustedProxies: ["127.0.0.1"]))
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            do {
                var keys: [String: String] = [:]
                for address in Self.callers { keys[address] = try await TestAccess.apiKey(client, name: address) }
                try await app.test(.live) { [keys] in try await body(CallerKeyedClient(client: $0, keys: keys), client) }
            } catch {
                await dependencies.postgres.shutdown()
                await dependencies.redis.shutdown()
                throw error
            }
            await dependencies.postgres.shutdown()
            await dependencies.redis.shutdown()
        }
    }

    func post(
        _ client: any TestClientProtocol, to uri: String = "/api/v1/claims", _ body: String, type: String = "text/csv", key: String, from caller: String
    ) async throws -> (TestResponse, [String: Any]) {
        let headers: HTTPFields = [.contentType: type, .idempotencyKey: key, .init("X-Forwarded-For")!: caller]
        let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
        return (response, (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:])
    }

    static func count(_ table: String, _ database: PostgresClient) async throws -> Int {
        try await database.query("SELECT count(*)::int AS n FROM \(identifier: table)").rows.first?.decode("n") ?? -1
    }

    /// The callers the tests play, each with its own API key (sent by ``CallerKeyedClient``).
    static let callers = ["10.0.0.1", "10.0.0.2"]

    /// The idempotency scope of the caller at `address`: its API key's principal.
    static func scope(of address: String, _ database: PostgresClient) async throws -> String {
        let id = try await database.query("SELECT id FROM api_keys WHERE name = \(address)").rows.first?.decode("id", as: String.self) ?? ""
        return "principal:api_key:" + id
    }

    static let csv = ImportTests.export(count: 1, rejectEvery: 1_000).csv
    static let otherCSV = csv.replacingOccurrences(of: "SUB-1,", with: "SUB-2,")

    /// With authentication off every request is the same stand-in principal, so callers are
    /// told apart by address again.
    @Test func withAuthenticationOffAKeyBelongsToItsAddress() async throws {
        try await withApp(authenticated: false) { client, database in
            let (first, _) = try await post(client, Self.csv, key: "order-8", from: "10.0.0.1")
            let (second, _) = try await post(client, Self.otherCSV, key: "order-8", from: "10.0.0.2")
            #expect(first.status == .created && second.status == .created)
            let scopes = try await database.query("SELECT scope FROM idempotency_keys ORDER BY scope").rows.map { try $0.decode("scope", as: String.self) }
            #expect(scopes == ["10.0.0.1", "10.0.0.2"])
        }
    }

    @Test func aKeyBelongsToItsCaller() async throws {
        try await withApp { client, database in
            let (first, a) = try await post(client, Self.csv, key: "order-7", from: "10.0.0.1")
            // Another caller may use the same key for a different claim.
            let (second, b) = try await post(client, Self.otherCSV, key: "order-7", from: "10.0.0.2")
            #expect(first.status == .created && second.status == .created)
            #expect(second.headers[.idempotentReplayed] == nil)
            #expect(a["id"] as? String != b["id"] as? String)
            // Each caller's retry replays its own response.
            let (retry, replayed) = try await post(client, Self.otherCSV, key: "order-7", from: "10.0.0.2")
            #expect(retry.headers[.idempotentReplayed] == "true" && replayed["id"] as? String == b["id"] as? String)
            let (conflict, _) = try await post(client, Self.otherCSV, key: "order-7", from: "10.0.0.1")
            #expect(conflict.status == .conflict)
            #expect(try await Self.count("claims", database) == 2)
            let scopes = try await database.query("SELECT scope FROM idempotency_keys ORDER BY scope").rows.map { try $0.decode("scope", as: String.self) }
            #expect(scopes == [try await Self.scope(of: "10.0.0.1", database), try await Self.scope(of: "10.0.0.2", database)].sorted())
        }
    }

    @Test func theFingerprintIsSHA256OfTheKindAndBodyAndOlderFingerprintsStillMatch() async throws {
        try await withApp { client, database in
            _ = try await post(client, Self.csv, key: "sha", from: "10.0.0.1")
            let stored = try await database.query("SELECT request_hash FROM idempotency_keys WHERE key = 'sha'").rows.first?.decode("request_hash", as: String.self)
            #expect(stored == "sha256:" + SHA256.hex(Array("csv".utf8) + [0] + Array(Self.csv.utf8)))

            // A key stored before the change (length and FNV-1a) still recognises its retry.
            let (original, claim) = try await post(client, Self.otherCSV, key: "legacy", from: "10.0.0.1")
            #expect(original.status == .created)
            let legacy = "\(Self.otherCSV.utf8.count):" + fnv1a64Hex(Array("csv".utf8) + [0] + Array(Self.otherCSV.utf8))
            try await database.query("UPDATE idempotency_keys SET request_hash = \(legacy) WHERE key = 'legacy'")
            let (retry, replayed) = try await post(client, Self.otherCSV, key: "legacy", from: "10.0.0.1")
            #expect(retry.status == .created && retry.headers[.idempotentReplayed] == "true" && replayed["id"] as? String == claim["id"] as? String)
            let (conflict, _) = try await post(client, Self.csv, key: "legacy", from: "10.0.0.1")
            #expect(conflict.status == .conflict)
        }
    }

    @Test func anExpiredKeyIsForgottenAndPurged() async throws {
        try await withApp { client, database in
            _ = try await post(client, Self.csv, key: "old", from: "10.0.0.1")
            _ = try await post(client, Self.csv, key: "fresh", from: "10.0.0.1")
            try await database.query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'")
            // Past the 24 h retention the key is unused: a different body is a new claim, not a 409.
            let (reused, _) = try await post(client, Self.otherCSV, key: "old", from: "10.0.0.1")
            #expect(reused.status == .created && reused.headers[.idempotentReplayed] == nil)

            try await database.query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'")
            let telemetry = Telemetry()
            let repository = PostgresClaimRepository(client: database, cipher: TestEnvironment.cipher, idempotencyRetention: .seconds(86_400))
            let purge = ExpiredRecordsPurgeService(
                records: "idempotency keys", counter: "claimsd_idempotency_keys_purged_total", interval: .seconds(60), batchSize: 1,
                logger: TestEnvironment.quietLogger, metrics: telemetry.factory
            ) { limit in try await repository.purgeIdempotencyKeys(limit: limit) }
            #expect(await purge.purgeExpired() == 1)
            #expect(String(decoding: telemetry.exposition(), as: UTF8.self).contains("claimsd_idempotency_keys_purged_total 1"))
            let left = try await database.query("SELECT key FROM idempotency_keys").rows.map { try $0.decode("key", as: String.self) }
            #expect(left == ["fresh"])
        }
    }

    @Test func anImportUnderAKeyIsStoredOnceAndARunningOneIsReported() async throws {
        let file = ImportTests.export(count: 30, rejectEvery: 10).csv
        try await withApp { client, database in
            let (first, report) = try await post(client, to: "/api/v1/claims/import", file, key: "import-1", from: "10.0.0.1")
            #expect(first.status == .ok && report["accepted"] as? Int == 27)
            let (retry, replayed) = try await post(client, to: "/api/v1/claims/import", file, key: "import-1", from: "10.0.0.1")
            #expect(retry.status == .ok && retry.headers[.idempotentReplayed] == "true")
            #expect(replayed["import_id"] as? String == report["import_id"] as? String)
            #expect(try await Self.count("claims", database) == 27)
            #expect(try await Self.count("rejected_claims", database) == 3)
            let (conflict, problem) = try await post(client, to: "/api/v1/claims/import", Self.csv, key: "import-1", from: "10.0.0.1")
            #expect(conflict.status == .conflict && problem["type"] as? String == "https://claimsd.dev/problems/idempotency-key-reused")

            // A reservation whose import has not finished: the retry is told so, and may come back.
            let hash = "sha256:" + SHA256.hex(Array("import-csv".utf8) + [0] + Array(file.utf8))
            let scope = try await Self.scope(of: "10.0.0.1", database)
            try await database.query(
                """
                INSERT INTO idempotency_keys (scope, key, request_hash, response_status, response_body_sealed)
                VALUES (\(scope), 'running', \(hash), 0, \(PostgresBytes(TestEnvironment.cipher.seal("", context: ProtectedColumn.idempotencyResponse.context(scope, "running")))))
                """)
            let (running, runningProblem) = try await post(client, to: "/api/v1/claims/import", file, key: "running", from: "10.0.0.1")
            #expect(running.status == .conflict && running.headers[.retryAfter] == "5")
            #expect(runningProblem["type"] as? String == "https://claimsd.dev/problems/idempotency-key-in-progress")
            #expect(try await Self.count("claims", database) == 27)
            // An unreadable import reserves nothing.
            let (bad, _) = try await post(client, to: "/api/v1/claims/import", "", key: "import-2", from: "10.0.0.1")
            #expect(bad.status == .badRequest)
            #expect(try await database.query("SELECT count(*)::int AS n FROM idempotency_keys WHERE key = 'import-2'").rows.first?.decode("n", as: Int.self) == 0)
        }
    }
}


/// Sends the API key of the caller a request's `X-Forwarded-For` names, so each test caller is
/// its own principal.
struct CallerKeyedClient: TestClientProtocol {
    let client: any TestClientProtocol
    let keys: [String: String]

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        if let caller = headers[.init("X-Forwarded-For")!], let key = keys[caller] { headers[.authorization] = "Bearer \(key)" }
        return try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }

    var port: Int? { client.port }
}
