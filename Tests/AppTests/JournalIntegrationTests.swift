import Foundation
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Runs the real claimsd binary with real traffic and reads what it logged back: from journald
/// with `journalctl -o json`, and from stdout.
@Suite struct JournalIntegrationTests {
    /// Personal data and secrets the traffic carries; none may appear in any log output.
    static let personalValues = [
        "Zebulon", "Quixote", "zebulon.quixote@example.org", "zq.line@example.org", "hunter2-pii-secret", "SUBPII73019", "tok_live_PII5f9b2c7e",
        "ak_live_PII91c3d7", "ck_PII_8812", "ak_query_PII4471",
    ]

    /// A claim with member name, emails, a password and a subscriber id; `npi` decides whether it
    /// is accepted.
    static func claimWithPersonalData(npi: String) -> String {
        """
        {"claim_number":"PII-CLAIM-1","member name":"Zebulon Quixote","email":"zebulon.quixote@example.org","password":"hunter2-pii-secret",
        "lines":[{"service date":"2018-03-28","submitted procedure":"D0180","group_id":"GRP-1000","subscriber_id":"SUBPII73019",
        "provider_npi":"\(npi)","provider_fees":"10.00","allowed_fees":"0","member_coinsurance":"0","member_copay":"0",
        "patient email":"zq.line@example.org"}]}
        """
    }

    /// One answered request: what the access record must say about it.
    struct Answered {
        let requestID: String
        let method: String
        let route: String
        let status: Int
        let body: Data
    }

    /// Sends a fixed mix of requests (200, 201, 422, 404, a query string with an API key), each
    /// carrying credentials in headers, and returns what came back.
    static func sendTraffic(port: String, key: String) async throws -> [Answered] {
        let requests: [(method: String, path: String, route: String, body: String?)] = [
            ("GET", "/health", "/health", nil),
            ("POST", "/api/v1/claims", "/api/v1/claims", claimWithPersonalData(npi: "1497758544")),
            ("POST", "/api/v1/claims", "/api/v1/claims", claimWithPersonalData(npi: "12")),
            ("GET", "/api/v1/claims/\(UUID().uuidString.lowercased())", "/api/v1/claims/{id}", nil),
            ("GET", "/api/v1/claims?provider_npi=1497758544&api_key=ak_query_PII4471", "/api/v1/claims", nil),
            // A login attempt: neither the email nor the password may be logged.
            ("POST", "/api/v1/login", "/api/v1/login", #"{"username":"zebulon.quixote@example.org","password":"hunter2-pii-secret"}"#),
        ]
        var answered: [Answered] = []
        for sent in requests {
            var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(sent.path)")))
            request.httpMethod = sent.method
            // A real key authenticates (Authorization wins over X-API-Key); the fake values must
            // not be logged either.
            request.setValue(sent.route == "/health" ? "Bearer tok_live_PII5f9b2c7e" : "Bearer \(key)", forHTTPHeaderField: "Authorization")
            request.setValue("ak_live_PII91c3d7", forHTTPHeaderField: "X-API-Key")
            request.setValue("session=ck_PII_8812", forHTTPHeaderField: "Cookie")
            if let body = sent.body {
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                request.httpBody = Data(body.utf8)
            }
            let (body, response) = try await URLSession.shared.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            let requestID = try #require(http.value(forHTTPHeaderField: "X-Request-Id"))
            answered.append(Answered(requestID: requestID, method: sent.method, route: sent.route, status: http.statusCode, body: body))
        }
        #expect(answered.map(\.status) == [200, 201, 422, 404, 200, 401])
        return answered
    }

    /// Every personal value found in `text`.
    static func leakedValues(in text: String) -> [String] {
        personalValues.filter { text.contains($0) }
    }

    /// The claimsd binary on any free port at trace level, logging to `logTarget`.
    /// Also returns an admin API key made for it with `claimsd api-keys create`.
    static func startClaimsd(logTarget: String, databaseURL: String) async throws -> (ChildProcess, String) {
        let environment = [
            "CLAIMS_DATABASE_URL": databaseURL, "CLAIMS_REDIS_URL": TestEnvironment.redisURL,
            "CLAIMS_REDIS_KEY_PREFIX": "\(logTarget)-\(TestEnvironment.uniqueSuffix()):",
        ]
        let key = try await ExecutableTests.createAPIKey(environment: environment)
        let process = try ChildProcess(
            ExecutableTests.binary.path, ["serve", "--port", "0", "--log-target", logTarget, "--log-level", "trace"], environment: environment)
        return (process, key)
    }

    /// RFC 3339 in UTC with milliseconds.
    static func isTimestamp(_ value: Any?) -> Bool {
        (value as? String)?.wholeMatch(of: #/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/#) != nil
    }

    @Test func requestsAreInTheJournalWithIndexedFieldsLevelsAndTheirRequestIDs() async throws {
        let started = Int(Date().timeIntervalSince1970) - 1
        try await ScratchDatabase.with { _, database in
            let (claimsd, key) = try await Self.startClaimsd(logTarget: "journal", databaseURL: database.url)
            defer { claimsd.send(SIGKILL) }
            let ownEntries = ["_PID=\(claimsd.pid)", "SYSLOG_IDENTIFIER=claimsd", "--since=@\(started)"]
            let startup = try await JournalReader.waitForEntries(ownEntries, timeout: .seconds(60)) { entries in
                entries.contains { ($0["MESSAGE"] as? String)?.contains("listening on") == true }
            }
            let listening = try #require(startup.compactMap { $0["MESSAGE"] as? String }.first { $0.contains("listening on") })
            let port = try #require(listening.firstMatch(of: #/listening on [^"]*:(\d+)/#)?.1)

            let answered = try await Self.sendTraffic(port: String(port), key: key)
            let entries = try await JournalReader.waitForEntries(ownEntries) { entries in
                entries.filter { $0["EVENT"] as? String == "request_completed" }.count >= answered.count
            }

            for request in answered {
                let record = try #require(
                    entries.first { $0["EVENT"] as? String == "request_completed" && $0["REQUEST_ID"] as? String == request.requestID },
                    "no access record with REQUEST_ID=\(request.requestID)")
                #expect(record["HTTP_METHOD"] as? String == request.method)
                #expect(record["HTTP_ROUTE"] as? String == request.route)
                #expect(record["HTTP_STATUS"] as? String == String(request.status))
                #expect(record["PRIORITY"] as? String == (request.status >= 400 ? "4" : "6"))
                let message = try #require(record["MESSAGE"] as? String)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(message.utf8)) as? [String: Any])
                #expect(Self.isTimestamp(object["timestamp"]), "timestamp: \(object["timestamp"] ?? "none")")
                #expect(object["level"] as? String == (request.status >= 400 ? "warning" : "info"))
                #expect(object["logger"] as? String != nil)
                #expect(object["event"] as? String == "request_completed")
                #expect(object["request_id"] as? String == request.requestID)
                #expect(object["route"] as? String == request.route)
                #expect(object["status"] as? Int == request.status)
                #expect(object["duration_ms"] is Double || object["duration_ms"] is Int)
                #expect(object["response_bytes"] as? Int == request.body.count)
            }

            // Domain events ride in their request's access record (one journal entry per request)
            // with the request id and the indexed CLAIM_ID; a rejection names rules.
            let created = try #require(try JSONSerialization.jsonObject(with: answered[1].body) as? [String: Any])
            let accepted = try #require(entries.first { $0["DOMAIN_EVENT"] as? String == "claim_accepted" })
            #expect(accepted["EVENT"] as? String == "request_completed")
            #expect(entries.filter { $0["REQUEST_ID"] as? String == answered[1].requestID }.count == 1)
            #expect(accepted["CLAIM_ID"] as? String == created["id"] as? String)
            #expect(accepted["REQUEST_ID"] as? String == answered[1].requestID)
            let rejected = try #require(entries.first { $0["DOMAIN_EVENT"] as? String == "claim_rejected" })
            #expect(rejected["REQUEST_ID"] as? String == answered[2].requestID)
            #expect((rejected["MESSAGE"] as? String)?.contains("npi_format") == true)
            #expect(entries.contains { $0["EVENT"] as? String == "configuration_loaded" && $0["PRIORITY"] as? String == "6" })

            // What operators type: journalctl -t claimsd HTTP_STATUS=404.
            let notFound = try await JournalReader.entries(ownEntries + ["HTTP_STATUS=404"])
            #expect(notFound.count == 1)
            #expect(notFound.first?["REQUEST_ID"] as? String == answered[3].requestID)

            // No personal value reached the journal in any field, even at trace level.
            let everything = try await JournalReader.output(ownEntries)
            #expect(Self.leakedValues(in: everything) == [])
            #expect(!everything.contains(key) && !everything.contains(String(key.suffix(43))), "the API key reached the journal")

            claimsd.send(SIGTERM)
            #expect(try await claimsd.waitForExit(timeout: .seconds(20)) == 0)
        }
    }

    @Test func stdoutCarriesOneJSONObjectPerLineAndNoPersonalData() async throws {
        try await ScratchDatabase.with { _, database in
            let (claimsd, key) = try await Self.startClaimsd(logTarget: "stdout", databaseURL: database.url)
            defer { claimsd.send(SIGKILL) }
            let output = try await ExecutableTests.waitForOutput(of: claimsd) { $0.contains("listening on") }
            let port = try #require(output.firstMatch(of: #/listening on [^"]*:(\d+)/#)?.1)
            let answered = try await Self.sendTraffic(port: String(port), key: key)
            let text = try await ExecutableTests.waitForOutput(of: claimsd) { text in
                answered.allSatisfy { text.contains("\"request_id\":\"\($0.requestID)\"") }
            }
            claimsd.send(SIGTERM)
            #expect(try await claimsd.waitForExit(timeout: .seconds(20)) == 0)

            let records = try claimsd.standardOutput.split(separator: "\n").map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not one JSON object: \(line)")
            }
            let access = records.filter { $0["event"] as? String == "request_completed" }
            #expect(access.compactMap { $0["request_id"] as? String } == answered.map(\.requestID))
            #expect(access.compactMap { $0["status"] as? Int } == answered.map(\.status))
            #expect(Self.leakedValues(in: text + claimsd.standardOutput + claimsd.standardError) == [])
            #expect(!claimsd.standardOutput.contains(String(key.suffix(43))), "the API key reached stdout")
        }
    }
}
