import Access
@testable import App
import Foundation
import Hummingbird
import HummingbirdTesting
import Schema
import TestSupport
import Testing

/// schemathesis (from PyPI) against a live claimsd with every route, its own OpenAPI document
/// and an admin key: example, boundary ("coverage") and random requests for every operation.
///
/// The checks on: no 5xx (`not_a_server_error`), and every answer as documented — status code,
/// content type, body schema and headers. Two checks are not on yet, because the document
/// cannot yet say exactly what the server accepts: `positive_data_acceptance` (a request the
/// schema allows must not be refused) and `negative_data_rejection` (one it forbids must be).
/// PromQL expressions, durations and times, and the claim rules, need formats of their own.
@Suite struct ContractTests {
    static let checks = [
        "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance", "response_headers_conformance",
    ]

    @Test func everyOperationAnswersAsTheDocumentSays() async throws {
        // CLAIMS_TEST_CONTRACT_SEED replays a run.
        let seed = ProcessInfo.processInfo.environment["CLAIMS_TEST_CONTRACT_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        print("everyOperationAnswersAsTheDocumentSays: seed \(seed) (CLAIMS_TEST_CONTRACT_SEED)")
        try await ScratchDatabase.with(maxConnections: 8) { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let key = try await TestAccess.apiKey(postgres, role: .admin)
            let directory = NSTemporaryDirectory() + "claimsd-contract-\(TestEnvironment.uniqueSuffix())"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let everyRoute = try await EveryRoute(dependencies: dependencies, access: try await TestAccess.settings(), directory: directory)
            defer { try? everyRoute.store.close() }
            let app = Application(
                router: everyRoute.router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: TestEnvironment.quietLogger)
            let (status, output) = try await app.test(.live) { client in
                let base = "http://127.0.0.1:\(try #require(client.port))"
                let child = try ChildProcess(
                    APIDocumentTests.venv + "schemathesis",
                    [
                        "run", base + "/openapi.json", "--url", base, "-H", "Authorization: Bearer \(key)", "--checks", Self.checks.joined(separator: ","),
                        "--phases", "examples,coverage,fuzzing", "--max-examples", "8", "--seed", String(seed), "--workers", "2", "--no-color",
                        "--request-timeout", "30",
                    ],
                    // Tests/contract/claimsd_hooks.py: a serializer for NDJSON import bodies.
                    environment: ["SCHEMATHESIS_HOOKS": "claimsd_hooks", "PYTHONPATH": APIDocumentTests.repository + "/Tests/contract"])
                let status = try await child.waitForExit(timeout: .seconds(600))
                return (status, child.standardOutput + child.standardError)
            }
            #expect(status == 0, "schemathesis found problems (seed \(seed)); each comes with its curl reproduction:\n\(output)")
            // Every operation but GET /openapi.json, which schemathesis leaves out as the document's own address.
            let operations = try APIDocument.bundled().operations.count - 1
            #expect(output.contains("Selected: \(operations)/\(operations)") && output.contains("Tested: \(operations)"), "\(output.suffix(2_000))")
            #expect(output.contains("passed") && !output.contains("errored"), "\(output.suffix(2_000))")
        }
    }
}
