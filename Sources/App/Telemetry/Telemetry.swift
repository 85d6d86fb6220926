public import CoreMetrics
import Foundation
import Hummingbird
public import Prometheus

/// One process's metrics: a Prometheus registry, and the swift-metrics factory over it that
/// every component records through. Each app gets its own (tests run several at once); nothing
/// is bootstrapped globally.
public struct Telemetry: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: any MetricsFactory
    /// False when metrics and the access log are switched off (`CLAIMS_TELEMETRY=off`): the
    /// factory then records nothing, and `/metrics` shows only process and build metrics.
    public let isEnabled: Bool
    let process: ProcessMetrics

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), enabled: Bool = true) {
        self.registry = registry
        self.isEnabled = enabled
        self.factory =
            enabled
            ? DocumentedMetricsFactory(registry: registry, durationBuckets: Self.latencyBuckets, valueBuckets: Self.sizeBuckets)
            : NOOPMetricsHandler.instance
        self.process = ProcessMetrics(registry: registry)
        registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "claimsd_build_info", unitName: "", helpText: "Always 1; the labels say which build is running."),
            labels: [("version", ClaimsdBuild.version), ("revision", ClaimsdBuild.revision)]
        ).set(to: 1)
    }

    /// Histogram buckets for a fast API: a quarter millisecond to ten seconds.
    public static let latencyBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10),
    ]

    /// Histogram buckets for counts and sizes (lines per claim, rows per import).
    public static let sizeBuckets: [Double] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 10_000, 100_000]

    /// The Prometheus text exposition of every metric recorded so far, process metrics freshly read.
    public func exposition() -> [UInt8] {
        process.update()
        return registry.emitToBuffer()
    }
}

/// Sets the gauges that are read at scrape time, before `/metrics` answers and before each
/// self-scrape: pools, dependency checks and the time-series store.
struct MetricsRefresher: Sendable {
    let enabled: Bool
    let dependencies: DependencyMetrics
    let timeSeries: TimeSeriesMetrics?

    func refresh() async {
        guard enabled else { return }
        await dependencies.refresh()
        timeSeries?.refresh()
    }
}

/// `GET /metrics`: the registry in the Prometheus text format (version 0.0.4).
struct MetricsRoute: Sendable {
    let telemetry: Telemetry
    let refresher: MetricsRefresher

    func register(on router: SecuredRoutes) {
        router.get("metrics", requires: .permission(.readMonitoring)) { _, _ in
            await refresher.refresh()
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: telemetry.exposition())))
        }
    }
}

/// Which claimsd this is.
public enum ClaimsdBuild {
    /// The release version.
    public static let version = "0.4.0"
    /// The source revision, from `CLAIMSD_REVISION` (set by scripts/run.sh and the systemd unit's
    /// environment), or `unknown`.
    public static let revision: String = {
        let value = ProcessInfo.processInfo.environment["CLAIMSD_REVISION"] ?? ""
        return value.isEmpty ? "unknown" : value
    }()
}
