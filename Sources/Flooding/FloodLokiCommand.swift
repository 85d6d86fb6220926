public import ArgumentParser
import Glibc
import Journal
import OutboundHTTP
import Synchronization

/// `flood-loki`: error log lines shaped like claimsd's access records, pushed straight to Loki's
/// push API in batches, one stream per level with the labels deploy/'s Alloy and promtail
/// configurations give claimsd's real logs (`job="api"`, `level`, `host`).
public struct FloodLokiCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "flood-loki",
        abstract: "Push error log entries to Loki, to test log-based alerts and dashboards.",
        discussion: """
            Each entry is a JSON line like claimsd's own access record (event request_completed, method, route, \
            status, duration_ms, request_id, level, timestamp), 4xx at level warning and 5xx at level error. \
            Exits 0 when Loki accepted every entry, 1 otherwise.
            """)

    @Option(name: .shortAndLong, help: "Entries to push.")
    public var numEntries: Int = 100

    @Option(name: .shortAndLong, help: "Entries per push request.")
    public var batchSize: Int = 10

    @Option(name: .shortAndLong, help: "Seconds to wait after each batch (default 0.5; not with --rate).")
    public var interval: Double?

    @Option(help: "Entries per second, instead of --interval.")
    public var rate: Double?

    @Option(name: [.customShort("t"), .long], help: "Which errors: 4xx, 5xx or both.")
    public var errorType: ErrorKind = .serverErrors

    @Option(name: [.customShort("u"), .long], help: "Loki's push endpoint.")
    public var lokiURL: String = "http://localhost:3100/loki/api/v1/push"

    @Option(help: "Loki tenant (sent as X-Scope-OrgID) for a multi-tenant Loki.")
    public var tenant: String?

    @Option(help: "The host label (default: this machine's host name, as Alloy sets it).")
    public var host: String?

    @OptionGroup public var retry: RetryOptions

    @OptionGroup public var options: FloodOptions

    public init() {}

    public func validate() throws {
        guard numEntries > 0, numEntries <= 10_000_000 else { throw ValidationError("--num-entries must be between 1 and 10000000, got \(numEntries)") }
        guard batchSize > 0, batchSize <= 100_000 else { throw ValidationError("--batch-size must be between 1 and 100000, got \(batchSize)") }
        _ = try pacing
        _ = try OutboundURL.option(lokiURL, name: "--loki-url")
        if let tenant, tenant.isEmpty || tenant.contains(where: { $0.isNewline }) { throw ValidationError("--tenant must be a non-empty single line") }
    }

    var pacing: Pacing { get throws { try Pacing.from(interval: interval, rate: rate, defaultInterval: 0.5) } }

    /// The labels of a stream of `level`.
    static func labels(level: String, host: String) -> [String: String] { ["job": "api", "level": level, "host": host] }

    public func run() async throws {
        let url = try OutboundURL.option(lokiURL, name: "--loki-url")
        let pacing = try pacing
        let seed = options.effectiveSeed
        let host = self.host ?? Self.hostName()
        var headers = [("Content-Type", "application/json")]
        if let tenant { headers.append(("X-Scope-OrgID", tenant)) }
        let progress = ProgressReporter(unit: "entries", total: numEntries, quiet: options.quiet)
        let sender = RetryingSender(policy: retry.policy(timeout: options.timeout)) { attempt, reason, pause in
            progress.note("attempt \(attempt) failed (\(reason)); retrying in \(pause)")
        }
        var source = SyntheticRecordSource(kind: errorType, generator: "flood-loki", seed: seed)
        var counts = FloodCounts()
        var problems: [String] = []
        var lastNanoseconds: Int64 = 0
        let started = ContinuousClock.now
        var done = 0
        while done < numEntries {
            if let start = pacing.start(after: done) {
                let wait = started.advanced(by: start) - ContinuousClock.now
                if wait > .zero { try await Task.sleep(for: wait) }
            }
            let count = min(batchSize, numEntries - done)
            var entries: [LokiEntry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let record = source.next(at: .now())
                // Exact and strictly increasing: two entries never share a nanosecond.
                let nanoseconds = max(record.unixNanoseconds, lastNanoseconds + 1)
                lastNanoseconds = nanoseconds
                entries.append(LokiEntry(labels: Self.labels(level: record.level.rawValue, host: host), unixNanoseconds: nanoseconds, line: record.line))
            }
            let outcome = await sender.send("POST", to: url, headers: headers, body: LokiPush.body(entries))
            counts.record(outcome, items: count, problems: &problems)
            done += count
            progress.update(counts, final: done == numEntries)
            if case .interval(let pause) = pacing, numEntries > done, pause > .zero { try await Task.sleep(for: pause) }
        }
        try options.finish(FloodSummary(tool: "flood-loki", target: url.description, seed: seed, counts: counts, duration: ContinuousClock.now - started, problems: problems))
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
