import Foundation
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
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
}
