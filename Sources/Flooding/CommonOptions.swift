public import ArgumentParser
public import OutboundHTTP

/// Options every flood tool takes: timeout, seed, output form.
public struct FloodOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("timeout"), help: "Seconds each HTTP attempt may take.")
    public var timeoutSeconds: Double = 10

    @Option(help: "Seed of the random choices (statuses, routes, ids); printed in the summary so a run can be repeated.")
    public var seed: UInt64?

    @Flag(help: "Print the summary as one JSON object instead of text.")
    public var json = false

    @Flag(name: .shortAndLong, help: "No progress on standard error.")
    public var quiet = false

    public init() {}

    public func validate() throws {
        guard timeoutSeconds > 0, timeoutSeconds <= 300 else { throw ValidationError("--timeout must be between 0 and 300 seconds, got \(timeoutSeconds)") }
    }

    /// Each HTTP attempt's deadline.
    public var timeout: Duration { .milliseconds(Int64((timeoutSeconds * 1000).rounded())) }

    /// The seed given, or a fresh one.
    public var effectiveSeed: UInt64 { seed ?? SeededGenerator.freshSeed() }

    /// Prints the summary on standard output (or standard error when standard output carries
    /// the records), then ends the process with 0 when everything arrived and 1 otherwise.
    public func finish(_ summary: FloodSummary, toStandardError: Bool = false) throws {
        let text = json ? summary.json : summary.text
        if toStandardError {
            ProgressReporter.writeStandardError(text)
        } else {
            print(text, terminator: "")
        }
        if !summary.succeeded { throw ExitCode(1) }
    }
}

/// Retries of the tools that deliver records (flood-loki, generate-error-logs); flood-api never
/// retries, since every answer it provokes is the point.
public struct RetryOptions: ParsableArguments, Sendable {
    @Option(help: "Times a failed request (connection error, timeout, 429, 5xx) is tried again, with backoff honouring Retry-After.")
    public var retries: Int = 3

    public init() {}

    public func validate() throws {
        guard (0...20).contains(retries) else { throw ValidationError("--retries must be between 0 and 20, got \(retries)") }
    }

    /// The retry policy for requests with `timeout` each.
    public func policy(timeout: Duration) -> RetryPolicy { RetryPolicy(attempts: retries + 1, timeout: timeout) }
}

/// How batches are spaced: a pause after each, or a steady rate of entries per second.
public enum Pacing: Sendable, Equatable {
    case interval(Duration)
    case rate(Double)

    /// `--interval` and `--rate` as given (at most one), else the tool's default interval.
    public static func from(interval: Double?, rate: Double?, defaultInterval: Double) throws -> Pacing {
        switch (interval, rate) {
        case (.some, .some):
            throw ValidationError("give --interval or --rate, not both")
        case (_, .some(let rate)):
            guard rate > 0, rate.isFinite, rate <= 1_000_000 else { throw ValidationError("--rate must be a positive number of entries per second up to 1000000, got \(rate)") }
            return .rate(rate)
        case (let interval, nil):
            let seconds = interval ?? defaultInterval
            guard seconds >= 0, seconds <= 3600, seconds.isFinite else { throw ValidationError("--interval must be between 0 and 3600 seconds, got \(seconds)") }
            return .interval(.milliseconds(Int64((seconds * 1000).rounded())))
        }
    }

    /// When the batch that starts after `sentBefore` items may start, relative to the run's start;
    /// nil for interval pacing (which pauses after each batch instead).
    public func start(after sentBefore: Int) -> Duration? {
        guard case .rate(let rate) = self else { return nil }
        return .nanoseconds(Int64((Double(sentBefore) / rate * 1e9).rounded()))
    }
}

extension OutboundURL {
    /// Parses a URL option, with an error naming the option and what is accepted.
    public static func option(_ text: String, name: String) throws -> OutboundURL {
        if text.hasPrefix("https://") {
            throw ValidationError("\(name) \(text): https is not supported; use http:// (put a TLS-terminating proxy in front if needed)")
        }
        guard let url = OutboundURL(text) else { throw ValidationError("\(name) \(text) is not an http://host[:port]/path URL") }
        return url
    }
}
