import CoreMetrics
import Logging
import ServerTLS
import ServiceLifecycle
import UnixSignals

/// Reads the TLS certificate and key again on SIGHUP; a pair that cannot be served is logged and
/// counted, and the one in use stays.
struct CertificateReloadService: Service {
    let certificate: ServedCertificate
    let logger: Logger
    let metrics: any MetricsFactory

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) { reload() }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    func reload() {
        do {
            let summary = try certificate.reload()
            Counter(label: "claimsd_tls_reloads_total", dimensions: [("result", "success")], factory: metrics).increment()
            loaded(summary)
            logger.notice(
                "TLS certificate reloaded",
                metadata: ["event": "tls_reloaded", "subject": "\(summary.subject)", "not_after": "\(Int64(summary.notAfter))", "chain": "\(summary.chainLength)"])
        } catch {
            Counter(label: "claimsd_tls_reloads_total", dimensions: [("result", "failure")], factory: metrics).increment()
            logger.error(
                "TLS certificate not reloaded: the one in use stays", metadata: ["event": "tls_reload_failed", "error": "\(error.description)"])
        }
    }

    /// Records the expiry of the pair now served.
    func loaded(_ summary: ServedCertificate.Summary) {
        Gauge(label: "claimsd_tls_certificate_expiry_timestamp_seconds", factory: metrics).record(summary.notAfter)
        // Both results exist from the start, so rate() and increase() see the first failure.
        Counter(label: "claimsd_tls_reloads_total", dimensions: [("result", "success")], factory: metrics).increment(by: 0)
        Counter(label: "claimsd_tls_reloads_total", dimensions: [("result", "failure")], factory: metrics).increment(by: 0)
    }
}
