import Access
import AccountStore
@testable import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Postgres
import Schema
import TestSupport
import Testing
import TimeSeries

/// Every route × every role and every kind of bad credential, with the exact status each must
/// get; and a provider or member never sees another's claim through any claims route.
@Suite(.serialized) struct AccessMatrixTests {
    static let npiA = "1497775530"
    static let npiB = "1234567893"

    static func claimJSON(npi: String, subscriber: String) -> String {
        #"[{"service_dttm":"2018-03-28 00:00:00","submitted_proc":"D4346","quadrant":null,"group_id":"GRP-1000","subscriber_id":"\#(subscriber)","#
            + #""provider_npi":"\#(npi)","provider_fees":130.00,"allowed_fees":65.00,"member_co_ins":16.25,"member_co_pay":0}]"#
    }

    /// Who asks: a name and the Authorization header it sends (none for `nil`).
    struct Caller: Sendable, CustomStringConvertible {
        var name: String
        var authorization: String?
        var description: String { name }
    }

    /// The statuses a caller of each role gets on one route; anything not listed is 403, and
    /// callers without a valid credential get 401 (200 on open routes).
    struct Row: Sendable {
        var method: HTTPRequest.Method
        var uri: String
        var body: String?
        var open = false
        var allowed: [String: HTTPResponse.Status]
    }

    @Test func everyRouteAnswersEveryCallerWithTheExactStatus() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let access = try await TestAccess.settings()
            let store = PostgresAccountStore(client: postgres, cipher: TestEnvironment.cipher)
            let router = buildRouter(
                dependencies: dependencies, access: access, traffic: TrafficSettings(rateLimits: []), timeSeries: TimeSeriesSettings(store: TimeSeriesStore()))
            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
                // One API key per role; providers and members bound to their scope.
                var keys: [String: String] = [:]
                for role in Role.allCases {
                    let scope: Scope = role == .provider ? Scope(npis: [Self.npiA]) : role == .member ? Scope(subscriberID: "S-A") : .none
                    keys[role.rawValue] = try await TestAccess.apiKey(postgres, role: role, scope: scope)
                }
                keys["providerB"] = try await TestAccess.apiKey(postgres, role: .provider, scope: Scope(npis: [Self.npiB]))
                let admin = "Bearer " + keys["admin"]!

                // Claims of provider A (member S-A) and provider B (member S-B).
                func create(_ npi: String, _ subscriber: String) async throws -> String {
                    let response = try await client.execute(
                        uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json", .authorization: admin],
                        body: ByteBuffer(string: Self.claimJSON(npi: npi, subscriber: subscriber)))
                    #expect(response.status == .created, "\(String(buffer: response.body))")
                    return try #require((try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["id"] as? String)
                }
                let claimA = try await create(Self.npiA, "S-A")
                let claimB = try await create(Self.npiB, "S-B")

                // Bad credentials of every kind.
                let revoked = try await TestAccess.apiKey(postgres, role: .admin)
                let revokedID = try #require(APIKey.parse(revoked)?.id)
                let revoke = try await client.execute(uri: "/api/v1/api-keys/\(revokedID)", method: .delete, headers: [.authorization: admin])
                #expect(revoke.status == .noContent)
                let user = try await store.createUser(
                    NewUser(email: "gone@example.org", fullName: "Gone", passwordHash: PasswordHasher(cost: 4).hash("a long password 1"), role: .admin, scope: .none))
                let now = Int64(Date().timeIntervalSince1970)
                let disabledToken = try await access.tokens.issue(userID: user.id.uuidString.lowercased(), role: .admin, scope: .none, now: now).token
                _ = try await store.updateUser(id: user.id, UserChange(disabled: true))
                let expired = try await access.tokens.issue(userID: user.id.uuidString.lowercased(), role: .admin, scope: .none, now: now - 7200).token
                let stranger = await AccessTokens(keyring: try TokenKeyring.generate(kid: "stranger"))
                let foreign = try await stranger.issue(userID: user.id.uuidString.lowercased(), role: .admin, scope: .none, now: now).token
                let unauthenticated: [Caller] = [
                    Caller(name: "no credential", authorization: nil), Caller(name: "expired token", authorization: "Bearer " + expired),
                    Caller(name: "token of an unknown key", authorization: "Bearer " + foreign), Caller(name: "revoked API key", authorization: "Bearer " + revoked),
                    Caller(name: "disabled user", authorization: "Bearer " + disabledToken), Caller(name: "Basic scheme", authorization: "Basic YTpi"),
                    Caller(name: "made-up API key", authorization: "Bearer " + APIKey.generate().key),
                ]
                let callers = keys.keys.sorted().map { Caller(name: $0, authorization: "Bearer " + keys[$0]!) }

                let readers: [String: HTTPResponse.Status] = ["admin": .ok, "payer": .ok, "auditor": .ok, "provider": .ok, "member": .ok, "providerB": .ok]
                let rows: [Row] = [
                    Row(method: .get, uri: "/health", open: true, allowed: [:]),
                    Row(method: .get, uri: "/ready", open: true, allowed: [:]),
                    Row(method: .get, uri: "/.well-known/jwks.json", open: true, allowed: [:]),
                    Row(method: .get, uri: "/api/v1/me", allowed: Dictionary(uniqueKeysWithValues: callers.map { ($0.name, .ok) })),
                    Row(method: .get, uri: "/metrics", allowed: ["admin": .ok, "auditor": .ok, "metrics": .ok]),
                    Row(method: .get, uri: "/api/v1/query?query=1&time=1", allowed: ["admin": .ok, "auditor": .ok, "metrics": .ok]),
                    Row(method: .get, uri: "/api/v1/claims", allowed: readers),
                    Row(method: .get, uri: "/api/v1/claims/\(claimA)", allowed: ["admin": .ok, "payer": .ok, "auditor": .ok, "provider": .ok, "member": .ok, "providerB": .notFound]),
                    Row(method: .get, uri: "/api/v1/claims/\(claimB)/status", allowed: ["admin": .ok, "payer": .ok, "auditor": .ok, "provider": .notFound, "member": .notFound, "providerB": .ok]),
                    Row(method: .post, uri: "/api/v1/claims", body: Self.claimJSON(npi: Self.npiA, subscriber: "S-A"), allowed: ["admin": .created, "provider": .created, "providerB": .forbidden]),
                    Row(method: .put, uri: "/api/v1/claims/\(claimB)", body: Self.claimJSON(npi: Self.npiB, subscriber: "S-B"), allowed: ["admin": .ok, "provider": .notFound, "providerB": .ok]),
                    Row(method: .get, uri: "/api/v1/payments/events", allowed: ["admin": .ok, "payer": .ok, "auditor": .ok]),
                    Row(method: .get, uri: "/api/v1/providers/top", allowed: ["admin": .ok, "payer": .ok, "auditor": .ok]),
                    Row(method: .get, uri: "/api/v1/users", allowed: ["admin": .ok, "auditor": .ok]),
                    Row(method: .get, uri: "/api/v1/api-keys", allowed: ["admin": .ok, "auditor": .ok]),
                    Row(method: .get, uri: "/api/v1/audit?limit=5", allowed: ["admin": .ok, "auditor": .ok]),
                    Row(method: .post, uri: "/api/v1/api-keys", body: #"{"role":"metrics","name":"grafana"}"#, allowed: ["admin": .created]),
                    Row(method: .post, uri: "/api/v1/admin/tsdb/snapshot", allowed: ["admin": .forbidden]),  // the admin API is off
                ]
                var checked = 0
                for row in rows {
                    for caller in callers + unauthenticated {
                        var headers: HTTPFields = [.contentType: "application/json"]
                        if let authorization = caller.authorization { headers[.authorization] = authorization }
                        let response = try await client.execute(uri: row.uri, method: row.method, headers: headers, body: row.body.map { ByteBuffer(string: $0) })
                        let isUnauthenticated = unauthenticated.contains { $0.name == caller.name }
                        let expected: HTTPResponse.Status =
                            row.open ? .ok : isUnauthenticated ? .unauthorized : row.allowed[caller.name] ?? .forbidden
                        // Routes this router does not serve are 404 for everyone who gets that far.
                        #expect(response.status == expected, "\(row.method) \(row.uri) as \(caller): \(String(buffer: response.body).prefix(300))")
                        if response.status == .unauthorized {
                            #expect(response.headers[.init("WWW-Authenticate")!]?.hasPrefix("Bearer realm=\"claimsd\"") == true)
                            #expect(response.headers[.contentType] == "application/problem+json")
                        }
                        checked += 1
                    }
                }
                print("access matrix: \(checked) requests checked")

                // Lists show each provider and member only its own claims.
                func listed(_ key: String) async throws -> Set<String> {
                    let response = try await client.execute(uri: "/api/v1/claims?limit=200", method: .get, headers: [.authorization: "Bearer " + key])
                    let items = (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["items"] as? [[String: Any]] ?? []
                    return Set(items.compactMap { $0["id"] as? String })
                }
                #expect(try await listed(keys["provider"]!).contains(claimA))
                #expect(try await !listed(keys["provider"]!).contains(claimB))
                #expect(try await listed(keys["providerB"]!).contains(claimB))
                #expect(try await !listed(keys["providerB"]!).contains(claimA))
                #expect(try await listed(keys["member"]!) .contains(claimA))
                #expect(try await !listed(keys["member"]!).contains(claimB))
                #expect(try await listed(keys["metrics"]!).isEmpty)
                // A provider cannot void or read another provider's claim, and gets 404, not 403.
                let void = try await client.execute(uri: "/api/v1/claims/\(claimA)", method: .delete, headers: [.authorization: "Bearer " + keys["providerB"]!])
                #expect(void.status == .notFound)
                // An import by provider A keeps B's claim as a rejection and stores its own.
                let csvHeader = "claim_number,service_dttm,submitted_proc,quadrant,group_id,subscriber_id,provider_npi,provider_fees,allowed_fees,member_co_ins,member_co_pay\n"
                let csv = csvHeader + "C-1,2018-03-28,D4346,,G,S-A,\(Self.npiA),100,50,10,0\nC-2,2018-03-28,D4346,,G,S-B,\(Self.npiB),100,50,10,0\n"
                let imported = try await client.execute(
                    uri: "/api/v1/claims/import", method: .post, headers: [.contentType: "text/csv", .authorization: "Bearer " + keys["provider"]!], body: ByteBuffer(string: csv))
                let report = String(buffer: imported.body)
                #expect(imported.status == .ok, "\(report)")
                #expect(report.contains("provider_scope"), "\(report)")
                let summary = try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any]
                #expect(summary?["accepted"] as? Int == 1 && summary?["rejected"] as? Int == 1, "\(report)")
            }
        }
    }

    /// What every route needs, written out here independently of the registrations: a route
    /// added without a row here fails the test, and so does a route whose behaviour differs.
    static let specification: [String: Requirement] = [
        "GET /health": .open, "GET /ready": .open, "GET /.well-known/jwks.json": .open,
        "GET /openapi.yaml": .open, "GET /openapi.json": .open, "GET /docs": .open, "GET /docs/docs.js": .open, "GET /docs/docs.css": .open,
        "POST /api/v1/login": .open, "POST /api/v1/refresh": .open,
        "POST /api/v1/logout": .authenticated, "GET /api/v1/me": .authenticated,
        "POST /api/v1/users": .permission(.manageAccounts), "GET /api/v1/users": .permission(.readAccounts),
        "GET /api/v1/users/:id": .permission(.readAccounts), "PATCH /api/v1/users/:id": .permission(.manageAccounts),
        "POST /api/v1/api-keys": .permission(.manageAccounts), "GET /api/v1/api-keys": .permission(.readAccounts),
        "DELETE /api/v1/api-keys/:id": .permission(.manageAccounts), "GET /api/v1/audit": .permission(.readAudit),
        "GET /metrics": .permission(.readMonitoring),
        "POST /api/v1/claims": .permission(.submitClaims), "POST /claims": .permission(.submitClaims),
        "POST /api/v1/claims/import": .permission(.submitClaims),
        "GET /api/v1/claims": .permission(.readClaims), "GET /api/v1/claims/:id": .permission(.readClaims),
        "GET /api/v1/claims/:id/status": .permission(.readClaims), "GET /api/v1/claims/status/:id": .permission(.readClaims),
        "PUT /api/v1/claims/:id": .permission(.changeClaims), "DELETE /api/v1/claims/:id": .permission(.changeClaims),
        "GET /api/v1/providers/top": .permission(.readRanking), "GET /top-providers": .permission(.readRanking),
        "GET /top-provider": .permission(.readRanking),
        "GET /api/v1/payments/events": .permission(.readPaymentsFeed), "POST /api/v1/claims/:id/payment": .permission(.reportPayments),
        "POST /api/v1/import/prometheus": .permission(.administerMonitoring),
        "POST /api/v1/admin/tsdb/delete_series": .permission(.administerMonitoring),
        "POST /api/v1/admin/tsdb/snapshot": .permission(.administerMonitoring),
        "POST /-/reload": .permission(.administerMonitoring), "PUT /-/reload": .permission(.administerMonitoring),
        "GET /api/v1/rules": .permission(.readMonitoring), "GET /api/v1/alerts": .permission(.readMonitoring),
        "GET /api/v1/alertmanagers": .permission(.readMonitoring),
        "GET /ops": .permission(.operateConsole), "GET /ops/assets/ops.css": .open, "GET /ops/login": .open, "POST /ops/login": .open,
        "POST /ops/logout": .open, "POST /ops/review/:id/dismiss": .permission(.operateConsole),
        "GET /ops/review": .permission(.operateConsole), "GET /ops/review/:id": .permission(.operateConsole),
        "POST /ops/review/:id/resubmit": .permission(.operateConsole), "POST /ops/flagged/:id/clear": .permission(.operateConsole),
    ]

    /// Query-API routes: every one reads monitoring data.
    static let queryRoutes = [
        "GET /api/v1/query", "POST /api/v1/query", "GET /api/v1/query_range", "POST /api/v1/query_range", "GET /api/v1/series",
        "POST /api/v1/series", "GET /api/v1/labels", "POST /api/v1/labels", "GET /api/v1/label/:name/values", "GET /api/v1/status/buildinfo",
        "GET /api/v1/targets", "GET /api/v1/query_exemplars", "POST /api/v1/query_exemplars", "GET /api/v1/metadata",
    ]

    @Test func everyRegisteredRouteIsInTheMatrixAndBehavesAsItSays() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let access = try await TestAccess.settings()
            let directory = NSTemporaryDirectory() + "claimsd-matrix-\(TestEnvironment.uniqueSuffix())"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let everyRoute = try await EveryRoute(dependencies: dependencies, access: access, directory: directory)
            let (router, declarations) = (everyRoute.router, everyRoute.declarations)
            var specification = Self.specification
            for route in Self.queryRoutes { specification[route] = .permission(.readMonitoring) }
            // Query routes beyond the list (status endpoints and the like) read monitoring data too.
            var declared: [String: Requirement] = [:]
            for declaration in declarations.all { declared["\(declaration.method.rawValue) \(declaration.path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: ""))"] = declaration.requirement }
            for (route, requirement) in declared where route.contains("/api/v1/status/") || route.contains("/api/v1/format_query") {
                if specification[route] == nil, requirement == .permission(.readMonitoring) { specification[route] = requirement }
            }
            #expect(Set(declared.keys) == Set(specification.keys), "declared but not in the matrix: \(Set(declared.keys).subtracting(specification.keys).sorted()); in the matrix but not declared: \(Set(specification.keys).subtracting(declared.keys).sorted())")
            for (route, requirement) in declared { #expect(specification[route] == requirement, "\(route) declares \(requirement)") }
            let routes = declared
            let spec = specification

            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
                var keys: [Role: String] = [:]
                for role in Role.allCases {
                    let scope: Scope = role == .provider ? Scope(npis: [Self.npiA]) : role == .member ? Scope(subscriberID: "S-A") : .none
                    keys[role] = try await TestAccess.apiKey(postgres, role: role, scope: scope)
                }
                let user = try await PostgresAccountStore(client: postgres, cipher: TestEnvironment.cipher).createUser(
                    NewUser(email: "someone@example.org", fullName: "", passwordHash: PasswordHasher(cost: 4).hash("a long password 1"), role: .member, scope: .none))
                let missingClaim = "0190c3d2-7a4e-7b1c-9d2e-3f4a5b6c7d8e"
                var checked = 0
                for route in routes.keys.sorted() {
                    let parts = route.split(separator: " ", maxSplits: 1)
                    let method = HTTPRequest.Method(String(parts[0]))!
                    var path = String(parts[1])
                    path = path.replacingOccurrences(of: "/users/:id", with: "/users/\(user.id.uuidString.lowercased())")
                    path = path.replacingOccurrences(of: "/api-keys/:id", with: "/api-keys/aaaaaaaaaaaa")
                    path = path.replacingOccurrences(of: ":id", with: missingClaim).replacingOccurrences(of: ":name", with: "job")
                    for caller in [nil] + Role.allCases.map(Optional.some) {
                        var headers: HTTPFields = [.contentType: "application/json"]
                        if let caller { headers[.authorization] = "Bearer " + keys[caller]! }
                        let response = try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(string: "{}"))
                        let status = response.status.code
                        let context = "\(route) as \(caller?.rawValue ?? "nobody"): \(status) \(String(buffer: response.body).prefix(200))"
                        switch (spec[route]!, caller) {
                        case (.open, _):
                            #expect(status != 401 && status != 403 && status < 500, "\(context)")
                        case (_, nil):
                            #expect(status == 401, "\(context)")
                        case (.authenticated, _) where route == "POST /api/v1/logout":
                            // Every caller here holds an API key, which has no session to end:
                            // refused for the kind of credential, whatever its role.
                            #expect(status == 403 && String(buffer: response.body).contains("only users log out"), "\(context)")
                        case (.authenticated, _):
                            #expect(status != 401 && status != 403 && status < 500, "\(context)")
                        case (.permission(let permission), let role?):
                            if AccessPolicy.roles(holding: permission).contains(role) {
                                #expect(status != 401 && status != 403 && status < 500, "\(context)")
                            } else {
                                #expect(status == 403, "\(context)")
                            }
                        }
                        checked += 1
                    }
                }
                print("route matrix: \(routes.count) routes × 7 callers, \(checked) requests")
            }
            try everyRoute.store.close()
        }
    }

    @Test func loginRefreshRotationReuseAndLogout() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let access = try await TestAccess.settings()
            let router = buildRouter(dependencies: dependencies, access: access, traffic: TrafficSettings(rateLimits: []))
            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
                let admin = "Bearer " + (try await TestAccess.apiKey(postgres))
                let create = try await client.execute(
                    uri: "/api/v1/users", method: .post, headers: [.contentType: "application/json", .authorization: admin],
                    body: ByteBuffer(string: #"{"email":"Pat@Example.org","password":"correct horse battery","full_name":"Pat","role":"provider","npis":["\#(Self.npiA)"]}"#))
                #expect(create.status == .created, "\(String(buffer: create.body))")
                let created = try #require(try JSONSerialization.jsonObject(with: Data(buffer: create.body)) as? [String: Any])
                #expect(created["email"] as? String == "Pat@Example.org" && created["full_name"] as? String == "Pat" && created["password_hash"] == nil)
                // The same email in another case is taken.
                let again = try await client.execute(
                    uri: "/api/v1/users", method: .post, headers: [.contentType: "application/json", .authorization: admin],
                    body: ByteBuffer(string: #"{"email":"pat@example.ORG","password":"correct horse battery"}"#))
                #expect(again.status == .conflict)
                // Bad bodies name every problem.
                let bad = try await client.execute(
                    uri: "/api/v1/users", method: .post, headers: [.contentType: "application/json", .authorization: admin],
                    body: ByteBuffer(string: #"{"email":"nope","password":"short","role":"king","colour":"red"}"#))
                #expect(bad.status == .unprocessableContent)
                let badText = String(buffer: bad.body)
                for word in ["email", "password", "role", "colour"] { #expect(badText.contains(word), "\(word): \(badText)") }
                let errors = (try JSONSerialization.jsonObject(with: Data(badText.utf8)) as? [String: Any])?["errors"] as? [[String: Any]] ?? []
                #expect(Set(errors.compactMap { $0["field"] as? String }) == ["email", "password", "role", "colour"], "\(badText)")
                // Types are JSON's own: 0 is not false, {} is not a name, true is not a number of
                // seconds; and account bodies are JSON only (a form has no lists or numbers).
                let createdID = try #require(created["id"] as? String)
                for (method, uri, body, word) in [
                    (HTTPRequest.Method.patch, "/api/v1/users/\(createdID)", #"{"disabled":0}"#, "disabled"),
                    (.post, "/api/v1/api-keys", #"{"role":"metrics","name":{}}"#, "name must be a string"),
                    (.post, "/api/v1/api-keys", #"{"role":"metrics","expires_in":true}"#, "expires_in"),
                    (.post, "/api/v1/api-keys", #"{"role":"metrics","expires_in":3155760001}"#, "100 years"),
                    // A scope comes with the role it binds, whatever role the user has now.
                    (.patch, "/api/v1/users/\(createdID)", #"{"subscriber_id":"S-1"}"#, "role is required with npis or subscriber_id"),
                ] {
                    let response = try await client.execute(uri: uri, method: method, headers: [.contentType: "application/json", .authorization: admin], body: ByteBuffer(string: body))
                    #expect(response.status == .unprocessableContent && String(buffer: response.body).contains(word), "\(body): \(String(buffer: response.body))")
                }
                let formUser = try await client.execute(
                    uri: "/api/v1/users", method: .post, headers: [.contentType: "application/x-www-form-urlencoded", .authorization: admin],
                    body: ByteBuffer(string: "email=form%40example.org&password=correct+horse+battery"))
                #expect(
                    formUser.status == .unsupportedMediaType && String(buffer: formUser.body).contains("send application/json"), "\(String(buffer: formUser.body))")

                // Login with the OAuth2 password form, then JSON; a wrong password is 401.
                let form = try await client.execute(
                    uri: "/api/v1/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(string: "grant_type=password&username=pat%40example.org&password=correct+horse+battery"))
                #expect(form.status == .ok, "\(String(buffer: form.body))")
                #expect(form.headers[.cacheControl] == "no-store")
                let wrong = try await client.execute(
                    uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"username":"pat@example.org","password":"wrong horse battery"}"#))
                #expect(wrong.status == .unauthorized)
                let pair = try #require(try JSONSerialization.jsonObject(with: Data(buffer: form.body)) as? [String: Any])
                #expect(pair["token_type"] as? String == "bearer" && pair["expires_in"] as? Int == 900)
                let accessToken = try #require(pair["access_token"] as? String)
                let refresh1 = try #require(pair["refresh_token"] as? String)

                // The access token works and says who it is.
                let me = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer " + accessToken])
                #expect(me.status == .ok)
                #expect(String(buffer: me.body).contains(#""role":"provider""#) && String(buffer: me.body).contains(Self.npiA))
                let top = try await client.execute(uri: "/api/v1/providers/top", method: .get, headers: [.authorization: "Bearer " + accessToken])
                #expect(top.status == .forbidden)

                // Refresh rotates; presenting the used token again revokes the family.
                func refresh(_ token: String) async throws -> (HTTPResponse.Status, [String: Any]) {
                    let response = try await client.execute(
                        uri: "/api/v1/refresh", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"refresh_token":"\#(token)"}"#))
                    return (response.status, (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:])
                }
                let (status2, pair2) = try await refresh(refresh1)
                #expect(status2 == .ok)
                let refresh2 = try #require(pair2["refresh_token"] as? String)
                #expect(refresh2 != refresh1)
                let (reuse, reuseBody) = try await refresh(refresh1)
                #expect(reuse == .unauthorized && (reuseBody["detail"] as? String)?.contains("used already") == true)
                let (afterReuse, _) = try await refresh(refresh2)
                #expect(afterReuse == .unauthorized, "the family's newest token must be revoked too")

                // A new login; logout revokes its family.
                let login = try await client.execute(
                    uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"username":"pat@example.org","password":"correct horse battery"}"#))
                let pair3 = try #require(try JSONSerialization.jsonObject(with: Data(buffer: login.body)) as? [String: Any])
                let refresh3 = try #require(pair3["refresh_token"] as? String)
                let logout = try await client.execute(
                    uri: "/api/v1/logout", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer " + (pair3["access_token"] as? String ?? "")],
                    body: ByteBuffer(string: #"{"refresh_token":"\#(refresh3)"}"#))
                #expect(logout.status == .noContent)
                let (afterLogout, _) = try await refresh(refresh3)
                #expect(afterLogout == .unauthorized)

                // A role change makes earlier access tokens stale at once on this instance.
                let users = try await PostgresAccountStore(client: postgres, cipher: TestEnvironment.cipher).users()
                let pat = try #require(users.first { $0.email == "Pat@Example.org" })
                let patch = try await client.execute(
                    uri: "/api/v1/users/\(pat.id.uuidString.lowercased())", method: .patch, headers: [.contentType: "application/json", .authorization: admin],
                    body: ByteBuffer(string: #"{"role":"auditor"}"#))
                #expect(patch.status == .ok, "\(String(buffer: patch.body))")
                let stale = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer " + accessToken])
                #expect(stale.status == .unauthorized)
            }
        }
    }

    @Test func loginAttemptsPerAccountAreLimited() async throws {
        try await ScratchDatabase.with { postgres, database in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(
                databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let access = try await TestAccess.settings(loginLimits: LoginLimits(perAccount: .init(limit: 3, window: .seconds(60))))
            let router = buildRouter(dependencies: dependencies, access: access, traffic: TrafficSettings(rateLimits: []))
            try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
                let account = "nobody-\(TestEnvironment.uniqueSuffix())@example.org"
                var statuses: [HTTPResponse.Status] = []
                for _ in 0..<5 {
                    let response = try await client.execute(
                        uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"],
                        body: ByteBuffer(string: #"{"username":"\#(account)","password":"whatever password"}"#))
                    statuses.append(response.status)
                    if response.status == .tooManyRequests { #expect(response.headers[.retryAfter] != nil) }
                }
                #expect(statuses == [.unauthorized, .unauthorized, .unauthorized, .tooManyRequests, .tooManyRequests])
            }
        }
    }

    @Test func expiredRefreshTokensArePurgedOneLifetimeAfterExpiry() async throws {
        try await ScratchDatabase.with { postgres, _ in
            _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
            let store = PostgresAccountStore(client: postgres, cipher: TestEnvironment.cipher)
            let user = try await store.createUser(NewUser(email: "sam@example.org", fullName: "Sam", passwordHash: "x", role: .member, scope: Scope()))
            let lifetime: Int64 = 14 * 86_400
            for name in ["current", "recent", "old", "older"] {
                _ = try await store.startRefreshFamily(userID: user.id, tokenHash: name, lifetimeSeconds: lifetime)
            }
            // "recent" expired a day ago, "old" and "older" more than one lifetime ago.
            try await postgres.query("UPDATE refresh_tokens SET expires_at = now() - interval '1 day' WHERE token_hash = 'recent'")
            try await postgres.query("UPDATE refresh_tokens SET expires_at = now() - interval '15 days', used_at = now() WHERE token_hash IN ('old', 'older')")
            let telemetry = Telemetry()
            let purge = ExpiredRecordsPurgeService(
                records: "refresh tokens", counter: "claimsd_refresh_tokens_purged_total", interval: .seconds(60), batchSize: 1,
                logger: TestEnvironment.quietLogger, metrics: telemetry.factory
            ) { limit in try await store.purgeExpiredRefreshTokens(limit: limit, graceSeconds: lifetime) }
            #expect(await purge.purgeExpired() == 2)
            #expect(String(decoding: telemetry.exposition(), as: UTF8.self).contains("claimsd_refresh_tokens_purged_total 2"))
            let left = try await postgres.query("SELECT token_hash FROM refresh_tokens ORDER BY token_hash").rows.map { try $0.decode("token_hash", as: String.self) }
            #expect(left == ["current", "recent"])
            // A purged token is simply unknown; a kept expired one is refused too.
            #expect(try await store.rotateRefreshToken(tokenHash: "old", newTokenHash: "n1", lifetimeSeconds: lifetime) == .refused)
            #expect(try await store.rotateRefreshToken(tokenHash: "recent", newTokenHash: "n2", lifetimeSeconds: lifetime) == .refused)
            #expect(await purge.purgeExpired() == 0)
        }
    }
}
