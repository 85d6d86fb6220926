import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1

/// How long a connection may take at each stage before it is closed.
public struct HTTPTimeouts: Sendable, Equatable {
    /// From the connection's start, or the end of the previous response, until a request's head
    /// has arrived whole: bounds idle keep-alive connections and clients that send their
    /// headers a byte at a time alike.
    public var idle: Duration
    /// From a request's head until its body has arrived whole.
    public var body: Duration

    public init(idle: Duration = .seconds(60), body: Duration = .seconds(300)) {
        self.idle = idle
        self.body = body
    }
}

/// Sits right after the HTTP/1 request decoder, where requests still carry their HTTP version:
/// closes connections that idle or read too slowly (``HTTPTimeouts``), and ends an HTTP/1.0
/// exchange by closing the connection unless the client asked for keep-alive.
///
/// Hummingbird adds per-connection handlers after its own conversion to HTTP types, where the
/// version is gone; ``HTTPConnectionGuardInstaller`` is such a handler and places this one.
final class HTTPConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The stage a connection is in, when one is timed, and when it must be over.
    private struct Deadline {
        let stage: String
        let limit: Duration
        let at: NIODeadline
    }

    private let timeouts: HTTPTimeouts
    private let logger: Logger
    private var keepAlive = true
    /// The stage being timed; nil while the application owns the answer.
    private var deadline: Deadline?
    /// The one timer of the connection and when it fires: never after ``deadline``, often
    /// before it. A request moves the deadline without touching the timer; when the timer fires
    /// early it is set again for the deadline then current, so a busy keep-alive connection
    /// schedules a timer about once per idle timeout rather than two per request.
    private var timer: (task: Scheduled<Void>, at: NIODeadline)?
    /// Between a request's head and the end of its response: the application owns the answer.
    private var requestInProgress = false

    init(timeouts: HTTPTimeouts, logger: Logger) {
        self.timeouts = timeouts
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armHeadDeadline(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadlines()
    }

    func channelActive(context: ChannelHandlerContext) {
        armHeadDeadline(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadlines()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            requestInProgress = true
            time("body", limit: timeouts.body, context)
        case .body:
            break
        case .end:
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where !keepAlive:
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where !keepAlive:
            // HTTP/1.0 without keep-alive: the response ends the connection.
            requestInProgress = false
            let channel = context.channel
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { result in
                promise?.completeWith(result)
                channel.close(promise: nil)
            }
            context.write(data, promise: written)
        case .end:
            requestInProgress = false
            context.write(data, promise: promise)
            armHeadDeadline(context)
        default:
            context.write(data, promise: promise)
        }
    }

    /// A request the decoder cannot read (headers too large, CR/LF/NUL in a header, conflicting
    /// `Content-Length`, HTTP/0.9, …) gets a problem+json answer with a request id, like every
    /// other error, and the connection is closed: the byte stream can no longer be trusted.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, !requestInProgress else {
            context.fireErrorCaught(error)
            return
        }
        cancelDeadlines()
        let status: HTTPResponseStatus = parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
        let requestID = RequestIDMiddleware.generate()
        let detail = parserError == .headerOverflow
            ? "the request line or headers are larger than the server reads (80 KiB)"
            : "the request is not valid HTTP/1.1: \(parserError)"
        var problem = Problem(status: HTTPTypes.HTTPResponse.Status(code: Int(status.code)), detail: detail)
        problem.instance = requestID
        let body = Problem.encoded(problem)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/problem+json")
        headers.add(name: "content-length", value: String(body.count))
        headers.add(name: "x-request-id", value: requestID)
        headers.add(name: "connection", value: "close")
        logger.info(
            "unreadable HTTP request refused",
            metadata: ["event": "http_request_unreadable", "status": "\(status.code)", "error": "\(parserError)", "request_id": "\(requestID)"])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    private func armHeadDeadline(_ context: ChannelHandlerContext) {
        time("head", limit: timeouts.idle, context)
    }

    private func cancelDeadlines() {
        deadline = nil
        timer?.task.cancel()
        timer = nil
    }

    /// Times `stage`: the connection is closed unless it is over within `limit`.
    private func time(_ stage: String, limit: Duration, _ context: ChannelHandlerContext) {
        let at = NIODeadline.now() + TimeAmount(limit)
        deadline = Deadline(stage: stage, limit: limit, at: at)
        if let timer, timer.at <= at { return }
        timer?.task.cancel()
        setTimer(at: at, context)
    }

    private func setTimer(at: NIODeadline, _ context: ChannelHandlerContext) {
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [weak self] () -> Void in
            self?.timerFired(context)
        }
        timer = (task, at)
    }

    /// Closes the connection if its stage is overdue; otherwise sets the timer again for the
    /// deadline now current, if there is one.
    private func timerFired(_ context: ChannelHandlerContext) {
        timer = nil
        guard let deadline else { return }
        guard NIODeadline.now() >= deadline.at else {
            setTimer(at: deadline.at, context)
            return
        }
        logger.debug(
            "connection closed: the request's \(deadline.stage) did not arrive in time",
            metadata: ["event": "connection_timed_out", "stage": "\(deadline.stage)", "timeout": "\(deadline.limit)"])
        context.channel.close(promise: nil)
    }
}

/// Added among Hummingbird's per-connection handlers (which see HTTP types, not HTTP/1
/// versions): places an ``HTTPConnectionGuard`` right after the HTTP/1 request decoder and
/// otherwise passes everything through untouched.
final class HTTPConnectionGuardInstaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    private let timeouts: HTTPTimeouts
    private let logger: Logger

    init(timeouts: HTTPTimeouts, logger: Logger) {
        self.timeouts = timeouts
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        do {
            let decoder = try context.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try context.pipeline.syncOperations.addHandler(HTTPConnectionGuard(timeouts: timeouts, logger: logger), position: .after(decoder))
        } catch {
            // Only if Hummingbird changed its HTTP/1 pipeline; a test proves it has not.
            logger.error("HTTP connection guard not installed", metadata: ["event": "connection_guard_missing", "error": "\(error)"])
        }
    }
}
