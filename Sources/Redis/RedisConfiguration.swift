/// Where Redis is and how to talk to it, usually read from a `redis://` URL.
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var database: Int
    public var username: String?
    public var password: String?
    /// Most connections open at once.
    public var maxConnections: Int
    /// How long a caller waits for a free connection.
    public var acquireTimeout: Duration
    /// Seconds to wait for a connection to open and for each reply.
    public var timeoutSeconds: Int

    public init(
        host: String = "127.0.0.1", port: Int = 6379, database: Int = 0, username: String? = nil, password: String? = nil,
        maxConnections: Int = 8, acquireTimeout: Duration = .seconds(5), timeoutSeconds: Int = 5
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
        self.maxConnections = maxConnections
        self.acquireTimeout = acquireTimeout
        self.timeoutSeconds = timeoutSeconds
    }

    /// Parses `redis://[[user]:password@]host[:port][/database]`.
    public init(url: String) throws(RedisError) {
        func invalid(_ reason: String) -> RedisError {
            RedisError(code: .invalidConfiguration, message: "\(reason) in Redis URL (expected redis://[:password@]host[:port][/db])")
        }
        guard url.hasPrefix("redis://") else { throw invalid("missing redis:// scheme") }
        var rest = Substring(url.dropFirst("redis://".count))
        self.init()
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                username = user.isEmpty ? nil : String(user)
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                password = String(credentials)
            }
        }
        var hostPort = rest
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let databaseText = rest[rest.index(after: slash)...]
            if !databaseText.isEmpty {
                guard let number = Int(databaseText), number >= 0 else { throw invalid("database \"\(databaseText)\" is not a number") }
                database = number
            }
        }
        if let colon = hostPort.lastIndex(of: ":") {
            let portText = hostPort[hostPort.index(after: colon)...]
            guard let number = Int(portText), (1...65535).contains(number) else { throw invalid("port \"\(portText)\" is not 1–65535") }
            port = number
            hostPort = hostPort[..<colon]
        }
        guard !hostPort.isEmpty else { throw invalid("missing host") }
        host = String(hostPort)
    }
}
