public import CoreMetrics
import Pooling
public import Redis
import Synchronization

/// Times and counts every Redis call claimsd makes, as the ``RedisClient``'s observer:
/// - `claimsd_redis_command_duration_seconds{command}` (histogram)
/// - `claimsd_redis_errors_total{command,kind}`: `kind` is `connection_failed`,
///   `connection_lost`, `server`, `unexpected_reply`, `pool_timeout`, `pool_closed` or `other`.
///
/// Command labels are bounded: claimsd's code chooses the commands and script names, never a
/// client. Reachability is `claimsd_dependency_up{dependency="redis"}` (``DependencyMetrics``).
public final class RedisMetrics: RedisCommandObserver {
    let factory: any MetricsFactory
    /// Timers by command, made once each.
    private let timers = Mutex<[String: CoreMetrics.Timer]>([:])

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    public func commandCompleted(_ command: String, duration: Duration, error: (any Error)?) {
        timer(for: command).recordNanoseconds(duration.nanoseconds)
        if let error {
            Counter(label: "claimsd_redis_errors_total", dimensions: [("command", command), ("kind", Self.kind(of: error))], factory: factory).increment()
        }
    }

    func timer(for command: String) -> CoreMetrics.Timer {
        timers.withLock { timers in
            if let existing = timers[command] { return existing }
            let made = CoreMetrics.Timer(label: "claimsd_redis_command_duration_seconds", dimensions: [("command", command)], factory: factory)
            timers[command] = made
            return made
        }
    }

    /// The error's kind as a bounded label value.
    static func kind(of error: any Error) -> String {
        if let error = error as? RedisError {
            switch error.code {
            case .connectionFailed: return "connection_failed"
            case .connectionLost: return "connection_lost"
            case .server: return "server"
            case .unexpectedReply: return "unexpected_reply"
            default: return "other"
            }
        }
        switch error as? PoolError {
        case .acquireTimedOut: return "pool_timeout"
        case .closed: return "pool_closed"
        case nil: return "other"
        }
    }
}
