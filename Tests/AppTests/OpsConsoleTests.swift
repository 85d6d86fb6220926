import Access
import Alerting
import AuditTrail
import ClaimStore
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
    /// Counters scraped every 15 s for 70 minutes up to `now`: requests at 1/s until 30 minutes
    /// ago and 3/s since, server errors at 0.1/s, claims accepted at 0.5/s and rejected at
    /// 0.05/s, every request faster than 100 ms; this instance leads the relay, 2 events behind.
    static func hourOfSeries(until now: Int64) -> [(labels: Labels, samples: [Sample])] {
        let change = now - 30 * 60_000
        let times = stride(from: now - 70 * 60_000, through: now, by: 15_000).map { $0 }
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
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            let store = TimeSeriesStore()
            #expect(store.importSamples(Self.hourOfSeries(until: now)).refused.isEmpty)
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
            #expect(store.importSamples(Self.hourOfSeries(until: Int64((Date().timeIntervalSince1970 * 1000).rounded()))).refused.isEmpty)
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
            let service = AuditService(
                recorder: dependencies.audit, store: PostgresAuditStore(client: postgres), retentionSeconds: 0, logger: TestEnvironment.quietLogger,
                metrics: dependencies.telemetry.factory)
            await service.flush()
            let logins = try await postgres.query(
                "SELECT action, outcome, coalesce(detail->>'via', '-') AS via FROM audit_events WHERE action LIKE 'auth.%' ORDER BY id"
            ).rows.map { "\(try $0.decode("action", as: String.self)) \(try $0.decode("outcome", as: String.self)) \(try $0.decode("via", as: String.self))" }
            #expect(logins == ["auth.login_failed denied -", "auth.login denied console", "auth.login allowed console", "auth.login allowed console"], "\(logins)")
        }
    }

    /// The `<figure>` of one indicator.
    static func figure(_ id: String, in html: String) -> Substring? {
        guard let start = html.range(of: "data-indicator=\"\(id)\""), let end = html[start.upperBound...].range(of: "</figure>") else { return nil }
        return html[start.lowerBound..<end.upperBound]
    }
}
