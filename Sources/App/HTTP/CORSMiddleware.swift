public import Hummingbird
import HTTPTypes

/// Cross-origin access for the browser origins `CLAIMS_CORS_ORIGINS` lists, and none for any
/// other: without the setting, no answer carries `Access-Control-Allow-Origin`, so browsers keep
/// other sites' pages from reading claimsd's answers.
///
/// A preflight (`OPTIONS` with `Access-Control-Request-Method`) from a listed origin is answered
/// here, before authentication: it carries no credential. Other requests from a listed origin
/// get the allow headers on whatever they are answered, errors included (it sits outside
/// ``ProblemMiddleware``), so a browser client can read a 401 or 422 problem.
public struct CORSMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    let origins: Set<String>

    static let allowedMethods = "GET, POST, PUT, PATCH, DELETE"
    static let allowedHeaders = "Authorization, Content-Type, Idempotency-Key, X-API-Key, X-Request-Id"
    static let exposedHeaders =
        "Location, Retry-After, X-Request-Id, Idempotent-Replayed, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-Ranking-Source, X-Ranking-Sequence"

    /// `origins`: exact origins such as `https://ops.example.org` (scheme, host and port).
    public init(origins: [String]) {
        self.origins = Set(origins)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.contains(origin) else { return try await next(request, context) }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = HTTPFields()
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowMethods] = Self.allowedMethods
            headers[.accessControlAllowHeaders] = Self.allowedHeaders
            headers[.accessControlMaxAge] = "600"
            headers[.vary] = "Origin"
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
        response.headers[.vary] = "Origin"
        return response
    }

    /// The problem with one configured origin, or `nil` when it is one: `http` or `https`, a
    /// host, an optional port, nothing after.
    public static func problem(with origin: String) -> String? {
        guard origin.hasPrefix("http://") || origin.hasPrefix("https://") else { return "'\(origin)' must start with http:// or https://" }
        let rest = origin.drop { $0 != ":" }.dropFirst(3)
        guard !rest.isEmpty, !rest.contains("/"), !rest.hasSuffix(":"), rest.allSatisfy({ $0.isLetter || $0.isNumber || "-.:[]".contains($0) }) else {
            return "'\(origin)' must be scheme://host[:port] with no path, like https://ops.example.org"
        }
        return nil
    }
}
