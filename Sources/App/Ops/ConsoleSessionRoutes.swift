import Access
import AccountStore
import Digests
import Foundation
import HTTPTypes
import Hummingbird
import OpsConsole

/// The operations console's session cookie: an access token (see `CLAIMS_ACCESS_TOKEN_LIFETIME`)
/// that the browser sends only to `/ops`, never to scripts (`HttpOnly`) and never with a request
/// another site starts (`SameSite=Strict`).
enum ConsoleSession {
    static let cookieName = "claimsd_console"

    /// The token in the request's `Cookie` headers, if the console's cookie is there.
    static func token(in headers: HTTPFields) -> String? {
        for field in headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                guard trimmed.hasPrefix(cookieName + "=") else { continue }
                let value = trimmed.dropFirst(cookieName.count + 1)
                return value.isEmpty ? nil : String(value)
            }
        }
        return nil
    }

    /// `Set-Cookie` for `token`, kept `maxAge` seconds; `Secure` when the browser reached
    /// claimsd over HTTPS (its own TLS, or a proxy that says so).
    static func cookie(_ token: String, maxAge: Int64, secure: Bool) -> String {
        "\(cookieName)=\(token); Path=/ops; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The token the console's forms carry for a session: derived from the session's own
    /// token, which no other site can read (the cookie is `HttpOnly`, the page same-origin), so
    /// a form another site makes cannot carry it.
    static func formToken(forSession token: String) -> String {
        SHA256.hex(Array("claimsd console form\u{0}".utf8) + Array(token.utf8))
    }

    /// Whether a form posted with `headers` needs the form token: it does when the request is
    /// authenticated by the console's cookie, which a browser attaches by itself, and not when
    /// it carries a credential header, which only the caller's own code can add.
    static func formToken(requiredBy headers: HTTPFields) -> String? {
        guard headers[.authorization] == nil, headers[.xAPIKey] == nil, let session = token(in: headers) else { return nil }
        return formToken(forSession: session)
    }

    /// `Set-Cookie` that removes the session.
    static func removal(secure: Bool) -> String { cookie("", maxAge: 0, secure: secure) }
}

/// Signing in to the operations console from a browser: `GET /ops/login` (the form), `POST
/// /ops/login` (email and password, form-encoded: the session cookie and a 303 to `/ops`) and
/// `POST /ops/logout` (the cookie removed). The password check is the API login's — limited per
/// account and address, audited — and only a role that may use the console gets a session.
struct ConsoleSessionRoutes: Sendable {
    let accounts: AccountRoutes
    /// Whether claimsd serves TLS itself (cookies are then `Secure`).
    let servesTLS: Bool

    func register(on router: SecuredRoutes) {
        router.get("ops/login", requires: .open) { request, _ in
            let reason = request.uri.queryParameters.get("reason")
            let message: String? =
                switch reason {
                case "expired": "Your session has ended; sign in again."
                case "signed_out": "You are signed out."
                default: nil
                }
            return Self.page(OpsSignInPage(message: message), status: .ok)
        }
        router.post("ops/login", requires: .open) { request, context in try await signIn(request, context: context) }
        router.post("ops/logout", requires: .open) { request, _ in
            Response(
                status: .seeOther,
                headers: [.location: "/ops/login?reason=signed_out", .setCookie: ConsoleSession.removal(secure: secure(request)), .cacheControl: "no-store"])
        }
    }

    func signIn(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let fields = try await AccountRoutes.fields(request, allowed: ["email", "password"], acceptsForm: true)
        let email = fields.string("email") ?? ""
        guard fields.problems.isEmpty, fields.string("email") != nil, let password = fields.string("password") else {
            return Self.page(OpsSignInPage(message: "Enter your email and password.", email: email), status: .badRequest)
        }
        let user: UserAccount
        do {
            user = try await accounts.authenticate(username: email, password: password, request: request, context: context)
        } catch let problem as Problem where problem.status == 401 || problem.status == 429 {
            let detail = problem.detail ?? "sign-in failed"
            var response = Self.page(OpsSignInPage(message: detail.prefix(1).uppercased() + detail.dropFirst() + ".", email: email), status: HTTPResponse.Status(code: problem.status))
            if let retry = problem.headers[.retryAfter] { response.headers[.retryAfter] = retry }
            return response
        }
        guard AccessPolicy.allows(user.role, .operateConsole) else {
            context.logger.notice("console sign-in refused", metadata: ["event": "console_sign_in_refused", "user_id": "\(user.id.postgresText)", "role": "\(user.role)"])
            accounts.record(
                .login, request: request, context: context, as: user.principal, resourceType: "user", resourceID: user.id.postgresText, outcome: .denied,
                detail: #"{"via":"console","reason":"role"}"#)
            return Self.page(OpsSignInPage(message: "The role \(user.role) may not use the operations console.", email: email), status: .forbidden)
        }
        let issued = try await accounts.settings.tokens.issue(
            userID: user.id.postgresText, role: user.role, scope: user.scope, now: Int64(Date().timeIntervalSince1970))
        context.logger.info("console sign-in", metadata: ["event": "login", "via": "console", "user_id": "\(user.id.postgresText)", "role": "\(user.role)"])
        accounts.record(.login, request: request, context: context, as: user.principal, resourceType: "user", resourceID: user.id.postgresText, detail: #"{"via":"console"}"#)
        return Response(
            status: .seeOther,
            headers: [
                .location: "/ops", .setCookie: ConsoleSession.cookie(issued.token, maxAge: Int64(issued.expiresIn), secure: secure(request)),
                .cacheControl: "no-store",
            ])
    }

    /// Whether the browser reached claimsd over HTTPS.
    func secure(_ request: Request) -> Bool {
        servesTLS || request.headers[.xForwardedProto]?.lowercased() == "https"
    }

    static func page(_ page: OpsSignInPage, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.html())))
    }
}

extension HTTPField.Name {
    static let xForwardedProto = Self("X-Forwarded-Proto")!
}
