import Access
import Alerting
import AuditTrail
import ClaimStore
import Claims
@testable import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import PromQL
import Schema
import TestSupport
import Testing
import TimeSeries

/// The operations console against real PostgreSQL and Redis, an in-memory store holding an hour
/// of claimsd's series with a known shape, and real rules.
@Suite struct OpsConsoleTests {
    /// Counters scraped every 15 s from 70 minutes before `now` to 10 minutes after it (so the
    /// page, drawn a few seconds after `now` on a busy machine, still has samples at its own
    /// time): requests at 1/s until 30 minutes before `now` and 3/s since, server errors at
    /// 0.1/s, claims accepted at 0.5/s and rejected at 0.05/s, every request faster than 100 ms;
    /// this instance leads the relay, 2 events behind.
    static func hourOfSeries(around now: Int64) -> [(labels: Labels, samples: [Sample])] {
        let change = now - 30 * 60_000
        let times = stride(from: now - 70 * 60_000, through: now + 10 * 60_000, by: 15_000).map { $0 }
        func counter(_ slope: (Int64) -> Double) -> [Sample] {
            var total = 0.0
            var previous = times[0]
            return times.map { time in
                total += slope(time) * Double(time - previous) / 1000
                previous = time
                return Sample(time, total)
            }
        }
        let requests = counter { $0 <= change ? 1 : 3 }
        let errors = counter { _ in 0.1 }
        let all = zip(requests, errors).map { Sample($0.timestamp, $0.value + $1.value) }
        func series(_ name: String, _ labels: [String: String], _ samples: [Sample]) -> (labels: Labels, samples: [Sample]) {
            (Labels(labels.merging(["__name__": name, "job": "claimsd", "instance": "127.0.0.1:8000"]) { a, _ in a }), samples)
        }
        let gauge = { (value: Double) in times.map { Sample($0, value) } }
        return [
            series("claimsd_http_requests_total", ["route": "/api/v1/claims", "method": "POST", "status": "201"], requests),
            series("claimsd_http_requests_total", ["route": "/api/v1/claims", "method": "POST", "status": "500"], errors),
            series("claimsd_http_request_duration_seconds_bucket", ["route": "/api/v1/claims", "method": "POST", "le": "0.1"], all),
            series("claimsd_http_request_duration_seconds_bucket", ["route": "/api/v1/claims", "method": "POST", "le": "+Inf"], all),
            series("claimsd_claims_received_total", ["channel": "api", "outcome": "accepted"], counter { _ in 0.5 }),
            series("claimsd_claims_received_total", ["channel": "api", "outcome": "rejected"], counter { _ in 0.05 }),
            series("claimsd_relay_leader", [:], gauge(1)),
            series("claimsd_outbox_lag_events", [:], gauge(2)),
            series("claimsd_outbox_lag_seconds", [:], gauge(1.5)),
        ]
    }

    static let rules = """
        groups:
          - name: ops-console
            rules:
              - alert: ClaimsRejected
                expr: sum(rate(claimsd_claims_received_total{outcome="rejected"}[5m])) > 0
                labels: { severity: ticket }
                annotations:
                  summary: Claims are being rejected
                  runbook_url: https://runbooks.example/claims-rejected
              - alert: ClaimsRejectedForLong
                expr: sum(rate(claimsd_claims_received_total{outcome="rejected"}[5m])) > 0
                for: 10m
                annotations:
                  summary: Claims have been rejected for ten minutes
                  runbook_url: "javascript:alert(1)"
        """

    @Test func thePageShowsTheStoreTheAlertsTheRankingAndTheFeed() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            // A Redis prefix of its own: no other test's relay has built a ranking under it.
            let dependencies = try makeDependencies(
                databaseURL: database.url, redisURL: TestEnvironment.redisURL, redisKeyPrefix: "ops-\(TestEnvironment.uniqueSuffix()):")
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            let store = TimeSeriesStore()
            #expect(store.importSamples(Self.hourOfSeries(around: now)).refused.isEmpty)
            let timeSeries = TimeSeriesSettings(store: store)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ops-console-\(TestEnvironment.uniqueSuffix())").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try Self.rules.write(toFile: directory + "/rules.yml", atomically: true, encoding: .utf8)
            var configuration = ServiceConfiguration()
            configuration.ruleFiles = [directory + "/rules.yml"]
            let alerting = AlertingRuntime(configuration: configuration, timeSeries: timeSeries, factory: dependencies.telemetry.factory, logger: TestEnvironment.quietLogger)
            try await alerting.reload()
            let context = RuleContext(engine: timeSeries.engine, storage: store)
            for group in alerting.manager.groups { _ = group.evaluate(at: now, context: context, options: RuleEvaluationOptions(), append: { _ in }) }

            let admin = try await TestAccess.apiKey(postgres, role: .admin)
            let provider = try await TestAccess.apiKey(postgres, role: .provider, scope: Scope(npis: [AuditTests.npiA]))
            let router = buildRouter(
                dependencies: dependencies, access: try await TestAccess.settings(), traffic: TrafficSettings(rateLimits: []), timeSeries: timeSeries,
                alerting: alerting)
            try await Application(router: router).test(.router) { client in
                func send(_ method: HTTPRequest.Method, _ uri: String, key: String?, body: String? = nil) async throws -> TestResponse {
                    var headers: HTTPFields = [.contentType: "application/json"]
                    if let key { headers[.authorization] = "Bearer " + key }
                    return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                }
                // Two claims for provider A, one for B: A ranks first.
                for (npi, subscriber) in [(AuditTests.npiA, "S-1"), (AuditTests.npiA, "S-2"), (AuditTests.npiB, "S-3")] {
                    #expect(try await send(.post, "/api/v1/claims", key: admin, body: AccessMatrixTests.claimJSON(npi: npi, subscriber: subscriber)).status == .created)
                }
                #expect(try await send(.get, "/ops", key: nil).status == .unauthorized)
                #expect(try await send(.get, "/ops", key: provider).status == .forbidden)
                let stylesheet = try await send(.get, "/ops/assets/ops.css", key: nil)
                #expect(stylesheet.status == .ok && stylesheet.headers[.contentType] == "text/css; charset=utf-8" && String(buffer: stylesheet.body).contains("svg.sparkline"))

                let response = try await send(.get, "/ops", key: admin)
                #expect(response.status == .ok && response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.cacheControl] == "no-store" && response.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
                let html = String(buffer: response.body)
                // Dependencies and the relay.
                #expect(html.contains("data-status=\"ok\"") && html.contains("data-dependency=\"postgresql\"") && html.contains("data-dependency=\"redis\""))
                #expect(html.contains("this instance") && html.contains("2 events, oldest 1.5 s"))
                // The feed's newest event is the third claim's.
                let newest = try #require(try await postgres.query("SELECT max(sequence) AS s FROM outbox_events").rows.first?.decode("s", as: Int64.self))
                #expect(html.contains("newest event \(newest),"))
                // The indicators' current values.
                for (indicator, value) in [
                    ("request_rate", "3.1/s"), ("error_ratio", "3.23 %"), ("latency_p99", "99.0 ms"), ("claims_accepted", "30.0/min"), ("claims_rejected", "3.0/min"),
                ] {
                    #expect(Self.figure(indicator, in: html)?.contains("<span class=\"current\">\(value)</span>") == true, "\(indicator) shows \(value)")
                }
                // Alerts: one firing with its runbook linked, one pending whose runbook is not a web link.
                #expect(html.contains("1 firing, 1 pending"))
                #expect(html.contains("data-alert=\"ClaimsRejected\" data-alert-state=\"firing\"") && html.contains("href=\"https://runbooks.example/claims-rejected\""))
                #expect(html.contains("data-alert=\"ClaimsRejectedForLong\" data-alert-state=\"pending\"") && !html.contains("javascript:"))
                #expect(html.contains("severity=ticket") && html.contains("Claims are being rejected"))
                // The ranking, from PostgreSQL while no relay has built it in Redis.
                let first = try #require(html.range(of: "data-provider=\"\(AuditTests.npiA)\""))
                let second = try #require(html.range(of: "data-provider=\"\(AuditTests.npiB)\""))
                #expect(first.lowerBound < second.lowerBound)
                #expect(html.contains("from postgresql"))
            }

            // The request sparkline's shape at a fixed time: 1.1/s for the first half hour (at 25.5
            // on a scale from 0 to 3.1), 3.1/s (the top) from five minutes after the change on; x
            // is 4 units a minute.
            let routes = OpsRoutes(
                readiness: dependencies.readiness, repository: PostgresClaimRepository(client: postgres, cipher: TestEnvironment.cipher),
                review: RejectedClaimReview(client: postgres, cipher: TestEnvironment.cipher), audit: dependencies.audit, validator: ClaimValidator(), metrics: ClaimMetrics(), screening: nil,
                flagged: FlaggedClaimReview(client: postgres, cipher: TestEnvironment.cipher),
                ranking: dependencies.rankingCache(), redisGuard: dependencies.redisGuard, timeSeries: timeSeries, alerting: alerting, authentication: .required)
            let page = await routes.page(now: now)
            let requests = try #require(page.indicators.first { $0.id == "request_rate" })
            let path = requests.history.pathData
            #expect(path.hasPrefix("M0 25.5 L4 25.5"), "\(path)")
            #expect(path.contains("L116 25.5 L120 25.5") && path.contains("L140 1 L144 1"), "\(path)")
            #expect(path.hasSuffix("L236 1 L240 1"), "\(path)")
            #expect(requests.history.points.count == 61)
        }
    }

    /// A real browser (Debian's headless Chromium) loads the page over a socket: the DOM it
    /// builds holds every section and a drawn path in every sparkline, and it paints a
    /// screenshot of it. Authentication is off here: Chromium cannot send a bearer token.
    @Test func headlessChromiumRendersThePageAndItsSparklines() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let store = TimeSeriesStore()
            #expect(store.importSamples(Self.hourOfSeries(around: Int64((Date().timeIntervalSince1970 * 1000).rounded()))).refused.isEmpty)
            let router = buildRouter(
                dependencies: dependencies, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: []),
                timeSeries: TimeSeriesSettings(store: store))
            let profile = NSTemporaryDirectory() + "claimsd-chromium-\(TestEnvironment.uniqueSuffix())"
            let screenshot = profile + "-ops.png"
            defer {
                try? FileManager.default.removeItem(atPath: profile)
                try? FileManager.default.removeItem(atPath: screenshot)
            }
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: TestEnvironment.quietLogger)
            let dom = try await app.test(.live) { client in
                let port = try #require(client.port)
                let browser = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)", "--hide-scrollbars"]
                _ = try await TestEnvironment.run(
                    "/usr/bin/chromium", browser + ["--window-size=1200,1400", "--screenshot=\(screenshot)", "http://127.0.0.1:\(port)/ops?refresh=off"],
                    timeout: .seconds(120))
                return try await TestEnvironment.run("/usr/bin/chromium", browser + ["--dump-dom", "http://127.0.0.1:\(port)/ops?refresh=off"], timeout: .seconds(120))
            }
            for section in ["now", "alerts", "providers"] { #expect(dom.contains("data-section=\"\(section)\""), "\(section) is in the DOM") }
            for indicator in OpsIndicator.all {
                let figure = try #require(Self.figure(indicator.id, in: dom), "\(indicator.id) is in the DOM")
                // A drawn line: a path whose data starts with a move and goes on with lines.
                let path = try #require(figure.firstRange(of: "<path d=\"M").map { figure[$0.upperBound...].prefix { $0 != "\"" } })
                #expect(path.contains("L"), "\(indicator.id) has a drawn sparkline: \(path)")
            }
            // The authentication-off warning is on the page, and a screenshot was painted.
            #expect(dom.contains("Authentication is off"))
            let png = try #require(FileManager.default.contents(atPath: screenshot), "Chromium wrote no screenshot")
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "a painted page, not a blank one: \(png.count) bytes")
        }
    }

    /// An operator signs in with the form and gets a session cookie for /ops only; a wrong
    /// password, a role without the console, an ended session and signing out each do what a
    /// browser needs; the sign-ins are audited.
    @Test func aBrowserSignsInWithTheFormAndOutAgain() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let key = try await TestAccess.apiKey(postgres, role: .admin)
            let router = buildRouter(dependencies: dependencies, access: try await TestAccess.settings(), traffic: TrafficSettings(rateLimits: []))
            try await Application(router: router).test(.router) { client in
                func send(
                    _ method: HTTPRequest.Method, _ uri: String, headers extra: HTTPFields = [:], form: String? = nil, json: String? = nil
                ) async throws -> TestResponse {
                    var headers = extra
                    if form != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
                    if json != nil { headers[.contentType] = "application/json" }
                    return try await client.execute(uri: uri, method: method, headers: headers, body: (form ?? json).map { ByteBuffer(string: $0) })
                }
                for (email, role) in [("ops@example.org", "admin"), ("member@example.org", "member")] {
                    let created = try await send(
                        .post, "/api/v1/users", headers: [.authorization: "Bearer \(key)"],
                        json: #"{"email":"\#(email)","password":"a long enough password","role":"\#(role)"}"#)
                    #expect(created.status == .created, "\(String(buffer: created.body))")
                }
                let browser: HTTPFields = [.accept: "text/html,application/xhtml+xml"]
                func browserWith(cookie: String) -> HTTPFields { [.accept: "text/html,application/xhtml+xml", .cookie: cookie] }
                // No session: a browser is sent to the form, an API client gets the 401.
                let away = try await send(.get, "/ops", headers: browser)
                #expect(away.status == .seeOther && away.headers[.location] == "/ops/login")
                #expect(try await send(.get, "/ops").status == .unauthorized)
                let form = try await send(.get, "/ops/login", headers: browser)
                #expect(form.status == .ok && String(buffer: form.body).contains("<form method=\"post\" action=\"/ops/login\">"))

                let wrong = try await send(.post, "/ops/login", form: "email=ops%40example.org&password=not+it")
                #expect(wrong.status == .unauthorized && wrong.headers[.setCookie] == nil)
                #expect(String(buffer: wrong.body).contains("The email or password is wrong") && String(buffer: wrong.body).contains("value=\"ops@example.org\""))
                let member = try await send(.post, "/ops/login", form: "email=member%40example.org&password=a+long+enough+password")
                #expect(member.status == .forbidden && member.headers[.setCookie] == nil)
                #expect(String(buffer: member.body).contains("The role member may not use the operations console."))
                let missing = try await send(.post, "/ops/login", form: "email=ops%40example.org")
                #expect(missing.status == .badRequest && String(buffer: missing.body).contains("Enter your email and password."))

                let signedIn = try await send(.post, "/ops/login", form: "email=ops%40example.org&password=a+long+enough+password")
                #expect(signedIn.status == .seeOther && signedIn.headers[.location] == "/ops")
                let cookie = try #require(signedIn.headers[.setCookie])
                for attribute in ["Path=/ops", "HttpOnly", "SameSite=Strict", "Max-Age="] { #expect(cookie.contains(attribute), "\(cookie)") }
                #expect(!cookie.contains("Secure"), "plain HTTP: \(cookie)")
                let session = try #require(cookie.split(separator: ";").first.map(String.init))
                #expect(session.hasPrefix("claimsd_console=") && session.count > 100)
                let behindProxy = try await send(
                    .post, "/ops/login", headers: [HTTPField.Name("X-Forwarded-Proto")!: "https"], form: "email=ops%40example.org&password=a+long+enough+password")
                #expect(behindProxy.headers[.setCookie]?.hasSuffix("; Secure") == true)

                // The session opens the console, and nothing outside /ops.
                let page = try await send(.get, "/ops?refresh=off", headers: browserWith(cookie: "theme=dark; " + session))
                #expect(page.status == .ok)
                #expect(String(buffer: page.body).contains("Signed in as user:") && String(buffer: page.body).contains("action=\"/ops/logout\""))
                #expect(try await send(.get, "/api/v1/claims", headers: [.cookie: session]).status == .unauthorized)
                // A session that no longer verifies sends the browser back to the form, saying why.
                let ended = try await send(.get, "/ops", headers: browserWith(cookie: "claimsd_console=eyJhbGciOiJFZERTQSJ9.e30.c2ln"))
                #expect(ended.status == .seeOther && ended.headers[.location] == "/ops/login?reason=expired")
                let expired = try await send(.get, "/ops/login?reason=expired", headers: browser)
                #expect(String(buffer: expired.body).contains("Your session has ended; sign in again."))

                let out = try await send(.post, "/ops/logout", headers: [.cookie: session])
                #expect(out.status == .seeOther && out.headers[.location] == "/ops/login?reason=signed_out")
                #expect(out.headers[.setCookie]?.hasPrefix("claimsd_console=; Path=/ops; Max-Age=0") == true)
            }
            // Sign-ins are in the audit trail, the refused one too.
            await Self.writeQueuedAuditEvents(dependencies, postgres)
            let logins = try await postgres.query(
                "SELECT action, outcome, coalesce(detail->>'via', '-') AS via FROM audit_events WHERE action LIKE 'auth.%' ORDER BY id"
            ).rows.map { "\(try $0.decode("action", as: String.self)) \(try $0.decode("outcome", as: String.self)) \(try $0.decode("via", as: String.self))" }
            #expect(logins == ["auth.login_failed denied -", "auth.login denied console", "auth.login allowed console", "auth.login allowed console"], "\(logins)")
        }
    }

    /// Claims an import rejected wait in the console's review queue, newest first, twenty a
    /// page, with their violations and their input as received; dismissing one takes a reason,
    /// takes it out of the queue, keeps who and why, and is audited; a form posted with the
    /// session cookie must carry the console's token.
    @Test func rejectedClaimsWaitForReviewAndAreDismissedWithAReason() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let key = try await TestAccess.apiKey(postgres, role: .admin)
            let bearer: HTTPFields = [.authorization: "Bearer \(key)"]
            let router = buildRouter(dependencies: dependencies, access: try await TestAccess.settings(), traffic: TrafficSettings(rateLimits: []))
            try await Application(router: router).test(.router) { client in
                func send(_ method: HTTPRequest.Method, _ uri: String, headers extra: HTTPFields, form: String? = nil) async throws -> TestResponse {
                    var headers = extra
                    if form != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
                    return try await client.execute(uri: uri, method: method, headers: headers, body: form.map { ByteBuffer(string: $0) })
                }
                func rejectedIDs(_ html: String) -> [String] {
                    html.split(separator: "data-rejected=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
                }
                var csvHeaders = bearer
                csvHeaders[.contentType] = "text/csv"
                let imported = try await client.execute(
                    uri: "/api/v1/claims/import", method: .post, headers: csvHeaders, body: ByteBuffer(string: ImportTests.export(count: 25, rejectEvery: 1).csv))
                #expect(imported.status == .ok)
                let stored = try await postgres.query("SELECT id FROM rejected_claims ORDER BY created_at DESC, id DESC").rows.map { try $0.decode("id", as: UUID.self).postgresText }
                #expect(stored.count == 25)

                // The newest twenty, then the older five.
                let console = String(buffer: try await send(.get, "/ops?refresh=off", headers: bearer).body)
                #expect(console.contains("25 rejected claims wait for review. <a href=\"/ops/review\">Review</a>"))
                let first = String(buffer: try await send(.get, "/ops/review", headers: bearer).body)
                #expect(first.contains("25 rejected claims wait for review") && !first.contains("http-equiv=\"refresh\""))
                #expect(rejectedIDs(first) == Array(stored.prefix(20)))
                #expect(first.contains("149777553") && first.contains("provider_npi"), "the violation and the input as received are shown")
                let older = try #require(first.split(separator: "href=\"/ops/review?queue=").dropFirst().first.map { "/ops/review?queue=" + $0.prefix { $0 != "\"" } })
                let second = String(buffer: try await send(.get, older, headers: bearer).body)
                #expect(rejectedIDs(second) == Array(stored.suffix(5)) && second.contains("<a href=\"/ops/review\">Newest</a>"))
                let forged = String(buffer: try await send(.get, "/ops/review?queue=12_nope", headers: bearer).body)
                #expect(forged.contains("review queue: the cursor is not one this queue gave out") && rejectedIDs(forged).count == 20)

                // Dismissed with a header credential: no form token needed.
                let target = stored[3]
                #expect(try await send(.post, "/ops/review/\(target)/dismiss", headers: bearer, form: "reason=").status == .badRequest)
                let dismissed = try await send(.post, "/ops/review/\(target)/dismiss", headers: bearer, form: "reason=+duplicate+of+C7+")
                #expect(dismissed.status == .seeOther && dismissed.headers[.location] == "/ops/review?notice=dismissed")
                let after = String(buffer: try await send(.get, "/ops/review?notice=dismissed", headers: bearer).body)
                #expect(after.contains("24 rejected claims wait for review") && after.contains("The claim was dismissed.") && !rejectedIDs(after).contains(target))
                let row = try #require(try await postgres.query("SELECT reviewed_by, review_outcome, review_reason FROM rejected_claims WHERE id = \(UUID(uuidString: target)!)").rows.first)
                #expect(try row.decode("reviewed_by", as: String.self) == "api_key:" + (APIKey.parse(key)?.id ?? "?"))
                #expect(try row.decode("review_outcome", as: String.self) == "dismissed" && row.decode("review_reason", as: String.self) == "duplicate of C7")
                let again = try await send(.post, "/ops/review/\(target)/dismiss", headers: bearer, form: "reason=again")
                #expect(again.status == .conflict && String(buffer: again.body).contains("already reviewed (dismissed by api_key:"))
                #expect(try await send(.post, "/ops/review/\(UUID().uuidString)/dismiss", headers: bearer, form: "reason=x").status == .notFound)
                #expect(try await send(.post, "/ops/review/not-an-id/dismiss", headers: bearer, form: "reason=x").status == .notFound)

                // With the session cookie, the form's token is required.
                let created = try await client.execute(
                    uri: "/api/v1/users", method: .post, headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"email":"ops@example.org","password":"a long enough password","role":"admin"}"#))
                #expect(created.status == .created)
                let signIn = try await send(.post, "/ops/login", headers: [:], form: "email=ops%40example.org&password=a+long+enough+password")
                let session = try #require(signIn.headers[.setCookie]?.split(separator: ";").first.map(String.init))
                let page = String(buffer: try await send(.get, "/ops/review", headers: [.cookie: session]).body)
                let token = try #require(page.split(separator: "name=\"csrf\" value=\"").dropFirst().first.map { String($0.prefix { $0 != "\"" }) })
                let victim = stored[5]
                let refused = try await send(.post, "/ops/review/\(victim)/dismiss", headers: [.cookie: session], form: "reason=from+elsewhere")
                #expect(refused.status == .forbidden && String(buffer: refused.body).contains("The form did not come from this console"))
                let wrongToken = try await send(.post, "/ops/review/\(victim)/dismiss", headers: [.cookie: session], form: "reason=x&csrf=\(String(token.reversed()))")
                #expect(wrongToken.status == .forbidden)
                let accepted = try await send(.post, "/ops/review/\(victim)/dismiss", headers: [.cookie: session], form: "reason=test+claim&csrf=\(token)")
                #expect(accepted.status == .seeOther)
            }
            // Who saw the queue and who dismissed what is in the audit trail.
            await Self.writeQueuedAuditEvents(dependencies, postgres)
            let dismissals = try await postgres.query(
                "SELECT detail->>'reason' AS reason FROM audit_events WHERE action = 'rejected_claim.dismiss' ORDER BY id"
            ).rows.map { try $0.decode("reason", as: String.self) }
            #expect(dismissals == ["duplicate of C7", "test claim"])
            let shown = try await postgres.query("SELECT count(*)::int AS n FROM audit_events WHERE action = 'rejected_claim.list' AND detail->'ids' IS NOT NULL").rows
            #expect(try shown.first?.decode("n", as: Int.self) ?? 0 >= 4)
        }
    }

    /// The net fee, in cents, of claim `claim` of ``ImportTests/export(count:rejectEvery:)``.
    static func exportedNetFeeCents(claim: Int) -> Int {
        (1...2).reduce(0) { total, line in
            let fees = 10_000 + claim * 7 + line
            return total + fees + claim % 13 * 100 + line + (line == 2 ? 2_500 : 0) - fees / 2
        }
    }

    /// An operator corrects a rejected claim and resubmits it: the form holds its input in the
    /// format it came in; a correction that still breaks a rule is shown again with its
    /// violations and nothing stored; one that passes is priced and stored as a new claim, with
    /// its outbox event, linked from the rejected claim, which leaves the queue; both are
    /// audited; a second resubmission is refused.
    @Test func aRejectedClaimIsCorrectedAndResubmitted() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let key = try await TestAccess.apiKey(postgres, role: .admin)
            let bearer: HTTPFields = [.authorization: "Bearer \(key)"]
            let router = buildRouter(dependencies: dependencies, access: try await TestAccess.settings(), traffic: TrafficSettings(rateLimits: []))
            try await Application(router: router).test(.router) { client in
                func send(_ method: HTTPRequest.Method, _ uri: String, form: [(String, String)]? = nil, type: String? = nil, body: String? = nil) async throws -> TestResponse {
                    var headers = bearer
                    var content = body
                    if let form {
                        headers[.contentType] = "application/x-www-form-urlencoded"
                        var allowed = CharacterSet.alphanumerics
                        allowed.insert(charactersIn: "-._~")
                        content = form.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
                    }
                    if let type { headers[.contentType] = type }
                    return try await client.execute(uri: uri, method: method, headers: headers, body: content.map { ByteBuffer(string: $0) })
                }
                /// The text of the correction form's editor, as a browser reads it.
                func editorText(_ html: String) throws -> String {
                    let start = try #require(html.range(of: "name=\"claim\" rows=\"18\" spellcheck=\"false\" required>\n"))
                    let end = try #require(html[start.upperBound...].range(of: "</textarea>"))
                    return String(html[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
                        .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
                        .replacingOccurrences(of: "&amp;", with: "&")
                }
                #expect(try await send(.post, "/api/v1/claims/import", type: "text/csv", body: ImportTests.export(count: 3, rejectEvery: 1).csv).status == .ok)
                let ndjson = #"{"claim_number":"N1","lines":[{"service date":"2018-03-01","submitted procedure":"D0180","Plan/Group #":"GRP-1","Subscriber#":"SUB-9","Provider NPI":"1000000002","provider fees":"100.00","Allowed fees":"40.00","member coinsurance":"0.00","member copay":"zero"}]}"#
                #expect(try await send(.post, "/api/v1/claims/import", type: "application/x-ndjson", body: ndjson + "\n").status == .ok)
                let rejected = try await postgres.query("SELECT id, external_claim_number FROM rejected_claims ORDER BY external_claim_number").rows.map {
                    (try $0.decode("external_claim_number", as: String.self), try $0.decode("id", as: UUID.self))
                }
                let ids = Dictionary(uniqueKeysWithValues: rejected)
                let c2 = try #require(ids["C2"])
                let n1 = try #require(ids["N1"])

                // The form holds the claim's CSV records under their header, and says why it was refused.
                let form = try await send(.get, "/ops/review/\(c2.postgresText)")
                #expect(form.status == .ok)
                let csv = try editorText(String(buffer: form.body))
                let records = csv.split(separator: "\n")
                #expect(records.count == 3 && records[0].hasPrefix("claim number,service date,") && records.dropFirst().allSatisfy { $0.hasPrefix("C2,3/") })
                #expect(records[1].contains(",149777553,") && records[1].contains(",$100.15 ,"), "\(records)")
                #expect(String(buffer: form.body).contains("Rejected because:") && String(buffer: form.body).contains("action=\"/ops/review/\(c2.postgresText)/resubmit\""))

                // Sent back unchanged: refused again, shown with its violations and the text kept; nothing stored.
                let unchanged = try await send(.post, "/ops/review/\(c2.postgresText)/resubmit", form: [("format", "csv"), ("claim", csv)])
                #expect(unchanged.status == .unprocessableContent)
                let refusedPage = String(buffer: unchanged.body)
                let echoed = try editorText(refusedPage)
                #expect(refusedPage.contains("The correction was not accepted:") && refusedPage.contains("provider_npi") && echoed == csv)
                #expect(try await send(.post, "/ops/review/\(c2.postgresText)/resubmit", form: [("format", "xml"), ("claim", csv)]).status == .badRequest)
                #expect(try await send(.post, "/ops/review/\(c2.postgresText)/resubmit", form: [("format", "csv"), ("claim", "  ")]).status == .badRequest)
                let broken = try await send(.post, "/ops/review/\(c2.postgresText)/resubmit", form: [("format", "json"), ("claim", "{")])
                #expect(broken.status == .unprocessableContent && String(buffer: broken.body).contains("readable"))
                #expect(try await postgres.query("SELECT count(*)::int AS n FROM claims").rows.first?.decode("n", as: Int.self) == 0)

                // Corrected: stored as a new claim, priced as intake prices it, linked, out of the queue.
                let corrected = csv.replacingOccurrences(of: ",149777553,", with: ",1000000002,")
                let accepted = try await send(.post, "/ops/review/\(c2.postgresText)/resubmit", form: [("format", "csv"), ("claim", corrected)])
                #expect(accepted.status == .seeOther)
                let location = try #require(accepted.headers[.location])
                let newID = try #require(location.split(separator: ":").last.flatMap { UUID(uuidString: String($0)) })
                #expect(location == "/ops/review?notice=resubmitted:\(newID.postgresText)")
                let claim = try #require(
                    try JSONSerialization.jsonObject(with: Data(try await send(.get, "/api/v1/claims/\(newID.postgresText)").body.readableBytesView)) as? [String: Any])
                let cents = Self.exportedNetFeeCents(claim: 2)
                #expect(claim["net_fee"] as? String == String(format: "%d.%02d", cents / 100, cents % 100) && claim["provider_npi"] as? String == "1000000002", "\(claim)")
                #expect(claim["claim_number"] as? String == "C2" && claim["status"] as? String == "submitted")
                let link = try #require(try await postgres.query("SELECT review_outcome, resubmitted_claim_id FROM rejected_claims WHERE id = \(c2)").rows.first)
                #expect(try link.decode("review_outcome", as: String.self) == "resubmitted" && link.decode("resubmitted_claim_id", as: UUID.self) == newID)
                #expect(try await postgres.query("SELECT count(*)::int AS n FROM outbox_events WHERE claim_id = \(newID) AND event_type = 'claim.created'").rows.first?.decode("n", as: Int.self) == 1)
                let queue = String(buffer: try await send(.get, "/ops/review?notice=resubmitted:\(newID.postgresText)").body)
                #expect(queue.contains("The corrected claim was accepted as \(newID.postgresText).") && queue.contains("3 rejected claims wait for review"))
                #expect(!queue.contains("data-rejected=\"\(c2.postgresText)\""))

                // Once reviewed, the form and a second resubmission say so.
                let again = try await send(.post, "/ops/review/\(c2.postgresText)/resubmit", form: [("format", "csv"), ("claim", corrected)])
                #expect(again.status == .conflict && String(buffer: again.body).contains("It became claim \(newID.postgresText)."))
                #expect(try await send(.get, "/ops/review/\(c2.postgresText)").status == .conflict)
                #expect(try await send(.get, "/ops/review/\(UUID().uuidString)").status == .notFound)

                // A claim from NDJSON is edited as indented JSON and read back as JSON.
                let jsonForm = try editorText(String(buffer: try await send(.get, "/ops/review/\(n1.postgresText)").body))
                #expect(jsonForm.hasPrefix("{\n  \"claim_number\": \"N1\",\n  \"lines\": [\n    {\n") && jsonForm.contains(#""member copay": "zero""#), "\(jsonForm)")
                let jsonFixed = try await send(
                    .post, "/ops/review/\(n1.postgresText)/resubmit", form: [("format", "json"), ("claim", jsonForm.replacingOccurrences(of: "\"zero\"", with: "\"5.00\""))])
                #expect(jsonFixed.status == .seeOther, "\(String(buffer: jsonFixed.body))")
            }
            await Self.writeQueuedAuditEvents(dependencies, postgres)
            let trail = try await postgres.query(
                """
                SELECT action, coalesce(detail->>'resubmitted_from', detail->>'claim_id', '-') AS link FROM audit_events
                WHERE action IN ('claim.create', 'rejected_claim.resubmit') ORDER BY id
                """
            ).rows.map { "\(try $0.decode("action", as: String.self)) \(try $0.decode("link", as: String.self).count)" }
            #expect(trail == ["claim.create 36", "rejected_claim.resubmit 36", "claim.create 36", "rejected_claim.resubmit 36"], "\(trail)")
        }
    }

    /// A real browser corrects a rejected claim through the form: it opens the correction page,
    /// edits the claim in the editor, presses Resubmit, and lands on the queue, which says the
    /// claim was accepted; the claim is stored. Authentication is off, as in the other
    /// browser test.
    @Test func headlessChromiumResubmitsACorrectedClaimThroughTheForm() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let router = buildRouter(dependencies: dependencies, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: []))
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: TestEnvironment.quietLogger)
            let notice = try await app.test(.live) { client in
                let port = try #require(client.port)
                let imported = try await client.execute(
                    uri: "/api/v1/claims/import", method: .post, headers: [.contentType: "text/csv"], body: ByteBuffer(string: ImportTests.export(count: 1, rejectEvery: 1).csv))
                #expect(imported.status == .ok)
                let id = try #require(try await postgres.query("SELECT id FROM rejected_claims").rows.first?.decode("id", as: UUID.self))
                let browser = try HeadlessBrowser()
                do {
                    try await browser.open("http://127.0.0.1:\(port)/ops/review/\(id.postgresText)")
                    try await browser.waitUntil("document.readyState === 'complete' && document.querySelector('form.correction textarea') !== null")
                    let edited = try await browser.evaluate(
                        """
                        (() => {
                          const editor = document.querySelector('form.correction textarea');
                          editor.value = editor.value.replaceAll(',149777553,', ',1000000001,');
                          document.querySelector('form.correction button[type=submit]').click();
                          return editor.value.includes(',1000000001,');
                        })()
                        """)
                    #expect(edited == "true")
                    try await browser.waitUntil("document.readyState === 'complete' && location.search.startsWith('?notice=resubmitted')")
                    let notice = try await browser.evaluate("document.querySelector('p.notice').textContent")
                    await browser.quit()
                    return notice
                } catch {
                    await browser.quit()
                    throw error
                }
            }
            let stored = try await postgres.query("SELECT c.id, c.net_fee::text AS fee FROM rejected_claims r JOIN claims c ON c.id = r.resubmitted_claim_id").rows
            let claimID = try #require(try stored.first?.decode("id", as: UUID.self))
            #expect(notice == "\"The corrected claim was accepted as \(claimID.postgresText).\"")
            let cents = Self.exportedNetFeeCents(claim: 1)
            #expect(try stored.first?.decode("fee", as: String.self) == String(format: "%d.%02d", cents / 100, cents % 100))
        }
    }

    /// Writes the audit events the requests queued, as the audit service does every 200 ms.
    static func writeQueuedAuditEvents(_ dependencies: AppDependencies, _ postgres: PostgresClient) async {
        let service = AuditService(
            recorder: dependencies.audit, store: PostgresAuditStore(client: postgres), retentionSeconds: 0, logger: TestEnvironment.quietLogger,
            metrics: dependencies.telemetry.factory)
        await service.flush()
    }

    /// The `<figure>` of one indicator.
    static func figure(_ id: String, in html: String) -> Substring? {
        guard let start = html.range(of: "data-indicator=\"\(id)\""), let end = html[start.upperBound...].range(of: "</figure>") else { return nil }
        return html[start.lowerBound..<end.upperBound]
    }
}
