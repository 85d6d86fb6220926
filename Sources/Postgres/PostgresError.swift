/// A failure reported by libpq or the PostgreSQL server.
///
/// `code` says what kind of failure it is; `sqlState` carries the server's SQLSTATE when the
/// server reported the error (for example `23505` for a unique violation), so callers can react
/// to specific server errors without parsing messages.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; new kinds may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String

        /// The connection could not be opened (server down, wrong address or credentials).
        public static let connectionFailed = Code(name: "connectionFailed")
        /// The connection broke while a command was running.
        public static let connectionLost = Code(name: "connectionLost")
        /// The server rejected a statement; `sqlState` says why.
        public static let server = Code(name: "server")
        /// A COPY FROM STDIN could not be completed.
        public static let copyFailed = Code(name: "copyFailed")
        /// A column was missing or its value could not be read as the requested type.
        public static let decoding = Code(name: "decoding")
        /// The connection string could not be parsed.
        public static let invalidConfiguration = Code(name: "invalidConfiguration")

        public var description: String { name }
    }

    public var code: Code
    /// What went wrong, in the words of libpq or the server.
    public var message: String
    /// The server's five-character SQLSTATE, when the server reported the error.
    public var sqlState: String?

    public init(code: Code, message: String, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
    }

    /// The SQLSTATE class (its first two characters), e.g. `23` for integrity violations.
    public var sqlStateClass: String? { sqlState.map { String($0.prefix(2)) } }

    public var description: String {
        if let sqlState { return "PostgreSQL error \(sqlState): \(message)" }
        return "PostgreSQL \(code): \(message)"
    }
}
