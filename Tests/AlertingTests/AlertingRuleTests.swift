import PromQL
import Testing
import TimeSeries

@testable import Alerting

/// A rule group over an in-memory store the test writes samples into, evaluated at explicit
/// times (milliseconds).
struct Harness {
    let store = TimeSeriesStore(options: TimeSeriesOptions(retention: .max / 4))
    let group: RuleGroup
    var options = RuleEvaluationOptions()

    init(_ yaml: String, restore: Bool = false) throws {
        let file = try RuleFile.parse(yaml, path: "test.yml")
        group = try RuleGroup(file.groups[0], file: "test.yml", defaultInterval: 60_000, restore: restore)
    }

    var context: RuleContext { RuleContext(engine: QueryEngine(), storage: store, externalLabels: Labels(["cluster": "eu1"])) }

    /// Writes `value` for `series` (e.g. `up{job="a"}`) at `minute`.
    func set(_ series: String, _ value: Double, atMinute minute: Int64) throws {
        _ = store.append([PendingSample(labels: try SeriesNotation.labels(series), timestamp: minute * 60_000, value: value)])
    }

    @discardableResult
    func evaluate(atMinute minute: Int64) -> [AlertNotification] {
        group.evaluate(at: minute * 60_000, context: context, options: options) { samples in _ = store.append(samples) }
    }

    var rule: AlertingRule { group.alertingRules[0] }
    var states: [AlertState] { rule.alerts.map(\.state) }
}

@Suite struct AlertingRuleTests {
    static let pending = """
        groups:
          - name: g
            rules:
              - alert: Down
                expr: up == 0
                for: 3m
                labels: {severity: page, target: "{{ $labels.job }}"}
                annotations: {summary: "{{ $labels.job }} down ({{ $value }}) in {{ $externalLabels.cluster }}"}
        """

    @Test func pendingThenFiringAfterForThenResolvedAndKept() throws {
        let harness = try Harness(Self.pending)
        for minute in Int64(0)...4 { try harness.set(#"up{job="api"}"#, 0, atMinute: minute) }
        harness.evaluate(atMinute: 0)
        #expect(harness.states == [.pending])
        #expect(harness.rule.alerts[0].labels == Labels(["alertname": "Down", "job": "api", "severity": "page", "target": "api"]))
        #expect(harness.rule.alerts[0].annotations == ["summary": "api down (0) in eu1"])
        harness.evaluate(atMinute: 2)
        #expect(harness.states == [.pending], "2 of 3 minutes")
        let fired = harness.evaluate(atMinute: 3)
        #expect(harness.states == [.firing])
        #expect(fired.count == 1 && fired[0].startsAt == 3 * 60_000 && !fired[0].isResolved)
        #expect(fired[0].endsAt == 3 * 60_000 + 4 * 60_000, "valid for 4 × max(interval, resend delay)")
        // Still firing a minute later: not sent again until the resend delay has passed.
        #expect(harness.evaluate(atMinute: 4).isEmpty)
        try harness.set(#"up{job="api"}"#, 1, atMinute: 5)
        let resolved = harness.evaluate(atMinute: 5)
        #expect(harness.states == [.inactive])
        #expect(resolved.count == 1 && resolved[0].isResolved && resolved[0].endsAt == 5 * 60_000)
        // Resolved alerts are kept (and re-sent every resend delay) for 15 minutes, then dropped.
        #expect(harness.evaluate(atMinute: 7).count == 1)
        harness.evaluate(atMinute: 20)
        #expect(harness.states == [.inactive])
        harness.evaluate(atMinute: 21)
        #expect(harness.states.isEmpty)
    }

    @Test func pendingAlertThatClearsIsForgottenAndNeverSent() throws {
        let harness = try Harness(Self.pending)
        try harness.set(#"up{job="api"}"#, 0, atMinute: 0)
        #expect(harness.evaluate(atMinute: 0).isEmpty)
        try harness.set(#"up{job="api"}"#, 1, atMinute: 1)
        #expect(harness.evaluate(atMinute: 1).isEmpty)
        #expect(harness.states.isEmpty)
    }

    @Test func zeroForFiresAtOnceAndFiringAlertsAreResent() throws {
        let harness = try Harness(
            """
            groups:
              - name: g
                rules:
                  - alert: Now
                    expr: up == 0
            """)
        for minute in Int64(0)...3 { try harness.set("up", 0, atMinute: minute) }
        #expect(harness.evaluate(atMinute: 0).count == 1)
        #expect(harness.states == [.firing])
        #expect(harness.evaluate(atMinute: 1).isEmpty, "sent a minute ago")
        #expect(harness.evaluate(atMinute: 2).count == 1, "resend delay (1m) passed")
    }

    @Test func keepFiringForHoldsTheAlertThenResolves() throws {
        let harness = try Harness(
            """
            groups:
              - name: g
                rules:
                  - alert: Flappy
                    expr: up == 0
                    keep_firing_for: 3m
            """)
        try harness.set("up", 0, atMinute: 0)
        harness.evaluate(atMinute: 0)
        try harness.set("up", 1, atMinute: 1)
        harness.evaluate(atMinute: 1)
        #expect(harness.states == [.firing])
        #expect(harness.rule.alerts[0].keepFiringSince == 60_000)
        harness.evaluate(atMinute: 3)
        #expect(harness.states == [.firing], "2 of 3 minutes")
        // The condition returns: keep_firing_for starts over next time it stops.
        try harness.set("up", 0, atMinute: 4)
        harness.evaluate(atMinute: 4)
        #expect(harness.states == [.firing])
        #expect(harness.rule.alerts[0].keepFiringSince == nil)
        try harness.set("up", 1, atMinute: 5)
        harness.evaluate(atMinute: 5)
        harness.evaluate(atMinute: 7)
        #expect(harness.states == [.firing])
        harness.evaluate(atMinute: 8)
        #expect(harness.states == [.inactive])
    }

    @Test func alertsSeriesAreWrittenAndMarkedStaleWhenTheyEnd() throws {
        let harness = try Harness(Self.pending)
        try harness.set(#"up{job="api"}"#, 0, atMinute: 0)
        harness.evaluate(atMinute: 0)
        let engine = QueryEngine()
        let pending = try engine.instantQuery("ALERTS", at: 0, storage: harness.store)
        guard case .vector(let samples) = pending else { Issue.record("not a vector"); return }
        #expect(samples.map { $0.labels["alertstate"] } == ["pending"])
        let forState = try engine.instantQuery("ALERTS_FOR_STATE", at: 0, storage: harness.store)
        guard case .vector(let forSamples) = forState else { Issue.record("not a vector"); return }
        #expect(forSamples.map(\.value) == [0])
        try harness.set(#"up{job="api"}"#, 1, atMinute: 1)
        harness.evaluate(atMinute: 1)
        // A staleness marker ends the series at once, not five minutes of lookback later.
        #expect(try engine.instantQuery("ALERTS", at: 60_000, storage: harness.store) == .vector([]))
    }

    @Test func duplicateLabelSetsAfterTemplatingAreARuleError() throws {
        let harness = try Harness(
            """
            groups:
              - name: g
                rules:
                  - alert: Same
                    expr: up == 0
                    labels: {instance: fixed}
            """)
        try harness.set(#"up{instance="a"}"#, 0, atMinute: 0)
        try harness.set(#"up{instance="b"}"#, 0, atMinute: 0)
        harness.evaluate(atMinute: 0)
        #expect(harness.rule.status.health == .err)
        #expect(harness.rule.status.lastError == "vector contains metrics with the same labelset after applying alert labels")
        #expect(harness.states.isEmpty)
    }

    @Test func limitIsEnforcedAndClearsTheAlerts() throws {
        let harness = try Harness(
            """
            groups:
              - name: g
                limit: 1
                rules:
                  - alert: Many
                    expr: up == 0
            """)
        try harness.set(#"up{instance="a"}"#, 0, atMinute: 0)
        harness.evaluate(atMinute: 0)
        #expect(harness.states == [.firing])
        try harness.set(#"up{instance="a"}"#, 0, atMinute: 1)
        try harness.set(#"up{instance="b"}"#, 0, atMinute: 1)
        harness.evaluate(atMinute: 1)
        #expect(harness.rule.status.lastError == "exceeded limit of 1 with 2 alerts")
        #expect(harness.states.isEmpty)
    }

    @Test func queryErrorsLeaveStateAloneAndSendNothing() throws {
        var harness = try Harness(
            """
            groups:
              - name: g
                rules:
                  - alert: Rate
                    expr: up == 0
            """)
        try harness.set("up", 0, atMinute: 0)
        harness.evaluate(atMinute: 0)
        #expect(harness.states == [.firing])
        // A sample limit of 0 makes every query fail: health goes to err, the alert stays.
        var engine = QueryEngine()
        engine.maxSamples = 0
        let failing = RuleContext(engine: engine, storage: harness.store)
        harness.options.resendDelay = 0
        let sent = harness.group.evaluate(at: 2 * 60_000, context: failing, options: harness.options) { _ in }
        #expect(sent.isEmpty)
        #expect(harness.rule.status.health == .err)
        #expect(harness.rule.status.lastError?.contains("too many samples") == true)
        #expect(harness.states == [.firing])
        #expect(harness.rule.status.history.map { $0.error == nil } == [true, false])
    }

    @Test func recordingRuleOutputIsVisibleToTheNextRule() throws {
        let harness = try Harness(
            """
            groups:
              - name: g
                rules:
                  - record: job:up:sum
                    expr: sum by (job) (up)
                    labels: {source: rule}
                  - alert: NoneUp
                    expr: job:up:sum == 0
            """)
        try harness.set(#"up{job="api",instance="a"}"#, 0, atMinute: 0)
        try harness.set(#"up{job="api",instance="b"}"#, 0, atMinute: 0)
        harness.evaluate(atMinute: 0)
        #expect(harness.rule.alerts.map(\.labels) == [Labels(["alertname": "NoneUp", "job": "api", "source": "rule"])])
    }

    /// Rules of a group read each selector once (over the widest window); results must be what
    /// each query gives on its own, and a rule must still see what an earlier rule recorded.
    @Test func sharedSelectionsChangeNoResult() throws {
        let harness = try Harness(
            """
            groups:
              - name: g
                rules:
                  - record: c:rate5m
                    expr: sum(rate(c[5m]))
                  - record: c:rate10m
                    expr: sum(rate(c[10m]))
                  - record: c:doubled
                    expr: c:rate5m * 2
                  - alert: Moving
                    expr: rate(c[5m]) > 0
            """)
        for minute in Int64(0)...10 {
            try harness.set(#"c{i="a"}"#, Double(minute * minute), atMinute: minute)
            try harness.set(#"c{i="b"}"#, Double(minute * 7), atMinute: minute)
            harness.evaluate(atMinute: minute)
        }
        let engine = QueryEngine()
        func value(_ query: String) throws -> [Double] {
            guard case .vector(let samples) = try engine.instantQuery(query, at: 600_000, storage: harness.store) else { return [] }
            return samples.map(\.value)
        }
        #expect(try value("c:rate5m") == value("sum(rate(c[5m]))"))
        #expect(try value("c:rate10m") == value("sum(rate(c[10m]))"))
        #expect(try value("c:doubled") == value("sum(rate(c[5m])) * 2"), "the recorded value of this very evaluation")
        #expect(harness.rule.alerts.count == 2)
    }

    @Test func rulesWhoseSelectorsMatchNothingAreFlagged() throws {
        let harness = try Harness(
            """
            groups:
              - name: g
                rules:
                  - alert: Typo
                    expr: rate(claimsd_http_requsts_total[5m]) > 0 or up == 0
            """)
        try harness.set("up", 1, atMinute: 0)
        harness.evaluate(atMinute: 0)
        #expect(harness.rule.status.emptySelectors == ["claimsd_http_requsts_total"])
        #expect(harness.rule.status.selectorsEmptySince == 0)
        harness.evaluate(atMinute: 2)
        #expect(harness.rule.status.selectorsEmptySince == 0, "flagged since the first check")
        try harness.set("claimsd_http_requsts_total", 1, atMinute: 3)
        harness.evaluate(atMinute: 3)
        #expect(harness.rule.status.selectorsEmptySince == nil)
        #expect(harness.rule.status.emptySelectors.isEmpty)
    }

    @Test func evaluationSlotsAreAlignedWithAFixedOffsetPerGroup() throws {
        let harness = try Harness(Self.pending)
        let slot = harness.group.evaluationTime(atOrBefore: 1_700_000_123_456)
        #expect(slot <= 1_700_000_123_456 && 1_700_000_123_456 - slot < 60_000)
        #expect(harness.group.evaluationTime(atOrBefore: slot + 59_999) == slot)
        #expect(harness.group.evaluationTime(atOrBefore: slot + 60_000) == slot + 60_000)
        let other = try RuleGroup(
            RuleFile.parse(Self.pending.replacingOccurrences(of: "name: g", with: "name: other"), path: "test.yml").groups[0], file: "test.yml",
            defaultInterval: 60_000, restore: false)
        #expect(other.evaluationTime(atOrBefore: slot) % 60_000 != slot % 60_000, "groups spread over the interval")
    }
}
