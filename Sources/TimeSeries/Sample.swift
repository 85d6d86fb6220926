/// One sample of a series: a time in milliseconds since the Unix epoch and a float value.
public struct Sample: Hashable, Sendable {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var timestamp: Int64
    /// The value; may be NaN, ±Inf, or the staleness marker (see ``StaleMarker``).
    public var value: Double

    /// A sample at `timestamp` with `value`.
    public init(_ timestamp: Int64, _ value: Double) {
        self.timestamp = timestamp
        self.value = value
    }

    /// Compares values by their bits, so NaNs (and the staleness marker) compare as stored.
    public static func == (lhs: Sample, rhs: Sample) -> Bool {
        lhs.timestamp == rhs.timestamp && lhs.value.bitPattern == rhs.value.bitPattern
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(timestamp)
        hasher.combine(value.bitPattern)
    }
}

/// The staleness marker: a NaN with a special payload that Prometheus appends when a series
/// disappears from its target, so queries stop returning it at once.
public enum StaleMarker {
    /// The marker's bits, `0x7ff0000000000002`, exactly as Prometheus writes them.
    public static let bits: UInt64 = 0x7ff0_0000_0000_0002
    /// The marker as a value.
    public static let value = Double(bitPattern: bits)

    /// Whether `value` is the staleness marker (not merely any NaN).
    @inline(__always)
    public static func isMarker(_ value: Double) -> Bool { value.bitPattern == bits }
}
