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

/// Bulk import over HTTP and through `claimsd import`, against a migrated scratch database.
@Suite struct ImportTests {
    /// A claims export like the shared sample, with a claim number column and `count` claims of
    /// two lines each. Every `rejectEvery`-th claim has a 9-digit NPI and is rejected. Returns
    /// the CSV and the exact total net fee of the accepted claims, in cents.
    static func export(count: Int, rejectEvery: Int) -> (csv: String, acceptedCents: Int64) {
        var csv = "\"claim number\",\"service date\",\"submitted procedure\",\"quadrant\",\"Plan/Group #\",\"Subscriber#\",\"Provider NPI\",\"provider fees\",\"Allowed fees\",\"member coinsurance\",\"member copay\",\"extra\"\r\n"
        var cents: Int64 = 0
        for claim in 1...count {
            let rejected = claim % rejectEvery == 0
            let npi = rejected ? "149777553" : String(format: "1%09ld", claim % 300)
            for line in 1...2 {
                let fees = 10_000 + claim * 7 + line  // cents
                let allowed = fees / 2
                let coinsurance = claim % 13 * 100 + line
                let copay = line == 2 ? 2_500 : 0
                if !rejected { cents += Int64(fees + coinsurance + copay - allowed) }
                func dollars(_ cents: Int) -> String { String(format: "$%ld.%02ld ", cents / 100, cents % 100) }
                csv += "C\(claim),3/\(line)/18 0:00,D0180,,GRP-1,SUB-\(claim),\(npi),\"\(dollars(fees))\",\(dollars(allowed)),\(dollars(coinsurance)),\(dollars(copay)),x\r\n"
            }
        }
        return (csv, cents)
    }

    func withApp(_ body: @escaping @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void) async throws {
        try await ScratchDatabase.with { client, database in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let app = Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings(), limits: IntakeLimits(maxClaimBytes: 64 * 1024, maxImportBytes: 8 << 20)))
            do {
                let key = try await TestAccess.apiKey(client)
                try await app.test(.router) { try await body(AuthorizedClient($0, key: key), client) }
            } catch {
                await dependencies.postgres.shutdown()
                await dependencies.redis.shutdown()
                throw error
            }
            await dependencies.postgres.shutdown()
            await dependencies.redis.shutdown()
        }
    }

    func postImport(_ client: any TestClientProtocol, _ body: String, type: String) async throws -> (TestResponse, [String: Any]) {
        let response = try await client.execute(uri: "/api/v1/claims/import", method: .post, headers: [.contentType: type], body: ByteBuffer(string: body))
        return (response, (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:])
    }

    static func count(_ table: String, _ database: PostgresClient) async throws -> Int {
        try await database.query("SELECT count(*)::int AS n FROM \(identifier: table)").rows.first?.decode("n") ?? -1
    }

    @Test func tenThousandClaimsFromCSVAreStoredExactlyAndTheRejectedAreKept() async throws {
        let (csv, cents) = Self.export(count: 10_000, rejectEvery: 500)
        try await withApp { client, database in
            let (response, report) = try await postImport(client, csv, type: "text/csv")
            #expect(response.status == .ok)
            #expect(report["claims"] as? Int == 10_000)
            #expect(report["accepted"] as? Int == 9_980)
            #expect(report["rejected"] as? Int == 20)
            #expect(report["accepted_lines"] as? Int == 19_960)

            // Each rejection names the rule and points at the CSV rows.
            let rejections = try #require(report["rejected_claims"] as? [[String: Any]])
            #expect(rejections.count == 20)
            let first = try #require(rejections.first)
            #expect(first["claim_number"] as? String == "C500")
            #expect(first["source"] as? String == "csv lines 1000-1001")
            let errors = try #require(first["errors"] as? [[String: Any]])
            #expect(errors.map { $0["rule"] as? String } == ["npi_format", "npi_format"])
            #expect(errors.map { $0["source_line"] as? Int } == [1000, 1001])
            let accepted = try #require(report["accepted_claims"] as? [[String: Any]])
            #expect(accepted.count == 9_980)
            #expect(accepted.first?["claim_number"] as? String == "C1")

            #expect(try await Self.count("claims", database) == 9_980)
            #expect(try await Self.count("claim_lines", database) == 19_960)
            #expect(try await Self.count("outbox_events", database) == 9_980)
            #expect(try await Self.count("rejected_claims", database) == 20)
            let total = try await database.query("SELECT sum(net_fee)::text AS t, (SELECT sum(net_fee)::text FROM claim_lines) AS l FROM claims").rows.first
            let expected = String(format: "%lld.%02lld", cents / 100, cents % 100)
            #expect(try total?.decode("t", as: String.self) == expected)
            #expect(try total?.decode("l", as: String.self) == expected)
            let outboxTotal = try await database.query("SELECT sum(net_fee_delta)::text AS t FROM outbox_events").rows.first
            #expect(try outboxTotal?.decode("t", as: String.self) == expected)

            // The rejected input is kept as it arrived, with its reasons.
            let kept = try #require(try await KeptRejection.all(in: database).first { $0.externalClaimNumber == "C500" })
            #expect(kept.source == "csv lines 1000-1001")
            #expect(kept.value(at: "rows", 0, 6) as? String == "149777553")
            #expect(kept.value(at: "header", 0) as? String == "claim number")
            #expect(kept.violationCount == 2)

            // Accepted claims read back like any other.
            let id = try #require(accepted.first?["id"] as? String)
            try await client.execute(uri: "/api/v1/claims/\(id)", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func ndjsonKeepsUnreadableLinesAndAcceptsEveryClaimShape() async throws {
        let line = #"{"service date":"2018-03-28","submitted procedure":"D0180","Plan/Group #":"G","Subscriber#":"S","Provider NPI":"1497775530","provider fees":"$100.00","Allowed fees":50,"member coinsurance":"0","member copay":"0"}"#
        let body = [
            #"{"claim_number":"A","lines":[\#(line),\#(line)]}"#,
            "",
            "[\(line)]",
            #"{"claim_number":"broken","lines":[{"#,
            #"{"claim_number":"bad","lines":[{"submitted procedure":"X"}]}"#,
        ].joined(separator: "\r\n")
        try await withApp { client, database in
            let (response, report) = try await postImport(client, body, type: "application/x-ndjson")
            #expect(response.status == .ok)
            #expect(report["claims"] as? Int == 4)
            #expect(report["accepted"] as? Int == 2)
            #expect(report["rejected"] as? Int == 2)
            let accepted = try #require(report["accepted_claims"] as? [[String: Any]])
            #expect(accepted.map { $0["source"] as? String } == ["ndjson line 1", "ndjson line 3"])
            #expect(accepted.map { $0["net_fee"] as? String } == ["100.00", "50.00"])
            let rejected = try #require(report["rejected_claims"] as? [[String: Any]])
            #expect(rejected.map { $0["source"] as? String } == ["ndjson line 4", "ndjson line 5"])
            #expect((rejected.first?["errors"] as? [[String: Any]])?.first?["rule"] as? String == "readable")

            // The unreadable line is kept verbatim, as a JSON string.
            let rejections = try await KeptRejection.all(in: database)
            let kept = rejections.first { $0.source == "ndjson line 4" }
            #expect(kept?.json as? String == #"{"claim_number":"broken","lines":[{"#)
            let readable = rejections.first { $0.source == "ndjson line 5" }
            #expect(readable?.value(at: "claim_number") as? String == "bad")
        }
    }

    @Test func importsThatCannotBeReadGetClientErrors() async throws {
        try await withApp { client, database in
            let (wrongType, problem) = try await postImport(client, "{}", type: "application/json")
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(wrongType.headers[.contentType] == "application/problem+json")
            #expect((problem["detail"] as? String)?.contains("application/x-ndjson") == true)

            let (empty, _) = try await postImport(client, "", type: "text/csv")
            #expect(empty.status == .badRequest)
            let (headerOnly, headerProblem) = try await postImport(client, "\"provider npi\",\"provider fees\"\r\n", type: "text/csv")
            #expect(headerOnly.status == .badRequest)
            #expect(headerProblem["detail"] as? String == "the import holds no claims")
            let (unterminated, _) = try await postImport(client, "a,b\r\n\"x,y\r\n", type: "text/csv")
            #expect(unterminated.status == .badRequest)

            let tooLarge = String(repeating: "x", count: (8 << 20) + 1)
            let (large, _) = try await postImport(client, tooLarge, type: "text/csv")
            #expect(large.status == .contentTooLarge)
            #expect(try await Self.count("claims", database) == 0)
            #expect(try await Self.count("rejected_claims", database) == 0)
        }
    }

    @Test func theCommandLineImportUsesCOPYAndReportsEveryOutcome() async throws {
        let (csv, cents) = Self.export(count: 1_200, rejectEvery: 400)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("claimsd-import-\(TestEnvironment.uniqueSuffix())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("claims.csv")
        let reportFile = directory.appendingPathComponent("report.json")
        try Data(csv.utf8).write(to: file)

        try await ScratchDatabase.with { client, database in
            let claimsd = try ChildProcess(
                ExecutableTests.binary.path, ["import", file.path, "--report", reportFile.path, "--batch-size", "500", "--log-target", "stdout"],
                environment: ["CLAIMS_DATABASE_URL": database.url, "CLAIMS_REDIS_URL": TestEnvironment.redisURL])
            // Some claims were rejected: EX_DATAERR.
            #expect(try await claimsd.waitForExit() == 65)
            #expect(claimsd.standardOutput.contains("1197 accepted (2394 lines), 3 rejected"))
            // Not a terminal: one progress line per stored batch.
            #expect(claimsd.standardError.contains("importing [##############################] 100% 1200/1200 claims"))
            #expect(claimsd.standardError.contains("rejected csv lines 800-801 (claim C400): npi_format"))

            let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: reportFile)) as? [String: Any])
            #expect(report["accepted"] as? Int == 1_197)
            #expect((report["rejected_claims"] as? [[String: Any]])?.count == 3)

            #expect(try await ImportTests.count("claims", client) == 1_197)
            #expect(try await ImportTests.count("rejected_claims", client) == 3)
            let total = try await client.query("SELECT sum(net_fee)::text AS t FROM claims").rows.first
            #expect(try total?.decode("t", as: String.self) == String(format: "%lld.%02lld", cents / 100, cents % 100))
        }
    }

    @Test func theCommandLineImportExplainsAnUnreadableFile() async throws {
        let claimsd = try ChildProcess(ExecutableTests.binary.path, ["import", "/nonexistent/claims.csv"])
        #expect(try await claimsd.waitForExit() == 1)
        #expect(claimsd.standardError.hasPrefix("claimsd: import failed: cannot read /nonexistent/claims.csv"))
        let unknown = try ChildProcess(ExecutableTests.binary.path, ["import", "/tmp/claims.xlsx"])
        #expect(try await unknown.waitForExit() == 1)
        #expect(unknown.standardError.contains("pass --format csv or --format ndjson"))
    }
}
