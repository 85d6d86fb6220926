import CSystemd
import Glibc
import JSONText
import Logging
import Synchronization
import Dispatch

/// Where finished log records go.
public protocol LogSink: Sendable {
    func write(_ record: LogRecord)
}

/// Writes each record as one JSON object per line to standard output (or another descriptor),
/// lines never interleaved.
///
/// Lines are gathered and written together, as a web server buffers its access log: one
/// `write` per `capacity` bytes or per `flushDelay`, whichever comes first, rather than one per
/// record. A record at `error` or above is written at once, with every line before it, and
/// whatever is waiting is written when the process exits normally (`atexit`); only a crash can
/// lose the lines of the last `flushDelay`. `flushDelay: nil` writes every record as it comes.
public final class StdoutJSONSink: LogSink {
    private struct Pending {
        var bytes: [UInt8] = []
        /// Whether a delayed write of `bytes` is scheduled.
        var flushScheduled = false

        /// Writes the gathered lines, if any, and empties the buffer (keeping its storage).
        mutating func writeOut(to descriptor: Int32) {
            guard !bytes.isEmpty else { return }
            StdoutJSONSink.writeAll(bytes, to: descriptor)
            bytes.removeAll(keepingCapacity: true)
        }
    }

    private let pending = Mutex(Pending())
    private let descriptor: Int32
    private let capacity: Int
    private let flushDelay: Duration?

    /// The default size at which gathered lines are written: 32 KiB.
    public static let defaultCapacity = 32 * 1024
    /// The default longest wait of a gathered line: 50 ms.
    public static let defaultFlushDelay: Duration = .milliseconds(50)

    public init(descriptor: Int32 = 1, capacity: Int = StdoutJSONSink.defaultCapacity, flushDelay: Duration? = StdoutJSONSink.defaultFlushDelay) {
        self.descriptor = descriptor
        self.capacity = max(capacity, 1)
        self.flushDelay = flushDelay
        if flushDelay != nil { PendingLogLines.flushAtExit(self) }
    }

    public func write(_ record: LogRecord) {
        let json = record.json
        guard let flushDelay else {
            var line = json
            line.append(UInt8(ascii: "\n"))
            pending.withLock { _ in Self.writeAll(line, to: descriptor) }
            return
        }
        let schedule = pending.withLock { pending -> Bool in
            pending.bytes.append(contentsOf: json)
            pending.bytes.append(UInt8(ascii: "\n"))
            if record.level >= .error || pending.bytes.count >= capacity {
                pending.writeOut(to: descriptor)
                return false
            }
            guard !pending.flushScheduled else { return false }
            pending.flushScheduled = true
            return true
        }
        if schedule {
            let nanoseconds = Int(clamping: flushDelay.components.seconds * 1_000_000_000 + flushDelay.components.attoseconds / 1_000_000_000)
            PendingLogLines.queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in self?.flush() }
        }
    }

    /// Writes every line still waiting.
    public func flush() {
        pending.withLock { pending in
            pending.flushScheduled = false
            pending.writeOut(to: descriptor)
        }
    }

    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}

/// Sends each record to journald over its native protocol (`sd_journal_sendv`).
///
/// Fields: `MESSAGE` holds the record as one JSON object; `PRIORITY` is the syslog priority of
/// the level; `SYSLOG_IDENTIFIER` names the service; `CODE_FILE`, `CODE_LINE`, `CODE_FUNC` say
/// where the call was; every metadata key becomes an uppercase field (see ``journalFieldName(_:)``)
/// so `journalctl -t claimsd HTTP_STATUS=503` works — except the per-request measurements in
/// ``unindexedKeys``, which stay in `MESSAGE` only: every distinct value of an indexed field is an
/// object journald hashes and stores, and a duration or a byte count differs on every request.
/// When journald refuses a record (socket gone), it is written to `fallback` instead, so nothing
/// is lost.
public struct JournaldSink: LogSink {
    public let identifier: String
    public let fallback: any LogSink
    /// `SYSLOG_IDENTIFIER=<identifier>`, made once.
    private let identifierField: [UInt8]

    public init(identifier: String, fallback: any LogSink = StdoutJSONSink()) {
        self.identifier = identifier
        self.fallback = fallback
        self.identifierField = Array("SYSLOG_IDENTIFIER=\(identifier)".utf8)
    }

    /// The path of journald's native socket; present when journald runs.
    public static let socketPath = "/run/systemd/journal/socket"

    /// Whether journald's socket exists on this machine.
    public static var isAvailable: Bool { access(socketPath, F_OK) == 0 }

    public func write(_ record: LogRecord) {
        // Every field goes into one buffer, each ending where `ends` says: one allocation for
        // the entry instead of one per field and a copy to join them.
        let json = record.json
        var storage: [UInt8] = []
        storage.reserveCapacity(json.count * 2 + 256)
        var ends: [Int] = []
        ends.reserveCapacity(7 + record.metadata.count)
        func field(_ name: String, _ value: some Sequence<UInt8>) {
            storage.append(contentsOf: name.utf8)
            storage.append(UInt8(ascii: "="))
            storage.append(contentsOf: value)
            ends.append(storage.count)
        }
        field("MESSAGE", json)
        storage.append(contentsOf: Self.priorityFields[record.level.syslogPriority])
        ends.append(storage.count)
        storage.append(contentsOf: identifierField)
        ends.append(storage.count)
        field("CODE_FILE", record.file.utf8)
        field("CODE_LINE", String(record.line).utf8)
        field("CODE_FUNC", record.function.utf8)
        field("LOGGER", record.logger.utf8)
        for (key, value) in record.metadata where !Self.unindexedKeys.contains(key) {
            guard let name = Self.journalFieldName(key) else { continue }
            switch value {
            case .string(let string): field(name, string.utf8)
            case .stringConvertible(let convertible): field(name, convertible.description.utf8)
            case .array, .dictionary:
                var writer = JSONWriter()
                writer.value(value)
                field(name, writer.bytes)
            }
        }
        if Self.send(storage, ends: ends) < 0 {
            fallback.write(record)
        }
    }

    /// Sends the fields in `storage`, the n-th ending at `ends[n]`, as one journal entry;
    /// returns `sd_journal_sendv`'s result.
    private static func send(_ storage: [UInt8], ends: [Int]) -> Int32 {
        storage.withUnsafeBytes { buffer in
            var vectors: [iovec] = []
            vectors.reserveCapacity(ends.count)
            var start = 0
            for end in ends {
                let base = buffer.baseAddress.map { UnsafeMutableRawPointer(mutating: $0 + start) }
                vectors.append(iovec(iov_base: base, iov_len: end - start))
                start = end
            }
            return sd_journal_sendv(vectors, Int32(vectors.count))
        }
    }

    /// Metadata keys kept out of the indexed fields: a new value on every request, and nothing
    /// anyone selects entries by (`hb.request.id` is Hummingbird's own id beside `request_id`).
    public static let unindexedKeys: Set<String> = ["duration_ms", "response_bytes", "hb.request.id"]

    /// `PRIORITY=0` … `PRIORITY=7`.
    private static let priorityFields: [[UInt8]] = (0...7).map { Array("PRIORITY=\($0)".utf8) }

    /// The journal field name for a metadata key: uppercase letters, digits and underscores,
    /// not starting with an underscore (reserved for trusted fields) or a digit, at most 64
    /// characters; `nil` when nothing usable is left.
    public static func journalFieldName(_ key: String) -> String? {
        if let known = knownFieldNames[key] { return known }
        return derivedFieldName(key)
    }

    /// The field name worked out from the key's characters.
    private static func derivedFieldName(_ key: String) -> String? {
        var name = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "a"..."z": name.unicodeScalars.append(Unicode.Scalar(scalar.value - 32) ?? "_")
            case "A"..."Z", "0"..."9": name.unicodeScalars.append(scalar)
            default: name.append("_")
            }
        }
        while name.hasPrefix("_") { name.removeFirst() }
        guard let first = name.first else { return nil }
        if first.isNumber { name = "F_" + name }
        if Self.ownFields.contains(name) { name = "META_" + name }
        return String(name.prefix(64))
    }

    /// Access-record keys whose journal fields carry an `HTTP_` prefix, so operators filter with
    /// `journalctl -t claimsd HTTP_STATUS=503` while the JSON keeps the short names LogQL uses
    /// (`| json | status >= 500`).
    static let fieldNames = ["method": "HTTP_METHOD", "route": "HTTP_ROUTE", "status": "HTTP_STATUS"]

    /// ``fieldNames``, and the names of the other keys claimsd logs on every request, worked out
    /// once rather than for every record.
    private static let knownFieldNames: [String: String] = {
        let keys = [
            "event", "domain_event", "principal", "request_id", "hb.request.method", "hb.request.path", "claim_id", "line_count", "net_fee",
            "provider_npi", "warnings", "error", "dependency", "outcome",
        ]
        var names = fieldNames
        for key in keys { names[key] = derivedFieldName(key) }
        return names
    }()

    /// Fields this sink sets itself; metadata keys with these names are renamed, not dropped.
    private static let ownFields: Set<String> = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "LOGGER"]
}

/// The delayed writes of every gathering ``StdoutJSONSink``, and the sinks written out when the
/// process exits.
enum PendingLogLines {
    static let queue = DispatchQueue(label: "claimsd.log-lines")

    private struct WeakSink {
        weak var sink: StdoutJSONSink?
    }

    private static let sinks = Mutex<[WeakSink]>([])
    /// Installed once, by the first sink that gathers.
    private static let exitHandler: Void = { atexit { PendingLogLines.flushAll() } }()

    static func flushAtExit(_ sink: StdoutJSONSink) {
        _ = exitHandler
        sinks.withLock { sinks in
            sinks.removeAll { $0.sink == nil }
            sinks.append(WeakSink(sink: sink))
        }
    }

    static func flushAll() {
        for entry in sinks.withLock({ $0 }) { entry.sink?.flush() }
    }
}
