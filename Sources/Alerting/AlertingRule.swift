public import PromQL
import Synchronization
public import TimeSeries

/// An alerting rule: alerts per label set of its expression's result, with Prometheus's
/// pending → firing → resolved life, `for`, `keep_firing_for` and resolved-alert retention.
public final class AlertingRule: Rule {
    public let definition: RuleDefinition
    private let labelTemplates: [(name: String, template: Template)]
    private let annotationTemplates: [(name: String, template: Template)]
    private let state: Mutex<AlertingRuleState>

    /// How long a resolved alert is kept (and re-sent): 15 minutes, as in Prometheus.
    public static let resolvedRetention: Int64 = 15 * 60_000

    struct AlertingRuleState {
        var status = RuleStatus()
        var active: [Labels: Alert] = [:]
        /// Whether `ALERTS_FOR_STATE` has been read back after a start; until then the rule
        /// writes no `ALERTS` series (they would claim the wrong `activeAt`).
        var restored = false
    }

    public init(_ definition: RuleDefinition) throws(TemplateError) {
        self.definition = definition
        var labels: [(name: String, template: Template)] = []
        for (name, text) in definition.labels { labels.append((name, try Template(text, name: "__alert_\(definition.name)"))) }
        var annotations: [(name: String, template: Template)] = []
        for (name, text) in definition.annotations { annotations.append((name, try Template(text, name: "__alert_\(definition.name)"))) }
        self.labelTemplates = labels
        self.annotationTemplates = annotations
        self.state = Mutex(AlertingRuleState())
    }

    public var status: RuleStatus { state.withLock { $0.status } }

    /// The active, pending and recently resolved alerts, sorted by labels.
    public var alerts: [Alert] {
        state.withLock { Array($0.active.values) }.sorted { $0.labels < $1.labels }
    }

    /// The rule's state from the alerts it holds: firing if any fires, pending if any pends.
    public var alertState: AlertState {
        state.withLock { $0.active.values.filter { $0.state != .inactive }.map(\.state).max() ?? .inactive }
    }

    /// Marks the rule restored (or not needing restoration), so it writes `ALERTS` series.
    public func markRestored() {
        state.withLock { $0.restored = true }
    }

    var isRestored: Bool { state.withLock { $0.restored } }

    public func evaluate(at time: Int64, context: RuleContext, limit: Int) throws(RuleEvaluationError) -> [VectorSample] {
        let vector = try context.query(definition.parsed, at: time)
        let query = context.templateQuery(at: time)
        let externalLabels = context.externalLabels.dictionary
        var results: [Labels: Alert] = [:]
        for sample in vector {
            let data = TemplateData(
                labels: sample.labels.dictionary, externalLabels: externalLabels, externalURL: context.externalURL, value: sample.value, query: query)
            var labels = sample.labels.removing(Labels.metricName)
            for (name, template) in labelTemplates { labels = labels.setting(name, to: Self.expand(template, data)) }
            labels = labels.setting("alertname", to: definition.name)
            var annotations: [String: String] = [:]
            for (name, template) in annotationTemplates { annotations[name] = Self.expand(template, data) }
            guard results[labels] == nil else {
                throw RuleEvaluationError(message: "vector contains metrics with the same labelset after applying alert labels")
            }
            results[labels] = Alert(labels: labels, annotations: annotations, state: .pending, value: sample.value, activeAt: time)
        }
        let hold = definition.holdDuration
        let keepFiringFor = definition.keepFiringFor
        return try state.withLock { (state: inout AlertingRuleState) throws(RuleEvaluationError) -> [VectorSample] in
            for (labels, alert) in results {
                if var existing = state.active[labels], existing.state != .inactive {
                    existing.value = alert.value
                    existing.annotations = alert.annotations
                    state.active[labels] = existing
                } else {
                    state.active[labels] = alert
                }
            }
            var output: [VectorSample] = []
            var activeCount = 0
            for labels in Array(state.active.keys) {
                guard var alert = state.active[labels] else { continue }
                if results[labels] == nil {
                    var keepFiring = false
                    if alert.state == .firing && keepFiringFor > 0 {
                        let since = alert.keepFiringSince ?? time
                        alert.keepFiringSince = since
                        keepFiring = time - since < keepFiringFor
                    }
                    if alert.state == .pending || (alert.resolvedAt.map { time - $0 > Self.resolvedRetention } ?? false) {
                        state.active[labels] = nil
                        continue
                    }
                    if alert.state != .inactive && !keepFiring {
                        alert.state = .inactive
                        alert.resolvedAt = time
                    }
                    if !keepFiring {
                        state.active[labels] = alert
                        continue
                    }
                } else {
                    alert.keepFiringSince = nil
                }
                activeCount += 1
                if alert.state == .pending && time - alert.activeAt >= hold {
                    alert.state = .firing
                    alert.firedAt = time
                }
                state.active[labels] = alert
                if state.restored { output += Self.series(of: alert, at: time) }
            }
            if limit > 0 && activeCount > limit {
                state.active = [:]
                throw RuleEvaluationError(message: "exceeded limit of \(limit) with \(activeCount) alerts")
            }
            return output
        }
    }

    /// The `ALERTS` and `ALERTS_FOR_STATE` samples of an active alert.
    static func series(of alert: Alert, at time: Int64) -> [VectorSample] {
        [
            VectorSample(
                labels: alert.labels.setting(Labels.metricName, to: "ALERTS").setting("alertstate", to: alert.state.rawValue), timestamp: time, value: 1),
            VectorSample(labels: alert.labels.setting(Labels.metricName, to: "ALERTS_FOR_STATE"), timestamp: time, value: Double(alert.activeAt / 1000)),
        ]
    }

    /// The `ALERTS` series this rule's current alerts would write (after a restore).
    func currentSeries(at time: Int64) -> [VectorSample] {
        state.withLock { state in
            state.active.values.filter { $0.state != .inactive }.sorted { $0.labels < $1.labels }.flatMap { Self.series(of: $0, at: time) }
        }
    }

    private static func expand(_ template: Template, _ data: TemplateData) -> String {
        do {
            return try template.execute(data)
        } catch {
            return "<error expanding template: \(error)>"
        }
    }

    public func record(time: Int64, duration: Double, samples: Int, error: String?) {
        state.withLock { $0.status.record(time: time, duration: duration, samples: samples, error: error) }
    }

    public func noteEmptySelectors(_ selectors: [String], at time: Int64) {
        state.withLock { $0.status.noteEmpty(selectors, at: time) }
    }

    /// The alerts to hand to the notifiers at `time`, marking them sent.
    func alertsToSend(at time: Int64, resendDelay: Int64, interval: Int64) -> [AlertNotification] {
        let expression = definition.expression
        return state.withLock { state in
            var notifications: [AlertNotification] = []
            for (labels, var alert) in state.active where alert.needsSending(at: time, resendDelay: resendDelay) {
                alert.lastSentAt = time
                // Valid for four intervals: survives two missed evaluations or sends.
                alert.validUntil = time + 4 * max(resendDelay, interval)
                state.active[labels] = alert
                notifications.append(
                    AlertNotification(
                        labels: alert.labels, annotations: alert.annotations, startsAt: alert.firedAt ?? alert.activeAt,
                        endsAt: alert.resolvedAt ?? alert.validUntil ?? time, expression: expression, isResolved: alert.resolvedAt != nil))
            }
            return notifications.sorted { $0.labels < $1.labels }
        }
    }

    /// Takes over the alerts of the same rule from a group being replaced by a reload.
    func adopt(from previous: AlertingRule) {
        let previousState = previous.state.withLock { $0 }
        state.withLock { $0 = previousState }
    }

    /// Restores `activeAt` (and firing state) of the current alerts from `ALERTS_FOR_STATE`
    /// in `storage`, with Prometheus's outage tolerance and grace period; alerts that were
    /// firing when claimsd stopped fire again at once, and alerts held by `keep_firing_for`
    /// come back firing.
    func restore(at time: Int64, storage: any Queryable, outageTolerance: Int64, gracePeriod: Int64) {
        let hold = definition.holdDuration
        let keepFiringFor = definition.keepFiringFor
        let name = definition.name
        // Alerts that were firing under keep_firing_for when claimsd stopped.
        var heldFiring: [Labels: (activeAt: Int64, downAt: Int64)] = [:]
        if keepFiringFor > 0 {
            let matchers = [
                try? LabelMatcher(.equal, Labels.metricName, "ALERTS"), try? LabelMatcher(.equal, "alertname", name),
                try? LabelMatcher(.equal, "alertstate", "firing"),
            ].compactMap { $0 }
            for series in storage.select(matchers, from: time - outageTolerance, through: time) {
                guard let last = series.sampleArray(from: time - outageTolerance, through: time).last, !StaleMarker.isMarker(last.value) else { continue }
                let labels = series.labels.removing(Labels.metricName).removing("alertstate")
                let activeAt = Self.lastForState(labels, storage: storage, from: time - outageTolerance, through: time)?.activeAt ?? last.timestamp
                heldFiring[labels] = (activeAt, last.timestamp)
            }
        }
        state.withLock { state in
            defer { state.restored = true }
            for (labels, held) in heldFiring where state.active[labels] == nil && time - held.downAt < keepFiringFor {
                var alert = Alert(labels: labels, annotations: [:], state: .firing, value: .nan, activeAt: held.activeAt)
                alert.firedAt = held.activeAt + hold
                alert.keepFiringSince = held.downAt
                state.active[labels] = alert
            }
            for (labels, var alert) in state.active where alert.state == .pending {
                guard let stored = Self.lastForState(labels, storage: storage, from: time - outageTolerance, through: time) else { continue }
                let remaining = hold - (stored.downAt - stored.activeAt)
                if remaining <= 0 {
                    // It was firing when claimsd stopped: it fires again now, not pending.
                    alert.activeAt = stored.activeAt
                    alert.state = .firing
                    alert.firedAt = stored.activeAt + hold
                } else if hold < gracePeriod {
                    // A `for` shorter than the grace period just starts again (as Prometheus).
                    continue
                } else if remaining < gracePeriod {
                    // Fire no sooner than a grace period from now.
                    alert.activeAt = time + gracePeriod - hold
                } else {
                    // The time claimsd was down does not count as pending time.
                    alert.activeAt = stored.activeAt + (time - stored.downAt)
                }
                state.active[labels] = alert
            }
        }
    }

    /// `activeAt` from the last `ALERTS_FOR_STATE` sample of `labels` in [mint, maxt], and the
    /// time of that sample (both in milliseconds, whole seconds as Prometheus keeps them).
    private static func lastForState(_ labels: Labels, storage: any Queryable, from mint: Int64, through maxt: Int64) -> (activeAt: Int64, downAt: Int64)? {
        let wanted = labels.setting(Labels.metricName, to: "ALERTS_FOR_STATE")
        let matchers = wanted.compactMap { try? LabelMatcher(.equal, $0.name, $0.value) }
        for series in storage.select(matchers, from: mint, through: maxt) where series.labels == wanted {
            guard let last = series.sampleArray(from: mint, through: maxt).last, !StaleMarker.isMarker(last.value), last.value.isFinite else { return nil }
            return (Int64(last.value) * 1000, last.timestamp / 1000 * 1000)
        }
        return nil
    }
}
