public import CoreMetrics
public import Logging

/// A swift-log handler that masks personal data and hands each record to a ``LogSink``
/// (journald, or JSON lines on stdout).
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: any LogSink
    private let masker: PIIMasker
    private let counters: LogLevelCounters?

    /// `counters`, when given, counts every record written as `log_messages_total{level}`.
    public init(
        label: String, sink: any LogSink, level: Logger.Level = .info, masker: PIIMasker = .standard,
        metadataProvider: Logger.MetadataProvider? = nil, counters: LogLevelCounters? = nil
    ) {
        self.label = label
        self.sink = sink
        self.logLevel = level
        self.masker = masker
        self.metadataProvider = metadataProvider
        self.counters = counters
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Every request logs through here: the call's metadata is taken as it is when the
        // handler has none, and a masked value is written back only where masking changed it.
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata {
            if merged.isEmpty { merged = explicit } else { merged.merge(explicit) { _, new in new } }
        }
        if let error = event.error, merged["error"] == nil { merged["error"] = "\(error)" }
        for (key, value) in merged {
            if let masked = masker.masked(key: key, value: value) { merged[key] = masked }
        }
        counters?.count(event.level)
        sink.write(
            LogRecord(
                timestamp: .now(), level: event.level, logger: label, message: event.message.description,
                metadata: merged, source: event.source, file: event.file, function: event.function, line: event.line
            ))
    }
}

/// Where the service's logs go.
public enum LogTarget: String, Sendable, CaseIterable {
    /// journald when its socket exists, stdout otherwise.
    case auto
    case journal
    case stdout

    /// The sink for this target on this machine.
    public func makeSink(identifier: String) -> any LogSink {
        switch self {
        case .stdout: return StdoutJSONSink()
        case .journal: return JournaldSink(identifier: identifier)
        case .auto: return JournaldSink.isAvailable ? JournaldSink(identifier: identifier) : StdoutJSONSink()
        }
    }
}

/// `log_messages_total{level}`: one counter per level, made once and shared by every handler.
public final class LogLevelCounters: Sendable {
    private let counters: [Logger.Level: Counter]

    public init(factory: any MetricsFactory) {
        var counters: [Logger.Level: Counter] = [:]
        for level in Logger.Level.allCases {
            counters[level] = Counter(label: "log_messages_total", dimensions: [("level", level.rawValue)], factory: factory)
        }
        self.counters = counters
    }

    func count(_ level: Logger.Level) {
        counters[level]?.increment()
    }
}
