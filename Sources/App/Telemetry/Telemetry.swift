public import CoreMetrics
import Hummingbird
public import Prometheus

/// One process's metrics: a Prometheus registry, and the swift-metrics factory over it that
/// every component records through. Each app gets its own (tests run several at once); nothing
/// is bootstrapped globally.
public struct Telemetry: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: any MetricsFactory

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
    }

    /// The Prometheus text exposition of every metric recorded so far.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}

/// `GET /metrics`: the registry in the Prometheus text format (version 0.0.4).
struct MetricsRoute: Sendable {
    let telemetry: Telemetry

    func register(on router: Router<ClaimsRequestContext>) {
        router.get("metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: telemetry.exposition())))
        }
    }
}
