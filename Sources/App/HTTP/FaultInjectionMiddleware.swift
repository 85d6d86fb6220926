public import Hummingbird
import HTTPTypes

/// Answers a request carrying `X-Claimsd-Fault: <5xx status>` with that status, as if the route
/// had failed: the metrics, the access log and the alert rules see a real server error on the
/// real route. Installed only when `CLAIMS_FAULT_INJECTION=on` (off by default), for alert drills
/// and `flood-api`; without it the header means nothing.
public struct FaultInjectionMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    /// The header that asks for a fault.
    public static let header = "X-Claimsd-Fault"
    private static let headerName = HTTPField.Name(header)

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let name = Self.headerName, let value = request.headers[name] else { return try await next(request, context) }
        guard let status = Int(value), (500...599).contains(status) else {
            throw Problem(
                status: .badRequest, detail: "\(Self.header) must be a status from 500 to 599, got \"\(value.prefix(40))\"",
                type: ProblemType.invalidFaultRequest, title: "Invalid fault request")
        }
        var problem = Problem(
            status: HTTPResponse.Status(code: status),
            detail: "fault injected on request (\(Self.header): \(status)); fault injection is on (CLAIMS_FAULT_INJECTION)",
            type: ProblemType.injectedFault, title: "Injected fault")
        if status == 503 { problem.headers[.retryAfter] = "1" }
        throw problem
    }
}
