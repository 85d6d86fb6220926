/// Why a ``ConnectionPool`` could not lend a connection.
public enum PoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Every connection stayed busy for the whole acquire timeout.
    case acquireTimedOut(maxConnections: Int, timeout: Duration)
    /// The pool was closed (the process is shutting down).
    case closed

    public var description: String {
        switch self {
        case .acquireTimedOut(let max, let timeout):
            return "all \(max) pooled connections stayed busy for \(timeout); raise the pool size or find the slow caller"
        case .closed:
            return "the connection pool is closed because the service is shutting down"
        }
    }
}
