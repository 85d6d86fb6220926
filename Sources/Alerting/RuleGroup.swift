public import PromQL
import Synchronization
public import TimeSeries

/// Rules evaluated together, in order, at one timestamp per interval; a recording rule's
/// output is in the store before the next rule runs.
public final class RuleGroup: Sendable {
    public let name: String
    /// The file the group came from.
    public let file: String
    /// Milliseconds between evaluations.
    public let interval: Int64
    /// Alerts or series one rule may produce; 0 is no limit.
    public let limit: Int
    public let rules: [any Rule]
    /// Metric names the group's rules write.
    private let writtenNames: Set<String>
    private let state: Mutex<GroupState>

    struct GroupState {
        /// The series each rule wrote last time, to mark the ones it stops writing stale.
        var previousSeries: [Set<Labels>]
        var lastEvaluation: Int64?
        var evaluationDuration: Double = 0
        /// Whether the next evaluation restores alert state (the first after a start).
        var needsRestore: Bool
        var lastSelectorCheck: Int64?
    }

    /// The group `definition` of `file`; `restore` makes its first evaluation read alert
    /// state back from `ALERTS_FOR_STATE`.
    public init(_ definition: RuleGroupDefinition, file: String, defaultInterval: Int64, restore: Bool) throws(TemplateError) {
        name = definition.name
        self.file = file
        interval = definition.interval ?? defaultInterval
        limit = definition.limit
        var rules: [any Rule] = []
        for rule in definition.rules {
            switch rule.kind {
            case .alerting:
                let alerting = try AlertingRule(rule)
                if !restore { alerting.markRestored() }
                rules.append(alerting)
            case .recording:
                rules.append(RecordingRule(rule))
            }
        }
        self.rules = rules
        writtenNames = Set(definition.rules.filter { $0.kind == .recording }.map(\.name) + ["ALERTS", "ALERTS_FOR_STATE"])
        state = Mutex(GroupState(previousSeries: Array(repeating: [], count: rules.count), needsRestore: restore))
    }

    /// `file;name`: what identifies a group across reloads.
    public var key: String { "\(file);\(name)" }

    /// The alerting rules of the group.
    public var alertingRules: [AlertingRule] { rules.compactMap { $0 as? AlertingRule } }

    /// When the group last ran (milliseconds) and for how long (seconds).
    public var lastEvaluation: (time: Int64?, duration: Double) { state.withLock { ($0.lastEvaluation, $0.evaluationDuration) } }

    /// The group's evaluation slot at or before `now`: a multiple of the interval plus a
    /// fixed per-group offset, so groups spread over the interval and keep their phase.
    public func evaluationTime(atOrBefore now: Int64) -> Int64 {
        let offset = Int64(truncatingIfNeeded: fnv1a(key) % UInt64(max(interval, 1)))
        let adjusted = now - offset
        var base = adjusted - adjusted % interval
        if adjusted % interval < 0 { base -= interval }
        return base + offset
    }

    /// Evaluates every rule at `time`, writing their series through `append`, and returns the
    /// alerts due to be sent.
    public func evaluate(
        at time: Int64, context: RuleContext, options: RuleEvaluationOptions, append: ([PendingSample]) -> Void
    ) -> [AlertNotification] {
        let started = ContinuousClock.now
        let (needsRestore, checkSelectors) = state.withLock { state -> (Bool, Bool) in
            let check = state.lastSelectorCheck.map { time - $0 >= options.selectorCheckInterval } ?? true
            if check { state.lastSelectorCheck = time }
            return (state.needsRestore, check)
        }
        // The rules read each selector once for the whole evaluation, except selectors that
        // could see what the group itself writes during it (recorded metrics, ALERTS).
        let shared = SharedSelections(storage: context.storage)
        shared.prepare(rules.map(\.definition.parsed), at: time, engine: context.engine) { matchers in
            let names = matchers.filter { $0.name == Labels.metricName }
            return !names.isEmpty && !writtenNames.contains { name in names.allSatisfy { $0.matches(name) } }
        }
        var context = context
        context.shared = shared
        var notifications: [AlertNotification] = []
        for (index, rule) in rules.enumerated() {
            let ruleStarted = ContinuousClock.now
            var output: [VectorSample]
            do {
                output = try rule.evaluate(at: time, context: context, limit: limit)
            } catch {
                rule.record(time: time, duration: seconds(since: ruleStarted), samples: 0, error: error.message)
                options.onFailure(self, rule)
                continue
            }
            if let alerting = rule as? AlertingRule {
                if needsRestore && !alerting.isRestored {
                    alerting.restore(at: time, storage: context.storage, outageTolerance: options.outageTolerance, gracePeriod: options.forGracePeriod)
                    output = alerting.currentSeries(at: time)
                }
                notifications += alerting.alertsToSend(at: time, resendDelay: options.resendDelay, interval: interval)
            }
            rule.record(time: time, duration: seconds(since: ruleStarted), samples: output.count, error: nil)
            var current = Set<Labels>()
            current.reserveCapacity(output.count)
            var pending: [PendingSample] = []
            pending.reserveCapacity(output.count)
            for sample in output {
                current.insert(sample.labels)
                pending.append(PendingSample(labels: sample.labels, timestamp: time, value: sample.value))
            }
            let previous = state.withLock { state -> Set<Labels> in
                defer { state.previousSeries[index] = current }
                return state.previousSeries[index]
            }
            for labels in previous where !current.contains(labels) {
                pending.append(PendingSample(labels: labels, timestamp: time, value: StaleMarker.value))
            }
            if !pending.isEmpty { append(pending) }
            if checkSelectors {
                rule.noteEmptySelectors(emptySelectors(of: rule.definition.parsed, in: context.storage), at: time)
            }
        }
        let duration = seconds(since: started)
        state.withLock { state in
            state.lastEvaluation = time
            state.evaluationDuration = duration
            state.needsRestore = false
        }
        return notifications
    }

    /// Staleness markers at `time` for every series the group's rules wrote last, for when the
    /// group goes away.
    public func staleMarkers(at time: Int64) -> [PendingSample] {
        state.withLock { state in
            state.previousSeries.flatMap { $0.map { PendingSample(labels: $0, timestamp: time, value: StaleMarker.value) } }
        }
    }

    /// Takes over alert state, health and written series from `previous` (the group of the
    /// same key before a reload), rule by rule where name, expression and labels match.
    func adopt(from previous: RuleGroup) {
        var unclaimed = Array(previous.rules.enumerated())
        let previousSeries = previous.state.withLock { $0.previousSeries }
        var carried = state.withLock { $0.previousSeries }
        for (index, rule) in rules.enumerated() {
            guard let match = unclaimed.firstIndex(where: { Self.sameRule($0.element.definition, rule.definition) }) else { continue }
            let (oldIndex, old) = unclaimed.remove(at: match)
            if let alerting = rule as? AlertingRule, let oldAlerting = old as? AlertingRule {
                alerting.adopt(from: oldAlerting)
            } else if let recording = rule as? RecordingRule, let oldRecording = old as? RecordingRule {
                recording.adopt(from: oldRecording)
            }
            carried[index] = previousSeries[oldIndex]
        }
        let (lastEvaluation, duration) = previous.state.withLock { ($0.lastEvaluation, $0.evaluationDuration) }
        state.withLock { state in
            state.previousSeries = carried
            state.lastEvaluation = lastEvaluation
            state.evaluationDuration = duration
            state.needsRestore = false
        }
    }

    private static func sameRule(_ a: RuleDefinition, _ b: RuleDefinition) -> Bool {
        a.kind == b.kind && a.name == b.name && a.labels.map(\.name) == b.labels.map(\.name) && a.labels.map(\.value) == b.labels.map(\.value)
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// The selectors of `expression` that match no series at all in `storage`.
    private func emptySelectors(of expression: Expr, in storage: any Queryable) -> [String] {
        expression.selectors.filter { storage.select($0.matchers, from: .min, through: .max).isEmpty }.map(\.description)
    }
}

/// Knobs of rule evaluation (milliseconds), with Prometheus's defaults.
public struct RuleEvaluationOptions: Sendable {
    /// How often a firing alert is re-sent.
    public var resendDelay: Int64 = 60_000
    /// How far back `ALERTS_FOR_STATE` is read when restoring after a restart.
    public var outageTolerance: Int64 = 3_600_000
    /// The least time a restored pending alert waits before firing.
    public var forGracePeriod: Int64 = 600_000
    /// How often rules' selectors are checked for matching nothing.
    public var selectorCheckInterval: Int64 = 60_000
    /// Called for each failed rule evaluation (metrics, logs).
    public var onFailure: @Sendable (RuleGroup, any Rule) -> Void = { _, _ in }

    public init() {}
}

extension Expr {
    /// Every vector selector in the expression (also those inside range selectors and subqueries).
    public var selectors: [VectorSelector] {
        switch self {
        case .number, .string: return []
        case .vector(let selector), .matrix(let selector, _): return [selector]
        case .subquery(let inner, _, _, _, _), .negate(let inner), .parenthesized(let inner): return inner.selectors
        case .call(_, let arguments): return arguments.flatMap(\.selectors)
        case .aggregate(_, let operand, let parameter, _, _): return operand.selectors + (parameter?.selectors ?? [])
        case .binary(_, let lhs, let rhs, _, _): return lhs.selectors + rhs.selectors
        }
    }
}

/// FNV-1a, 64 bits: a stable hash for per-group evaluation offsets.
func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
}
