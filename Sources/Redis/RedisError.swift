/// A failure talking to Redis.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; new kinds may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String

        /// The connection could not be opened (server down, wrong address, AUTH or SELECT refused).
        public static let connectionFailed = Code(name: "connectionFailed")
        /// The connection broke or timed out while a command was running.
        public static let connectionLost = Code(name: "connectionLost")
        /// Redis answered with an error reply; `message` holds it (e.g. "WRONGTYPE …").
        public static let server = Code(name: "server")
        /// The reply did not have the shape the caller expected.
        public static let unexpectedReply = Code(name: "unexpectedReply")
        /// The redis:// URL could not be parsed.
        public static let invalidConfiguration = Code(name: "invalidConfiguration")

        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// The error reply's first word for `.server` errors, e.g. `NOSCRIPT` or `WRONGTYPE`.
    public var serverErrorPrefix: String? {
        guard code == .server else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    public var description: String { "Redis \(code): \(message)" }
}
