import Synchronization

/// A Lua script run with EVALSHA; the client loads it on first use and again whenever Redis
/// answers NOSCRIPT (after a restart or SCRIPT FLUSH). Keep one instance per script for the
/// life of the process.
public final class RedisScript: Sendable {
    /// The Lua source.
    public let source: String
    /// A short name for metrics and logs, e.g. `rate_limit`.
    public let name: String
    private let loadedSHA = Mutex<String?>(nil)

    public init(_ source: String, name: String = "unnamed") {
        self.source = source
        self.name = name
    }

    /// The SHA1 Redis returned when it last loaded the script, if it did.
    var sha: String? {
        get { loadedSHA.withLock { $0 } }
        set { loadedSHA.withLock { $0 = newValue } }
    }
}
