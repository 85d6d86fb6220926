public import Access
public import AuditTrail
import JSONText
import Foundation
public import Hummingbird
import HTTPTypes
import Synchronization

/// The only way routes reach claimsd's router: each registration declares its
/// ``Access/Requirement``, and ``AccessPolicy`` decides before the handler runs.
///
/// A handler that needs more than its route's requirement (a provider's own claims) asks
/// ``AccessPolicy/claimVisibility(for:)`` for the principal the context carries.
public struct SecuredRoutes {
    let router: Router<ClaimsRequestContext>
    let prefix: String
    let declarations: RouteDeclarations
    /// Where refusals (401, 403) are audited as `access.denied`.
    let audit: AuditRecorder?

    /// Routes registered on `router`, recorded in `declarations`; refusals audited in `audit`.
    public init(router: Router<ClaimsRequestContext>, declarations: RouteDeclarations = RouteDeclarations(), audit: AuditRecorder? = nil) {
        self.init(router: router, prefix: "", declarations: declarations, audit: audit)
    }

    init(router: Router<ClaimsRequestContext>, prefix: String, declarations: RouteDeclarations, audit: AuditRecorder?) {
        self.router = router
        self.prefix = prefix
        self.declarations = declarations
        self.audit = audit
    }

    /// Routes under `path`.
    public func group(_ path: String) -> SecuredRoutes {
        SecuredRoutes(router: router, prefix: Self.join(prefix, path), declarations: declarations, audit: audit)
    }

    /// Registers `handler` for `method` on `path`, run only for requests that meet `requirement`.
    ///
    /// With `signIn`, a browser (a request that accepts `text/html`) without a valid credential
    /// is sent there with a 303 instead of a 401 (`?reason=expired` when it sent one that no
    /// longer works); other clients still get the 401.
    @discardableResult
    public func on(
        _ path: String = "", method: HTTPRequest.Method, requires requirement: Requirement, signIn: String? = nil,
        use handler: @escaping @Sendable (Request, ClaimsRequestContext) async throws -> some ResponseGenerator
    ) -> Self {
        let full = Self.join(prefix, path)
        declarations.add(RouteDeclaration(method: method, path: full, requirement: requirement))
        let audit = self.audit
        router.on(RouterPath(full), method: method) { request, context -> Response in
            do throws(Problem) {
                try Self.check(requirement, context: context)
            } catch {
                audit?.record(Self.denial(error, route: full, request: request, context: context))
                if let signIn, error.status == 401, request.headers[.accept]?.contains("text/html") == true {
                    let location = signIn + (context.authenticationFailure == nil ? "" : "?reason=expired")
                    return Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
                }
                throw error
            }
            return try await handler(request, context).response(from: request, context: context)
        }
        return self
    }

    @discardableResult
    public func get(
        _ path: String = "", requires: Requirement, signIn: String? = nil,
        use handler: @escaping @Sendable (Request, ClaimsRequestContext) async throws -> some ResponseGenerator
    ) -> Self {
        on(path, method: .get, requires: requires, signIn: signIn, use: handler)
    }

    @discardableResult
    public func post(_ path: String = "", requires: Requirement, use handler: @escaping @Sendable (Request, ClaimsRequestContext) async throws -> some ResponseGenerator) -> Self {
        on(path, method: .post, requires: requires, use: handler)
    }

    @discardableResult
    public func put(_ path: String = "", requires: Requirement, use handler: @escaping @Sendable (Request, ClaimsRequestContext) async throws -> some ResponseGenerator) -> Self {
        on(path, method: .put, requires: requires, use: handler)
    }

    @discardableResult
    public func patch(_ path: String = "", requires: Requirement, use handler: @escaping @Sendable (Request, ClaimsRequestContext) async throws -> some ResponseGenerator) -> Self {
        on(path, method: .patch, requires: requires, use: handler)
    }

    @discardableResult
    public func delete(_ path: String = "", requires: Requirement, use handler: @escaping @Sendable (Request, ClaimsRequestContext) async throws -> some ResponseGenerator) -> Self {
        on(path, method: .delete, requires: requires, use: handler)
    }

    /// 401 (no valid credential, with `WWW-Authenticate: Bearer`) or 403 (a role without the
    /// permission) unless `context` meets `requirement`.
    static func check(_ requirement: Requirement, context: ClaimsRequestContext) throws(Problem) {
        switch AccessPolicy.decide(requirement, for: context.principal) {
        case .allowed:
            return
        case .unauthenticated:
            throw unauthenticated(context.authenticationFailure)
        case .forbidden(let role, let permission):
            context.logger.info(
                "request forbidden", metadata: ["event": "access_denied", "role": "\(role)", "permission": "\(permission)"])
            throw Problem(
                status: .forbidden, detail: "the role \(role) may not \(permission.rawValue) (docs/security.md lists what each role may do)",
                type: ProblemType.forbidden, title: "Forbidden")
        }
    }

    /// The audit event of a refused request: the route template, the method, the answer and why.
    static func denial(_ problem: Problem, route: String, request: Request, context: ClaimsRequestContext) -> AuditEvent {
        var detail = JSONWriter(capacity: 160)
        detail.open("{")
        detail.member("method", request.method.rawValue)
        detail.member("route", route)
        detail.member("status", problem.status)
        if let failure = context.authenticationFailure { detail.member("reason", failure.reason) }
        detail.close("}")
        return AuditEvent(
            actor: AuditActor(request: request, context: context), action: .accessDenied, resourceType: "route", resourceID: nil, outcome: .denied,
            detail: detail.text)
    }

    /// The 401 for a request without a valid credential.
    static func unauthenticated(_ failure: AuthenticationFailure?) -> Problem {
        var problem = Problem(
            status: .unauthorized,
            detail: failure?.description ?? "this route needs a credential: an API key (Authorization: Bearer ck_… or X-API-Key) or an access token from /api/v1/login",
            type: ProblemType.unauthenticated, title: "Unauthenticated")
        if let failure {
            let description = failure.description.replacingOccurrences(of: "\"", with: "'")
            problem.headers[.wwwAuthenticate] = #"Bearer realm="claimsd", error="invalid_token", error_description="\#(description)""#
        } else {
            problem.headers[.wwwAuthenticate] = #"Bearer realm="claimsd""#
        }
        return problem
    }

    static func join(_ prefix: String, _ path: String) -> String {
        let parts = [prefix, path].map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) }.filter { !$0.isEmpty }
        return "/" + parts.joined(separator: "/")
    }
}

/// One route as registered: its method, path template and requirement.
public struct RouteDeclaration: Sendable, Hashable {
    public let method: HTTPRequest.Method
    public let path: String
    public let requirement: Requirement
}

/// The routes registered through ``SecuredRoutes``, in order (for tests and docs).
public final class RouteDeclarations: Sendable {
    private let entries = Mutex<[RouteDeclaration]>([])

    public init() {}

    /// Every declaration so far, in registration order.
    public var all: [RouteDeclaration] { entries.withLock { $0 } }

    func add(_ declaration: RouteDeclaration) {
        entries.withLock { $0.append(declaration) }
    }
}
