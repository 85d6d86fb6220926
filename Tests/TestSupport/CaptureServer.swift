import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP/1.1 server on 127.0.0.1 that records every request and answers with a status
/// (and after a delay) the test chooses: the receiving end of webhooks and Alertmanager posts.
public final class CaptureServer: Sendable {
    /// One request as received.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var headers: [String: String]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The body parsed as JSON.
        public var json: Any? { try? JSONSerialization.jsonObject(with: Data(body)) }
    }

    private let recorder = Recorder()
    private let channel: any Channel
    /// The port it listens on.
    public let port: Int

    /// Starts listening on an ephemeral port.
    public init() async throws {
        let recorder = recorder
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(CaptureHandler(recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    /// `http://127.0.0.1:<port><path>`.
    public func url(_ path: String = "/") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Answers further requests with `status` after `delay`.
    public func respond(status: Int, after delay: Duration = .zero) {
        recorder.state.withLock {
            $0.status = status
            $0.delay = delay
        }
    }

    /// Answers the next requests with these statuses and headers, one each, in order; then
    /// as `respond(status:after:)` set.
    public func respond(sequence: [(status: Int, headers: [(String, String)])]) {
        recorder.state.withLock { $0.scripted = sequence }
    }

    /// The requests received so far.
    public var requests: [Request] { recorder.state.withLock { $0.requests } }

    public func stop() async {
        try? await channel.close()
    }
}

/// The requests received and how to answer the next ones.
final class Recorder: Sendable {
    struct Behaviour {
        var status = 200
        var delay: Duration = .zero
        var scripted: [(status: Int, headers: [(String, String)])] = []
        var requests: [CaptureServer.Request] = []
    }

    let state = Mutex(Behaviour())

    func record(_ request: CaptureServer.Request) -> (Int, [(String, String)], Duration) {
        state.withLock { state in
            state.requests.append(request)
            if !state.scripted.isEmpty {
                let next = state.scripted.removeFirst()
                return (next.status, next.headers, state.delay)
            }
            return (state.status, [], state.delay)
        }
    }
}

final class CaptureHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let recorder: Recorder
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(recorder: Recorder) {
        self.recorder = recorder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let (status, extraHeaders, delay) = recorder.record(CaptureServer.Request(method: head.method.rawValue, path: head.uri, headers: headers, body: body))
            let loopBound = NIOLoopBound((context, self), eventLoop: context.eventLoop)
            let respond = {
                let (context, handler) = loopBound.value
                var responseHeaders = HTTPHeaders()
                responseHeaders.add(name: "Content-Length", value: "0")
                responseHeaders.add(name: "Connection", value: "close")
                for (name, value) in extraHeaders { responseHeaders.add(name: name, value: value) }
                context.write(handler.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: responseHeaders))), promise: nil)
                context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
            }
            if delay == .zero {
                respond()
            } else {
                let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
                context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) { respond() }
            }
            self.head = nil
        }
    }
}
