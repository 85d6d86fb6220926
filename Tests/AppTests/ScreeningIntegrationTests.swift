import ClaimStore
import Claims
@testable import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import Schema
import Screening
import TestSupport
import Testing

/// Screening at intake against the real PostgreSQL: the averages follow concurrent intake
/// exactly and start again from the database, flags reach the API, the import report and the
/// metrics, and a held claim reaches the ranking and the payments feed only once an operator
/// clears it.
@Suite struct ScreeningIntegrationTests {
    static func claimJSON(number: String, npi: String, subscriber: String, procedure: String, date: String, fees: String) -> String {
        #"{"claim_number":"\#(number)","lines":[{"service date":"\#(date)","submitted procedure":"\#(procedure)","Plan/Group #":"GRP-1","Subscriber#":"\#(subscriber)","Provider NPI":"\#(npi)","provider fees":"\#(fees)","Allowed fees":"0.00","member coinsurance":"0.00","member copay":"0.00"}]}"#
    }

    static func json(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:]
    }

    static var recentDate: String { utcToday(Date().addingTimeInterval(-10 * 86_400)).description }

    /// The totals the averages hold equal PostgreSQL's sums over the claims stored, after
    /// claims arrive at once through the API and an import; averages loaded from the database
    /// at start-up hold the same.
    @Test func averagesFollowConcurrentIntakeExactly() async throws {
        try await ScratchDatabase.with(maxConnections: 8) { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL, maxConnections: 8)
            let store = FlaggedClaimReview(client: dependencies.postgres, cipher: dependencies.cipher)
            let screening = ClaimScreening(store: store)
            let router = buildRouter(
                dependencies: dependencies, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: []), screening: screening)
            let seed = SplitMix.testSeed("averagesFollowConcurrentIntakeExactly", variable: "SCREENING_INTAKE_SEED")
            let procedures = ["D0120", "D0180", "D1110"]
            let providers = ["1000000001", "1000000002", "1000000003", "1000000004"]
            try await Application(router: router).test(.router) { client in
                let date = Self.recentDate
                var ndjson = ""
                var generator = SplitMix(seed: seed)
                for index in 0..<60 {
                    ndjson += Self.claimJSON(
                        number: "I\(index)", npi: providers[generator.next(upTo: 4)], subscriber: "S\(index)", procedure: procedures[generator.next(upTo: 3)],
                        date: date, fees: "\(50 + generator.next(upTo: 400)).\(10 + generator.next(upTo: 89))") + "\n"
                }
                let bodies: [String] = (0..<240).map { index in
                    Self.claimJSON(
                        number: "A\(index)", npi: providers[generator.next(upTo: 4)], subscriber: "T\(index % 50)", procedure: procedures[generator.next(upTo: 3)],
                        date: date, fees: "\(50 + generator.next(upTo: 400)).\(10 + generator.next(upTo: 89))")
                }
                let importBody = ndjson
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let imported = try await client.execute(
                            uri: "/api/v1/claims/import", method: .post, headers: [.contentType: "application/x-ndjson"], body: ByteBuffer(string: importBody))
                        #expect(imported.status == .ok)
                    }
                    for worker in 0..<12 {
                        group.addTask {
                            for body in bodies.enumerated().filter({ $0.offset % 12 == worker }).map(\.element) {
                                let response = try await client.execute(
                                    uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
                                #expect(response.status == .created)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            let byProcedure = try await postgres.query(
                "SELECT submitted_procedure AS key, (sum(net_fee) * 100)::bigint AS cents, count(*)::int AS n FROM claim_lines GROUP BY 1"
            ).rows.map { (try $0.decode("key", as: String.self), try $0.decode("cents", as: Int64.self), try $0.decode("n", as: Int.self)) }
            let byProvider = try await postgres.query(
                "SELECT provider_npi AS key, (sum(net_fee) * 100)::bigint AS cents, count(*)::int AS n FROM claim_provider_shares GROUP BY 1"
            ).rows.map { (try $0.decode("key", as: String.self), try $0.decode("cents", as: Int64.self), try $0.decode("n", as: Int.self)) }
            #expect(byProcedure.reduce(0) { $0 + $1.2 } == 300 && byProvider.count == 4)
            let restarted = ClaimScreening(store: store)
            try await restarted.loadHistory(logger: TestEnvironment.quietLogger)
            for averages in [screening, restarted] {
                for (key, cents, count) in byProcedure {
                    let total = averages.screener.procedureFees.total(of: key, at: now)
                    #expect(total?.sum == cents && total?.count == count, "\(key): \(String(describing: total)) against \(cents) over \(count)")
                }
                for (key, cents, count) in byProvider {
                    let total = averages.screener.providerFees.total(of: key, at: now)
                    #expect(total?.sum == cents && total?.count == count, "\(key): \(String(describing: total)) against \(cents) over \(count)")
                }
            }
            await dependencies.postgres.shutdown()
            await dependencies.redis.shutdown()
        }
    }

    /// With CLAIMS_HOLD_FLAGGED on, a flagged claim is stored and priced but held: out of the
    /// ranking's totals and the payments feed, refused a payment report, until an operator
    /// clears it in the review queue, which releases it to both; flags show in the claim, the
    /// import report and the metrics.
    @Test func aHeldClaimReachesPaymentsOnlyAfterReview() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            var settings = ScreeningSettings()
            settings.holdFlagged = true
            let screening = ClaimScreening(settings: settings, store: FlaggedClaimReview(client: dependencies.postgres, cipher: dependencies.cipher))
            let router = buildRouter(
                dependencies: dependencies, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: []), screening: screening)
            try await Application(router: router).test(.router) { client in
                func post(_ body: String) async throws -> [String: Any] {
                    let response = try await client.execute(uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
                    #expect(response.status == .created)
                    return Self.json(response)
                }
                func feedClaims() async throws -> [String] {
                    let feed = Self.json(try await client.execute(uri: "/api/v1/payments/events?after=0", method: .get))
                    return ((feed["events"] as? [[String: Any]]) ?? []).map { "\($0["event_type"] ?? "?") \($0["claim_id"] ?? "?")" }
                }
                func rules(_ claim: [String: Any]) -> [String] { ((claim["flags"] as? [[String: Any]]) ?? []).compactMap { $0["rule"] as? String } }
                let recent = Self.recentDate
                let plain = try await post(Self.claimJSON(number: "P", npi: "1000000001", subscriber: "S1", procedure: "D0180", date: recent, fees: "80.00"))
                #expect(plain["status"] as? String == "submitted" && rules(plain).isEmpty)
                let stale = try await post(Self.claimJSON(number: "OLD", npi: "1000000001", subscriber: "S2", procedure: "D0180", date: "2018-03-01", fees: "80.00"))
                #expect(stale["status"] as? String == "held" && rules(stale) == ["future_or_stale_service_date"], "\(stale)")
                let again = try await post(Self.claimJSON(number: "P2", npi: "1000000001", subscriber: "S1", procedure: "D0180", date: recent, fees: "80.00"))
                #expect(again["status"] as? String == "held" && rules(again) == ["duplicate_line"], "\(again)")
                let plainID = try #require(plain["id"] as? String)
                let staleID = try #require(stale["id"] as? String)
                let againID = try #require(again["id"] as? String)

                // Held: not in the feed, not counted in the ranking, no payment.
                #expect(try await feedClaims() == ["claim.created \(plainID)"])
                let counted = try await postgres.query("SELECT claim_id::text AS id FROM claim_provider_shares WHERE counts ORDER BY 1").rows.map { try $0.decode("id", as: String.self) }
                #expect(counted == [plainID])
                let payment = try await client.execute(
                    uri: "/api/v1/claims/\(staleID)/payment", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"outcome":"paid"}"#))
                #expect(payment.status == .conflict)

                // The review queue lists both, held; the console counts them.
                let queue = String(buffer: try await client.execute(uri: "/ops/review", method: .get).body)
                #expect(queue.contains("2 flagged claims wait for review, 2 held from payments"))
                #expect(queue.contains("data-flagged=\"\(staleID)\"") && queue.contains("Clear and release to payments"))
                #expect(queue.contains("the service date 2018-03-01 is more than 365 days ago"))
                let console = String(buffer: try await client.execute(uri: "/ops?refresh=off", method: .get).body)
                #expect(console.contains("2 flagged claims wait, 2 of them held from payments."))

                // Cleared with a reason: released to the ranking and the feed.
                let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                #expect(try await client.execute(uri: "/ops/flagged/\(staleID)/clear", method: .post, headers: form, body: ByteBuffer(string: "reason=")).status == .badRequest)
                let cleared = try await client.execute(
                    uri: "/ops/flagged/\(staleID)/clear", method: .post, headers: form, body: ByteBuffer(string: "reason=late+but+genuine"))
                #expect(cleared.status == .seeOther && cleared.headers[.location] == "/ops/review?notice=released")
                #expect(try await feedClaims() == ["claim.created \(plainID)", "claim.created \(staleID)"])
                let released = Self.json(try await client.execute(uri: "/api/v1/claims/\(staleID)", method: .get))
                #expect(released["status"] as? String == "submitted" && rules(released) == ["future_or_stale_service_date"])
                let twice = try await client.execute(uri: "/ops/flagged/\(staleID)/clear", method: .post, headers: form, body: ByteBuffer(string: "reason=again"))
                #expect(twice.status == .conflict)
                #expect(try await client.execute(uri: "/ops/flagged/\(UUID().uuidString)/clear", method: .post, headers: form, body: ByteBuffer(string: "reason=x")).status == .notFound)
                #expect(try await client.execute(uri: "/ops/flagged/\(plainID)/clear", method: .post, headers: form, body: ByteBuffer(string: "reason=x")).status == .notFound)

                // Voided while held: never sent, so nothing to take back in the feed.
                let voided = Self.json(try await client.execute(uri: "/api/v1/claims/\(againID)", method: .delete))
                #expect(voided["status"] as? String == "voided")
                #expect(try await feedClaims().count == 2)
                let after = String(buffer: try await client.execute(uri: "/ops/review?notice=released", method: .get).body)
                #expect(after.contains("0 flagged claims wait for review") && after.contains("The flagged claim was cleared and released to payments."))

                // An import reports its flagged claims.
                let imported = Self.json(
                    try await client.execute(
                        uri: "/api/v1/claims/import", method: .post, headers: [.contentType: "application/x-ndjson"],
                        body: ByteBuffer(string: Self.claimJSON(number: "IMP", npi: "1000000003", subscriber: "S9", procedure: "D1110", date: "2019-01-01", fees: "10.00") + "\n")))
                let report = try #require((imported["accepted_claims"] as? [[String: Any]])?.first)
                #expect(report["flags"] as? [String] == ["future_or_stale_service_date"] && report["held"] as? Bool == true, "\(imported)")

                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                #expect(metrics.contains("claimsd_claims_flagged_total{rule=\"future_or_stale_service_date\"} 2"), "\(metrics.split(separator: "\n").filter { $0.contains("flagged") })")
                #expect(metrics.contains("claimsd_claims_flagged_total{rule=\"duplicate_line\"} 1") && metrics.contains("claimsd_claims_held_total 3"))
            }
            // The release is audited with its reason.
            await OpsConsoleTests.writeQueuedAuditEvents(dependencies, postgres)
            let reviews = try await postgres.query("SELECT detail->>'reason' AS reason FROM audit_events WHERE action = 'claim.review'").rows.map { try $0.decode("reason", as: String.self) }
            #expect(reviews == ["late but genuine"])
        }
    }
}
