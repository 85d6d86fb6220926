public import Access
import Foundation
public import Hummingbird
import HTTPTypes

/// Finds who a request speaks for, before the caller is worked out and rate limits apply.
///
/// It never refuses a request itself: a route's declared ``Access/Requirement`` decides (see
/// ``SecuredRoutes``), so open routes answer whatever credential is sent. With authentication
/// off every request is ``Access/Principal/authenticationOff``.
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    let mode: AuthMode
    let authenticator: Authenticator

    public init(mode: AuthMode, authenticator: Authenticator) {
        self.mode = mode
        self.authenticator = authenticator
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if mode == .off {
            context.principal = .authenticationOff
            return try await next(request, context)
        }
        var credential: Credential?
        do {
            credential = try Credential.from(authorization: request.headers[.authorization], apiKeyHeader: request.headers[.xAPIKey])
        } catch {
            context.authenticationFailure = .malformed(error)
            return try await next(request, context)
        }
        // The operations console's session: an access token in a cookie the browser sends only
        // to /ops (see ConsoleSessionRoutes); headers win when both are sent.
        if credential == nil, request.uri.path.hasPrefix("/ops"), let token = ConsoleSession.token(in: request.headers) {
            credential = .accessToken(token)
        }
        guard let credential else { return try await next(request, context) }
        switch try await authenticator.authenticate(credential, now: Int64(Date().timeIntervalSince1970)) {
        case .success(let principal):
            context.principal = principal
            context.facts.principalID = principal.id
            context.logger[metadataKey: "principal"] = .string(principal.id)
        case .failure(let failure):
            context.authenticationFailure = failure
        }
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    static let xAPIKey = Self("X-API-Key")!
    static let wwwAuthenticate = Self("WWW-Authenticate")!
}
