/// The answer for one request.
public struct RateLimitDecision: Sendable, Equatable {
    public enum Source: String, Sendable {
        /// Redis decided: the limit holds across every claimsd instance.
        case redis
        /// Redis was unreachable: this instance decided alone (see ``LocalSlidingWindow``).
        case local
    }

    public var allowed: Bool
    public var limit: Int
    /// Requests the client may still make in the current window.
    public var remaining: Int
    /// Seconds until the oldest counted request leaves the window and frees a slot.
    public var resetSeconds: Double
    public var source: Source

    public init(allowed: Bool, limit: Int, remaining: Int, resetSeconds: Double, source: Source) {
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.resetSeconds = resetSeconds
        self.source = source
    }

    /// `resetSeconds` rounded up to whole seconds, as the headers carry it.
    public var resetWholeSeconds: Int { max(0, Int(resetSeconds.rounded(.up))) }
}
