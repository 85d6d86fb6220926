/// Told about every command, pipeline and script call a ``RedisClient`` completes, so a caller
/// can time and count them (claimsd's metrics) without the client depending on a metrics API.
public protocol RedisCommandObserver: Sendable {
    /// `command` is the lower-cased command name, `pipeline`, or `script:<name>` for
    /// ``RedisClient/evaluate(_:keys:arguments:)``; `error` is what the call threw, if anything.
    func commandCompleted(_ command: String, duration: Duration, error: (any Error)?)
}
