import Access
@testable import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Postgres
@testable import Schema
import TestSupport
import Testing

/// Secure defaults on the wire and towards PostgreSQL: response headers, CORS only for listed
/// origins, and statement and idle-in-transaction timeouts on claimsd's sessions.
@Suite struct TransportSecurityTests {
    static func withRouter(
        corsOrigins: [String] = [], _ body: @escaping @Sendable (any TestClientProtocol, String) async throws -> Void
    ) async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let router = buildRouter(
                dependencies: dependencies, access: try await TestAccess.settings(), traffic: TrafficSettings(rateLimits: [], corsOrigins: corsOrigins))
            let admin = try await TestAccess.apiKey(postgres, role: .admin)
            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in try await body(client, admin) }
        }
    }

    @Test func everyAnswerCarriesTheSecurityHeaders() async throws {
        try await Self.withRouter { client, admin in
            let list = try await client.execute(uri: "/api/v1/claims", method: .get, headers: [.authorization: "Bearer " + admin])
            #expect(list.status == .ok)
            #expect(list.headers[.xContentTypeOptions] == "nosniff" && list.headers[.cacheControl] == "no-store")
            // Errors too: a 401 problem and a 404 for a path nobody serves.
            let refused = try await client.execute(uri: "/api/v1/claims", method: .get)
            #expect(refused.status == .unauthorized && refused.headers[.xContentTypeOptions] == "nosniff" && refused.headers[.cacheControl] == "no-store")
            let nowhere = try await client.execute(uri: "/api/v1/nowhere", method: .get, headers: [.authorization: "Bearer " + admin])
            #expect(nowhere.status == .notFound && nowhere.headers[.xContentTypeOptions] == "nosniff")
            // A route's own caching stands; answers outside the API are not marked no-store.
            let jwks = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
            #expect(jwks.headers[.cacheControl] == "public, max-age=300")
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.headers[.xContentTypeOptions] == "nosniff" && health.headers[.cacheControl] == nil)
            // No CORS unless origins are listed.
            let cross = try await client.execute(uri: "/api/v1/claims", method: .get, headers: [.authorization: "Bearer " + admin, .origin: "https://ops.example.org"])
            #expect(cross.status == .ok && cross.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func listedOriginsGetCORSAndOthersDoNot() async throws {
        try await Self.withRouter(corsOrigins: ["https://ops.example.org"]) { client, admin in
            let preflight = try await client.execute(
                uri: "/api/v1/claims", method: .options,
                headers: [.origin: "https://ops.example.org", .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "authorization, content-type"])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://ops.example.org" && preflight.headers[.vary] == "Origin")
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            // The answer itself, even a 401, is readable by the listed origin.
            let refused = try await client.execute(uri: "/api/v1/claims", method: .get, headers: [.origin: "https://ops.example.org"])
            #expect(refused.status == .unauthorized && refused.headers[.accessControlAllowOrigin] == "https://ops.example.org")
            let allowed = try await client.execute(uri: "/api/v1/claims", method: .get, headers: [.origin: "https://ops.example.org", .authorization: "Bearer " + admin])
            #expect(allowed.status == .ok && allowed.headers[.accessControlExposeHeaders]?.contains("X-Request-Id") == true)
            // Another origin gets nothing: neither a preflight answer nor the header.
            let evil = try await client.execute(
                uri: "/api/v1/claims", method: .options, headers: [.origin: "https://evil.example", .accessControlRequestMethod: "POST"])
            #expect(evil.status != .noContent && evil.headers[.accessControlAllowOrigin] == nil)
            let evilGet = try await client.execute(uri: "/api/v1/claims", method: .get, headers: [.origin: "https://evil.example", .authorization: "Bearer " + admin])
            #expect(evilGet.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func badCORSOriginsStopStartUp() {
        for bad in ["ftp://ops.example.org", "https://ops.example.org/app", "ops.example.org", "https://"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try ServiceConfiguration.load(environment: ["CLAIMS_CORS_ORIGINS": bad]) }
        }
        #expect((try? ServiceConfiguration.load(environment: ["CLAIMS_CORS_ORIGINS": "https://a.example, http://localhost:3000"]))?.corsOrigins == [
            "https://a.example", "http://localhost:3000",
        ])
    }

    @Test func sessionsHaveStatementAndIdleTransactionTimeouts() async throws {
        try await ScratchDatabase.with { _, database in
            var configuration = try ServiceConfiguration.load(environment: [
                "CLAIMS_DATABASE_URL": database.url, "CLAIMS_DATABASE_STATEMENT_TIMEOUT": "1s", "CLAIMS_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT": "1s",
            ])
            configuration.databasePoolSize = 2
            let client = try PostgresClient(configuration: configuration.postgres, logger: TestEnvironment.quietLogger)
            let shown = try await client.query("SELECT current_setting('statement_timeout') AS s, current_setting('idle_in_transaction_session_timeout') AS i").rows.first
            #expect(try shown?.decode("s", as: String.self) == "1s" && shown?.decode("i", as: String.self) == "1s")
            await #expect {
                try await client.query("SELECT pg_sleep(3)")
            } throws: { error in
                (error as? PostgresError)?.sqlState == "57014"
            }
            // A transaction left idle is ended by the server, releasing its locks.
            await #expect(throws: PostgresError.self) {
                try await client.withTransaction { connection in
                    try await connection.query("SELECT 1")
                    try await Task.sleep(for: .milliseconds(2500))
                    try await connection.query("SELECT 1")
                }
            }
            // Migrations are exempt: waiting 3 s for another instance's migration lock is fine.
            let holder = try PostgresClient(configuration: .init(conninfo: database.url, maxConnections: 1), logger: TestEnvironment.quietLogger)
            try await holder.withConnection { connection in
                try await connection.query("SELECT pg_advisory_lock(\(Migrator.lockKey))")
                let release = Task {
                    try await Task.sleep(for: .seconds(3))
                    try await connection.query("SELECT pg_advisory_unlock(\(Migrator.lockKey))")
                }
                let applied = try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
                #expect(applied.count == Migration.bundled.count)
                try await release.value
            }
            await holder.shutdown()
            // And the session's own timeout is back afterwards.
            #expect(try await client.query("SELECT current_setting('statement_timeout') AS s").rows.first?.decode("s", as: String.self) == "1s")
            await client.shutdown()
        }
    }

    @Test func theDatabaseURLCanRequireAVerifiedTLSConnection() async throws {
        let verified = TestEnvironment.tlsDatabaseURL + "?sslmode=verify-full&sslrootcert=" + TestEnvironment.tlsCA
        let configuration = try ServiceConfiguration.load(environment: ["CLAIMS_DATABASE_URL": verified])
        let client = try PostgresClient(configuration: configuration.postgres, logger: TestEnvironment.quietLogger)
        let row = try await client.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").rows.first
        #expect(try row?.decode("ssl", as: Bool.self) == true)
        #expect(try ["TLSv1.2", "TLSv1.3"].contains(row?.decode("version", as: String.self) ?? ""))
        // claimsd's own migrations and queries run over it.
        #expect(try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate().count >= 0)
        await client.shutdown()

        // A server whose certificate another authority signed is refused, naming the reason.
        let directory = NSTemporaryDirectory() + "claimsd-tls-\(TestEnvironment.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let other = try ChildProcess(
            "openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=another CA", "-keyout", directory + "/other.key", "-out", directory + "/other.crt"])
        #expect(try await other.waitForExit(timeout: .seconds(60)) == 0, "\(other.standardError)")
        let wrong = try PostgresClient(
            configuration: .init(conninfo: TestEnvironment.tlsDatabaseURL + "?sslmode=verify-full&sslrootcert=" + directory + "/other.crt", maxConnections: 1),
            logger: TestEnvironment.quietLogger)
        await #expect {
            try await wrong.query("SELECT 1")
        } throws: { error in
            "\(error)".contains("certificate verify failed")
        }
        await wrong.shutdown()
    }
}
