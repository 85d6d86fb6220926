import Foundation
import Hummingbird
import JSONText
import PromQL
import Scraping
import Synchronization
import TimeSeries

/// The Prometheus HTTP API over the built-in store: queries, series and label listings,
/// targets and status, in Prometheus's JSON, so Grafana can use claimsd as a Prometheus
/// datasource. GET and form-encoded POST are both accepted where Prometheus accepts them.
struct QueryRoutes: Sendable {
    let store: TimeSeriesStore
    let engine: QueryEngine
    let targets: ScrapeTargets
    let executor: QueryExecutor
    let started = Date()

    func register(on router: SecuredRoutes) {
        for path in ["api/v1/query", "api/v1/query_range", "api/v1/series", "api/v1/labels"] {
            let handler: @Sendable (Request, ClaimsRequestContext) async throws -> Response = { request, _ in
                await answer { () throws(APIFailure) -> [UInt8] in
                    let parameters: APIParameters
                    do {
                        parameters = try await APIParameters.read(request)
                    } catch {
                        throw APIFailure(type: "bad_data", message: "could not read the form body: \(error)")
                    }
                    // Evaluation runs off the cooperative threads (see QueryExecutor).
                    let outcome: Result<[UInt8], APIFailure> = await executor.run {
                        Result { () throws(APIFailure) -> [UInt8] in
                            switch path {
                            case "api/v1/query": return try query(parameters)
                            case "api/v1/query_range": return try queryRange(parameters)
                            case "api/v1/series": return try series(parameters)
                            default: return try labelNames(parameters)
                            }
                        }
                    }
                    return try outcome.get()
                }
            }
            router.get(path, requires: .permission(.readMonitoring), use: handler)
            router.post(path, requires: .permission(.readMonitoring), use: handler)
        }
        router.get("api/v1/label/:name/values", requires: .permission(.readMonitoring)) { request, context in
            let name = context.parameters.get("name") ?? ""
            return await answer { () throws(APIFailure) -> [UInt8] in
                let parameters: APIParameters
                do {
                    parameters = try await APIParameters.read(request)
                } catch {
                    throw APIFailure(type: "bad_data", message: "\(error)")
                }
                return try labelValues(name, parameters)
            }
        }
        router.get("api/v1/status/buildinfo", requires: .permission(.readMonitoring)) { _, _ in
            RouteSupport.json(bytes: APIJSON.success { writer in
                writer.open("{")
                writer.member("version", ClaimsdBuild.version)
                writer.member("revision", ClaimsdBuild.revision)
                writer.member("branch", "")
                writer.member("buildUser", "")
                writer.member("buildDate", "")
                writer.member("goVersion", "swift")
                writer.close("}")
            })
        }
        router.get("api/v1/targets", requires: .permission(.readMonitoring)) { _, _ in RouteSupport.json(bytes: targetsBody()) }
        router.get("api/v1/query_exemplars", requires: .permission(.readMonitoring)) { _, _ in RouteSupport.json(bytes: APIJSON.success { $0.raw("[]") }) }
        router.post("api/v1/query_exemplars", requires: .permission(.readMonitoring)) { _, _ in RouteSupport.json(bytes: APIJSON.success { $0.raw("[]") }) }
        router.get("api/v1/metadata", requires: .permission(.readMonitoring)) { request, _ in
            await answer { () throws(APIFailure) -> [UInt8] in
                let parameters: APIParameters
                do {
                    parameters = try await APIParameters.read(request)
                } catch {
                    throw APIFailure(type: "bad_data", message: "\(error)")
                }
                return try metadata(parameters)
            }
        }
        router.get("api/v1/status/runtimeinfo", requires: .permission(.readMonitoring)) { _, _ in
            RouteSupport.json(bytes: APIJSON.success { writer in
                let statistics = store.statistics()
                writer.open("{")
                writer.member("startTime", ISO8601DateFormatter().string(from: started))
                writer.member("CWD", FileManager.default.currentDirectoryPath)
                writer.member("reloadConfigSuccess", "true")
                writer.member("goroutineCount", 0)
                writer.member("storageRetention", PrometheusDuration.format(store.options.retention))
                writer.member("timeSeriesCount", statistics.series)
                writer.close("}")
            })
        }
        router.get("api/v1/status/flags", requires: .permission(.readMonitoring)) { _, _ in
            RouteSupport.json(bytes: APIJSON.success { writer in
                writer.open("{")
                writer.member("query.lookback-delta", PrometheusDuration.format(engine.lookbackDelta))
                writer.member("query.max-samples", String(engine.maxSamples))
                writer.member("query.timeout", PrometheusDuration.format(engine.timeout.components.seconds * 1000))
                writer.member("storage.tsdb.retention.time", PrometheusDuration.format(store.options.retention))
                writer.close("}")
            })
        }
        router.get("api/v1/status/tsdb", requires: .permission(.readMonitoring)) { _, _ in RouteSupport.json(bytes: tsdbStatus()) }
    }

    /// Runs `body`; its failure becomes Prometheus's error body with the status it implies.
    private func answer(_ body: () async throws(APIFailure) -> [UInt8]) async -> Response {
        do {
            return RouteSupport.json(bytes: try await body())
        } catch {
            return RouteSupport.json(bytes: APIJSON.error(type: error.type, message: error.message), status: error.status)
        }
    }

    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    private func time(_ parameters: APIParameters, _ name: String, default fallback: Int64) throws(APIFailure) -> Int64 {
        guard let text = parameters[name], !text.isEmpty else { return fallback }
        guard let value = APITime.milliseconds(text) else {
            throw APIFailure(type: "bad_data", message: "invalid parameter \"\(name)\": cannot parse \"\(text)\" to a valid timestamp")
        }
        return value
    }

    /// An engine with the request's `timeout` applied (never longer than the configured one).
    private func engine(for parameters: APIParameters) throws(APIFailure) -> QueryEngine {
        var engine = engine
        if let text = parameters["timeout"], !text.isEmpty {
            guard let milliseconds = Self.duration(text), milliseconds > 0 else {
                throw APIFailure(type: "bad_data", message: "invalid parameter \"timeout\": cannot parse \"\(text)\" to a valid duration")
            }
            engine.timeout = min(engine.timeout, .milliseconds(milliseconds))
        }
        return engine
    }

    /// A duration as float seconds or a Prometheus duration, in milliseconds.
    static func duration(_ text: String) -> Int64? {
        if let seconds = Double(text), seconds.isFinite { return Int64((seconds * 1000).rounded()) }
        return PrometheusDuration.milliseconds(text)
    }

    private func evaluate(_ work: () throws(QueryError) -> QueryValue) throws(APIFailure) -> [UInt8] {
        do {
            return APIJSON.result(try work())
        } catch {
            throw APIFailure(error)
        }
    }

    func query(_ parameters: APIParameters) throws(APIFailure) -> [UInt8] {
        guard let query = parameters["query"] else { throw APIFailure(type: "bad_data", message: "invalid parameter \"query\": unknown position: parse error: no expression found in input") }
        let at = try time(parameters, "time", default: Self.now())
        let engine = try engine(for: parameters)
        let store = store
        return try evaluate { () throws(QueryError) in try engine.instantQuery(query, at: at, storage: store) }
    }

    func queryRange(_ parameters: APIParameters) throws(APIFailure) -> [UInt8] {
        guard let query = parameters["query"] else { throw APIFailure(type: "bad_data", message: "invalid parameter \"query\": unknown position: parse error: no expression found in input") }
        // Both bounds are required: empty is as missing, as in Prometheus.
        guard parameters["start"].map({ !$0.isEmpty }) == true else {
            throw APIFailure(type: "bad_data", message: "invalid parameter \"start\": cannot parse \"\" to a valid timestamp")
        }
        guard parameters["end"].map({ !$0.isEmpty }) == true else {
            throw APIFailure(type: "bad_data", message: "invalid parameter \"end\": cannot parse \"\" to a valid timestamp")
        }
        let start = try time(parameters, "start", default: 0)
        let end = try time(parameters, "end", default: 0)
        guard end >= start else { throw APIFailure(type: "bad_data", message: "invalid parameter \"end\": end timestamp must not be before start time") }
        guard let stepText = parameters["step"], let step = Self.duration(stepText) else {
            throw APIFailure(type: "bad_data", message: "invalid parameter \"step\": cannot parse \"\(parameters["step"] ?? "")\" to a valid duration")
        }
        guard step > 0 else {
            throw APIFailure(type: "bad_data", message: "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer")
        }
        // Times reach ±292 million years, so the span is taken without overflowing.
        let (span, overflow) = end.subtractingReportingOverflow(start)
        guard !overflow, span / step <= Int64(QueryEngine.maxPointsPerSeries) else {
            throw APIFailure(type: "bad_data", message: "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
        }
        let engine = try engine(for: parameters)
        let store = store
        return try evaluate { () throws(QueryError) in try engine.rangeQuery(query, start: start, end: end, step: step, storage: store) }
    }

    private func selectors(_ parameters: APIParameters, required: Bool) throws(APIFailure) -> [[LabelMatcher]] {
        let texts = parameters.all("match[]")
        if required && texts.isEmpty { throw APIFailure(type: "bad_data", message: "no match[] parameter provided") }
        var result: [[LabelMatcher]] = []
        for text in texts {
            do {
                result.append(try Parser.parseSelector(text))
            } catch {
                throw APIFailure(type: "bad_data", message: "invalid parameter \"match[]\": \(error)")
            }
        }
        return result
    }

    private func range(_ parameters: APIParameters) throws(APIFailure) -> (Int64, Int64) {
        (try time(parameters, "start", default: .min), try time(parameters, "end", default: .max))
    }

    private func limit(_ parameters: APIParameters) throws(APIFailure) -> Int? {
        guard let text = parameters["limit"], !text.isEmpty else { return nil }
        guard let value = Int(text), value >= 0 else { throw APIFailure(type: "bad_data", message: "invalid parameter \"limit\": cannot parse \"\(text)\" to a valid limit") }
        return value == 0 ? nil : value
    }

    func series(_ parameters: APIParameters) throws(APIFailure) -> [UInt8] {
        let matchers = try selectors(parameters, required: true)
        let (start, end) = try range(parameters)
        var found = store.series(matching: matchers, from: start, through: end)
        if let limit = try limit(parameters) { found = Array(found.prefix(limit)) }
        return APIJSON.success { writer in
            writer.open("[")
            for labels in found { APIJSON.labels(labels, into: &writer) }
            writer.close("]")
        }
    }

    func labelNames(_ parameters: APIParameters) throws(APIFailure) -> [UInt8] {
        let matchers = try selectors(parameters, required: false)
        let (start, end) = try range(parameters)
        var names = store.labelNames(matching: matchers, from: start, through: end)
        if let limit = try limit(parameters) { names = Array(names.prefix(limit)) }
        return APIJSON.success { $0.strings(names) }
    }

    func labelValues(_ name: String, _ parameters: APIParameters) throws(APIFailure) -> [UInt8] {
        guard isValidLabelName(name) else { throw APIFailure(type: "bad_data", message: "invalid label name: \"\(name)\"") }
        let matchers = try selectors(parameters, required: false)
        let (start, end) = try range(parameters)
        var values = store.labelValues(name, matching: matchers, from: start, through: end)
        if let limit = try limit(parameters) { values = Array(values.prefix(limit)) }
        return APIJSON.success { $0.strings(values) }
    }

    /// The metadata of the scraped metric families: `{"<name>":[{"type","help","unit"}]}`,
    /// one entry per distinct description, filtered by `metric`, cut by `limit`.
    func metadata(_ parameters: APIParameters) throws(APIFailure) -> [UInt8] {
        var byName: [String: [MetricMetadata]] = [:]
        for loop in targets.loops {
            for (name, entry) in loop.metadata where parameters["metric"].map({ $0.isEmpty || $0 == name }) ?? true {
                if !(byName[name]?.contains(entry) ?? false) { byName[name, default: []].append(entry) }
            }
        }
        var names = byName.keys.sorted()
        if let limit = try limit(parameters) { names = Array(names.prefix(limit)) }
        return APIJSON.success { writer in
            writer.open("{")
            for name in names {
                writer.key(name)
                writer.open("[")
                for entry in byName[name] ?? [] {
                    writer.open("{")
                    writer.member("type", entry.type)
                    writer.member("help", entry.help)
                    writer.member("unit", entry.unit)
                    writer.close("}")
                }
                writer.close("]")
            }
            writer.close("}")
        }
    }

    func targetsBody() -> [UInt8] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return APIJSON.success { writer in
            writer.open("{")
            writer.key("activeTargets")
            writer.open("[")
            for loop in targets.loops {
                let health = loop.health
                let target = loop.target
                writer.open("{")
                writer.key("discoveredLabels")
                APIJSON.labels(target.labels, into: &writer)
                writer.key("labels")
                APIJSON.labels(target.labels, into: &writer)
                writer.member("scrapePool", target.job)
                writer.member("scrapeUrl", target.url.isEmpty ? "in-process" : target.url)
                writer.member("globalUrl", target.url.isEmpty ? "in-process" : target.url)
                writer.member("lastError", health.lastError)
                writer.member(
                    "lastScrape", health.lastScrape.map { formatter.string(from: Date(timeIntervalSince1970: Double($0) / 1000)) } ?? "0001-01-01T00:00:00Z")
                writer.key("lastScrapeDuration")
                writer.raw(APIJSON.value(Double(health.lastScrapeDuration.components.attoseconds) / 1e18 + Double(health.lastScrapeDuration.components.seconds)))
                writer.member("health", health.state.rawValue)
                writer.member("scrapeInterval", PrometheusDuration.format(target.interval))
                writer.member("scrapeTimeout", PrometheusDuration.format(target.timeout))
                writer.close("}")
            }
            writer.close("]")
            writer.key("droppedTargets")
            writer.raw("[]")
            writer.close("}")
        }
    }

    /// Head statistics and the top 10 series counts by metric name, label name and pair.
    func tsdbStatus() -> [UInt8] {
        let statistics = store.statistics()
        let all = store.series(matching: [])
        var byName: [String: Int] = [:]
        var byLabel: [String: Int] = [:]
        var byPair: [String: Int] = [:]
        var valuesPerLabel: [String: Set<String>] = [:]
        for labels in all {
            byName[labels.name, default: 0] += 1
            for label in labels {
                byLabel[label.name, default: 0] += 1
                byPair["\(label.name)=\(label.value)", default: 0] += 1
                valuesPerLabel[label.name, default: []].insert(label.value)
            }
        }
        func top(_ counts: [String: Int], into writer: inout JSONWriter) {
            writer.open("[")
            for (name, value) in counts.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }).prefix(10) {
                writer.open("{")
                writer.member("name", name)
                writer.member("value", value)
                writer.close("}")
            }
            writer.close("]")
        }
        return APIJSON.success { writer in
            writer.open("{")
            writer.key("headStats")
            writer.open("{")
            writer.member("numSeries", statistics.series)
            writer.member("numLabelPairs", byPair.count)
            writer.member("chunkCount", statistics.chunks)
            writer.member("minTime", statistics.minTime ?? 0)
            writer.member("maxTime", statistics.maxTime ?? 0)
            writer.close("}")
            writer.key("seriesCountByMetricName")
            top(byName, into: &writer)
            writer.key("labelValueCountByLabelName")
            top(valuesPerLabel.mapValues(\.count), into: &writer)
            writer.key("memoryInBytesByLabelName")
            top(byLabel, into: &writer)
            writer.key("seriesCountByLabelValuePair")
            top(byPair, into: &writer)
            writer.close("}")
        }
    }
}

/// An API error: Prometheus's `errorType`, message and HTTP status.
struct APIFailure: Error, Sendable {
    let type: String
    let message: String

    init(type: String, message: String) {
        self.type = type
        self.message = message
    }

    init(_ error: QueryError) {
        switch error {
        case .parse(let parse):
            type = "bad_data"
            message = "invalid parameter \"query\": \(parse)"
        case .execution, .tooManySamples:
            type = "execution"
            message = error.description
        case .timeout:
            type = "timeout"
            message = error.description
        case .canceled:
            type = "canceled"
            message = error.description
        }
    }

    var status: HTTPResponse.Status {
        switch type {
        case "bad_data": return .badRequest
        case "execution": return .unprocessableContent
        case "timeout", "canceled", "unavailable": return .serviceUnavailable
        default: return .internalServerError
        }
    }
}

/// The scrape loops the scraper runs, once it runs: what `/api/v1/targets` lists.
final class ScrapeTargets: Sendable {
    private let current = Mutex<[ScrapeLoop]>([])

    var loops: [ScrapeLoop] { current.withLock { $0 } }

    func set(_ loops: [ScrapeLoop]) { current.withLock { $0 = loops } }
}
