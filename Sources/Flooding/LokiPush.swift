import JSONText

/// One log line for Loki: its stream's labels, its time in nanoseconds, the line.
public struct LokiEntry: Sendable, Equatable {
    /// The stream's labels, e.g. `job="api", level="error", host=…`.
    public var labels: [String: String]
    public var unixNanoseconds: Int64
    public var line: String

    public init(labels: [String: String], unixNanoseconds: Int64, line: String) {
        self.labels = labels
        self.unixNanoseconds = unixNanoseconds
        self.line = line
    }
}

/// The body of `POST /loki/api/v1/push` in Loki's JSON form:
/// `{"streams":[{"stream":{labels},"values":[["<ns>","<line>"],…]}]}` with one stream per label
/// set (in the order first seen), each stream's values in time order, and times as decimal
/// strings of nanoseconds, exact.
public enum LokiPush {
    public static func body(_ entries: [LokiEntry]) -> [UInt8] {
        var streams: [(labels: [(String, String)], values: [LokiEntry])] = []
        var index: [[String: String]: Int] = [:]
        for entry in entries {
            if let position = index[entry.labels] {
                streams[position].values.append(entry)
            } else {
                index[entry.labels] = streams.count
                streams.append((entry.labels.sorted { $0.key < $1.key }, [entry]))
            }
        }
        var writer = JSONWriter(capacity: 64 + entries.reduce(0) { $0 + $1.line.utf8.count + 48 })
        writer.open("{")
        writer.key("streams")
        writer.open("[")
        for stream in streams {
            writer.open("{")
            writer.key("stream")
            writer.open("{")
            for (name, value) in stream.labels { writer.member(name, value) }
            writer.close("}")
            writer.key("values")
            writer.open("[")
            // A stable sort: entries of one nanosecond keep the order they were made in.
            for entry in stream.values.enumerated().sorted(by: { ($0.element.unixNanoseconds, $0.offset) < ($1.element.unixNanoseconds, $1.offset) }) {
                writer.open("[")
                writer.string(String(entry.element.unixNanoseconds))
                writer.raw(",")
                writer.string(entry.element.line)
                writer.close("]")
            }
            writer.close("]")
            writer.close("}")
        }
        writer.close("]")
        writer.close("}")
        return writer.bytes
    }
}
