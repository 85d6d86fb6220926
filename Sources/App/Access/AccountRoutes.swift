public import Access
public import AuditTrail
import DataProtection
public import CoreMetrics
public import AccountStore
import Claims
import Foundation
public import Hummingbird
import HTTPTypes
import JSONText
import Logging
import NIOPosix
public import RateLimiting

/// Users, sessions and API keys over HTTP: registration, login (JSON or the OAuth2 password
/// form), refresh with rotation, logout, `/api/v1/me`, user and key administration, and the
/// public keys at `/.well-known/jwks.json`.
public struct AccountRoutes: Sendable {
    let store: PostgresAccountStore
    let authenticator: Authenticator
    let settings: AccessSettings
    let limiter: SlidingWindowLimiter
    let clients: ClientAddress
    /// A hash of nothing anyone knows, at the configured cost, checked when an account does not
    /// exist so that answer takes as long as a wrong password.
    let decoy: String
    /// Logins, refusals and account changes, audited.
    let audit: AuditRecorder

    public init(
        store: PostgresAccountStore, authenticator: Authenticator, settings: AccessSettings, limiter: SlidingWindowLimiter, clients: ClientAddress,
        audit: AuditRecorder = AuditRecorder(metrics: NOOPMetricsHandler.instance)
    ) {
        self.store = store
        self.audit = audit
        self.authenticator = authenticator
        self.settings = settings
        self.limiter = limiter
        self.clients = clients
        self.decoy = settings.passwordHasher.decoyHash()
    }

    public func register(on router: SecuredRoutes) {
        router.get(".well-known/jwks.json", requires: .open) { _, _ in
            var response = RouteSupport.json(bytes: Array(settings.tokens.keyring.jwksJSON.utf8))
            response.headers[.cacheControl] = "public, max-age=300"
            return response
        }
        router.post("api/v1/login", requires: .open) { request, context in try await login(request, context: context) }
        router.post("api/v1/refresh", requires: .open) { request, context in try await refresh(request, context: context) }
        router.post("api/v1/logout", requires: .authenticated) { request, context in try await logout(request, context: context) }
        router.get("api/v1/me", requires: .authenticated) { _, context in try await me(context) }
        // Open registration makes the route open; the handler still gives roles only to admins.
        router.post("api/v1/users", requires: settings.openRegistration ? .open : .permission(.manageAccounts)) { request, context in
            try await createUser(request, context: context)
        }
        router.get("api/v1/users", requires: .permission(.readAccounts)) { _, context in
            let masked = Self.masks(context)
            return RouteSupport.json(bytes: Self.array(try await store.users()) { Self.write($0, to: &$1, masked: masked) }, headers: Self.private)
        }
        router.get("api/v1/users/:id", requires: .permission(.readAccounts)) { _, context in
            guard let user = try await store.user(id: try Self.userID(context)) else { throw Self.noSuchUser }
            return RouteSupport.json(bytes: Self.object { Self.write(user, to: &$0, masked: Self.masks(context)) }, headers: Self.private)
        }
        router.patch("api/v1/users/:id", requires: .permission(.manageAccounts)) { request, context in
            try await changeUser(id: try Self.userID(context), request: request, context: context)
        }
        router.post("api/v1/api-keys", requires: .permission(.manageAccounts)) { request, context in try await createAPIKey(request, context: context) }
        router.get("api/v1/api-keys", requires: .permission(.readAccounts)) { _, context in
            let masked = Self.masks(context)
            return RouteSupport.json(bytes: Self.array(try await store.apiKeys()) { Self.write($0, to: &$1, masked: masked) }, headers: Self.private)
        }
        router.delete("api/v1/api-keys/:id", requires: .permission(.manageAccounts)) { request, context in
            let id = context.parameters.get("id") ?? ""
            let event = auditEvent(.apiKeyRevoke, request: request, context: context, resourceType: "api_key", resourceID: id)
            guard try await store.revokeAPIKey(id: id, audit: audit.inTransaction(event)) else {
                throw Problem(status: .notFound, detail: "no API key '\(id)' that is not revoked already")
            }
            authenticator.forgetAPIKey(id: id)
            context.logger.notice("API key revoked", metadata: ["event": "api_key_revoked", "api_key_id": "\(id)"])
            return Response(status: .noContent)
        }
    }

    // MARK: - Sessions

    func login(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let fields = try await Self.fields(request, allowed: ["username", "email", "password", "grant_type", "scope", "client_id", "client_secret"], acceptsForm: true)
        var problems: [String] = []
        let username = fields.string("username") ?? fields.string("email")
        if username == nil { problems.append("username (the user's email) is required") }
        let password = fields.string("password")
        if password == nil { problems.append("password is required") }
        if let grant = fields.string("grant_type"), grant != "password" { problems.append("grant_type must be 'password' on this route") }
        problems += fields.problems
        guard problems.isEmpty, let username, let password else { throw Self.invalid(problems) }
        let user = try await authenticate(username: username, password: password, request: request, context: context)
        let refreshToken = RefreshToken.generate()
        _ = try await store.startRefreshFamily(userID: user.id, tokenHash: RefreshToken.hash(refreshToken), lifetimeSeconds: settings.refreshTokenLifetime)
        context.logger.info("login", metadata: ["event": "login", "user_id": "\(user.id.postgresText)", "role": "\(user.role)"])
        record(.login, request: request, context: context, as: user.principal, resourceType: "user", resourceID: user.id.postgresText)
        return try await tokenResponse(for: user, refreshToken: refreshToken)
    }

    /// The enabled account `username` names when `password` is its password. Attempts are
    /// limited per account and per address (429), bcrypt runs off the request threads with the
    /// same work for unknown accounts, and a failure is logged, audited and thrown as a 401
    /// that does not say which part was wrong.
    func authenticate(username: String, password: String, request: Request, context: ClaimsRequestContext) async throws -> UserAccount {
        try await limitLogin(account: username.lowercased(), request: request, context: context)
        let user = try await store.user(email: username)
        let hasher = settings.passwordHasher
        let hash = user?.passwordHash
        let decoy = self.decoy
        // The same bcrypt work whether or not the account exists, off the request threads.
        let matches = try await PasswordWork.pool.runIfActive {
            hash.map { hasher.verify(password, hash: $0) } ?? { _ = hasher.verify(password, hash: decoy); return false }()
        }
        guard let user, matches, !user.isDisabled else {
            let reason = user == nil ? "unknown_account" : (matches ? "disabled" : "wrong_password")
            context.logger.notice(
                "login failed", metadata: ["event": "login_failed", "reason": "\(reason)", "user_id": "\(user?.id.postgresText ?? "-")"])
            record(.loginFailed, request: request, context: context, resourceType: "user", resourceID: user?.id.postgresText, outcome: .denied, detail: #"{"reason":"\#(reason)"}"#)
            throw Problem(status: .unauthorized, detail: "the email or password is wrong, or the account is disabled", type: ProblemType.loginFailed, title: "Login failed")
        }
        return user
    }

    func refresh(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let fields = try await Self.fields(request, allowed: ["refresh_token", "grant_type", "client_id", "client_secret", "scope"], acceptsForm: true)
        var problems = fields.problems
        let token = fields.string("refresh_token")
        if token == nil { problems.append("refresh_token is required") }
        if let grant = fields.string("grant_type"), grant != "refresh_token" { problems.append("grant_type must be 'refresh_token' on this route") }
        guard problems.isEmpty, let token else { throw Self.invalid(problems) }
        let next = RefreshToken.generate()
        switch try await store.rotateRefreshToken(
            tokenHash: RefreshToken.hash(token), newTokenHash: RefreshToken.hash(next), lifetimeSeconds: settings.refreshTokenLifetime)
        {
        case .rotated(let user, _):
            return try await tokenResponse(for: user, refreshToken: next)
        case .reuseDetected(let userID, let family):
            authenticator.forgetUser(id: userID)
            context.logger.warning(
                "refresh token reused: its family is revoked",
                metadata: ["event": "refresh_token_reuse", "user_id": "\(userID.postgresText)", "family_id": "\(family.postgresText)"])
            record(
                .refreshReuse, request: request, context: context, resourceType: "user", resourceID: userID.postgresText, outcome: .denied,
                detail: #"{"family_id":"\#(family.postgresText)"}"#)
            throw Problem(
                status: .unauthorized, detail: "this refresh token was used already, so every token of its session is revoked; log in again",
                type: ProblemType.loginFailed, title: "Refresh token reused")
        case .refused:
            throw Problem(
                status: .unauthorized, detail: "the refresh token is unknown, expired or revoked, or its user is disabled; log in again",
                type: ProblemType.loginFailed, title: "Refresh refused")
        }
    }

    func logout(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        guard let principal = context.principal, let userID = principal.userID.flatMap(UUID.init(uuidString:)) else {
            throw Problem(status: .forbidden, detail: "only users log out; an API key is revoked with DELETE /api/v1/api-keys/{id}")
        }
        let fields = try await Self.fields(request, allowed: ["refresh_token"], acceptsForm: true, optionalBody: true)
        guard fields.problems.isEmpty else { throw Self.invalid(fields.problems) }
        let revoked: Int
        if let token = fields.string("refresh_token") {
            revoked = try await store.revokeRefreshFamily(tokenHash: RefreshToken.hash(token), userID: userID)
        } else {
            revoked = try await store.revokeRefreshTokens(userID: userID)
        }
        context.logger.info("logout", metadata: ["event": "logout", "user_id": "\(userID.postgresText)", "revoked": "\(revoked)"])
        record(.logout, request: request, context: context, resourceType: "user", resourceID: userID.postgresText, detail: #"{"revoked":\#(revoked)}"#)
        return Response(status: .noContent)
    }

    func me(_ context: ClaimsRequestContext) async throws -> Response {
        guard let principal = context.principal else { throw SecuredRoutes.unauthenticated(nil) }
        var user: UserAccount?
        if let id = principal.userID.flatMap(UUID.init(uuidString:)) { user = try await store.user(id: id) }
        let body = Self.object { writer in
            writer.member("id", principal.id)
            writer.member("kind", principal.kind.rawValue)
            writer.member("role", principal.role.rawValue)
            Self.write(principal.scope, to: &writer)
            if let user {
                writer.member("email", user.email)
                writer.member("full_name", user.fullName)
            }
        }
        return RouteSupport.json(bytes: body, headers: Self.private)
    }

    /// `{"access_token","token_type":"bearer","refresh_token","expires_in"}`, never cached.
    /// Queues the audit event of `action` (logins and refusals, which change nothing to commit with).
    func record(
        _ action: AuditAction, request: Request, context: ClaimsRequestContext, as principal: Principal? = nil, resourceType: String, resourceID: String?,
        outcome: AuditOutcome = .allowed, detail: String? = nil
    ) {
        audit.record(
            auditEvent(action, request: request, context: context, as: principal, resourceType: resourceType, resourceID: resourceID, outcome: outcome, detail: detail))
    }

    /// The audit event of `action` by the request's principal, or by `principal` (a login has
    /// none yet); account changes write it in their own transaction.
    func auditEvent(
        _ action: AuditAction, request: Request, context: ClaimsRequestContext, as principal: Principal? = nil, resourceType: String, resourceID: String?,
        outcome: AuditOutcome = .allowed, detail: String? = nil
    ) -> AuditEvent {
        var actor = AuditActor(request: request, context: context)
        if let principal {
            actor.principal = principal.id
            actor.role = principal.role.rawValue
        }
        return AuditEvent(actor: actor, action: action, resourceType: resourceType, resourceID: resourceID, outcome: outcome, detail: detail)
    }

    func tokenResponse(for user: UserAccount, refreshToken: String) async throws -> Response {
        let issued = try await settings.tokens.issue(
            userID: user.id.postgresText, role: user.role, scope: user.scope, now: Int64(Date().timeIntervalSince1970))
        let body = Self.object { writer in
            writer.member("access_token", issued.token)
            writer.member("token_type", "bearer")
            writer.member("refresh_token", refreshToken)
            writer.member("expires_in", issued.expiresIn)
        }
        var headers = Self.private
        headers[.pragma] = "no-cache"
        return RouteSupport.json(bytes: body, headers: headers)
    }

    /// 429 past the per-account or per-address login limit.
    func limitLogin(account: String, request: Request, context: ClaimsRequestContext) async throws {
        let address = clients.client(peer: context.peerAddress, forwardedFor: request.headers[values: .xForwardedFor])
        for (scope, client, policy) in [("login account", account, settings.loginLimits.perAccount), ("login address", address, settings.loginLimits.perAddress)] {
            guard case .decided(let decision) = await limiter.check(scope: scope, client: client, policy: policy, requestID: context.requestID),
                !decision.allowed
            else { continue }
            context.logger.notice("login rate limited", metadata: ["event": "login_rate_limited", "limit": "\(scope)"])
            var problem = Problem(
                status: .tooManyRequests,
                detail: "too many login attempts for this \(scope == "login account" ? "account" : "address"); retry in \(decision.resetWholeSeconds) s",
                type: ProblemType.rateLimited, title: "Too many requests")
            problem.headers = RateLimitMiddleware.headers(decision)
            problem.headers[.retryAfter] = String(max(1, decision.resetWholeSeconds))
            throw problem
        }
    }

    // MARK: - Users

    func createUser(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let isAdmin = context.principal.map { AccessPolicy.allows($0.role, .manageAccounts) } ?? false
        let fields = try await Self.fields(request, allowed: ["email", "password", "full_name", "role", "npis", "subscriber_id"])
        var problems = fields.problems
        let email = fields.string("email")
        if let email {
            problems += Self.emailProblems(email)
        } else {
            problems.append("email is required")
        }
        let password = fields.string("password")
        if let password { problems += PasswordRules.problems(password) } else { problems.append("password is required") }
        let fullName = fields.string("full_name") ?? ""
        if fullName.count > 256 { problems.append("full_name must be at most 256 characters") }
        var role = Role.member
        var scope = Scope.none
        if isAdmin {
            (role, scope) = Self.roleAndScope(fields, problems: &problems, defaultRole: .member)
        } else if fields.has("role") || fields.has("npis") || fields.has("subscriber_id") {
            problems.append("only an admin sets role, npis or subscriber_id; self-registration makes a member bound to nothing")
        }
        guard problems.isEmpty, let email, let password else { throw Self.invalid(problems) }
        let hasher = settings.passwordHasher
        let hash = try await PasswordWork.pool.runIfActive { hasher.hash(password) }
        let user: UserAccount
        do {
            user = try await store.createUser(
                NewUser(email: email, fullName: fullName, passwordHash: hash, role: role, scope: scope),
                audit: audit.inTransaction(
                    auditEvent(.userCreate, request: request, context: context, resourceType: "user", resourceID: nil, detail: #"{"role":"\#(role.rawValue)"}"#)))
        } catch let error as AccountError {
            throw Problem(status: .conflict, detail: error.description, type: ProblemType.invalidAccount, title: "Email taken")
        }
        context.logger.notice(
            "user created",
            metadata: ["event": "user_created", "user_id": "\(user.id.postgresText)", "role": "\(role)", "by": "\(context.principal?.id ?? "self-registration")"])
        var headers = Self.private
        headers[.location] = "/api/v1/users/\(user.id.postgresText)"
        return RouteSupport.json(bytes: Self.object { Self.write(user, to: &$0) }, status: .created, headers: headers)
    }

    func changeUser(id: UUID, request: Request, context: ClaimsRequestContext) async throws -> Response {
        let fields = try await Self.fields(request, allowed: ["role", "npis", "subscriber_id", "full_name", "password", "disabled"])
        var problems = fields.problems
        var change = UserChange()
        if !fields.has("role") && (fields.has("npis") || fields.has("subscriber_id")) {
            // The scope is checked against the role it goes with, which the request states: what
            // a change means never depends on a role stored earlier.
            problems.append("role is required with npis or subscriber_id")
        } else if fields.has("role") {
            guard let current = try await store.user(id: id) else { throw Self.noSuchUser }
            let (role, scope) = Self.roleAndScope(fields, problems: &problems, defaultRole: current.role, current: current.scope)
            change.role = role
            change.scope = scope
        }
        if let name = fields.string("full_name") {
            if name.count > 256 { problems.append("full_name must be at most 256 characters") }
            change.fullName = name
        }
        if let password = fields.string("password") {
            problems += PasswordRules.problems(password)
            if problems.isEmpty {
                let hasher = settings.passwordHasher
                change.passwordHash = try await PasswordWork.pool.runIfActive { hasher.hash(password) }
            }
        }
        if fields.has("disabled") {
            if let disabled = fields.boolean("disabled") { change.disabled = disabled } else { problems.append("disabled must be true or false") }
        }
        guard problems.isEmpty else { throw Self.invalid(problems) }
        var detail = JSONWriter(capacity: 64)
        detail.open("{")
        detail.key("fields")
        detail.strings(fields.values.keys.sorted())
        detail.close("}")
        let event = auditEvent(.userUpdate, request: request, context: context, resourceType: "user", resourceID: id.postgresText, detail: detail.text)
        guard let user = try await store.updateUser(id: id, change, audit: audit.inTransaction(event)) else { throw Self.noSuchUser }
        authenticator.forgetUser(id: id)
        context.logger.notice(
            "user changed",
            metadata: ["event": "user_changed", "user_id": "\(id.postgresText)", "fields": .array(fields.values.keys.sorted().map { .string($0) })])
        return RouteSupport.json(bytes: Self.object { Self.write(user, to: &$0) }, headers: Self.private)
    }

    // MARK: - API keys

    func createAPIKey(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let fields = try await Self.fields(request, allowed: ["name", "role", "npis", "subscriber_id", "expires_in"])
        var problems = fields.problems
        let name = fields.string("name") ?? ""
        if name.count > 256 { problems.append("name must be at most 256 characters") }
        if !fields.has("role") { problems.append("role is required: one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))") }
        let (role, scope) = Self.roleAndScope(fields, problems: &problems, defaultRole: .metrics)
        var expiresIn: Int64?
        if fields.has("expires_in") {
            if let seconds = fields.integer("expires_in"), (1...Self.maxKeyLifetimeSeconds).contains(seconds) { expiresIn = Int64(seconds) } else {
                problems.append("expires_in is a whole number of seconds from 1 to \(Self.maxKeyLifetimeSeconds) (100 years)")
            }
        }
        guard problems.isEmpty else { throw Self.invalid(problems) }
        let (id, secret, key) = APIKey.generate()
        let record = try await store.createAPIKey(
            NewAPIKey(
                id: id, name: name, secretHash: APIKey.hash(secret: secret), role: role, scope: scope, createdBy: context.principal?.id ?? "anonymous",
                expiresInSeconds: expiresIn),
            audit: audit.inTransaction(
                auditEvent(.apiKeyCreate, request: request, context: context, resourceType: "api_key", resourceID: id, detail: #"{"role":"\#(role.rawValue)"}"#)))
        context.logger.notice("API key created", metadata: ["event": "api_key_created", "api_key_id": "\(id)", "role": "\(role)"])
        let body = Self.object { writer in
            writer.member("key", key)
            Self.write(record, to: &writer)
        }
        var headers = Self.private
        headers[.location] = "/api/v1/api-keys/\(id)"
        return RouteSupport.json(bytes: body, status: .created, headers: headers)
    }

    // MARK: - Bodies

    /// The role and scope in `fields`: NPIs only for providers (each a valid NPI), a subscriber
    /// id only for members.
    static func roleAndScope(_ fields: Fields, problems: inout [String], defaultRole: Role, current: Scope = .none) -> (Role, Scope) {
        var role = defaultRole
        if let text = fields.string("role") {
            if let parsed = Role(rawValue: text) { role = parsed } else {
                problems.append("role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
            }
        } else if fields.has("role") {
            problems.append("role must be a string")
        }
        var npis = current.npis
        if fields.has("npis") {
            if let list = fields.values["npis"] as? [Any], list.count <= 1000, let strings = list as? [String] {
                npis = strings
                for npi in strings where !(npi.count == 10 && npi.allSatisfy(\.isASCII) && npi.allSatisfy(\.isNumber) && isValidNPICheckDigit(npi)) {
                    problems.append("npis: '\(npi.prefix(20))' is not a valid NPI (10 digits with a correct check digit)")
                }
            } else {
                problems.append("npis must be an array of at most 1000 NPI strings")
            }
        }
        var subscriber = current.subscriberID
        if fields.has("subscriber_id") {
            if let text = fields.values["subscriber_id"] as? String, (1...64).contains(text.count) { subscriber = text }
            else if fields.values["subscriber_id"] is NSNull { subscriber = nil }
            else { problems.append("subscriber_id must be a string of 1–64 characters") }
        }
        if role != .provider { npis = [] }
        if role != .member { subscriber = nil }
        if role != .provider, fields.has("npis"), !((fields.values["npis"] as? [Any])?.isEmpty ?? true) {
            problems.append("npis bind only the provider role")
        }
        if role != .member, fields.has("subscriber_id"), !(fields.values["subscriber_id"] is NSNull) {
            problems.append("subscriber_id binds only the member role")
        }
        return (role, Scope(npis: npis, subscriberID: subscriber))
    }

    static func emailProblems(_ email: String) -> [String] {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !email.contains(where: { $0.isWhitespace || $0 == "\u{0}" }) else {
            return ["email must be an address like name@example.org (at most 254 characters)"]
        }
        return []
    }

    /// A request body's fields: a JSON object, or `application/x-www-form-urlencoded` where
    /// `acceptsForm` (the OAuth2 routes: a form's values are all text, so account bodies with
    /// lists and numbers are JSON only). Unknown fields and values of the wrong type are
    /// problems, all reported together.
    struct Fields {
        var values: [String: Any] = [:]
        var problems: [String] = []

        func has(_ name: String) -> Bool { values[name] != nil }

        func string(_ name: String) -> String? { values[name] as? String }

        /// `true` or `false`; nil for anything else, numbers included (JSONSerialization gives
        /// both as NSNumber, and `0 as? Bool` succeeds).
        func boolean(_ name: String) -> Bool? {
            guard let number = values[name] as? NSNumber, Fields.isBoolean(number) else { return nil }
            return number.boolValue
        }

        /// A whole number; nil for anything else, booleans included.
        func integer(_ name: String) -> Int? {
            guard let number = values[name] as? NSNumber, !Fields.isBoolean(number) else { return nil }
            return values[name] as? Int
        }

        static func isBoolean(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

        /// The fields that must be text when given.
        static let textFields: Set<String> = [
            "username", "email", "password", "grant_type", "scope", "client_id", "client_secret", "refresh_token", "full_name", "name",
        ]
    }

    static func fields(_ request: Request, allowed: Set<String>, acceptsForm: Bool = false, optionalBody: Bool = false) async throws -> Fields {
        let mediaType = try RouteSupport.mediaType(of: request)
        let body = try await RouteSupport.collect(request, limit: 64 * 1024, tooLarge: "account requests are at most 64 KiB")
        var fields = Fields()
        if body.isEmpty && optionalBody { return fields }
        switch mediaType {
        case "application/json":
            guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
                throw Problem(status: .badRequest, detail: "the body is not a JSON object", type: ProblemType.unreadableBody, title: "Unreadable body")
            }
            fields.values = object
        case "application/x-www-form-urlencoded" where acceptsForm:
            var components = URLComponents()
            components.percentEncodedQuery = String(decoding: body, as: UTF8.self).replacingOccurrences(of: "+", with: "%20")
            for item in components.queryItems ?? [] { fields.values[item.name] = item.value ?? "" }
        default:
            throw Problem(
                status: .unsupportedMediaType,
                detail: "send \(acceptsForm ? "application/json or application/x-www-form-urlencoded" : "application/json") (got \(mediaType.map { "\"\($0)\"" } ?? "no Content-Type"))")
        }
        for name in fields.values.keys.sorted() where !allowed.contains(name) {
            fields.problems.append("unknown field '\(name.prefix(64))'; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
        for (name, value) in fields.values.sorted(by: { $0.key < $1.key }) where allowed.contains(name) {
            if let text = value as? String {
                if text.utf8.contains(0) { fields.problems.append("\(name) must not contain NUL") }
            } else if Fields.textFields.contains(name) {
                fields.problems.append("\(name) must be a string")
            }
        }
        return fields
    }

    /// The longest lifetime an API key can be given.
    static let maxKeyLifetimeSeconds = 100 * 365 * 86_400 + 25 * 86_400

    static func invalid(_ problems: [String]) -> Problem {
        var problem = Problem(status: .unprocessableContent, detail: problems.joined(separator: "; "), type: ProblemType.invalidAccount, title: "Invalid request")
        problem.errors = problems.map { Violation(line: nil, field: field(of: $0), rule: "account_request", severity: .reject, message: $0) }
        return problem
    }

    /// The body field a problem sentence is about: the first field name it mentions.
    static func field(of problem: String) -> String {
        let names = ["full_name", "subscriber_id", "refresh_token", "grant_type", "expires_in", "username", "password", "email", "role", "npis", "name", "disabled"]
        if problem.hasPrefix("unknown field '") { return String(problem.dropFirst(15).prefix { $0 != "'" }) }
        let words = problem.split(whereSeparator: { !($0.isLetter || $0 == "_") }).map(String.init)
        return words.first(where: names.contains) ?? "body"
    }

    static let noSuchUser = Problem(status: .notFound, detail: "no such user")

    static func userID(_ context: ClaimsRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw Problem(status: .badRequest, detail: "a user id is a UUID")
        }
        return id
    }

    /// Headers of answers that carry account data or secrets: never stored by caches.
    static var `private`: HTTPFields {
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        return headers
    }

    /// A JSON object whose members `members` writes.
    static func object(_ members: (inout JSONWriter) -> Void) -> [UInt8] {
        var writer = JSONWriter()
        writer.open("{")
        members(&writer)
        writer.close("}")
        return writer.bytes
    }

    /// A JSON array of one object per item.
    static func array<Item>(_ items: [Item], _ members: (Item, inout JSONWriter) -> Void) -> [UInt8] {
        var writer = JSONWriter()
        writer.open("[")
        for item in items {
            writer.open("{")
            members(item, &writer)
            writer.close("}")
        }
        writer.close("]")
        return writer.bytes
    }

    /// Whether the request's principal sees names and member identifiers masked.
    static func masks(_ context: ClaimsRequestContext) -> Bool {
        context.principal?.role.seesIdentifiersMasked ?? false
    }

    /// A user's members (never its password hash); `masked`: its name and member identifier
    /// masked to their last four characters.
    static func write(_ user: UserAccount, to writer: inout JSONWriter, masked: Bool = false) {
        writer.member("id", user.id.postgresText)
        writer.member("email", user.email)
        writer.member("full_name", masked ? IdentifierMask.lastFour(user.fullName) : user.fullName)
        writer.member("role", user.role.rawValue)
        write(user.scope, to: &writer, masked: masked)
        writer.member("created_at", user.createdAt)
        writer.member("disabled_at", orNull: user.disabledAt)
    }

    /// An API key's members (never its secret or the secret's hash); `masked`: its member
    /// identifier masked to the last four characters.
    static func write(_ key: APIKeyRecord, to writer: inout JSONWriter, masked: Bool = false) {
        writer.member("id", key.id)
        writer.member("name", key.name)
        writer.member("role", key.role.rawValue)
        write(key.scope, to: &writer, masked: masked)
        writer.member("created_by", key.createdBy)
        writer.member("created_at", key.createdAt)
        writer.member("expires_at", orNull: key.expiresAt)
        writer.member("last_used_at", orNull: key.lastUsedAt)
        writer.member("revoked_at", orNull: key.revokedAt)
    }

    /// The `scope` member: `{"npis":[…],"subscriber_id":…}`.
    static func write(_ scope: Scope, to writer: inout JSONWriter, masked: Bool = false) {
        writer.key("scope")
        writer.open("{")
        writer.key("npis")
        writer.strings(scope.npis)
        writer.member("subscriber_id", orNull: masked ? scope.subscriberID.map(IdentifierMask.lastFour) : scope.subscriberID)
        writer.close("}")
    }
}

/// Where bcrypt runs: two threads of its own, so logins never hold the request threads.
enum PasswordWork {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()
}

extension HTTPField.Name {
    static let pragma = Self("Pragma")!
}
