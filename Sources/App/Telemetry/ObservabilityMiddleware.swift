public import CoreMetrics
public import Hummingbird
import Logging
import Synchronization

/// Records every request once: the HTTP metrics and the access-log record `request_completed`.
///
/// Metrics (labels are bounded: method, route template, status code — never ids or raw paths):
/// - `claimsd_http_requests_total{method,route,status}`
/// - `claimsd_http_request_duration_seconds{method,route}` (histogram)
/// - `claimsd_http_requests_in_flight`
///
/// The access record's level follows the status: info for 2xx/3xx, warning for 4xx, error for
/// 5xx. It carries method, route, status, duration, response bytes, the request id (from the
/// logger), the principal when there is one, and the domain event a handler reported
/// (``RequestFacts/domainEvent(_:_:level:metadata:logger:)``) as `domain_event` with its fields.
public struct ObservabilityMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    let factory: any MetricsFactory
    let inFlight: Meter
    /// Metric handles by series, so a request costs a dictionary lookup, not a registry search.
    let series = SeriesCache()

    struct RouteSeries: Sendable {
        let requests: Counter
        let duration: Timer
    }

    final class SeriesCache: Sendable {
        let handles = Mutex<[String: RouteSeries]>([:])
    }

    public init(factory: any MetricsFactory) {
        self.factory = factory
        self.inFlight = Meter(label: "claimsd_http_requests_in_flight", factory: factory)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let clock = ContinuousClock()
        let start = clock.now
        inFlight.increment()
        defer { inFlight.decrement() }
        context.facts.willRecordAccess()
        do {
            let response = try await next(request, context)
            record(request, context: context, status: response.status.code, bytes: response.body.contentLength, elapsed: start.duration(to: clock.now))
            return response
        } catch {
            // ProblemMiddleware (inside this one) turns errors into responses; what reaches here
            // is the client going away or a bug, which Hummingbird answers with its own status.
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(request, context: context, status: status, bytes: nil, elapsed: start.duration(to: clock.now))
            throw error
        }
    }

    func record(_ request: Request, context: Context, status: Int, bytes: Int?, elapsed: Duration) {
        let method = request.method.rawValue
        let route = Self.routeLabel(context.endpointPath)
        let handles = handles(method: method, route: route, status: status)
        handles.requests.increment()
        handles.duration.recordNanoseconds(elapsed.nanoseconds)

        var metadata: Logger.Metadata = [
            "event": "request_completed", "method": .string(method), "route": .string(route), "status": .stringConvertible(status),
            "duration_ms": .stringConvertible(Double(elapsed.nanoseconds) / 1_000_000), "response_bytes": .stringConvertible(bytes ?? 0),
        ]
        if let principal = context.facts.principalID { metadata["principal"] = .string(principal) }
        // What the request did, in the same record (the access fields win a name clash).
        if let domain = context.facts.domainEventFields { metadata.merge(domain) { access, _ in access } }
        context.logger.log(level: Self.level(status: status), "request completed", metadata: metadata)
    }

    func handles(method: String, route: String, status: Int) -> RouteSeries {
        let key = "\(method) \(route) \(status)"
        return series.handles.withLock { series in
            if let existing = series[key] { return existing }
            let made = RouteSeries(
                requests: Counter(
                    label: "claimsd_http_requests_total", dimensions: [("method", method), ("route", route), ("status", String(status))],
                    factory: factory),
                duration: Timer(label: "claimsd_http_request_duration_seconds", dimensions: [("method", method), ("route", route)], factory: factory))
            series[key] = made
            return made
        }
    }

    /// The route template, or `unmatched` for requests no route answered (their raw paths would
    /// make the label unbounded).
    static func routeLabel(_ endpointPath: String?) -> String {
        guard let endpointPath, endpointPath != "NotFound" else { return "unmatched" }
        return endpointPath
    }

    /// info for 2xx/3xx, warning for 4xx, error for 5xx.
    static func level(status: Int) -> Logger.Level {
        switch status {
        case 500...: return .error
        case 400..<500: return .warning
        default: return .info
        }
    }
}

extension Duration {
    /// The duration in whole nanoseconds.
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
