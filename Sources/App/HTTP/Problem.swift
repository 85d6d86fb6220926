public import Claims
import Foundation
import Pooling
import Postgres
public import Hummingbird

/// An RFC 9457 problem detail, sent as `application/problem+json`: the only shape claimsd's
/// error responses take.
public struct Problem: Error, Sendable, Encodable {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String?
    /// The request id, so a client can quote it to operators.
    public var instance: String?
    /// Dependency states, for readiness problems.
    public var checks: [String: DependencyStatus]?
    /// Every rule a rejected claim broke, with line, field and rule name.
    public var errors: [Violation]?
    /// Input keys that named no known field.
    public var ignoredFields: [String]?
    /// Extra response headers, such as `Retry-After`; not part of the body.
    public var headers: HTTPFields = [:]

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, instance, checks, errors
        case ignoredFields = "ignored_fields"
    }

    public init(status: HTTPResponse.Status, detail: String? = nil, type: String = "about:blank", title: String? = nil, checks: [String: DependencyStatus]? = nil) {
        self.type = type
        self.title = title ?? status.reasonPhrase
        self.status = status.code
        self.detail = detail
        self.checks = checks
    }

    /// The problem's JSON body, keys sorted.
    static func encoded(_ problem: Problem) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(problem)) ?? Data("{}".utf8))
    }

    /// The problem as a response with the `application/problem+json` media type.
    public func response() -> Response {
        var response = Response.json(self, status: HTTPResponse.Status(code: status), contentType: "application/problem+json")
        response.headers.append(contentsOf: headers)
        return response
    }
}

extension Response {
    /// A JSON response with sorted keys, so bodies are stable for clients and tests.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, contentType: String = "application/json") -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error a handler throws into a problem response: ``Problem``s as they are,
/// Hummingbird's HTTP errors (404, 413, …) with their status, and anything else into a 500
/// that is logged with the request id and never leaks internals to the client. PostgreSQL being
/// unreachable is an outage, answered 503 with `Retry-After`.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch var problem as Problem {
            problem.instance = problem.instance ?? context.requestID
            return problem.response()
        } catch let error as HTTPError {
            var problem = Problem(status: error.status, detail: error.body)
            problem.instance = context.requestID
            return problem.response()
        } catch let error as any HTTPResponseError {
            var problem = Problem(status: error.status)
            problem.instance = context.requestID
            return problem.response()
        } catch let error where Self.outageDetail(error) != nil {
            // An outage, not a bug: the client may retry, and operators see which dependency.
            context.logger.error("claims database unavailable", metadata: ["event": "dependency_unavailable", "dependency": "postgresql", "error": "\(error)"])
            var problem = Problem(status: .serviceUnavailable, detail: Self.outageDetail(error))
            problem.instance = context.requestID
            problem.headers[.retryAfter] = "1"
            return problem.response()
        } catch {
            context.logger.error("unhandled error", metadata: ["event": "unhandled_error", "error": "\(error)"])
            var problem = Problem(status: .internalServerError, detail: "an unexpected error occurred; quote the request id to the operators")
            problem.instance = context.requestID
            return problem.response()
        }
    }

    /// What to tell the client when `error` is a PostgreSQL outage, `nil` when it is not one. A
    /// connection that broke mid-request may have committed: only then is the outcome unknown.
    static func outageDetail(_ error: any Error) -> String? {
        let notStored = "the claims database cannot be reached right now; nothing was stored, retry shortly"
        if let error = error as? PostgresError {
            switch error.code {
            case .connectionFailed: return notStored
            case .connectionLost:
                return "the connection to the claims database broke mid-request, so it may or may not have been stored; "
                    + "retry with the same Idempotency-Key, or read the claim back first"
            default: return nil
            }
        }
        if case .acquireTimedOut = error as? PoolError { return notStored }
        return nil
    }
}
