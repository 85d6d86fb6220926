public import ArgumentParser
import Journal
import OutboundHTTP
import Synchronization

/// `generate-error-logs`: error records written where claimsd writes its own — journald, under
/// claimsd's identifier and priorities, so Alloy or promtail ship them to Loki with the real
/// labels — or to standard output, or posted to a URL.
public struct GenerateErrorLogsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "generate-error-logs",
        abstract: "Write error log records as claimsd would, to test log shipping and log-based alerts.",
        discussion: """
            Records go to journald (SYSLOG_IDENTIFIER claimsd, PRIORITY from the level, the record's fields as \
            journal fields), or with --stdout one JSON line each to standard output, or with -u each one POSTed \
            as a JSON body. Exits 0 when every record was written, 1 otherwise.
            """)

    @Option(name: .shortAndLong, help: "Records to write.")
    public var numEntries: Int = 100

    @Option(name: .shortAndLong, help: "Seconds between records.")
    public var interval: Double = 0.1

    @Option(name: [.customShort("t"), .long], help: "Which errors: 4xx, 5xx or both.")
    public var errorType: ErrorKind = .both

    @Option(name: [.customShort("u"), .long], help: "POST each record (JSON) to this URL instead of writing it to journald.")
    public var targetURL: String?

    @Flag(help: "Write each record as a JSON line to standard output instead of journald.")
    public var stdout = false

    @Option(help: "The journal's SYSLOG_IDENTIFIER (Alloy and promtail select claimsd).")
    public var identifier: String = "claimsd"

    @OptionGroup public var retry: RetryOptions

    @OptionGroup public var options: FloodOptions

    public init() {}

    public func validate() throws {
        guard numEntries > 0, numEntries <= 10_000_000 else { throw ValidationError("--num-entries must be between 1 and 10000000, got \(numEntries)") }
        _ = try Pacing.from(interval: interval, rate: nil, defaultInterval: 0.1)
        if stdout, targetURL != nil { throw ValidationError("choose one destination: --stdout or --target-url, not both") }
        if let targetURL { _ = try OutboundURL.option(targetURL, name: "--target-url") }
        guard !identifier.isEmpty, identifier.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw ValidationError("--identifier must be a non-empty word of printable ASCII")
        }
        if !stdout, targetURL == nil, !JournaldSink.isAvailable {
            throw ValidationError("journald's socket \(JournaldSink.socketPath) is missing; use --stdout or --target-url")
        }
    }

    public func run() async throws {
        let seed = options.effectiveSeed
        let pause = Duration.milliseconds(Int64((interval * 1000).rounded()))
        let url = try targetURL.map { try OutboundURL.option($0, name: "--target-url") }
        let progress = ProgressReporter(unit: "records", total: numEntries, quiet: options.quiet)
        let sender = RetryingSender(policy: retry.policy(timeout: options.timeout)) { attempt, reason, pause in
            progress.note("attempt \(attempt) failed (\(reason)); retrying in \(pause)")
        }
        let refused = FailedWrites()
        let sink: (any LogSink)? = url != nil ? nil : stdout ? StdoutJSONSink() as any LogSink : JournaldSink(identifier: identifier, fallback: refused)
        var source = SyntheticRecordSource(kind: errorType, generator: "generate-error-logs", seed: seed)
        var counts = FloodCounts()
        var problems: [String] = []
        let started = ContinuousClock.now
        for index in 0..<numEntries {
            let record = source.next(at: .now())
            if let url {
                let outcome = await sender.send("POST", to: url, headers: [("Content-Type", "application/json")], body: record.logRecord.json)
                counts.record(outcome, items: 1, problems: &problems)
            } else if let sink {
                let failures = refused.count
                sink.write(record.logRecord)
                if refused.count > failures {
                    counts.failed += 1
                    if problems.isEmpty { problems.append("journald refused a record (is \(JournaldSink.socketPath) writable?)") }
                } else {
                    counts.sent += 1
                }
            }
            progress.update(counts, final: index == numEntries - 1)
            if index < numEntries - 1, pause > .zero { try await Task.sleep(for: pause) }
        }
        let target = url?.description ?? (stdout ? "standard output" : "journald (\(identifier))")
        try options.finish(
            FloodSummary(tool: "generate-error-logs", target: target, seed: seed, counts: counts, duration: ContinuousClock.now - started, problems: problems),
            toStandardError: stdout)
    }
}

/// The fallback of the journald sink here: a record journald refused is counted as failed, not
/// written elsewhere (the tool's promise is "in the journal").
final class FailedWrites: LogSink {
    private let failures = Atomic<Int>(0)

    var count: Int { failures.load(ordering: .relaxed) }

    func write(_ record: LogRecord) { failures.add(1, ordering: .relaxed) }
}
