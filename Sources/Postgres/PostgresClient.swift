import CLibPQ
public import Logging
import NIOPosix
public import Pooling

/// The service's PostgreSQL client: a bounded pool of libpq connections whose blocking calls
/// run on a dedicated thread pool (one thread per connection).
///
/// Every query is parameterized (see ``PostgresQuery``). A connection that broke — for example
/// because PostgreSQL restarted — is noticed when it is next lent out or when a command fails,
/// and replaced, so the client recovers without restarting the process.
public final class PostgresClient: Sendable {
    /// How to reach PostgreSQL and how many connections to keep.
    public struct Configuration: Sendable {
        /// A libpq connection string: URI (`postgresql://user@host:port/db`) or `key=value` form.
        public var conninfo: String
        /// Most connections open at once.
        public var maxConnections: Int
        /// How long a caller waits for a free connection.
        public var acquireTimeout: Duration
        /// Seconds libpq waits for a new connection; applied when `conninfo` sets none.
        public var connectTimeoutSeconds: Int
        /// Run-time parameters set on every new connection (`set_config(name, value, false)`).
        public var sessionSettings: [String: String]

        public init(
            conninfo: String, maxConnections: Int = 8, acquireTimeout: Duration = .seconds(5), connectTimeoutSeconds: Int = 5,
            sessionSettings: [String: String] = [:]
        ) {
            self.conninfo = conninfo
            self.maxConnections = maxConnections
            self.acquireTimeout = acquireTimeout
            self.connectTimeoutSeconds = connectTimeoutSeconds
            self.sessionSettings = sessionSettings
        }

        /// Checks that libpq can parse `conninfo`, without connecting.
        public static func validate(conninfo: String) throws(PostgresError) {
            var error: UnsafeMutablePointer<CChar>?
            let options = PQconninfoParse(conninfo, &error)
            defer {
                PQconninfoFree(options)
                if let error { PQfreemem(error) }
            }
            guard var option = options else {
                let reason = error.map { PostgresConnection.message($0) } ?? "cannot be parsed"
                throw PostgresError(code: .invalidConfiguration, message: reason)
            }
            // libpq checks ports only when connecting; a typo should stop start-up instead.
            while let keyword = option.pointee.keyword {
                if String(cString: keyword) == "port", let value = option.pointee.val {
                    for port in String(cString: value).split(separator: ",", omittingEmptySubsequences: false) {
                        guard let number = Int(port), (1...65535).contains(number) else {
                            throw PostgresError(code: .invalidConfiguration, message: "invalid port number: \"\(port)\"")
                        }
                    }
                }
                option += 1
            }
        }

        /// `conninfo` with a connect timeout added when it has none.
        var effectiveConninfo: String {
            guard !conninfo.contains("connect_timeout") else { return conninfo }
            if conninfo.hasPrefix("postgres://") || conninfo.hasPrefix("postgresql://") {
                return conninfo + (conninfo.contains("?") ? "&" : "?") + "connect_timeout=\(connectTimeoutSeconds)"
            }
            return conninfo + " connect_timeout=\(connectTimeoutSeconds)"
        }
    }

    public let configuration: Configuration
    private let pool: ConnectionPool<PostgresConnection>
    private let threadPool: NIOThreadPool
    private let logger: Logger

    /// Creates the client; connections are opened on first use, not here.
    public convenience init(configuration: Configuration, logger: Logger) throws(PostgresError) {
        try Configuration.validate(conninfo: configuration.conninfo)
        self.init(validated: configuration, logger: logger)
    }

    private init(validated configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let threadPool = NIOThreadPool(numberOfThreads: configuration.maxConnections)
        threadPool.start()
        self.threadPool = threadPool
        let conninfo = configuration.effectiveConninfo
        let settings = configuration.sessionSettings.sorted { $0.key < $1.key }
        self.pool = ConnectionPool(
            configuration: .init(maxConnections: configuration.maxConnections, acquireTimeout: configuration.acquireTimeout)
        ) {
            let connection = try await PostgresConnection.connect(conninfo: conninfo, threadPool: threadPool)
            do {
                for (name, value) in settings { try await connection.query("SELECT set_config(\(name), \(value), false)") }
            } catch {
                connection.close()
                throw error
            }
            return connection
        }
    }

    /// A client of its own to the same database, with at most `maxConnections` connections, for
    /// work that must neither wait behind requests for a connection nor make them wait. Its
    /// sessions get this client's settings with `sessionSettings` laid over them. Nothing is
    /// opened until it is used; shut it down like any client.
    public func separateClient(maxConnections: Int, sessionSettings: [String: String] = [:]) -> PostgresClient {
        var configuration = configuration
        configuration.maxConnections = max(1, maxConnections)
        configuration.sessionSettings.merge(sessionSettings) { _, laid in laid }
        return PostgresClient(validated: configuration, logger: logger)
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresResult {
        try await withConnection { try await $0.query(query) }
    }

    /// Runs `body` with one pooled connection; the closure must not keep the connection.
    public func withConnection<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        do {
            return try await pool.withConnection(body)
        } catch let error as PostgresError where error.code == .connectionLost {
            logger.warning("postgres connection lost", metadata: ["error": "\(error.message)"])
            throw error
        }
    }

    /// Runs `body` inside BEGIN … COMMIT on one connection; rolls back when `body` throws.
    public func withTransaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withConnection { connection in
            try await connection.execute(script: "BEGIN")
            do {
                let result = try await body(connection)
                try await connection.execute(script: "COMMIT")
                return result
            } catch {
                // A failed ROLLBACK leaves the connection in a transaction; the pool then
                // discards it, so the original error is the one worth reporting.
                try? await connection.execute(script: "ROLLBACK")
                throw error
            }
        }
    }

    /// Bulk-loads rows through `COPY … FROM STDIN` on a pooled connection.
    @discardableResult
    public func copyFrom(_ statement: String, rows: [[String?]]) async throws -> Int {
        try await withConnection { try await $0.copyFrom(statement, rows: rows) }
    }

    /// The pool's current counts.
    public func statistics() async -> ConnectionPool<PostgresConnection>.Statistics {
        await pool.statistics
    }

    /// Closes the pool and stops its threads; later calls fail with `PoolError.closed`.
    public func shutdown() async {
        await pool.close()
        try? await threadPool.shutdownGracefully()
    }
}
