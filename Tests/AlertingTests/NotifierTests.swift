import Foundation
import Logging
import Metrics
import OutboundHTTP
import Testing
import TestSupport
import TimeSeries

@testable import AlertDelivery
@testable import Alerting
import Digests

@Suite struct NotifierTests {
    static func alert(_ name: String, resolved: Bool = false, at minute: Int64 = 1) -> AlertNotification {
        AlertNotification(
            labels: Labels(["alertname": name, "severity": "page"]), annotations: ["summary": "\(name) is bad"], startsAt: minute * 60_000,
            endsAt: (minute + 4) * 60_000, expression: "up == 0", isResolved: resolved)
    }

    static func notifier(alertmanagers: [String] = [], webhooks: [String] = [], secret: String? = nil, options: DeliveryOptions = DeliveryOptions())
        -> AlertNotifier
    {
        AlertNotifier(
            alertmanagers: alertmanagers.compactMap { OutboundURL($0) }, webhooks: webhooks.compactMap { OutboundURL($0) }, webhookSecret: secret,
            externalLabels: Labels(["cluster": "eu1"]), externalURL: "http://claimsd:8080", options: options, logger: TestEnvironment.quietLogger,
            metrics: NOOPMetricsHandler.instance)
    }

    @Test func fingerprintsAreAlertmanagers() {
        // Alertmanager's fingerprint of {} and of a two-label set (FNV-1a over name, 0xff, value, 0xff).
        #expect(AlertPayloads.fingerprint(.empty) == "cbf29ce484222325")
        #expect(AlertPayloads.fingerprint(Labels(["a": "b"])) != AlertPayloads.fingerprint(Labels(["a": "c"])))
    }

    @Test func alertmanagerBatchesCarryExternalLabelsAndTimes() async throws {
        let server = try await CaptureServer()
        defer { Task { await server.stop() } }
        var options = DeliveryOptions()
        options.batchSize = 2
        let notifier = Self.notifier(alertmanagers: [server.url("/api/v2/alerts")], options: options)
        let task = Task { await notifier.run() }
        defer { task.cancel() }
        notifier.send([Self.alert("A"), Self.alert("B"), Self.alert("C", resolved: true)], group: "g")
        try await waitUntil(timeout: .seconds(60)) { server.requests.count == 2 }
        let first = try #require(server.requests.first?.json as? [[String: Any]])
        #expect(first.count == 2, "batches of at most 2")
        let labels = try #require(first[0]["labels"] as? [String: String])
        #expect(labels == ["alertname": "A", "severity": "page", "cluster": "eu1"])
        #expect(first[0]["startsAt"] as? String == "1970-01-01T00:01:00Z")
        #expect(first[0]["endsAt"] as? String == "1970-01-01T00:05:00Z")
        #expect(first[0]["generatorURL"] as? String == "http://claimsd:8080/api/v1/query?query=up+%3D%3D+0")
        #expect(server.requests[0].headers["content-type"] == "application/json")
        try await waitUntil { notifier.statistics().first?.sent == 3 }
        #expect(notifier.deliveries.last(for: Labels(["alertname": "A", "severity": "page"]))?.error == nil)
    }

    @Test func webhooksSendOnChangeSignedWithTheSecret() async throws {
        let server = try await CaptureServer()
        defer { Task { await server.stop() } }
        let notifier = Self.notifier(webhooks: [server.url("/hook")], secret: "s3cret")
        let task = Task { await notifier.run() }
        defer { task.cancel() }
        notifier.send([Self.alert("A")], group: "g")
        try await waitUntil(timeout: .seconds(60)) { server.requests.count == 1 }
        // The same firing alert re-sent a minute later is no change: no webhook.
        notifier.send([Self.alert("A")], group: "g")
        notifier.send([Self.alert("A", resolved: true)], group: "g")
        try await waitUntil(timeout: .seconds(60)) { server.requests.count == 2 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(server.requests.count == 2)
        for request in server.requests {
            #expect(request.headers["x-claimsd-signature"] == "sha256=" + HMACSHA256.hex(key: Array("s3cret".utf8), message: request.body))
        }
        let firing = try #require(server.requests[0].json as? [String: Any])
        #expect(firing["version"] as? String == "4")
        #expect(firing["status"] as? String == "firing")
        #expect((firing["groupLabels"] as? [String: String]) == ["alertgroup": "g"])
        #expect((firing["commonLabels"] as? [String: String])?["cluster"] == "eu1")
        let alerts = try #require(firing["alerts"] as? [[String: Any]])
        #expect(alerts.first?["endsAt"] as? String == "0001-01-01T00:00:00Z")
        #expect(alerts.first?["fingerprint"] as? String == AlertPayloads.fingerprint(Labels(["alertname": "A", "severity": "page", "cluster": "eu1"])))
        let resolved = try #require(server.requests[1].json as? [String: Any])
        #expect(resolved["status"] as? String == "resolved")
    }

    @Test func failuresAreRetriedCountedAndDeliveryResumes() async throws {
        let server = try await CaptureServer()
        defer { Task { await server.stop() } }
        server.respond(status: 500)
        var options = DeliveryOptions()
        options.attempts = 3
        options.backoff = .milliseconds(20)
        let notifier = Self.notifier(alertmanagers: [server.url("/api/v2/alerts")], options: options)
        let task = Task { await notifier.run() }
        defer { task.cancel() }
        notifier.send([Self.alert("A")], group: "g")
        try await waitUntil(timeout: .seconds(60)) { notifier.statistics().first?.failed == 1 }
        #expect(server.requests.count == 3, "three attempts")
        #expect(notifier.deliveries.last(for: Labels(["alertname": "A", "severity": "page"]))?.error?.contains("HTTP 500") == true)
        server.respond(status: 200)
        notifier.send([Self.alert("A")], group: "g")
        try await waitUntil(timeout: .seconds(60)) { notifier.statistics().first?.sent == 1 }
        #expect(notifier.deliveries.last(for: Labels(["alertname": "A", "severity": "page"]))?.error == nil)
    }

    @Test func aSlowReceiverTimesOutAndADeadOneFailsWithoutBlockingTheSender() async throws {
        let slow = try await CaptureServer()
        defer { Task { await slow.stop() } }
        slow.respond(status: 200, after: .seconds(5))
        var options = DeliveryOptions()
        options.attempts = 1
        options.timeout = .seconds(2)
        // Port 1 on 127.0.0.1: nothing listens, the connection is refused.
        let notifier = Self.notifier(alertmanagers: [slow.url("/api/v2/alerts"), "http://127.0.0.1:1/api/v2/alerts"], options: options)
        let task = Task { await notifier.run() }
        defer { task.cancel() }
        let started = ContinuousClock.now
        for _ in 0..<3 { notifier.send([Self.alert("A")], group: "g") }
        // Sending that waited for the receivers would take three 2 s timeouts.
        #expect(ContinuousClock.now - started < .seconds(1), "sending only queues")
        try await waitUntil(timeout: .seconds(60)) { notifier.statistics().allSatisfy { $0.failed == 3 } }
        let error = notifier.deliveries.last(for: Labels(["alertname": "A", "severity": "page"]))?.error ?? ""
        #expect(error.contains("timed out") || error.contains("connect"), "\(error)")
    }

    @Test func aFullQueueDropsTheOldest() async throws {
        var options = DeliveryOptions()
        options.queueCapacity = 2
        let notifier = Self.notifier(alertmanagers: ["http://127.0.0.1:1/api/v2/alerts"], options: options)
        // Not running: nothing drains the queue.
        for index in 0..<5 { notifier.send([Self.alert("A\(index)")], group: "g") }
        let statistics = try #require(notifier.statistics().first)
        #expect(statistics.queued == 2 && statistics.dropped == 3)
    }
}
