public import TimeSeries

/// One endpoint scraped on a schedule: where, how often, and the labels its series get.
public struct ScrapeTarget: Sendable, Hashable {
    /// The job the target belongs to (`job` label).
    public var job: String
    /// `scheme://host:port/path` fetched each scrape; empty for an in-process source.
    public var url: String
    /// Labels every series of the target gets: `job`, `instance` and any static labels.
    public var labels: Labels
    /// Milliseconds between scrapes.
    public var interval: Int64
    /// Milliseconds a scrape may take before it counts as failed.
    public var timeout: Int64
    /// Whether labels the target exposes win over `labels` where both name one (otherwise the
    /// exposed ones are kept as `exported_<name>`).
    public var honorLabels: Bool

    public init(job: String, url: String, labels: Labels, interval: Int64, timeout: Int64, honorLabels: Bool = false) {
        self.job = job
        self.url = url
        self.labels = labels
        self.interval = interval
        self.timeout = timeout
        self.honorLabels = honorLabels
    }

    /// The `instance` label.
    public var instance: String { labels["instance"] ?? "" }

    /// The labels of a scraped series: the exposed ones merged with the target's.
    func merge(_ exposed: Labels) -> Labels {
        var result = exposed
        for label in labels {
            if let existing = exposed[label.name] {
                if honorLabels { continue }
                // Keep the target's value, and the exposed one under exported_<name>
                // (exported_exported_<name> if that is taken too), as Prometheus does.
                var renamed = "exported_" + label.name
                while exposed[renamed] != nil { renamed = "exported_" + renamed }
                result = result.setting(renamed, to: existing)
            }
            result = result.setting(label.name, to: label.value)
        }
        return result
    }
}

/// Where a target's exposition comes from.
public protocol MetricsSource: Sendable {
    /// The exposition and its `Content-Type`; throws ``ScrapeError`` when it cannot be had in time.
    func fetch(timeout: Duration) async throws(ScrapeError) -> (body: [UInt8], contentType: String?)
}

/// An exposition produced in this process (claimsd's own registry): no HTTP on the way.
public struct InProcessSource: MetricsSource {
    private let produce: @Sendable () async -> [UInt8]

    /// A source that calls `produce` for each scrape; its output is Prometheus text 0.0.4.
    public init(_ produce: @escaping @Sendable () async -> [UInt8]) {
        self.produce = produce
    }

    public func fetch(timeout: Duration) async throws(ScrapeError) -> (body: [UInt8], contentType: String?) {
        (await produce(), "text/plain; version=0.0.4")
    }
}

/// Why a scrape failed; the message is what `/api/v1/targets` shows as `lastError`.
public struct ScrapeError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
