import Glibc
import JSONText
public import Logging

/// One log call, with the handler's and the call's metadata merged and masked.
public struct LogRecord: Sendable {
    public var timestamp: WallClockTime
    public var level: Logger.Level
    public var logger: String
    public var message: String
    public var metadata: Logger.Metadata
    public var source: String
    public var file: String
    public var function: String
    public var line: UInt

    public init(
        timestamp: WallClockTime, level: Logger.Level, logger: String, message: String, metadata: Logger.Metadata, source: String,
        file: String, function: String, line: UInt
    ) {
        self.timestamp = timestamp
        self.level = level
        self.logger = logger
        self.message = message
        self.metadata = metadata
        self.source = source
        self.file = file
        self.function = function
        self.line = line
    }

    /// The record as one JSON object: `timestamp`, `level`, `logger`, `message`, then the
    /// metadata keys in sorted order.
    public var json: [UInt8] {
        // Room for the metadata and the newline a sink appends, so neither reallocates.
        var writer = JSONWriter(capacity: 320 + message.utf8.count + 40 * metadata.count)
        writer.raw("{\"timestamp\":\"")
        writer.appendRaw { Self.appendRFC3339(timestamp, to: &$0) }
        writer.raw("\"")
        writer.raw(",\"level\":")
        writer.string(level.rawValue)
        writer.raw(",\"logger\":")
        writer.string(logger)
        writer.raw(",\"message\":")
        writer.string(message)
        for key in metadata.keys.sorted() {
            guard let value = metadata[key], !Self.reservedKeys.contains(key) else { continue }
            writer.raw(",")
            writer.string(key)
            writer.raw(":")
            writer.value(value)
        }
        writer.raw("}")
        return writer.bytes
    }

    private static let reservedKeys: Set<String> = ["timestamp", "level", "logger", "message"]

    /// `2026-11-22T07:52:00.123Z`: RFC 3339, UTC, millisecond precision.
    public static func rfc3339(_ time: WallClockTime) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        appendRFC3339(time, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends ``rfc3339(_:)``'s text to `bytes`, digit by digit.
    static func appendRFC3339(_ time: WallClockTime, to bytes: inout [UInt8]) {
        var seconds = time.seconds
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int32, _ width: Int) {
            var divisor: Int32 = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = max(0, value)
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: (rest / divisor) % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(parts.tm_year + 1900, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(parts.tm_mon + 1, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(parts.tm_mday, 2)
        bytes.append(UInt8(ascii: "T"))
        digits(parts.tm_hour, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(parts.tm_min, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(parts.tm_sec, 2)
        bytes.append(UInt8(ascii: "."))
        digits(Int32(time.nanoseconds / 1_000_000), 3)
        bytes.append(UInt8(ascii: "Z"))
    }

}

/// A point in wall-clock time: seconds and nanoseconds since the Unix epoch.
public struct WallClockTime: Sendable, Equatable {
    public var seconds: Int
    public var nanoseconds: Int

    public init(seconds: Int, nanoseconds: Int) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The current wall-clock time.
    public static func now() -> WallClockTime {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return WallClockTime(seconds: time.tv_sec, nanoseconds: time.tv_nsec)
    }
}

extension Logger.Level {
    /// The syslog priority journald stores for this level (0 emerg … 7 debug).
    public var syslogPriority: Int {
        switch self {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }
}
