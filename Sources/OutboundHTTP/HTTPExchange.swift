import NIOCore
import NIOHTTP1
import NIOPosix
public import NIOSSL

/// An `http://host:port/path?query` address. claimsd talks plain HTTP to its scrape targets and
/// notification receivers (put a proxy in front for https); only callers that ask for it, such as
/// `claimsd healthcheck` of a claimsd serving TLS, accept `https://`.
public struct OutboundURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Path and query, starting with `/`.
    public var target: String
    /// Whether the exchange is wrapped in TLS (`https://`).
    public var secure: Bool

    public init(host: String, port: Int, target: String, secure: Bool = false) {
        self.host = host
        self.port = port
        self.target = target.hasPrefix("/") ? target : "/" + target
        self.secure = secure
    }

    /// Parses `http://host[:port][/path]`, and `https://…` when `allowingHTTPS`; nil for
    /// anything else.
    public init?(_ text: String, allowingHTTPS: Bool = false) {
        let secure = allowingHTTPS && text.hasPrefix("https://")
        guard secure || text.hasPrefix("http://") else { return nil }
        let rest = text.dropFirst(secure ? "https://".count : "http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host = String(authority)
        var port = secure ? 443 : 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else { return nil }
            port = number
            host = String(authority[..<colon])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port, target: slash == rest.endIndex ? "/" : String(rest[slash...]), secure: secure)
    }

    /// `host:port` as a `Host` header writes it.
    public var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var description: String { (secure ? "https://" : "http://") + authority + target }
}

/// A response: status, headers and the whole body.
public struct OutboundResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// The first header called `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Why an exchange failed: connecting, timing out, or the response breaking a limit.
public struct OutboundHTTPError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// Whether the deadline ended the exchange.
    public var timedOut: Bool

    public init(_ message: String, timedOut: Bool = false) {
        self.message = message
        self.timedOut = timedOut
    }

    public var description: String { message }
}

/// One HTTP/1.1 request on a connection of its own (`Connection: close`), with a deadline for
/// the whole exchange and a cap on the response body.
public enum HTTPExchange {
    /// `tls` configures an `https://` exchange (by default: the system's trusted authorities and
    /// the host's name checked).
    public static func send(
        _ method: String, to url: OutboundURL, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Duration, maxBodyBytes: Int = 1 << 20,
        tls: TLSConfiguration = .makeClientConfiguration()
    ) async throws(OutboundHTTPError) -> OutboundResponse {
        let deadline = TimeAmount.nanoseconds(max(1, timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
        let started = ContinuousClock.now
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            let context = url.secure ? try NIOSSLContext(configuration: tls) : nil
            let serverName = url.host.contains(":") || url.host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : url.host
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(deadline)
                .connect(host: url.host, port: url.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let context {
                            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw OutboundHTTPError("connecting to \(url.authority) failed: \(describe(error))", timedOut: ContinuousClock.now - started >= timeout)
        }
        // Closing the channel at the deadline ends the exchange below, whatever it is waiting for.
        let timer = channel.channel.eventLoop.scheduleTask(in: deadline) { channel.channel.close(promise: nil) }
        defer { timer.cancel() }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: url.target)
                head.headers.add(name: "Host", value: url.authority)
                head.headers.add(name: "Connection", value: "close")
                for (name, value) in headers { head.headers.add(name: name, value: value) }
                if !body.isEmpty || method == "POST" || method == "PUT" { head.headers.add(name: "Content-Length", value: String(body.count)) }
                // A server may answer before it has read the whole request (a 415 or 413 after the
                // head) and close the connection: the write then fails, but the answer is there to
                // read, and it is the request's outcome.
                var writeError: (any Error)?
                do {
                    try await outbound.write(.head(head))
                    if !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                    try await outbound.write(.end(nil))
                } catch {
                    writeError = error
                }
                var response: HTTPResponseHead?
                var received: [UInt8] = []
                do {
                    for try await part in inbound {
                        switch part {
                        case .head(let head):
                            response = head
                        case .body(let buffer):
                            guard received.count + buffer.readableBytes <= maxBodyBytes else {
                                throw OutboundHTTPError("response body larger than \(maxBodyBytes) bytes")
                            }
                            received.append(contentsOf: buffer.readableBytesView)
                        case .end:
                            guard let response else { throw OutboundHTTPError("no response") }
                            return OutboundResponse(
                                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: received)
                        }
                    }
                } catch let error as OutboundHTTPError {
                    throw error
                } catch {
                    throw writeError ?? error
                }
                if let writeError { throw writeError }
                throw OutboundHTTPError("connection closed before the response ended")
            }
        } catch {
            // The deadline closed the channel: say so rather than what the close caused.
            if ContinuousClock.now - started >= timeout { throw OutboundHTTPError("\(method) \(url) timed out after \(timeout)", timedOut: true) }
            if let error = error as? OutboundHTTPError { throw error }
            throw OutboundHTTPError("\(method) \(url): \(describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return error.description }
        return "\(error)"
    }
}
