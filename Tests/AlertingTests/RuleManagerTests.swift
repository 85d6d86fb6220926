import Foundation
import PromQL
import Synchronization
import Testing
import TestSupport
import TimeSeries

@testable import Alerting

/// Loading and reloading rule files: state kept for unchanged rules, nothing changed when a
/// file is broken, stale markers for groups that go away, and the evaluation loop itself.
@Suite struct RuleManagerTests {
    static let firing = """
        groups:
          - name: g
            rules:
              - alert: Down
                expr: up == 0
                for: 1m
                annotations: {summary: "first"}
              - record: up:count
                expr: count(up)
        """

    final class Clock: Sendable {
        let now = Mutex<Int64>(0)
    }

    final class Sink: Sendable {
        let sent = Mutex<[AlertNotification]>([])
        var count: Int { sent.withLock { $0.count } }
    }

    func manager(store: TimeSeriesStore, clock: Clock, sink: Sink) -> RuleManager {
        var options = RuleManager.Options(now: { clock.now.withLock { $0 } })
        options.defaultInterval = 60_000
        return RuleManager(
            options: options, context: RuleContext(engine: QueryEngine(), storage: store),
            append: { samples in _ = store.append(samples) },
            notify: { alerts, _ in sink.sent.withLock { $0 += alerts } })
    }

    func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func reloadKeepsAlertStateOfUnchangedRulesAndRefusesBrokenFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.path + "/rules-\(TestEnvironment.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/rules.yml"
        try write(Self.firing, to: path)
        let store = TimeSeriesStore()
        let clock = Clock()
        let manager = manager(store: store, clock: clock, sink: Sink())
        try await manager.load(files: [path])
        _ = store.append([PendingSample(labels: Labels(["__name__": "up"]), timestamp: 0, value: 0)])
        for minute in Int64(0)...2 {
            _ = manager.groups[0].evaluate(at: minute * 60_000, context: RuleContext(engine: QueryEngine(), storage: store), options: RuleEvaluationOptions()) {
                _ = store.append($0)
            }
        }
        let before = try #require(manager.groups[0].alertingRules.first?.alerts.first)
        #expect(before.state == .firing)

        // A changed annotation is the same rule: the alert keeps firing from the same activeAt.
        try write(Self.firing.replacingOccurrences(of: "summary: \"first\"", with: "summary: \"second\""), to: path)
        try await manager.load(files: [path])
        let after = try #require(manager.groups[0].alertingRules.first?.alerts.first)
        #expect(after.state == .firing && after.activeAt == before.activeAt)
        #expect(manager.groups[0].alertingRules[0].definition.annotations.map(\.value) == ["second"])
        #expect(manager.groups[0].rules[1].status.health == .ok, "health carried over")

        // A broken file: the error is reported and the running rules stay.
        try write("groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: up ==\n", to: path)
        await #expect(throws: RuleFileErrors.self) { try await manager.load(files: [path]) }
        #expect(manager.lastLoad?.error?.contains("could not parse expression") == true)
        #expect(manager.groups[0].alertingRules[0].definition.name == "Down")
        #expect(manager.groups[0].alertingRules[0].alerts.first?.state == .firing)

        // The group goes away: its series end with staleness markers.
        clock.now.withLock { $0 = 3 * 60_000 }
        try write("groups: []\n", to: path)
        try await manager.load(files: [path])
        #expect(manager.groups.isEmpty)
        #expect(try QueryEngine().instantQuery("up:count", at: 3 * 60_000, storage: store) == .vector([]))
        #expect(try QueryEngine().instantQuery("ALERTS", at: 3 * 60_000, storage: store) == .vector([]))
    }

    @Test func theLoopEvaluatesAtAlignedSlotsAndNotifies() async throws {
        let directory = FileManager.default.temporaryDirectory.path + "/rules-\(TestEnvironment.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/rules.yml"
        try write(
            """
            groups:
              - name: fast
                interval: 100ms
                rules:
                  - alert: Always
                    expr: vector(1)
            """, to: path)
        let store = TimeSeriesStore()
        let sink = Sink()
        var options = RuleManager.Options(now: { Int64(Date().timeIntervalSince1970 * 1000) })
        options.evaluation.resendDelay = 200
        let evaluated = Times()
        options.onEvaluated = { group, _ in evaluated.times.withLock { $0.append(group.lastEvaluation.time ?? -1) } }
        let manager = RuleManager(
            options: options, context: RuleContext(engine: QueryEngine(), storage: store), append: { _ = store.append($0) },
            notify: { alerts, _ in sink.sent.withLock { $0 += alerts } })
        try await manager.load(files: [path])
        let task = Task { await manager.run() }
        // Generous: on a loaded machine other suites' synchronous work can hold the cooperative
        // pool's threads for seconds; what is checked below is where evaluations fall, not when.
        try await waitUntil(timeout: .seconds(60)) { evaluated.times.withLock { $0.count } >= 6 }
        task.cancel()
        await task.value
        let times = evaluated.times.withLock { $0 }
        let offset = times[0] % 100
        #expect(times.allSatisfy { $0 % 100 == offset }, "every evaluation on the group's slot: \(times)")
        #expect(zip(times, times.dropFirst()).allSatisfy { $1 > $0 })
        #expect(sink.count >= 2, "sent at once, then again after the resend delay")
    }

    final class Times: Sendable {
        let times = Mutex<[Int64]>([])
    }
}
