public import Hummingbird
import HTTPTypes

/// Headers every answer carries: `X-Content-Type-Options: nosniff`; `Cache-Control: no-store`
/// on API answers (claim data, accounts, the audit trail) unless the route set its own; a
/// restrictive `Content-Security-Policy` and `X-Frame-Options: DENY` on HTML; and, when claimsd
/// serves TLS itself, `Strict-Transport-Security`.
///
/// It sits outside ``ProblemMiddleware``, so problem answers get the headers too.
public struct SecurityHeadersMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    /// The policy of HTML pages: nothing from elsewhere, no framing, forms post only back.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

    let strictTransportSecurity: Bool

    public init(strictTransportSecurity: Bool = false) {
        self.strictTransportSecurity = strictTransportSecurity
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        if response.headers[.cacheControl] == nil, request.uri.path.hasPrefix("/api/") {
            response.headers[.cacheControl] = "no-store"
        }
        if response.headers[.contentType]?.hasPrefix("text/html") == true {
            response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
            response.headers[.xFrameOptions] = "DENY"
        }
        if strictTransportSecurity {
            response.headers[.strictTransportSecurity] = "max-age=31536000"
        }
        return response
    }
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
}
