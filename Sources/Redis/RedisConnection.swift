import CHiredis
import Glibc
import NIOPosix
public import Pooling

/// One hiredis connection.
///
/// It is `@unchecked Sendable` because the pool lends it to one task at a time and every
/// hiredis call on it runs on the client's dedicated thread pool. Obtain connections from
/// ``RedisClient``; the closure that receives one must not keep it.
public final class RedisConnection: PooledConnection, @unchecked Sendable {
    let context: UnsafeMutablePointer<redisContext>
    private let threadPool: NIOThreadPool

    private init(context: UnsafeMutablePointer<redisContext>, threadPool: NIOThreadPool) {
        self.context = context
        self.threadPool = threadPool
    }

    /// Opens a connection, authenticates and selects the database, on the thread pool.
    static func connect(configuration: RedisConfiguration, threadPool: NIOThreadPool) async throws -> RedisConnection {
        try await threadPool.runIfActive {
            let timeout = timeval(tv_sec: configuration.timeoutSeconds, tv_usec: 0)
            guard let context = redisConnectWithTimeout(configuration.host, Int32(configuration.port), timeout) else {
                throw RedisError(code: .connectionFailed, message: "hiredis could not allocate a connection")
            }
            let connection = RedisConnection(context: context, threadPool: threadPool)
            guard context.pointee.err == 0 else {
                let reason = connection.contextError
                connection.close()
                throw RedisError(code: .connectionFailed, message: "\(configuration.host):\(configuration.port): \(reason)")
            }
            redisSetTimeout(context, timeout)
            // hiredis opens its socket without close-on-exec: a child process would inherit it
            // and hold the connection (and a subscription) open after it is closed here.
            let flags = fcntl(context.pointee.fd, F_GETFD)
            if flags >= 0 { _ = fcntl(context.pointee.fd, F_SETFD, flags | FD_CLOEXEC) }
            do {
                if let password = configuration.password {
                    var auth: [RedisArgument] = ["AUTH"]
                    if let username = configuration.username { auth.append(RedisArgument(username)) }
                    auth.append(RedisArgument(password))
                    _ = try connection.runPipeline([auth]).first.map(Self.throwingServerError)
                }
                if configuration.database != 0 {
                    _ = try connection.runPipeline([["SELECT", RedisArgument(configuration.database)]]).first.map(Self.throwingServerError)
                }
            } catch let error as RedisError {
                connection.close()
                throw RedisError(code: .connectionFailed, message: error.message)
            }
            return connection
        }
    }

    /// Sends one command and returns its reply; an error reply is thrown as `.server`.
    public func send(_ arguments: [RedisArgument]) async throws -> RedisValue {
        try await threadPool.runIfActive {
            let replies = try self.runPipeline([arguments])
            return try Self.throwingServerError(replies[0])
        }
    }

    /// Sends several commands in one write and reads all replies in order; error replies are
    /// returned in place as `.error`, so one failing command does not hide the others.
    public func pipeline(_ commands: [[RedisArgument]]) async throws -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        return try await threadPool.runIfActive { try self.runPipeline(commands) }
    }

    // MARK: - PooledConnection

    public var isHealthy: Bool {
        guard context.pointee.err == 0, context.pointee.fd >= 0 else { return false }
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        // Redis never writes to an idle request/response connection, so readability means the
        // server closed it (EOF) or the connection is out of step: either way it is not usable.
        return poll(&descriptor, 1, 0) == 0
    }

    public var isReusable: Bool { context.pointee.err == 0 }

    public func close() {
        redisFree(context)
    }

    // MARK: - Blocking hiredis calls (thread pool only)

    private func runPipeline(_ commands: [[RedisArgument]]) throws -> [RedisValue] {
        for command in commands {
            try append(command)
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw RedisError(code: .connectionLost, message: contextError)
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.value(of: reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Queues one command in hiredis's output buffer; all arguments are copied by hiredis.
    func append(_ arguments: [RedisArgument]) throws {
        var lengths = arguments.map { $0.bytes.count }
        var storage: [CChar] = []
        storage.reserveCapacity(lengths.reduce(0, +) + 1)
        for argument in arguments {
            storage.append(contentsOf: argument.bytes.map { CChar(bitPattern: $0) })
        }
        storage.append(0)
        let status = storage.withUnsafeBufferPointer { buffer -> Int32 in
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(arguments.count)
            var offset = 0
            for length in lengths {
                pointers.append(buffer.baseAddress.map { $0 + offset })
                offset += length
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeMutableBufferPointer { argvlen in
                    redisAppendCommandArgv(context, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
                }
            }
        }
        lengths.removeAll()
        guard status == REDIS_OK else {
            throw RedisError(code: .connectionLost, message: contextError)
        }
    }

    var contextError: String {
        withUnsafePointer(to: context.pointee.errstr) { tuple in
            tuple.withMemoryRebound(to: CChar.self, capacity: 128) { String(cString: $0) }
        }
    }

    static func value(of reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            return .bulkString(bytes(node.str, node.len))
        case REDIS_REPLY_STATUS:
            return .simpleString(String(decoding: bytes(node.str, node.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(node.str, node.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(node.integer)
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                if let child = node.element[index] { elements.append(value(of: child)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
    }

    static func throwingServerError(_ value: RedisValue) throws -> RedisValue {
        if case .error(let message) = value { throw RedisError(code: .server, message: message) }
        return value
    }
}
