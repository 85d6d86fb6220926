import Foundation
import Logging
import NIOCore
import Scraping
import ServiceLifecycle
import TimeSeries

/// Starts the scrape manager once the HTTP server is listening, because claimsd's own target
/// is labelled `instance="<host>:<port>"` with the port actually bound (`CLAIMS_PORT=0` picks
/// one at start-up).
struct ScrapingService: Service {
    /// Receives the bound address from the server's `onServerRunning`.
    let address: AsyncStream<String>
    let makeManager: @Sendable (_ instance: String) -> ScrapeManager

    func run() async throws {
        let address = address
        let instance: String? = await cancelWhenGracefulShutdown {
            for await bound in address { return bound }
            return nil
        }
        guard let instance, !Task.isShuttingDownGracefully else { return }
        try await makeManager(instance).run()
    }
}

/// What the scrape manager runs: claimsd itself (read from its own registry, no HTTP) and
/// the targets of `CLAIMS_SCRAPE_CONFIG`.
func makeScrapeLoops(
    instance: String, configuration: ServiceConfiguration, store: TimeSeriesStore, selfExposition: @escaping @Sendable () async -> [UInt8]
) -> [ScrapeLoop] {
    var loops: [ScrapeLoop] = []
    if let interval = configuration.scrapeInterval {
        let target = ScrapeTarget(
            job: "claimsd", url: "", labels: Labels(["job": "claimsd", "instance": instance]), interval: interval, timeout: min(interval, 10_000))
        loops.append(ScrapeLoop(target: target, source: InProcessSource(selfExposition), store: store))
    }
    for target in configuration.scrapeTargets {
        guard let (host, port) = ScrapeConfigFile.splitHostPort(target.instance) else { continue }
        let path = target.url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).dropFirst(3).first.map { "/" + $0 } ?? "/metrics"
        loops.append(ScrapeLoop(target: target, source: HTTPMetricsSource(host: host, port: port, path: path), store: store))
    }
    return loops
}

/// The `instance` label for a server listening on `channel`, with the configured host.
func instanceLabel(host: String, channel: any Channel) -> String {
    let port = channel.localAddress?.port ?? 0
    return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}

extension Duration {
    /// The duration in whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
