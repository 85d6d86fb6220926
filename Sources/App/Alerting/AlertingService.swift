import AlertDelivery
import Alerting
public import CoreMetrics
import Foundation
public import Logging
import PromQL
import ServiceLifecycle
import TimeSeries
import UnixSignals

/// The in-process alert evaluator: the rule manager over the built-in store, its notifiers,
/// and reloading (SIGHUP, `POST /-/reload`).
public final class AlertingRuntime: Sendable {
    let manager: RuleManager
    let notifier: AlertNotifier
    /// The rule-file patterns, expanded at every (re)load.
    let patterns: [String]
    let noSeriesAfter: Int64
    let externalURL: String
    private let metrics: AlertingMetrics
    private let logger: Logger

    init(configuration: ServiceConfiguration, timeSeries: TimeSeriesSettings, factory: any MetricsFactory, logger: Logger) {
        let externalURL = configuration.externalURL ?? "\(configuration.tlsFiles == nil ? "http" : "https")://\(configuration.host):\(configuration.port)"
        let externalLabels = Labels(configuration.externalLabels)
        let metrics = AlertingMetrics(factory: factory)
        let notifier = AlertNotifier(
            alertmanagers: configuration.alertmanagerURLs, webhooks: configuration.alertWebhooks, webhookSecret: configuration.alertWebhookSecret,
            externalLabels: externalLabels, externalURL: externalURL, logger: Logger(label: "claimsd.notify"), metrics: factory)
        var options = RuleManager.Options(now: { AlertingRuntime.now() })
        options.defaultInterval = configuration.ruleEvaluationInterval
        options.run = { work in await offThePool(work) }
        let ruleLogger = Logger(label: "claimsd.rules")
        options.evaluation.onFailure = { group, rule in
            metrics.failed(group)
            ruleLogger.warning(
                "rule evaluation failed",
                metadata: [
                    "event": "rule_evaluation_failed", "rule_group": "\(group.name)", "rule": "\(rule.definition.name)",
                    "error": "\(rule.status.lastError ?? "")",
                ])
        }
        let noSeriesAfter = configuration.ruleNoSeriesAfter
        options.onEvaluated = { group, missed in metrics.evaluated(group, missed: missed, noSeriesAfter: noSeriesAfter) }
        let store = timeSeries.store
        let context = RuleContext(engine: timeSeries.engine, storage: store, externalLabels: externalLabels, externalURL: externalURL)
        self.manager = RuleManager(
            options: options, context: context,
            append: { samples in _ = store.append(samples) },
            notify: { alerts, group in notifier.send(alerts, group: group.name) })
        self.notifier = notifier
        self.patterns = configuration.ruleFiles
        self.noSeriesAfter = noSeriesAfter
        self.externalURL = externalURL
        self.metrics = metrics
        self.logger = logger
    }

    /// Milliseconds since the epoch.
    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// The rule files the patterns name now.
    var files: [String] { patterns.flatMap { FileGlob.expand($0) } }

    /// Loads or reloads the rule files; on failure the rules already running stay, and the
    /// error is logged, counted and shown by `/api/v1/rules`.
    func reload() async throws(RuleFileErrors) {
        let files = files
        do {
            try await manager.load(files: files)
        } catch {
            metrics.reloaded(success: false)
            logger.error("rule files not loaded", metadata: ["event": "rules_reload_failed", "error": "\(error)"])
            throw error
        }
        metrics.reloaded(success: true)
        let groups = manager.groups
        logger.info(
            "rule files loaded",
            metadata: [
                "event": "rules_loaded", "files": "\(files.joined(separator: ","))", "groups": "\(groups.count)",
                "rules": "\(groups.reduce(0) { $0 + $1.rules.count })",
            ])
    }
}

/// Runs the rule manager and the notifiers until shutdown, and reloads on SIGHUP.
struct AlertingService: Service {
    let runtime: AlertingRuntime

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await runtime.manager.run() }
            group.addTask { await runtime.notifier.run() }
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    try? await runtime.reload()
                }
            }
            // Graceful shutdown stops evaluation first; queued notifications get no new work.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}

/// Rule evaluation's own metrics.
struct AlertingMetrics: Sendable {
    let factory: any MetricsFactory

    func failed(_ group: RuleGroup) {
        Counter(label: "claimsd_rule_evaluation_failures_total", dimensions: [("rule_group", group.key)], factory: factory).increment()
    }

    func evaluated(_ group: RuleGroup, missed: Int, noSeriesAfter: Int64) {
        let dimensions = [("rule_group", group.key)]
        Counter(label: "claimsd_rule_group_iterations_total", dimensions: dimensions, factory: factory).increment()
        // Incremented by 0 too, so every group's series exists from its first evaluation.
        Counter(label: "claimsd_rule_group_iterations_missed_total", dimensions: dimensions, factory: factory).increment(by: missed)
        Counter(label: "claimsd_rule_evaluation_failures_total", dimensions: dimensions, factory: factory).increment(by: 0)
        Counter(label: "claimsd_rule_evaluations_total", dimensions: dimensions, factory: factory).increment(by: group.rules.count)
        Gauge(label: "claimsd_rule_group_last_duration_seconds", dimensions: dimensions, factory: factory).record(group.lastEvaluation.duration)
        Gauge(label: "claimsd_rule_group_interval_seconds", dimensions: dimensions, factory: factory).record(Double(group.interval) / 1000)
        let now = group.lastEvaluation.time ?? 0
        let silent = group.rules.filter { rule in rule.status.selectorsEmptySince.map { now - $0 >= noSeriesAfter } ?? false }.count
        Gauge(label: "claimsd_rules_without_series", dimensions: dimensions, factory: factory).record(silent)
    }

    func reloaded(success: Bool) {
        Gauge(label: "claimsd_rule_config_last_reload_successful", factory: factory).record(success ? 1 : 0)
        if success { Gauge(label: "claimsd_rule_config_last_reload_success_timestamp_seconds", factory: factory).record(Date().timeIntervalSince1970) }
    }
}
