import CHiredis
import Glibc
import NIOPosix
import Synchronization

extension RedisClient {
    /// Listens to `channel` on a connection of its own, outside the pool, until the calling task
    /// is cancelled (then it returns) or the connection fails (then it throws).
    ///
    /// `subscribed` runs once Redis has confirmed the subscription: from then on every message
    /// published on the channel reaches `received`, in order, with its payload. The connection
    /// sends a `PING` after `idle` without traffic and fails when no answer comes within the
    /// configured reply timeout, so a connection that died silently is noticed.
    ///
    /// The blocking hiredis calls run on a thread of the listener's own, so a listener never
    /// takes a thread the pooled connections need.
    public func listen(
        channel: String, idle: Duration = .seconds(5), subscribed: @escaping @Sendable () -> Void, received: @escaping @Sendable ([UInt8]) -> Void
    ) async throws {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        defer { thread.shutdownGracefully { _ in } }
        let stopped = Atomic<Bool>(false)
        let configuration = configuration
        try await withTaskCancellationHandler {
            let connection = try await RedisConnection.connect(configuration: configuration, threadPool: thread)
            defer { connection.close() }
            try await thread.runIfActive {
                try connection.runSubscription(
                    channel: channel, idle: idle, replyTimeout: .seconds(configuration.timeoutSeconds), stopped: stopped, subscribed: subscribed,
                    received: received)
            }
        } onCancel: {
            stopped.store(true, ordering: .relaxed)
        }
    }
}

extension RedisConnection {
    /// How long one wait for traffic lasts before the loop looks at `stopped` again.
    private static var pollMilliseconds: Int32 { 200 }

    /// Subscribes to `channel` and hands on its messages until `stopped`; blocking, on the
    /// connection's thread only.
    func runSubscription(
        channel: String, idle: Duration, replyTimeout: Duration, stopped: borrowing Atomic<Bool>, subscribed: @Sendable () -> Void,
        received: @Sendable ([UInt8]) -> Void
    ) throws {
        try write(["SUBSCRIBE", RedisArgument(channel)])
        let clock = ContinuousClock()
        var lastTraffic = clock.now
        var pingSent: ContinuousClock.Instant?
        while !stopped.load(ordering: .relaxed) {
            guard let reply = try nextReply(waitingMilliseconds: Self.pollMilliseconds) else {
                if let sent = pingSent {
                    if sent.duration(to: clock.now) > replyTimeout {
                        throw RedisError(code: .connectionLost, message: "no answer to PING on the subscription within \(replyTimeout)")
                    }
                } else if lastTraffic.duration(to: clock.now) > idle {
                    try write(["PING"])
                    pingSent = clock.now
                }
                continue
            }
            lastTraffic = clock.now
            guard case .array(let parts) = reply, let kind = parts.first?.string else {
                if case .error(let message) = reply { throw RedisError(code: .server, message: message) }
                throw RedisError(code: .unexpectedReply, message: "a subscribed connection received \(reply)")
            }
            switch kind {
            case "subscribe": subscribed()
            case "message" where parts.count == 3:
                if case .bulkString(let payload) = parts[2] { received(payload) } else { received([]) }
            case "pong": pingSent = nil
            default: break
            }
        }
    }

    /// Sends one command without waiting for its reply.
    private func write(_ arguments: [RedisArgument]) throws {
        try append(arguments)
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else {
                throw RedisError(code: .connectionLost, message: contextError)
            }
        }
    }

    /// The next reply: one already read, or one that arrives within `milliseconds`; nil when
    /// none is complete by then.
    private func nextReply(waitingMilliseconds milliseconds: Int32) throws -> RedisValue? {
        if let buffered = try bufferedReply() { return buffered }
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, milliseconds)
        if ready < 0 {
            if errno == EINTR { return nil }
            throw RedisError(code: .connectionLost, message: "poll failed: errno \(errno)")
        }
        guard ready > 0 else { return nil }
        guard redisBufferRead(context) == REDIS_OK else {
            throw RedisError(code: .connectionLost, message: contextError)
        }
        return try bufferedReply()
    }

    /// A reply hiredis has already read in full, if any.
    private func bufferedReply() throws -> RedisValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReplyFromReader(context, &raw) == REDIS_OK else {
            throw RedisError(code: .connectionLost, message: contextError)
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.value(of: raw.assumingMemoryBound(to: redisReply.self))
    }
}
