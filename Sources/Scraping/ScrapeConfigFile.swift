public import StrictYAML
import TimeSeries
import Yams

/// The scrape targets an operator lists in `CLAIMS_SCRAPE_CONFIG`: the subset of Prometheus's
/// configuration that fits a built-in scraper.
///
/// ```yaml
/// global:                    # optional
///   scrape_interval: 15s
///   scrape_timeout: 10s
/// scrape_configs:
///   - job_name: node
///     scrape_interval: 30s   # optional, per job
///     scrape_timeout: 5s     # optional, ≤ scrape_interval
///     metrics_path: /metrics # optional
///     scheme: http           # only http
///     honor_labels: false    # optional
///     static_configs:
///       - targets: ["127.0.0.1:9100"]
///         labels: {env: prod}
/// ```
///
/// Unknown keys are errors, as in `promtool check config`, and every error names its line.
public enum ScrapeConfigFile {
    /// The targets `yaml` describes. `defaultInterval` applies where neither the job nor
    /// `global` sets one (milliseconds).
    public static func targets(from yaml: String, defaultInterval: Int64) throws(ScrapeConfigError) -> [ScrapeTarget] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ScrapeConfigError(line: nil, problem: "not valid YAML: \(error)")
        }
        guard let root else { return [] }
        let top = try YAMLMapping(root, context: "the file", allowed: ["global", "scrape_configs"])
        var interval = defaultInterval
        var timeout: Int64?
        if let global = top["global"] {
            let fields = try YAMLMapping(global, context: "global", allowed: ["scrape_interval", "scrape_timeout", "evaluation_interval", "external_labels"])
            if let value = try fields.duration("scrape_interval") { interval = value }
            timeout = try fields.duration("scrape_timeout")
        }
        var targets: [ScrapeTarget] = []
        var jobs = Set<String>()
        for job in try top.sequence("scrape_configs") {
            let fields = try YAMLMapping(
                job, context: "a scrape config",
                allowed: ["job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "static_configs", "honor_labels", "honor_timestamps"])
            guard let name = try fields.string("job_name"), !name.isEmpty else { throw fields.error("job_name is required") }
            guard jobs.insert(name).inserted else { throw fields.error("job_name \"\(name)\" appears twice") }
            let jobInterval = try fields.duration("scrape_interval") ?? interval
            let jobTimeout = try fields.duration("scrape_timeout") ?? min(timeout ?? 10_000, jobInterval)
            guard jobInterval > 0 else { throw fields.error("scrape_interval of \(name) must be positive") }
            guard jobTimeout > 0, jobTimeout <= jobInterval else {
                throw fields.error("scrape_timeout of \(name) (\(PrometheusDuration.format(jobTimeout))) must be positive and not greater than scrape_interval (\(PrometheusDuration.format(jobInterval)))")
            }
            let path = try fields.string("metrics_path") ?? "/metrics"
            guard path.hasPrefix("/") else { throw fields.error("metrics_path of \(name) must start with /") }
            let scheme = try fields.string("scheme") ?? "http"
            guard scheme == "http" else {
                throw fields.error("scheme \"\(scheme)\" of \(name) is not supported: claimsd scrapes over plain http only (use Prometheus for https targets)")
            }
            let honorLabels = try fields.bool("honor_labels") ?? false
            for group in try fields.sequence("static_configs") {
                let groupFields = try YAMLMapping(group, context: "a static config", allowed: ["targets", "labels"])
                var labels: [Label] = []
                if let labelNode = groupFields["labels"] {
                    let labelFields = try YAMLMapping(labelNode, context: "labels", allowed: nil)
                    for key in labelFields.keys {
                        guard isValidLabelName(key) else { throw labelFields.error("\"\(key)\" is not a valid label name") }
                        labels.append(Label(key, try labelFields.string(key) ?? ""))
                    }
                }
                for address in try groupFields.sequence("targets") {
                    guard let text = address.string, !text.isEmpty else { throw groupFields.error("a target must be host:port") }
                    guard let (_, port) = splitHostPort(text), (1...65535).contains(port) else {
                        throw ScrapeConfigError(line: address.mark?.line, problem: "target \"\(text)\" must be host:port")
                    }
                    let targetLabels = Labels(labels + [Label("job", name), Label("instance", text)])
                    targets.append(
                        ScrapeTarget(
                            job: name, url: "http://\(text)\(path)", labels: targetLabels, interval: jobInterval, timeout: jobTimeout, honorLabels: honorLabels))
                }
            }
        }
        return targets
    }

    /// `host` and `port` of `host:port` (`[v6]:port` too).
    public static func splitHostPort(_ address: String) -> (String, Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}

/// A scrape configuration that cannot be used, with the line it is on.
public typealias ScrapeConfigError = YAMLProblem
