import Access
import App
import ClaimStore
import Claims
import Foundation
import Ranking
import Redis
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
import Schema
import Postgres
#endif

/// Runs the real `claimsd` binary that `swift build` produced.
@Suite struct ExecutableTests {
    static let binary = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("../../.build/debug/claimsd").standardized

    /// Waits until claimsd's standard output satisfies `predicate`.
    static func waitForOutput(of claimsd: ChildProcess, timeout: Duration = .seconds(60), _ predicate: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let text = claimsd.standardOutput
            if predicate(text) { return text }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestEnvironmentError.commandFailed("claimsd output never matched; stdout: \(claimsd.standardOutput) stderr: \(claimsd.standardError)")
    }

    /// A new admin API key made with `claimsd api-keys create` in the database `environment`
    /// names (migrating it first, as the command does).
    static func createAPIKey(environment: [String: String], role: String = "admin") async throws -> String {
        let create = try ChildProcess(binary.path, ["api-keys", "create", "--role", role, "--name", "tests"], environment: environment)
        guard try await create.waitForExit(timeout: .seconds(60)) == 0 else {
            throw TestEnvironmentError.commandFailed("claimsd api-keys create failed: \(create.standardError)")
        }
        return create.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func badConfigurationStopsStartUpWithOneClearLine() async throws {
        let claimsd = try ChildProcess(Self.binary.path, ["serve", "--port", "http"])
        #expect(try await claimsd.waitForExit() == 78)
        let lines = claimsd.standardError.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("claimsd: configuration error: CLAIMS_PORT (--port)") == true)
    }

    @Test func servesMigratesAndStopsCleanlyOnSIGTERM() async throws {
        try await ScratchDatabase.with { client, database in
            let claimsd = try ChildProcess(
                Self.binary.path, ["serve", "--port", "0", "--log-target", "stdout"],
                environment: ["CLAIMS_DATABASE_URL": database.url, "CLAIMS_REDIS_URL": TestEnvironment.redisURL])
            let output = try await Self.waitForOutput(of: claimsd) { $0.contains("listening on") }
            let port = try #require(output.split(separator: "\n").first { $0.contains("listening on") }?.split(separator: ":").last?.prefix { $0.isNumber })

            let (body, response) = try await URLSession.shared.data(from: try #require(URL(string: "http://127.0.0.1:\(port)/ready")))
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            #expect(String(decoding: body, as: UTF8.self).contains("\"status\":\"ready\""))

            // Start-up applied the bundled migrations.
            let versions = try await client.query("SELECT count(*)::int AS n FROM schema_migrations").rows.first
            #expect(try versions?.decode("n", as: Int.self) ?? 0 >= 1)

            // Every stdout line is one JSON object.
            for line in claimsd.standardOutput.split(separator: "\n") {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not JSON: \(line)")
            }

            claimsd.send(SIGTERM)
            #expect(try await claimsd.waitForExit(timeout: .seconds(20)) == 0)
            #expect(claimsd.standardOutput.contains("\"event\":\"shutdown_complete\""))
        }
    }

    /// A claimsd with authentication required, as in production: no credential is 401 with
    /// `WWW-Authenticate`, a key made by `claimsd api-keys create` (printed alone) is let in, and
    /// `/ready` says authentication is required.
    @Test func aKeyFromTheCommandLineOpensTheAPI() async throws {
        try await ScratchDatabase.with { client, database in
            let environment = ["CLAIMS_DATABASE_URL": database.url, "CLAIMS_REDIS_URL": TestEnvironment.redisURL, "CLAIMS_AUTH": "required"]
            let create = try ChildProcess(Self.binary.path, ["api-keys", "create", "--role", "payer", "--name", "payments"], environment: environment)
            #expect(try await create.waitForExit(timeout: .seconds(60)) == 0, "\(create.standardError)")
            let key = create.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(key.hasPrefix("ck_") && !key.contains("\n"), "\(create.standardOutput)")
            let claimsd = try ChildProcess(Self.binary.path, ["serve", "--port", "0", "--log-target", "stdout"], environment: environment)
            let output = try await Self.waitForOutput(of: claimsd) { $0.contains("listening on") }
            let port = try #require(output.split(separator: "\n").first { $0.contains("listening on") }?.split(separator: ":").last?.prefix { $0.isNumber })
            let url = try #require(URL(string: "http://127.0.0.1:\(port)/api/v1/claims"))
            let (_, anonymous) = try await URLSession.shared.data(from: url)
            #expect((anonymous as? HTTPURLResponse)?.statusCode == 401)
            #expect((anonymous as? HTTPURLResponse)?.value(forHTTPHeaderField: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            var request = URLRequest(url: url)
            request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
            let (_, allowed) = try await URLSession.shared.data(for: request)
            #expect((allowed as? HTTPURLResponse)?.statusCode == 200)
            var forbidden = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)/api/v1/users")))
            forbidden.setValue(key, forHTTPHeaderField: "X-API-Key")
            let (_, denied) = try await URLSession.shared.data(for: forbidden)
            #expect((denied as? HTTPURLResponse)?.statusCode == 403)
            let (ready, _) = try await URLSession.shared.data(from: try #require(URL(string: "http://127.0.0.1:\(port)/ready")))
            #expect(String(decoding: ready, as: UTF8.self).contains(#""authentication":"required""#))
            // The key never reaches the log.
            #expect(!claimsd.standardOutput.contains(key) && !claimsd.standardOutput.contains(String(key.suffix(43))))
            claimsd.send(SIGTERM)
            #expect(try await claimsd.waitForExit(timeout: .seconds(20)) == 0)

            // The audit trail: the key made on the command line, the refusals and the list, all
            // written by the time claimsd has stopped (the queue is written out on shutdown).
            let rows = try await client.query("SELECT principal, action, outcome, detail->>'status' AS status FROM audit_events ORDER BY id").rows
            let events = try rows.map {
                [try $0.decode("principal", as: String.self), try $0.decode("action", as: String.self), try $0.decode("outcome", as: String.self),
                 try $0.decodeIfPresent("status", as: String.self) ?? "-"].joined(separator: " ")
            }
            let keyPrincipal = "api_key:" + (APIKey.parse(key)?.id ?? "?")
            #expect(events == [
                "cli api_key.create allowed -", "anonymous access.denied denied 401", "\(keyPrincipal) claim.list allowed -",
                "\(keyPrincipal) access.denied denied 403",
            ], "\(events)")

            // `claimsd audit verify` seals and checks the chain; a row changed behind the
            // database's guard is found.
            let verify = try ChildProcess(Self.binary.path, ["audit", "verify"], environment: environment)
            #expect(try await verify.waitForExit(timeout: .seconds(60)) == 0, "\(verify.standardOutput) \(verify.standardError)")
            #expect(verify.standardOutput.contains("4 sealed rows") && verify.standardOutput.contains("the chain is intact"), "\(verify.standardOutput)")
            let partition = try #require(try await client.query("SELECT tableoid::regclass::text AS name FROM audit_events LIMIT 1").rows.first?.decode("name", as: String.self))
            try await client.query(PostgresQuery(sql: "ALTER TABLE \(partition) DISABLE TRIGGER USER"))
            try await client.query("UPDATE audit_events SET outcome = 'allowed' WHERE action = 'access.denied'")
            let broken = try ChildProcess(Self.binary.path, ["audit", "verify"], environment: environment)
            #expect(try await broken.waitForExit(timeout: .seconds(60)) == 1)
            // Which batch link covers the changed rows depends on when claimsd sealed.
            #expect(
                broken.standardOutput.contains("BROKEN: the events sealed at chain position ")
                    && broken.standardOutput.contains("were changed, removed or added to after sealing"), "\(broken.standardOutput)")
        }
    }

    /// A relay killed with SIGKILL part-way through a backlog, then started again, counts every
    /// event exactly once: the ranking equals the SQL answer and the stream has one entry per event.
    @Test func aRelayKilledMidBacklogDoubleCountsNothing() async throws {
        try await ScratchDatabase.with { client, database in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let repository = PostgresClaimRepository(client: client, cipher: TestEnvironment.cipher)
            let prefix = "kill-\(TestEnvironment.uniqueSuffix()):"
            let redis = RedisClient(configuration: try RedisConfiguration(url: TestEnvironment.redisURL), logger: TestEnvironment.quietLogger)
            let cache = RankingCache(redis: redis, keys: RankingKeys(prefix: prefix))
            // The ranking exists from the start (as if a relay had been running), so the backlog
            // below is applied event by event rather than rebuilt from a snapshot.
            #expect(try await cache.install(RankingSnapshot(sequence: 0, totals: [])))
            let ids = UUIDv7Generator()
            for batch in 0..<10 {
                let claims = (0..<1000).map { index in
                    let npi = String(format: "1%09d", (batch * 1000 + index) % 97)
                    let fee = Money(cents: Int64((batch * 1000 + index) % 500) * 25)
                    let line = ClaimLine(
                        lineNumber: 1, serviceDate: CalendarDate(parsing: "2024-03-28")!, submittedProcedure: "D0180", quadrant: nil, groupID: "G",
                        subscriberID: "S", providerNPI: npi, providerFees: fee, allowedFees: .zero, memberCoinsurance: .zero, memberCopay: .zero)
                    return StoredClaim(id: ids.next(), claim: ValidatedClaim(externalClaimNumber: nil, lines: [line]), at: "2026-11-22T10:00:00.000Z")
                }
                try await repository.store(ImportBatch(accepted: claims))
            }
            let environment = [
                "CLAIMS_DATABASE_URL": database.url, "CLAIMS_REDIS_URL": TestEnvironment.redisURL, "CLAIMS_REDIS_KEY_PREFIX": prefix,
                "CLAIMS_RELAY_BATCH_SIZE": "7",
            ]
            func start() throws -> ChildProcess {
                try ChildProcess(Self.binary.path, ["serve", "--port", "0", "--log-target", "stdout"], environment: environment)
            }

            let first = try start()
            try await waitUntil(timeout: .seconds(60)) { (try await cache.appliedSequence() ?? 0) > 1000 }
            first.send(SIGKILL)
            _ = try await first.waitForExit()
            let atKill = try #require(try await cache.appliedSequence())
            #expect(atKill < 10_000, "the relay finished before it could be killed; make its batches smaller")

            let second = try start()
            try await waitUntil(timeout: .seconds(120)) { try await cache.appliedSequence() == 10_000 }
            second.send(SIGTERM)
            #expect(try await second.waitForExit(timeout: .seconds(20)) == 0)

            let ranked = try await cache.top(1000)
            #expect(ranked?.totals == Array(try await RankingTruth.providerTotals(client).prefix(1000)))
            #expect(try await redis.send("XLEN", cache.keys.paymentsStream).integer == 10_000)
            let rebuilt = second.standardOutput.contains("relay_rebuilt") || first.standardOutput.contains("relay_rebuilt")
            #expect(!rebuilt)
            await redis.shutdown()
        }
    }
}
