public import Logging
import NIOPosix
public import Pooling

/// The service's Redis client: a bounded pool of hiredis connections whose blocking calls run
/// on a dedicated thread pool (one thread per connection).
///
/// A connection closed by the server — for example because redis-server restarted — is noticed
/// before it is lent out again or when a command fails, and replaced.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    private let pool: ConnectionPool<RedisConnection>
    private let threadPool: NIOThreadPool
    private let logger: Logger
    private let observer: (any RedisCommandObserver)?

    /// Creates the client; connections are opened on first use, not here. `observer` hears of
    /// every command the client completes.
    public init(configuration: RedisConfiguration, logger: Logger, observer: (any RedisCommandObserver)? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
        let threadPool = NIOThreadPool(numberOfThreads: configuration.maxConnections)
        threadPool.start()
        self.threadPool = threadPool
        self.pool = ConnectionPool(
            configuration: .init(maxConnections: configuration.maxConnections, acquireTimeout: configuration.acquireTimeout)
        ) {
            try await RedisConnection.connect(configuration: configuration, threadPool: threadPool)
        }
    }

    /// Sends one command; an error reply is thrown as `RedisError` with code `.server`.
    @discardableResult
    public func send(_ arguments: RedisArgument...) async throws -> RedisValue {
        try await send(arguments)
    }

    /// Sends one command given as an array of arguments.
    @discardableResult
    public func send(_ arguments: [RedisArgument]) async throws -> RedisValue {
        try await observed(Self.commandName(arguments)) { try await withConnection { try await $0.send(arguments) } }
    }

    /// Sends several commands in one round trip; replies come back in order, error replies in
    /// place as `.error`.
    public func pipeline(_ commands: [[RedisArgument]]) async throws -> [RedisValue] {
        try await observed("pipeline") { try await withConnection { try await $0.pipeline(commands) } }
    }

    /// Runs `script` with EVALSHA. The first call learns the script's SHA with SCRIPT LOAD; when
    /// Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH, possibly between the load and
    /// the call) the script runs with EVAL, which sends the source and caches it again in one step.
    @discardableResult
    public func evaluate(_ script: RedisScript, keys: [RedisArgument] = [], arguments: [RedisArgument] = []) async throws -> RedisValue {
        try await observed("script:\(script.name)") { try await withConnection { connection in
            let sha: String
            if let known = script.sha {
                sha = known
            } else {
                let loaded = try await connection.send(["SCRIPT", "LOAD", RedisArgument(script.source)])
                guard let text = loaded.string else {
                    throw RedisError(code: .unexpectedReply, message: "SCRIPT LOAD returned \(loaded)")
                }
                script.sha = text
                sha = text
            }
            do {
                return try await connection.send(["EVALSHA", RedisArgument(sha), RedisArgument(keys.count)] + keys + arguments)
            } catch let error as RedisError where error.serverErrorPrefix == "NOSCRIPT" {
                return try await connection.send(["EVAL", RedisArgument(script.source), RedisArgument(keys.count)] + keys + arguments)
            }
        } }
    }

    /// Runs `body` with one pooled connection; the closure must not keep the connection.
    public func withConnection<Result: Sendable>(_ body: (RedisConnection) async throws -> Result) async throws -> Result {
        do {
            return try await pool.withConnection(body)
        } catch let error as RedisError where error.code == .connectionLost {
            logger.warning("redis connection lost", metadata: ["error": "\(error.message)"])
            throw error
        }
    }

    /// Runs `body` and tells the observer, if any, how long it took and whether it failed.
    private func observed<Result>(_ command: @autoclosure () -> String, _ body: () async throws -> Result) async throws -> Result {
        guard let observer else { return try await body() }
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let result = try await body()
            observer.commandCompleted(command(), duration: start.duration(to: clock.now), error: nil)
            return result
        } catch {
            observer.commandCompleted(command(), duration: start.duration(to: clock.now), error: error)
            throw error
        }
    }

    /// The command's name, lower-cased ASCII, from its first argument.
    static func commandName(_ arguments: [RedisArgument]) -> String {
        guard let first = arguments.first else { return "none" }
        return String(decoding: first.bytes.prefix(32).map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// The pool's current counts.
    public func statistics() async -> ConnectionPool<RedisConnection>.Statistics {
        await pool.statistics
    }

    /// Closes the pool and stops its threads.
    public func shutdown() async {
        await pool.close()
        try? await threadPool.shutdownGracefully()
    }
}
