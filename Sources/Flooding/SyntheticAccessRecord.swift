public import Journal
public import Logging

/// An error record shaped exactly like claimsd's own access record (`event: request_completed`,
/// written by its observability middleware), so LogQL queries, Loki rules and dashboards see a
/// flood and real errors alike. Only `generator` tells them apart.
public struct SyntheticAccessRecord: Sendable {
    /// When the request "completed".
    public var time: WallClockTime
    public var method: String
    /// A route template claimsd serves, never a raw path.
    public var route: String
    public var status: Int
    public var durationMilliseconds: Double
    public var requestID: String
    /// The tool that made the record (`flood-loki`, `generate-error-logs`).
    public var generator: String

    /// warning for 4xx, error for 5xx: the level claimsd gives such a response.
    public var level: Logger.Level { status >= 500 ? .error : status >= 400 ? .warning : .info }

    /// Nanoseconds since the Unix epoch.
    public var unixNanoseconds: Int64 { Int64(time.seconds) * 1_000_000_000 + Int64(time.nanoseconds) }

    /// The record as claimsd would log it.
    public var logRecord: LogRecord {
        LogRecord(
            timestamp: time, level: level, logger: "claimsd", message: "request completed",
            metadata: [
                "event": "request_completed", "method": .string(method), "route": .string(route), "status": .stringConvertible(status),
                "duration_ms": .stringConvertible(durationMilliseconds), "response_bytes": .stringConvertible(0),
                "request_id": .string(requestID), "generator": .string(generator),
            ],
            source: "Flooding", file: #fileID, function: #function, line: #line)
    }

    /// The JSON line claimsd writes for it (journald's MESSAGE, a Loki entry's line).
    public var line: String { String(decoding: logRecord.json, as: UTF8.self) }

    /// Routes of claimsd's API with the methods they answer, from which records are drawn.
    public static let routes: [(method: String, route: String)] = [
        ("POST", "/api/v1/claims"), ("GET", "/api/v1/claims"), ("GET", "/api/v1/claims/{id}"), ("PUT", "/api/v1/claims/{id}"),
        ("POST", "/api/v1/claims/{id}/void"), ("POST", "/api/v1/claims/import"), ("GET", "/api/v1/providers/top"),
        ("POST", "/api/v1/payments/{id}/report"),
    ]
}

/// Draws synthetic error records: statuses from the chosen kind, routes, durations and request ids
/// from a seeded generator, times from the caller.
public struct SyntheticRecordSource: Sendable {
    public let kind: ErrorKind
    public let generator: String
    private var random: SeededGenerator

    public init(kind: ErrorKind, generator: String, seed: UInt64) {
        self.kind = kind
        self.generator = generator
        self.random = SeededGenerator(seed: seed)
    }

    /// The next record, completed at `time`.
    public mutating func next(at time: WallClockTime) -> SyntheticAccessRecord {
        let statuses = kind.statuses
        let status = statuses[Int(random.next() % UInt64(statuses.count))]
        let endpoint = SyntheticAccessRecord.routes[Int(random.next() % UInt64(SyntheticAccessRecord.routes.count))]
        // Server errors take longer (timeouts upstream); client errors are refused quickly.
        let base = status >= 500 ? 200.0 : 2.0
        let duration = (base * (1 + Double(random.next() % 4000) / 1000) * 1000).rounded() / 1000
        return SyntheticAccessRecord(
            time: time, method: endpoint.method, route: endpoint.route, status: status, durationMilliseconds: duration,
            requestID: random.uuid(), generator: generator)
    }
}
