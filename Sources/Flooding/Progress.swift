import Glibc
import Synchronization

/// Progress of a flood on standard error: a bar redrawn in place on a terminal, plain lines
/// (at most one per second, and the last) otherwise, so logs of scripted runs stay readable.
/// Nothing goes to standard output, which belongs to the summary.
public final class ProgressReporter: Sendable {
    private struct State {
        var lastPlainLine: ContinuousClock.Instant?
        var drawn = false
    }

    /// What the bar counts: requests, entries.
    public let unit: String
    /// The planned total; nil when a run is bounded by time instead.
    public let total: Int?
    public let interactive: Bool
    private let quiet: Bool
    private let state = Mutex(State())

    public init(unit: String, total: Int?, quiet: Bool = false, interactive: Bool? = nil) {
        self.unit = unit
        self.total = total
        self.quiet = quiet
        self.interactive = interactive ?? (isatty(2) == 1)
    }

    /// Reports the counts so far.
    public func update(_ counts: FloodCounts, final: Bool = false) {
        guard !quiet else { return }
        let now = ContinuousClock.now
        let line: String? = state.withLock { state in
            // Redrawn at most ten times a second; plain lines once a second.
            if !final, let last = state.lastPlainLine, now - last < (interactive ? .milliseconds(100) : .seconds(1)) { return nil }
            if interactive {
                state.lastPlainLine = now
                state.drawn = true
                return "\r" + Self.bar(counts, total: total, unit: unit) + (final ? "\n" : "")
            }
            state.lastPlainLine = now
            return Self.plain(counts, total: total, unit: unit) + "\n"
        }
        if let line { Self.writeStandardError(line) }
    }

    /// A message on its own line (a retry, a warning), below the bar on a terminal.
    public func note(_ message: String) {
        guard !quiet else { return }
        let prefix = state.withLock { state in
            defer { state.drawn = false }
            return interactive && state.drawn ? "\n" : ""
        }
        Self.writeStandardError(prefix + message + "\n")
    }

    /// `[##########··········]  50/100 entries  (2 failed, 1 retried)`.
    static func bar(_ counts: FloodCounts, total: Int?, unit: String) -> String {
        let done = counts.sent + counts.failed
        let width = 30
        let filled = total.map { $0 > 0 ? min(width, done * width / $0) : width } ?? 0
        let bar = total == nil ? "" : "[" + String(repeating: "#", count: filled) + String(repeating: "·", count: width - filled) + "] "
        return bar + "\(done)\(total.map { "/\($0)" } ?? "") \(unit)  (\(counts.failed) failed, \(counts.retried) retried)"
    }

    /// `progress: 50/100 entries sent, 2 failed, 1 retried`.
    static func plain(_ counts: FloodCounts, total: Int?, unit: String) -> String {
        "progress: \(counts.sent + counts.failed)\(total.map { "/\($0)" } ?? "") \(unit), \(counts.sent) sent, \(counts.failed) failed, \(counts.retried) retried"
    }

    static func writeStandardError(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return -1 }
                return write(2, base + offset, buffer.count - offset)
            }
            if written <= 0 { return }
            offset += written
        }
    }
}
