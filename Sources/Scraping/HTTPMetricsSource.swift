import NIOCore
import NIOHTTP1
import NIOPosix

/// Fetches an exposition over HTTP/1.1 with a small NIO client: one connection per scrape,
/// `Accept` negotiated as Prometheus does, a deadline for the whole exchange and a cap on the
/// body. Only `http` is supported (no TLS in claimsd's scraper).
public struct HTTPMetricsSource: MetricsSource {
    /// Largest body accepted: a larger exposition fails the scrape.
    public static let maxBodyBytes = 64 << 20

    let host: String
    let port: Int
    let path: String
    let hostHeader: String

    /// A source for `http://host:port/path`.
    public init(host: String, port: Int, path: String) {
        self.host = host
        self.port = port
        self.path = path.hasPrefix("/") ? path : "/" + path
        self.hostHeader = "\(host):\(port)"
    }

    public func fetch(timeout: Duration) async throws(ScrapeError) -> (body: [UInt8], contentType: String?) {
        let deadline = TimeAmount.nanoseconds(max(1, timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
        let started = ContinuousClock.now
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(deadline)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ScrapeError("connecting to \(hostHeader) failed: \(Self.describe(error))")
        }
        // Closing the channel at the deadline ends the exchange below, whatever it is waiting for.
        let timer = channel.channel.eventLoop.scheduleTask(in: deadline) { channel.channel.close(promise: nil) }
        defer { timer.cancel() }
        let host = hostHeader
        let path = path
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                head.headers.add(name: "Host", value: host)
                head.headers.add(name: "Accept", value: "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
                head.headers.add(name: "User-Agent", value: "claimsd-scraper")
                head.headers.add(name: "Connection", value: "close")
                head.headers.add(name: "X-Prometheus-Scrape-Timeout-Seconds", value: String(Double(deadline.nanoseconds) / 1e9))
                try await outbound.write(.head(head))
                try await outbound.write(.end(nil))
                var status: HTTPResponseStatus?
                var contentType: String?
                var body: [UInt8] = []
                for try await part in inbound {
                    switch part {
                    case .head(let response):
                        status = response.status
                        contentType = response.headers.first(name: "Content-Type")
                    case .body(let buffer):
                        guard body.count + buffer.readableBytes <= Self.maxBodyBytes else {
                            throw ScrapeError("body larger than \(Self.maxBodyBytes) bytes")
                        }
                        body.append(contentsOf: buffer.readableBytesView)
                    case .end:
                        guard let status else { throw ScrapeError("no response") }
                        guard status == .ok else { throw ScrapeError("server returned HTTP status \(status.code) \(status.reasonPhrase)") }
                        return (body, contentType)
                    }
                }
                throw ScrapeError("connection closed before the response ended")
            }
        } catch {
            // The deadline closed the channel: say so rather than what the close caused.
            if ContinuousClock.now - started >= timeout { throw ScrapeError("scrape of http://\(hostHeader)\(path) timed out after \(timeout)") }
            if let error = error as? ScrapeError { throw error }
            throw ScrapeError("http://\(hostHeader)\(path): \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return error.description }
        return "\(error)"
    }
}
