/// A connection that a ``ConnectionPool`` can lend out, check and discard.
///
/// The pool calls these members only while it owns the connection (never while it is lent out),
/// so implementations need no locking of their own for them.
public protocol PooledConnection: AnyObject, Sendable {
    /// Whether the idle connection can still serve requests; must not block (no round trip).
    var isHealthy: Bool { get }
    /// Whether the connection may go back to the pool after a lease ended (no open transaction,
    /// no I/O error).
    var isReusable: Bool { get }
    /// Frees the connection's resources; called exactly once, when the pool discards it.
    func close()
}
