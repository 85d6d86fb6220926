import AlertDelivery
import Alerting
import Hummingbird
import JSONText
import PromQL
import TimeSeries

/// Rules and alerts over HTTP, in Prometheus's JSON (Grafana's alerting views read them):
/// - `GET /api/v1/rules` (`type=alert|record`, `rule_name[]`, `rule_group[]`, `file[]`), with
///   claimsd's extras: selectors that match nothing, and with `rule_name[]` the last 20
///   evaluations of each rule;
/// - `GET /api/v1/alerts`, each alert with its last delivery;
/// - `GET /api/v1/alertmanagers`;
/// - `POST`/`PUT /-/reload`: reloads the rule files; a file that fails keeps the old rules and
///   answers 422 naming the problems.
struct RuleRoutes: Sendable {
    let runtime: AlertingRuntime

    func register(on router: SecuredRoutes) {
        router.get("api/v1/rules", requires: .permission(.readMonitoring)) { request, _ in
            let parameters = try await APIParameters.read(request)
            do throws(InvalidParameter) {
                return RouteSupport.json(bytes: try rules(parameters))
            } catch {
                // Prometheus's envelope, as for every other error of its API.
                return RouteSupport.json(bytes: APIJSON.error(type: "bad_data", message: error.message), status: .badRequest)
            }
        }
        router.get("api/v1/alerts", requires: .permission(.readMonitoring)) { _, _ in RouteSupport.json(bytes: alerts()) }
        router.get("api/v1/alertmanagers", requires: .permission(.readMonitoring)) { _, _ in RouteSupport.json(bytes: alertmanagers()) }
        router.post("-/reload", requires: .permission(.administerMonitoring)) { _, _ in try await reload() }
        router.put("-/reload", requires: .permission(.administerMonitoring)) { _, _ in try await reload() }
    }

    private func reload() async throws -> Response {
        do {
            try await runtime.reload()
        } catch {
            throw Problem(status: .unprocessableContent, detail: "rule files not reloaded, the previous rules keep running: \(error)")
        }
        return Response(status: .ok)
    }

    /// A parameter of `/api/v1/rules` Prometheus would refuse, in its words.
    struct InvalidParameter: Error {
        let message: String
    }

    func rules(_ parameters: APIParameters) throws(InvalidParameter) -> [UInt8] {
        let type = parameters["type"].map { $0.lowercased() }.flatMap { $0.isEmpty ? nil : $0 }
        guard type == nil || type == "alert" || type == "record" else {
            throw InvalidParameter(message: "invalid parameter \"type\": not supported value \"\(type ?? "")\"")
        }
        let names = Set(parameters.all("rule_name[]"))
        let groupNames = Set(parameters.all("rule_group[]"))
        let files = Set(parameters.all("file[]"))
        let withHistory = !names.isEmpty
        let noSeriesAfter = runtime.noSeriesAfter
        return APIJSON.success { writer in
            writer.open("{")
            writer.key("groups")
            writer.open("[")
            for group in runtime.manager.groups {
                if !groupNames.isEmpty && !groupNames.contains(group.name) { continue }
                if !files.isEmpty && !files.contains(group.file) { continue }
                let rules = group.rules.filter { rule in
                    (names.isEmpty || names.contains(rule.definition.name))
                        && (type == nil || (type == "alert") == (rule.definition.kind == .alerting))
                }
                if rules.isEmpty && (!names.isEmpty || type != nil) { continue }
                let (lastEvaluation, duration) = group.lastEvaluation
                writer.open("{")
                writer.member("name", group.name)
                writer.member("file", group.file)
                writer.key("rules")
                writer.open("[")
                for rule in rules { write(rule, now: lastEvaluation, noSeriesAfter: noSeriesAfter, history: withHistory, into: &writer) }
                writer.close("]")
                writer.key("interval")
                writer.raw(APIJSON.value(Double(group.interval) / 1000))
                writer.member("limit", group.limit)
                writer.key("evaluationTime")
                writer.raw(APIJSON.value(duration))
                writer.member("lastEvaluation", lastEvaluation.map(AlertTime.rfc3339) ?? AlertTime.zero)
                writer.close("}")
            }
            writer.close("]")
            if let load = runtime.manager.lastLoad, let error = load.error {
                writer.member("lastReloadError", error)
            }
            writer.close("}")
        }
    }

    private func write(_ rule: any Rule, now: Int64?, noSeriesAfter: Int64, history: Bool, into writer: inout JSONWriter) {
        let status = rule.status
        let definition = rule.definition
        writer.open("{")
        if let alerting = rule as? AlertingRule {
            writer.member("state", alerting.alertState.rawValue)
        }
        writer.member("name", definition.name)
        writer.member("query", definition.parsed.description)
        if definition.kind == .alerting {
            writer.key("duration")
            writer.raw(APIJSON.value(Double(definition.holdDuration) / 1000))
            writer.key("keepFiringFor")
            writer.raw(APIJSON.value(Double(definition.keepFiringFor) / 1000))
        }
        writer.key("labels")
        pairs(definition.labels, into: &writer)
        if let alerting = rule as? AlertingRule {
            writer.key("annotations")
            pairs(definition.annotations, into: &writer)
            writer.key("alerts")
            writer.open("[")
            for alert in alerting.alerts where alert.state != .inactive { write(alert, delivery: nil, into: &writer) }
            writer.close("]")
        }
        writer.member("health", status.health.rawValue)
        if let error = status.lastError { writer.member("lastError", error) }
        writer.key("evaluationTime")
        writer.raw(APIJSON.value(status.evaluationDuration))
        writer.member("lastEvaluation", status.lastEvaluation.map(AlertTime.rfc3339) ?? AlertTime.zero)
        writer.member("type", definition.kind == .alerting ? "alerting" : "recording")
        // claimsd's extras: rules whose selectors match nothing (a typo never fires).
        if let since = status.selectorsEmptySince {
            writer.key("emptySelectors")
            writer.strings(status.emptySelectors)
            writer.member("emptySince", AlertTime.rfc3339(since))
            writer.key("neverMatching")
            writer.raw(now.map { $0 - since >= noSeriesAfter } ?? false ? "true" : "false")
        }
        if history {
            writer.key("evaluations")
            writer.open("[")
            for record in status.history.reversed() {
                writer.open("{")
                writer.member("time", AlertTime.rfc3339(record.time))
                writer.key("duration")
                writer.raw(APIJSON.value(record.duration))
                writer.member("samples", record.samples)
                if let error = record.error { writer.member("error", error) }
                writer.close("}")
            }
            writer.close("]")
        }
        writer.close("}")
    }

    private func write(_ alert: Alert, delivery: DeliveryLog.Delivery?, into writer: inout JSONWriter) {
        writer.open("{")
        writer.key("labels")
        APIJSON.labels(alert.labels, into: &writer)
        writer.key("annotations")
        writer.open("{")
        for key in alert.annotations.keys.sorted() { writer.member(key, alert.annotations[key] ?? "") }
        writer.close("}")
        writer.member("state", alert.state.rawValue)
        writer.member("activeAt", AlertTime.rfc3339(alert.activeAt))
        if let since = alert.keepFiringSince { writer.member("keepFiringSince", AlertTime.rfc3339(since)) }
        writer.member("value", alert.valueText)
        if let delivery {
            writer.key("lastDelivery")
            writer.open("{")
            writer.member("receiver", delivery.receiver)
            writer.member("time", AlertTime.rfc3339(delivery.time))
            writer.key("ok")
            writer.raw(delivery.error == nil ? "true" : "false")
            if let error = delivery.error { writer.member("error", error) }
            writer.close("}")
        }
        writer.close("}")
    }

    private func pairs(_ pairs: [(name: String, value: String)], into writer: inout JSONWriter) {
        writer.open("{")
        for (name, value) in pairs.sorted(by: { $0.name < $1.name }) { writer.member(name, value) }
        writer.close("}")
    }

    func alerts() -> [UInt8] {
        let deliveries = runtime.notifier.deliveries
        return APIJSON.success { writer in
            writer.open("{")
            writer.key("alerts")
            writer.open("[")
            for group in runtime.manager.groups {
                for rule in group.alertingRules {
                    for alert in rule.alerts where alert.state != .inactive {
                        write(alert, delivery: deliveries.last(for: alert.labels), into: &writer)
                    }
                }
            }
            writer.close("]")
            writer.close("}")
        }
    }

    func alertmanagers() -> [UInt8] {
        APIJSON.success { writer in
            writer.open("{")
            writer.key("activeAlertmanagers")
            writer.open("[")
            for url in runtime.notifier.alertmanagers {
                writer.open("{")
                writer.member("url", url.description)
                writer.close("}")
            }
            writer.close("]")
            writer.key("droppedAlertmanagers")
            writer.raw("[]")
            writer.close("}")
        }
    }
}
