import PromQL
import Testing
import TimeSeries

@testable import Alerting

/// Restoring alert state from `ALERTS_FOR_STATE` after a restart: each branch of Prometheus's
/// outage-tolerance and grace-period rule, and claimsd's additions (firing alerts come back
/// firing, keep_firing_for survives).
@Suite struct RestoreTests {
    static func rules(hold: String, keepFiringFor: String? = nil) -> String {
        """
        groups:
          - name: g
            rules:
              - alert: Down
                expr: up == 0
                for: \(hold)
        \(keepFiringFor.map { "        keep_firing_for: \($0)" } ?? "")
        """
    }

    /// Runs a first claimsd over `store` from minute `start` until `stop` (the condition holds
    /// throughout), then starts a second one at `restart` and returns its rule after its first
    /// evaluation.
    static func restart(hold: String, keepFiringFor: String? = nil, start: Int64, stop: Int64, restart: Int64, conditionAfterRestart: Bool = true)
        throws -> (AlertingRule, [AlertNotification])
    {
        let first = try Harness(rules(hold: hold, keepFiringFor: keepFiringFor))
        for minute in start...stop {
            try first.set("up", 0, atMinute: minute)
            first.evaluate(atMinute: minute)
        }
        // The second process shares the (persisted) store, not the first one's memory.
        let second = try Harness(rules(hold: hold, keepFiringFor: keepFiringFor), restore: true)
        for series in first.store.select([], from: .min, through: .max) {
            _ = second.store.importSamples([(series.labels, series.sampleArray())])
        }
        try second.set("up", conditionAfterRestart ? 0 : 1, atMinute: restart)
        let sent = second.evaluate(atMinute: restart)
        return (second.rule, sent)
    }

    @Test func anAlertFiringWhenClaimsdStoppedFiresAgainAtOnce() throws {
        let (rule, sent) = try Self.restart(hold: "10m", start: 0, stop: 30, restart: 32)
        #expect(rule.alerts.map(\.state) == [.firing])
        #expect(rule.alerts[0].activeAt == 0, "activeAt from before the restart")
        #expect(sent.count == 1 && sent[0].startsAt == 10 * 60_000 && !sent[0].isResolved, "no resolve, the original start")
    }

    @Test func aPendingAlertWithLittleLeftWaitsTheGracePeriod() throws {
        // Pending for 25 of 30 minutes: 5 minutes remain, less than the 10-minute grace period.
        let (rule, _) = try Self.restart(hold: "30m", start: 0, stop: 25, restart: 40)
        #expect(rule.alerts.map(\.state) == [.pending])
        #expect(rule.alerts[0].activeAt == (40 + 10 - 30) * 60_000)
    }

    @Test func aPendingAlertWithMuchLeftDoesNotCountTheDowntime() throws {
        // Pending for 10 of 60 minutes, down for 15: it fires 50 minutes after the restart.
        let (rule, _) = try Self.restart(hold: "60m", start: 0, stop: 10, restart: 25)
        #expect(rule.alerts.map(\.state) == [.pending])
        #expect(rule.alerts[0].activeAt == 15 * 60_000)
    }

    @Test func aForShorterThanTheGracePeriodStartsOver() throws {
        let (rule, _) = try Self.restart(hold: "5m", start: 0, stop: 2, restart: 4)
        #expect(rule.alerts.map(\.state) == [.pending])
        #expect(rule.alerts[0].activeAt == 4 * 60_000)
    }

    @Test func stateOlderThanTheOutageToleranceIsNotRestored() throws {
        let (rule, _) = try Self.restart(hold: "30m", start: 0, stop: 25, restart: 25 + 61)
        #expect(rule.alerts[0].activeAt == 86 * 60_000)
    }

    @Test func keepFiringForSurvivesARestartEvenWithoutTheCondition() throws {
        let (rule, sent) = try Self.restart(hold: "0s", keepFiringFor: "10m", start: 0, stop: 5, restart: 8, conditionAfterRestart: false)
        #expect(rule.alerts.map(\.state) == [.firing])
        let since = rule.alerts[0].keepFiringSince
        #expect(since == 300_000, "keepFiringSince \(String(describing: since))")
        #expect(sent.count == 1 && !sent[0].isResolved)
    }

    @Test func alertsSeriesContinueAfterTheRestart() throws {
        let (rule, _) = try Self.restart(hold: "10m", start: 0, stop: 30, restart: 32)
        #expect(rule.isRestored)
        #expect(AlertingRule.series(of: rule.alerts[0], at: 0).map { $0.labels["alertstate"] } == ["firing", nil])
    }
}
