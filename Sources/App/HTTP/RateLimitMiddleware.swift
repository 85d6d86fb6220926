import Foundation
public import Hummingbird
import HTTPTypes
public import RateLimiting

/// Applies the configured per-route limits (see ``RateLimitRule``) before the handler runs.
///
/// Routes are matched by method and route template, so `/api/v1/claims/{id}` is one route for
/// every id. Every response of a limited route carries `RateLimit-Limit`, `RateLimit-Remaining`
/// and `RateLimit-Reset`; a refusal is a 429 problem with `Retry-After`.
public struct RateLimitMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    let limiter: SlidingWindowLimiter
    /// Policies by `METHOD /template`.
    let policies: [String: RateLimitPolicy]
    /// Routes that share another route's limit and window: `GET /top-providers` → `GET /api/v1/providers/top`.
    let aliases: [String: String]
    /// Route templates that may be limited, so other requests pass with one set lookup.
    let limitedTemplates: Set<String>

    /// Clients are told apart by ``ClaimsRequestContext/caller`` (``CallerMiddleware`` runs first).
    public init(limiter: SlidingWindowLimiter, rules: [RateLimitRule], aliases: [String: String] = [:]) {
        self.limiter = limiter
        self.policies = Dictionary(rules.map { ("\($0.method) \($0.route)", $0.policy) }, uniquingKeysWith: { _, last in last })
        self.aliases = aliases
        let routes = rules.map(\.route) + aliases.keys.compactMap { $0.split(separator: " ", maxSplits: 1).last.map(String.init) }
        self.limitedTemplates = Set(routes)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let template = context.endpointPath, limitedTemplates.contains(template) else { return try await next(request, context) }
        let route = "\(request.method.rawValue) \(template)"
        let scope = aliases[route] ?? route
        guard let policy = policies[scope] else { return try await next(request, context) }
        switch await limiter.check(scope: scope, client: context.caller, policy: policy, requestID: RequestIDMiddleware.generate()) {
        case .unavailable:
            var problem = Problem(
                status: .serviceUnavailable, detail: "the rate limiter cannot reach Redis and is configured to refuse requests until it can",
                type: ProblemType.rateLimiterUnavailable, title: "Rate limiter unavailable")
            problem.headers[.retryAfter] = "1"
            throw problem
        case .decided(let decision):
            let headers = Self.headers(decision)
            guard decision.allowed else {
                context.logger.info(
                    "request rate limited",
                    metadata: ["event": "rate_limited", "route": "\(scope)", "limit": "\(policy)", "decided_by": "\(decision.source.rawValue)"])
                var problem = Problem(
                    status: .tooManyRequests,
                    detail: "at most \(policy.limit) requests per \(policy.windowMilliseconds / 1000) s are allowed on \(scope); retry in \(decision.resetWholeSeconds) s",
                    type: ProblemType.rateLimited, title: "Too many requests")
                problem.headers = headers
                problem.headers[.retryAfter] = String(max(1, decision.resetWholeSeconds))
                throw problem
            }
            do {
                var response = try await next(request, context)
                response.headers.append(contentsOf: headers)
                return response
            } catch var problem as Problem {
                problem.headers.append(contentsOf: headers)
                throw problem
            }
        }
    }

    static func headers(_ decision: RateLimitDecision) -> HTTPFields {
        var headers = HTTPFields()
        headers[.rateLimitLimit] = String(decision.limit)
        headers[.rateLimitRemaining] = String(decision.remaining)
        headers[.rateLimitReset] = String(decision.resetWholeSeconds)
        return headers
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = Self("RateLimit-Limit")!
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    static let rateLimitReset = Self("RateLimit-Reset")!
    static let xForwardedFor = Self("X-Forwarded-For")!
}
