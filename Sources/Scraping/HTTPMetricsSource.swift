import OutboundHTTP

/// Fetches an exposition over HTTP/1.1: one connection per scrape, `Accept` negotiated as
/// Prometheus does, a deadline for the whole exchange and a cap on the body. Only `http` is
/// supported (no TLS in claimsd's scraper).
public struct HTTPMetricsSource: MetricsSource {
    /// Largest body accepted: a larger exposition fails the scrape.
    public static let maxBodyBytes = 64 << 20

    let url: OutboundURL

    /// A source for `http://host:port/path`.
    public init(host: String, port: Int, path: String) {
        url = OutboundURL(host: host, port: port, target: path)
    }

    public func fetch(timeout: Duration) async throws(ScrapeError) -> (body: [UInt8], contentType: String?) {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let headers = [
            ("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            ("User-Agent", "claimsd-scraper"),
            ("X-Prometheus-Scrape-Timeout-Seconds", String(seconds)),
        ]
        let response: OutboundResponse
        do {
            response = try await HTTPExchange.send("GET", to: url, headers: headers, timeout: timeout, maxBodyBytes: Self.maxBodyBytes)
        } catch {
            if error.timedOut { throw ScrapeError("scrape of \(url) timed out after \(timeout)") }
            throw ScrapeError(error.message)
        }
        guard response.status == 200 else { throw ScrapeError("server returned HTTP status \(response.status)") }
        return (response.body, response.header("Content-Type"))
    }
}
