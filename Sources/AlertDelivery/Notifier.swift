public import Alerting
public import CoreMetrics
import Foundation
public import Logging
public import OutboundHTTP
import Synchronization
public import TimeSeries
import Digests

/// The last delivery attempt of each alert (by fingerprint), for `/api/v1/alerts`.
public final class DeliveryLog: Sendable {
    /// One attempt: where, when (milliseconds), and what went wrong if it failed.
    public struct Delivery: Sendable, Equatable {
        public var receiver: String
        public var time: Int64
        public var error: String?
    }

    private let entries = Mutex<[String: Delivery]>([:])

    public init() {}

    func record(_ fingerprints: [String], _ delivery: Delivery) {
        entries.withLock { entries in
            for fingerprint in fingerprints { entries[fingerprint] = delivery }
            // Bounded: forget the oldest when alerts churn a lot.
            if entries.count > 50_000 {
                let cutoff = entries.values.map(\.time).sorted()[entries.count / 2]
                entries = entries.filter { $0.value.time >= cutoff }
            }
        }
    }

    /// The last delivery of the alert with `labels`.
    public func last(for labels: Labels) -> Delivery? {
        entries.withLock { $0[AlertPayloads.fingerprint(labels)] }
    }
}

/// How notifiers send: queue bound, batch size, deadline and retries.
public struct DeliveryOptions: Sendable {
    /// Items a receiver's queue holds before the oldest are dropped.
    public var queueCapacity = 10_000
    /// Alerts per Alertmanager request.
    public var batchSize = 64
    public var timeout: Duration = .seconds(10)
    /// Attempts per batch (the first included) before it is given up.
    public var attempts = 3
    /// Wait before the second attempt; doubles after each failure.
    public var backoff: Duration = .milliseconds(500)

    public init() {}
}

/// Sends alerts to Alertmanagers (`POST /api/v2/alerts`, in batches) and to webhooks
/// (Alertmanager's webhook body, one per rule group that changed, optionally signed). Each
/// receiver has its own bounded queue and sender task, so a slow or dead receiver delays
/// nobody else and never the rule evaluation that enqueues.
public final class AlertNotifier: Sendable {
    private let receivers: [Receiver]
    private let webhookReceivers: [Receiver]
    private let externalLabels: Labels
    private let externalURL: String
    private let options: DeliveryOptions
    private let logger: Logger
    /// The last delivery of each alert.
    public let deliveries = DeliveryLog()
    /// Per rule group: the alerts webhooks were last told about (fingerprint → alert).
    private let webhookState = Mutex<[String: [String: AlertNotification]]>([:])

    /// Notifies `alertmanagers` (full `/api/v2/alerts` URLs) and `webhooks`.
    public init(
        alertmanagers: [OutboundURL], webhooks: [OutboundURL], webhookSecret: String?, externalLabels: Labels, externalURL: String,
        options: DeliveryOptions = DeliveryOptions(), logger: Logger, metrics: any MetricsFactory
    ) {
        self.receivers = alertmanagers.map { Receiver(url: $0, kind: .alertmanager, secret: nil, options: options, metrics: metrics) }
        self.webhookReceivers = webhooks.map { Receiver(url: $0, kind: .webhook, secret: webhookSecret, options: options, metrics: metrics) }
        self.externalLabels = externalLabels
        self.externalURL = externalURL
        self.options = options
        self.logger = logger
    }

    /// The Alertmanager URLs alerts go to.
    public var alertmanagers: [OutboundURL] { receivers.map(\.url) }

    /// Whether there is anyone to notify.
    public var hasReceivers: Bool { !receivers.isEmpty || !webhookReceivers.isEmpty }

    /// Queues `alerts` of rule group `group` for every receiver; never waits.
    public func send(_ alerts: [AlertNotification], group: String) {
        guard !alerts.isEmpty else { return }
        for receiver in receivers {
            for start in stride(from: 0, to: alerts.count, by: options.batchSize) {
                let batch = Array(alerts[start..<min(start + options.batchSize, alerts.count)])
                receiver.enqueue(Outgoing(alerts: batch, body: AlertPayloads.alertmanager(batch, externalLabels: externalLabels, externalURL: externalURL)))
            }
        }
        guard !webhookReceivers.isEmpty, let changed = webhookChanges(alerts, group: group) else { return }
        let body = AlertPayloads.webhook(changed, group: group, externalLabels: externalLabels, externalURL: externalURL)
        for receiver in webhookReceivers { receiver.enqueue(Outgoing(alerts: changed, body: body)) }
    }

    /// The alerts a webhook should hear about now: every alert of the group that fires plus
    /// those just resolved, when anything changed since the last webhook; nil otherwise.
    private func webhookChanges(_ alerts: [AlertNotification], group: String) -> [AlertNotification]? {
        webhookState.withLock { state in
            var known = state[group] ?? [:]
            var changed = false
            for alert in alerts {
                let key = AlertPayloads.fingerprint(alert.labels)
                if let previous = known[key], previous.isResolved == alert.isResolved {
                    known[key] = alert
                    continue
                }
                if alert.isResolved && known[key] == nil { continue }  // resolved before we ever said it fired
                changed = true
                known[key] = alert
            }
            guard changed else {
                state[group] = known
                return nil
            }
            let payload = known.values.sorted { $0.labels < $1.labels }
            state[group] = known.filter { !$0.value.isResolved }
            return payload
        }
    }

    /// Sends queued notifications until the task is cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for receiver in receivers + webhookReceivers {
                group.addTask { await receiver.drain(deliveries: self.deliveries, logger: self.logger) }
            }
        }
    }

    /// Counters of one receiver, for `/api/v1/alertmanagers` and tests.
    public func statistics() -> [(url: String, sent: Int, failed: Int, dropped: Int, queued: Int)] {
        (receivers + webhookReceivers).map { $0.statistics() }
    }
}

/// One request's worth of alerts.
struct Outgoing: Sendable {
    var alerts: [AlertNotification]
    var body: [UInt8]
}

/// One Alertmanager or webhook: a bounded queue (oldest dropped) and the task that drains it.
final class Receiver: Sendable {
    enum Kind: String, Sendable {
        case alertmanager, webhook
    }

    struct Counts {
        var queue: [Outgoing] = []
        var sent = 0
        var failed = 0
        var dropped = 0
    }

    let url: OutboundURL
    let kind: Kind
    private let secret: String?
    private let options: DeliveryOptions
    private let counts = Mutex(Counts())
    private let wake: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    private let sentCounter: Counter
    private let failedCounter: Counter
    private let droppedCounter: Counter
    private let latency: CoreMetrics.Timer
    private let queueGauge: Gauge

    init(url: OutboundURL, kind: Kind, secret: String?, options: DeliveryOptions, metrics: any MetricsFactory) {
        self.url = url
        self.kind = kind
        self.secret = secret
        self.options = options
        (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let dimensions = [("receiver", url.description), ("kind", kind.rawValue)]
        sentCounter = Counter(label: "claimsd_notifications_sent_total", dimensions: dimensions, factory: metrics)
        failedCounter = Counter(label: "claimsd_notifications_errors_total", dimensions: dimensions, factory: metrics)
        droppedCounter = Counter(label: "claimsd_notifications_dropped_total", dimensions: dimensions, factory: metrics)
        latency = CoreMetrics.Timer(label: "claimsd_notifications_latency_seconds", dimensions: dimensions, factory: metrics)
        queueGauge = Gauge(label: "claimsd_notifications_queue_length", dimensions: dimensions, factory: metrics)
    }

    func enqueue(_ item: Outgoing) {
        let (dropped, length) = counts.withLock { counts -> (Int, Int) in
            counts.queue.append(item)
            var dropped = 0
            while counts.queue.count > options.queueCapacity {
                dropped += counts.queue.removeFirst().alerts.count
            }
            counts.dropped += dropped
            return (dropped, counts.queue.count)
        }
        if dropped > 0 { droppedCounter.increment(by: dropped) }
        queueGauge.record(length)
        wakeContinuation.yield()
    }

    func statistics() -> (url: String, sent: Int, failed: Int, dropped: Int, queued: Int) {
        counts.withLock { (url.description, $0.sent, $0.failed, $0.dropped, $0.queue.count) }
    }

    func drain(deliveries: DeliveryLog, logger: Logger) async {
        await withTaskCancellationHandler {
            for await _ in wake {
                while let item = counts.withLock({ $0.queue.isEmpty ? nil : $0.queue.removeFirst() }) {
                    queueGauge.record(counts.withLock { $0.queue.count })
                    await deliver(item, deliveries: deliveries, logger: logger)
                    if Task.isCancelled { return }
                }
            }
        } onCancel: {
            wakeContinuation.finish()
        }
    }

    private func deliver(_ item: Outgoing, deliveries: DeliveryLog, logger: Logger) async {
        var headers = [("Content-Type", "application/json"), ("User-Agent", "claimsd-notifier")]
        if let secret { headers.append(("X-Claimsd-Signature", "sha256=" + HMACSHA256.hex(key: Array(secret.utf8), message: item.body))) }
        let fingerprints = item.alerts.map { AlertPayloads.fingerprint($0.labels) }
        var wait = options.backoff
        var lastError = ""
        for attempt in 1...max(1, options.attempts) {
            let started = ContinuousClock.now
            do {
                let response = try await HTTPExchange.send("POST", to: url, headers: headers, body: item.body, timeout: options.timeout, maxBodyBytes: 64 << 10)
                latency.recordNanoseconds(nanoseconds(since: started))
                if (200..<300).contains(response.status) {
                    counts.withLock { $0.sent += item.alerts.count }
                    sentCounter.increment(by: item.alerts.count)
                    deliveries.record(fingerprints, .init(receiver: url.description, time: wallClockMilliseconds(), error: nil))
                    return
                }
                let text = String(decoding: response.body.prefix(200), as: UTF8.self)
                lastError = "HTTP \(response.status): \(text)"
                // A 4xx other than 429 will not get better by retrying.
                if (400..<500).contains(response.status) && response.status != 429 { break }
            } catch {
                lastError = error.message
            }
            if attempt < options.attempts {
                do {
                    try await Task.sleep(for: wait)
                } catch {
                    break
                }
                wait *= 2
            }
        }
        counts.withLock { $0.failed += item.alerts.count }
        failedCounter.increment(by: item.alerts.count)
        deliveries.record(fingerprints, .init(receiver: url.description, time: wallClockMilliseconds(), error: lastError))
        logger.warning(
            "alert notification failed",
            metadata: ["event": "notification_failed", "receiver": "\(url)", "kind": "\(kind.rawValue)", "alerts": "\(item.alerts.count)", "error": "\(lastError)"])
    }

    private func nanoseconds(since start: ContinuousClock.Instant) -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
    }
}

/// Milliseconds since the epoch from the system clock.
func wallClockMilliseconds() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1000).rounded())
}
