@testable import App
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import HummingbirdTesting
import PromQL
import Synchronization
import Testing
import TestSupport
import TimeSeries

/// The PromQL engine and query API against the real thing: the same generated OpenMetrics data
/// is loaded into claimsd's store and, with promtool, into Debian's Prometheus 2.42; the same
/// queries are asked of both HTTP APIs at several times and over a range, and the answers must
/// agree (same result type and label sets, values within 1e-6 relative, NaN equal to NaN,
/// errors of the same kind).
@Suite(.serialized) struct PromQLDifferentialTests {
    static let base: Int64 = 1_700_000_000_000
    static let hours: Int64 = 3

    /// Counters with resets, gauges (NaN and ±Inf among them), a classic histogram, series with
    /// gaps, and constant info series; all samples 15 s apart over three hours.
    static func generateData(seed: UInt64) -> String {
        var random = SplitMix(seed: seed)
        func uniform() -> Double { Double(random.next() % 1_000_000) / 1_000_000 }
        var text = ""
        let steps = Int(hours * 3600 / 15)
        func emit(_ series: String, _ values: [Double?]) {
            for (step, value) in values.enumerated() {
                guard let value else { continue }
                let seconds = Double(base + Int64(step) * 15_000) / 1000
                let written = value.isNaN ? "NaN" : value == .infinity ? "+Inf" : value == -.infinity ? "-Inf" : "\(value)"
                text += "\(series) \(written) \(seconds)\n"
            }
        }
        for instance in ["a", "b"] {
            for code in ["200", "404", "500"] {
                for method in ["GET", "POST"] {
                    var value = Double(random.next() % 100)
                    var values: [Double?] = []
                    for _ in 0..<steps {
                        value += Double(random.next() % 10)
                        if uniform() < 0.005 { value = Double(random.next() % 5) }
                        values.append(value)
                    }
                    emit("diff_requests_total{instance=\"\(instance)\",code=\"\(code)\",method=\"\(method)\"}", values)
                }
            }
            for room in ["x", "y", "z"] {
                var value = 20.0
                emit("diff_temperature{instance=\"\(instance)\",room=\"\(room)\"}", (0..<steps).map { _ in
                    value += uniform() * 2 - 1
                    return (value * 1000).rounded() / 1000
                })
            }
            // Present for 20 minutes, gone for 13, and so on.
            emit("diff_flaky{instance=\"\(instance)\"}", (0..<steps).map { step in step % 132 < 80 ? Double(step % 7) : nil })
            emit("diff_info{instance=\"\(instance)\",version=\"1.2.\(instance == "a" ? 3 : 4)\"}", (0..<steps).map { _ in 1 })
        }
        emit("diff_weird{kind=\"nan\"}", (0..<steps).map { step in step % 9 == 0 ? .nan : Double(step % 13) - 6 })
        var weird: [Double?] = []
        for step in 0..<steps {
            if step % 11 == 0 {
                weird.append(Double.infinity)
            } else if step % 17 == 0 {
                weird.append(-Double.infinity)
            } else {
                weird.append(Double(step % 5))
            }
        }
        emit("diff_weird{kind=\"inf\"}", weird)
        for route in ["/a", "/b"] {
            var counts = [0.0, 0.0, 0.0, 0.0]
            var sum = 0.0
            var bucketValues: [[Double?]] = [[], [], [], []]
            var sums: [Double?] = []
            var totals: [Double?] = []
            for _ in 0..<steps {
                let observations = Int(random.next() % 20)
                for _ in 0..<observations {
                    let latency = uniform() * uniform() * 2
                    sum += latency
                    for (index, bound) in [0.1, 0.5, 1, .infinity].enumerated() where latency <= bound { counts[index] += 1 }
                }
                for index in 0..<4 { bucketValues[index].append(counts[index]) }
                sums.append(sum)
                totals.append(counts[3])
            }
            for (index, bound) in ["0.1", "0.5", "1", "+Inf"].enumerated() {
                emit("diff_latency_seconds_bucket{route=\"\(route)\",le=\"\(bound)\"}", bucketValues[index])
            }
            emit("diff_latency_seconds_sum{route=\"\(route)\"}", sums)
            emit("diff_latency_seconds_count{route=\"\(route)\"}", totals)
        }
        return text + "# EOF\n"
    }

    /// Over a thousand queries: every function, operator, aggregation and modifier, from
    /// templates, plus edge cases written out.
    static func queries() -> [String] {
        let counters = ["diff_requests_total", "diff_requests_total{code=\"500\"}", "diff_requests_total{code=~\"4..|5..\",method!=\"GET\"}", "diff_latency_seconds_count"]
        let gauges = ["diff_temperature", "diff_temperature{room!~\"x\"}", "diff_weird", "diff_flaky", "{__name__=~\"diff_temp.*\",instance=\"a\"}"]
        let ranges = ["1m", "5m", "17m", "1h"]
        var queries: [String] = []
        for selector in counters + gauges {
            queries.append(selector)
            queries.append("\(selector) offset 7m")
            queries.append("\(selector) @ 1700003600")
            queries.append("\(selector) offset -2m")
            queries.append("timestamp(\(selector))")
            for range in ranges {
                for function in ["rate", "increase", "delta", "irate", "idelta", "deriv", "changes", "resets", "avg_over_time", "min_over_time",
                                 "max_over_time", "sum_over_time", "count_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
                                 "present_over_time"] {
                    queries.append("\(function)(\(selector)[\(range)])")
                }
                queries.append("quantile_over_time(0.3, \(selector)[\(range)])")
                queries.append("predict_linear(\(selector)[\(range)], 600)")
                queries.append("holt_winters(\(selector)[\(range)], 0.3, 0.7)")
            }
            queries.append("rate(\(selector)[5m] offset 10m)")
            queries.append("rate(\(selector)[5m] @ end())")
            queries.append("max_over_time(rate(\(selector)[5m])[30m:1m])")
            queries.append("avg_over_time(\(selector)[20m:])")
        }
        for selector in gauges {
            for function in ["abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
                             "tanh", "asinh", "acosh", "atanh", "deg", "rad", "sgn", "sort", "sort_desc", "absent", "day_of_month", "day_of_week",
                             "day_of_year", "days_in_month", "hour", "minute", "month", "year"] {
                queries.append("\(function)(\(selector))")
            }
            queries.append("round(\(selector))")
            queries.append("round(\(selector), 0.3)")
            queries.append("clamp(\(selector), 19, 21)")
            queries.append("clamp(\(selector), 5, 1)")
            queries.append("clamp_max(\(selector), 20)")
            queries.append("clamp_min(\(selector), 20)")
            queries.append("scalar(\(selector))")
            queries.append("label_replace(\(selector), \"where\", \"$1-$2\", \"instance\", \"(.)(.*)\")")
            queries.append("label_replace(\(selector), \"room\", \"\", \"room\", \"x\")")
            queries.append("label_join(\(selector), \"joined\", \"/\", \"instance\", \"room\", \"nothing\")")
            queries.append("absent_over_time(\(selector)[5m])")
        }
        let grouped = ["", " by (instance)", " without (instance)", " by (code, method)", " by ()", " without ()"]
        for selector in counters.prefix(2) + gauges.prefix(3) {
            for grouping in grouped {
                for op in ["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count"] {
                    queries.append("\(op)\(grouping) (\(selector))")
                }
                queries.append("topk\(grouping) (2, \(selector))")
                queries.append("bottomk\(grouping) (2, \(selector))")
                queries.append("quantile\(grouping) (0.75, \(selector))")
                queries.append("count_values\(grouping) (\"value\", round(\(selector)))")
            }
            for parameter in ["-1", "0", "1.5", "NaN", "1e20"] {
                queries.append("topk(\(parameter), \(selector))")
                queries.append("quantile(\(parameter), \(selector))")
            }
        }
        for q in ["-1", "0", "0.25", "0.5", "0.99", "1", "2", "NaN"] {
            queries.append("histogram_quantile(\(q), rate(diff_latency_seconds_bucket[5m]))")
            queries.append("histogram_quantile(\(q), sum by (le) (rate(diff_latency_seconds_bucket[10m])))")
            queries.append("histogram_quantile(\(q), diff_latency_seconds_bucket)")
        }
        let pairs = [("diff_requests_total", "diff_requests_total offset 5m"), ("diff_temperature", "diff_temperature{room=\"x\"}"),
                     ("diff_requests_total", "diff_info"), ("diff_temperature", "diff_flaky")]
        for (lhs, rhs) in pairs {
            for op in ["+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"] {
                queries.append("\(lhs) \(op) \(rhs)")
                queries.append("\(lhs) \(op) on (instance) \(rhs)")
                queries.append("\(lhs) \(op) ignoring (code, method, room) \(rhs)")
            }
            for op in ["==", "!=", ">", "<", ">=", "<="] { queries.append("\(lhs) \(op) bool \(rhs)") }
            queries.append("\(lhs) * on (instance) group_left (version) \(rhs)")
            queries.append("\(lhs) / on (instance) group_left \(rhs)")
            queries.append("\(rhs) + on (instance) group_right (version) \(lhs)")
        }
        for selector in ["diff_temperature", "diff_weird"] {
            for op in ["+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<="] {
                queries.append("\(selector) \(op) 2")
                queries.append("2 \(op) \(selector)")
                queries.append("\(selector) \(op) NaN")
                queries.append("-Inf \(op) \(selector)")
            }
            queries.append("\(selector) > bool 20")
            queries.append("20 < bool \(selector)")
            queries.append("-\(selector)")
            queries.append("-\(selector) ^ 2")
        }
        queries += [
            "1", "-1.5", "0x10", "Inf", "-Inf", "NaN", "1 + 2 * 3", "2 ^ 3 ^ 2", "-2 ^ 2", "(1 + 2) * 3", "1 / 0", "-1 / 0", "0 / 0", "5 % 3",
            "-5 % 3", "2 ^ 0.5", "-8 ^ (1/3)", "1 == bool 1", "1 < bool NaN", "NaN == bool NaN", "time()", "pi()", "vector(1)", "vector(time())",
            "scalar(vector(3))", "\"a string\"", "1 atan2 2", "year()", "month()", "day_of_week()", "hour(vector(1700000000))",
            "days_in_month(vector(1709251200))", "timestamp(vector(1))", "absent(nonexistent)", "absent(nonexistent{job=\"x\", env=~\"p.*\"})",
            "absent(diff_temperature)", "absent(sum(nonexistent))", "absent_over_time(nonexistent{job=\"y\"}[5m])", "count(diff_requests_total) > 5",
            "sum(rate(diff_requests_total[5m])) by (code) / ignoring (code) group_left sum(rate(diff_requests_total[5m]))",
            "diff_requests_total + on (instance) diff_requests_total", "abs({__name__=~\"diff_temperature|diff_flaky\"})",
            "rate({__name__=~\"diff_requests_total|diff_latency_seconds_count\"}[5m])", "diff_temperature + on (instance) group_left diff_temperature",
            "label_replace(diff_temperature, \"instance\", \"same\", \"\", \"\")", "sum_over_time(vector(1)[10m:1m])", "rate(vector(time())[5m:30s])",
            "diff_requests_total @ start()", "diff_requests_total @ end()", "max_over_time(diff_temperature[1h] @ 1700005000)",
            "min_over_time((diff_temperature > 20)[30m:2m] offset 3m)", "sum(diff_temperature) + sum(diff_flaky)", "topk(1, diff_temperature) or diff_flaky",
            "count by (instance) (diff_requests_total) unless on (instance) diff_flaky", "sort(sum by (code) (diff_requests_total))",
            "sort_desc(rate(diff_requests_total[5m]))", "deriv(vector(time())[10m:])", "predict_linear(diff_temperature[1h], -3600)",
            "diff_temperature[5m:1m] @ 1700004000", "diff_info == 1", "diff_info != bool 1", "group by (version) (diff_info)",
            "stddev(diff_weird)", "avg(diff_weird)", "max(diff_weird)", "min(diff_weird)", "sum(diff_weird)", "quantile(0.5, diff_weird)",
            "count_values(\"v\", diff_weird)", "changes(diff_weird[10m])", "resets(diff_weird[10m])", "avg_over_time(diff_weird[10m])",
            "sum_over_time(diff_weird[10m])", "stddev_over_time(diff_weird[10m])", "irate(diff_weird[10m])", "delta(diff_weird[10m])",
        ]
        var seen = Set<String>()
        return queries.filter { seen.insert($0).inserted }
    }

    struct Answer {
        let status: String
        let errorType: String?
        let resultType: String?
        let result: Any?
        let raw: String
    }

    static func decode(_ data: Data) -> Answer {
        let raw = String(decoding: data, as: UTF8.self)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return Answer(status: "unparseable", errorType: nil, resultType: nil, result: nil, raw: raw)
        }
        let payload = object["data"] as? [String: Any]
        return Answer(
            status: object["status"] as? String ?? "", errorType: object["errorType"] as? String, resultType: payload?["resultType"] as? String,
            result: payload?["result"], raw: raw)
    }

    static func close(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard let x = Double(a.replacingOccurrences(of: "+Inf", with: "inf").replacingOccurrences(of: "-Inf", with: "-inf")),
            let y = Double(b.replacingOccurrences(of: "+Inf", with: "inf").replacingOccurrences(of: "-Inf", with: "-inf"))
        else { return false }
        if x.isNaN && y.isNaN { return true }
        if x.isInfinite || y.isInfinite { return x == y }
        return abs(x - y) <= 1e-6 * max(abs(x), abs(y)) || abs(x - y) < 1e-9
    }

    static func key(_ metric: Any?) -> String {
        let labels = (metric as? [String: String]) ?? [:]
        return labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// Nil when the answers agree, else what differs.
    static func compare(_ ours: Answer, _ theirs: Answer, ordered: Bool) -> String? {
        if theirs.status == "error" || ours.status == "error" {
            return ours.status == theirs.status && ours.errorType == theirs.errorType ? nil : "status/errorType differ"
        }
        guard ours.resultType == theirs.resultType else { return "resultType differs" }
        switch theirs.resultType {
        case "scalar", "string":
            let a = ours.result as? [Any]
            let b = theirs.result as? [Any]
            guard let a, let b, a.count == 2, b.count == 2 else { return "malformed scalar" }
            return "\(a[0])" == "\(b[0])" && close("\(a[1])", "\(b[1])") ? nil : "scalar differs"
        case "vector":
            let a = (ours.result as? [[String: Any]]) ?? []
            let b = (theirs.result as? [[String: Any]]) ?? []
            guard a.count == b.count else { return "vector sizes differ: \(a.count) vs \(b.count)" }
            if ordered {
                for (x, y) in zip(a, b) {
                    guard let xv = x["value"] as? [Any], let yv = y["value"] as? [Any], close("\(xv[1])", "\(yv[1])") else { return "order or values differ" }
                }
            }
            var theirsByKey: [String: String] = [:]
            for sample in b {
                let value = (sample["value"] as? [Any]).map { "\($0[1])" } ?? ""
                theirsByKey[key(sample["metric"])] = value
            }
            for sample in a {
                let value = (sample["value"] as? [Any]).map { "\($0[1])" } ?? ""
                guard let other = theirsByKey[key(sample["metric"])] else { return "series \(key(sample["metric"])) only in claimsd" }
                guard close(value, other) else { return "value of \(key(sample["metric"])): \(value) vs \(other)" }
            }
            return nil
        case "matrix":
            let a = (ours.result as? [[String: Any]]) ?? []
            let b = (theirs.result as? [[String: Any]]) ?? []
            guard a.count == b.count else { return "matrix sizes differ: \(a.count) vs \(b.count)" }
            var theirsByKey: [String: [[Any]]] = [:]
            for series in b { theirsByKey[key(series["metric"])] = series["values"] as? [[Any]] ?? [] }
            for series in a {
                let values = series["values"] as? [[Any]] ?? []
                guard let other = theirsByKey[key(series["metric"])] else { return "series \(key(series["metric"])) only in claimsd" }
                guard values.count == other.count else { return "points of \(key(series["metric"])): \(values.count) vs \(other.count)" }
                for (x, y) in zip(values, other) {
                    guard "\(x[0])" == "\(y[0])", close("\(x[1])", "\(y[1])") else { return "point of \(key(series["metric"])) at \(y[0]): \(x[1]) vs \(y[1])" }
                }
            }
            return nil
        default:
            return "unknown resultType \(theirs.resultType ?? "nil")"
        }
    }

    static func prometheus(_ port: Int, _ path: String, _ parameters: [(String, String)]) async throws -> Answer {
        var components = URLComponents(string: "http://127.0.0.1:\(port)\(path)")
        components?.queryItems = parameters.map { URLQueryItem(name: $0.0, value: $0.1) }
        // '+' in a query string means a space to a form decoder: encode it.
        let encoded = components?.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        components?.percentEncodedQuery = encoded
        let url = try #require(components?.url)
        let (data, _) = try await URLSession.shared.data(from: url)
        return decode(data)
    }

    @Test func queriesAgreeWithPrometheus242() async throws {
        // CLAIMS_TEST_PROMQL_SEED replays a run; CLAIMS_TEST_PROMQL_KEEP=1 leaves the data and
        // the Prometheus running afterwards, to look into a mismatch by hand.
        // Negative gauges exercise date functions on values before 1970 (Go truncates them).
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["CLAIMS_TEST_PROMQL_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        let keep = environment["CLAIMS_TEST_PROMQL_KEEP"] == "1"
        print("queriesAgreeWithPrometheus242: seed \(seed)")
        let directory = NSTemporaryDirectory() + "claimsd-promql-\(TestEnvironment.uniqueSuffix())"
        let file = directory + "/data.om"
        try FileManager.default.createDirectory(atPath: directory + "/prometheus", withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: directory) } }
        // Generating and importing take seconds in a debug build: done on a thread of their own,
        // so the two cooperative threads stay free for the tests running beside this one.
        let store = TimeSeriesStore(options: TimeSeriesOptions(retention: 365 * 24 * 3_600_000))
        let loaded: Result<ExpositionImport.Summary, any Error> = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    returning: Result {
                        try Self.generateData(seed: seed).write(toFile: file, atomically: true, encoding: .utf8)
                        // claimsd: the file imported into its store.
                        return try ExpositionImport.importFile(path: file, into: store)
                    })
            }
        }
        let summary = try loaded.get()
        #expect(summary.samplesStored == summary.samplesRead && summary.samplesRead > 10_000)
        // Prometheus: the same file turned into blocks by promtool.
        try await TestEnvironment.run("/usr/bin/env", ["promtool", "tsdb", "create-blocks-from", "openmetrics", file, directory + "/prometheus"])
        let port = Int(TestEnvironment.required("CLAIMS_TEST_PROMETHEUS_PORT")) ?? 19090
        try await TestEnvironment.services("start", "prometheus", "promql", String(port), directory + "/prometheus")
        do {
            try await compareWithPrometheus(store: store, port: port)
        } catch {
            if !keep { try? await TestEnvironment.services("stop", "prometheus", "promql") }
            throw error
        }
        // Stopped here, not in a deferred task that the test process might outlive.
        if !keep { try await TestEnvironment.services("stop", "prometheus", "promql") }
    }

    func compareWithPrometheus(store: TimeSeriesStore, port: Int) async throws {

        let base = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: "redis://127.0.0.1:1")
        let router = buildRouter(dependencies: base, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: []), timeSeries: TimeSeriesSettings(store: store))
        let queries = Self.queries()
        #expect(queries.count >= 1000)
        let instants: [Int64] = [30 * 60, 67 * 60 + 13, 179 * 60, 184 * 60, 190 * 60].map { Self.base + $0 * 1000 }
        let rangeStart = APIJSON.timestamp(Self.base + 3_600_000)
        let rangeEnd = APIJSON.timestamp(Self.base + 7_200_000)
        let outcome = Mutex<(compared: Int, mismatches: [String])>((0, []))
        try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
            func ours(_ path: String, _ parameters: [(String, String)]) async throws -> Answer {
                var components = URLComponents()
                components.queryItems = parameters.map { URLQueryItem(name: $0.0, value: $0.1) }
                let body = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
                let response = try await client.execute(
                    uri: path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: body))
                return Self.decode(Data(buffer: response.body))
            }
            for query in queries {
                let ordered = query.hasPrefix("sort")
                var cases: [(String, [(String, String)])] = instants.map { ("/api/v1/query", [("query", query), ("time", APIJSON.timestamp($0))]) }
                cases.append(("/api/v1/query_range", [("query", query), ("start", rangeStart), ("end", rangeEnd), ("step", "97")]))
                for (path, parameters) in cases {
                    let theirs = try await Self.prometheus(port, path, parameters)
                    let mine = try await ours(path, parameters)
                    let difference = Self.compare(mine, theirs, ordered: ordered && path == "/api/v1/query")
                    outcome.withLock { $0.compared += 1 }
                    if let difference {
                        let line = ("\(path) \(parameters.map { "\($0.0)=\($0.1)" }.joined(separator: " ")): \(difference)\n  claimsd:    \(mine.raw.prefix(600))\n  prometheus: \(theirs.raw.prefix(600))")
                        outcome.withLock { $0.mismatches.append(line) }
                    }
                }
            }
        }
        let (compared, mismatches) = outcome.withLock { $0 }
        print("PromQL differential: \(queries.count) queries, \(compared) comparisons, \(mismatches.count) mismatches")
        for mismatch in mismatches.prefix(60) { print(mismatch) }
        #expect(mismatches.count == 0, "\(mismatches.count) of \(compared) answers differ from Prometheus 2.42; the first ones are printed above")
    }
}
