import Foundation
import Hummingbird
import JSONText
import PromQL
import TimeSeries

/// Writing to the built-in store from outside, when `CLAIMS_TSDB_ADMIN_API=on` (off by
/// default, like Prometheus's `--web.enable-admin-api`):
/// - `POST /api/v1/import/prometheus`: Prometheus text or OpenMetrics with any timestamps,
///   merged in time order; all or nothing, a bad line (or no sample at all) is a 400 naming it.
/// - `POST /api/v1/admin/tsdb/delete_series?match[]=…&start=…&end=…`: 204.
/// - `POST /api/v1/admin/tsdb/snapshot`: a checkpoint copy under `<store>/snapshots/<name>`.
/// While the admin API is off, each answers 403 saying how to turn it on.
struct AdminRoutes: Sendable {
    let store: TimeSeriesStore
    let enabled: Bool
    let maxImportBytes: Int

    func register(on router: SecuredRoutes) {
        router.post("api/v1/import/prometheus", requires: .permission(.administerMonitoring)) { request, _ in
            try guardEnabled()
            return try await importSamples(request)
        }
        router.post("api/v1/admin/tsdb/delete_series", requires: .permission(.administerMonitoring)) { request, _ in
            try guardEnabled()
            return try await deleteSeries(request)
        }
        router.post("api/v1/admin/tsdb/snapshot", requires: .permission(.administerMonitoring)) { _, _ in
            try guardEnabled()
            return try await snapshot()
        }
    }

    private func guardEnabled() throws {
        guard enabled else {
            throw Problem(status: .forbidden, detail: "the time-series admin API is off; start claimsd with CLAIMS_TSDB_ADMIN_API=on to use it")
        }
    }

    func importSamples(_ request: Request) async throws -> Response {
        let body = try await RouteSupport.collect(request, limit: maxImportBytes, tooLarge: "imports are limited to \(maxImportBytes) bytes (CLAIMS_MAX_IMPORT_BYTES)")
        let format = ExpositionFormat(contentType: request.headers[.contentType])
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let store = store
        let summary: ExpositionImport.Summary
        do {
            summary = try ExpositionImport.importText(body, format: format, defaultTimestamp: now, into: store)
        } catch {
            throw Problem(status: .badRequest, detail: "\(error); nothing of this request was stored")
        }
        guard summary.samplesRead > 0 else {
            throw Problem(
                status: .badRequest,
                detail: "the body holds no samples (only blank lines or comments); send lines like drill_requests_total{job=\"drill\"} 5 1764576000000")
        }
        let answer = APIJSON.success { writer in
            writer.open("{")
            writer.member("samplesRead", summary.samplesRead)
            writer.member("samplesStored", summary.samplesStored)
            writer.member("newSeries", summary.newSeries)
            writer.key("refused")
            writer.open("{")
            for (reason, count) in summary.refused.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { writer.member(reason.rawValue, count) }
            writer.close("}")
            writer.close("}")
        }
        return RouteSupport.json(bytes: answer)
    }

    func deleteSeries(_ request: Request) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        var problems: [String] = []
        var selectors: [[LabelMatcher]] = []
        for text in parameters.all("match[]") {
            do {
                selectors.append(try Parser.parseSelector(text))
            } catch {
                problems.append("match[] \"\(text)\": \(error)")
            }
        }
        if parameters.all("match[]").isEmpty { problems.append("no match[] parameter: give at least one series selector") }
        let start = try time(parameters["start"], name: "start", default: .min, problems: &problems)
        let end = try time(parameters["end"], name: "end", default: .max, problems: &problems)
        if start > end { problems.append("end is before start") }
        guard problems.isEmpty else { throw Problem(status: .badRequest, detail: problems.joined(separator: "; ")) }
        for matchers in selectors { store.deleteSeries(matching: matchers, from: start, through: end) }
        return Response(status: .noContent)
    }

    private func time(_ text: String?, name: String, default fallback: Int64, problems: inout [String]) throws -> Int64 {
        guard let text, !text.isEmpty else { return fallback }  // empty is absent, as in Prometheus
        guard let value = APITime.milliseconds(text) else {
            problems.append("\(name) \"\(text)\" is neither Unix seconds nor an RFC 3339 time")
            return fallback
        }
        return value
    }

    func snapshot() async throws -> Response {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        let name = formatter.string(from: Date()) + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let store = store
        let result: Result<String, any Error> = await offThePool { Result { try store.snapshot(name: name) } }
        let written = try result.get()
        let body = APIJSON.success { writer in
            writer.open("{")
            writer.member("name", written)
            writer.close("}")
        }
        return RouteSupport.json(bytes: body)
    }
}
