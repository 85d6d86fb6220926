public import AuditTrail
public import CoreMetrics
import Foundation
public import Hummingbird
public import Logging
public import ServiceLifecycle
import Synchronization

/// Audit events that need not commit with a change — reads, denials, logins — queued in memory
/// and written in batches by ``AuditService``, so a request never waits for them. The queue is
/// written out on a clean shutdown; it holds at most `capacity` events, and past that the
/// newest are dropped and counted (`claimsd_audit_events_dropped_total`) and an error is logged.
///
/// With `CLAIMS_AUDIT=off` (benchmarks and local experiments only) nothing is recorded, neither
/// here nor in the transactions of changes.
public final class AuditRecorder: Sendable {
    private let queue = Mutex<[AuditEvent]>([])
    let capacity: Int
    let dropped: Counter
    let logger: Logger
    /// Whether audit events are recorded at all.
    public let isEnabled: Bool

    public init(enabled: Bool = true, capacity: Int = 100_000, logger: Logger = Logger(label: "claimsd.audit"), metrics: any MetricsFactory) {
        self.isEnabled = enabled
        self.capacity = max(1, capacity)
        self.logger = logger
        self.dropped = Counter(label: "claimsd_audit_events_dropped_total", factory: metrics)
    }

    /// The event to write in a change's transaction; `nil` when auditing is off.
    public func inTransaction(_ event: @autoclosure () -> AuditEvent) -> AuditEvent? {
        isEnabled ? event() : nil
    }

    /// Queues `event`, stamped with the current time when it carries none.
    public func record(_ event: @autoclosure () -> AuditEvent) {
        guard isEnabled else { return }
        var event = event()
        if event.at == nil { event.at = rfc3339Now() }
        let accepted = queue.withLock { queue -> Bool in
            guard queue.count < capacity else { return false }
            queue.append(event)
            return true
        }
        if !accepted {
            dropped.increment()
            logger.error(
                "audit queue full: an audit event was dropped (is PostgreSQL reachable?)",
                metadata: ["event": "audit_event_dropped", "action": "\(event.action)", "principal": "\(event.actor.principal)"])
        }
    }

    /// How many events wait to be written.
    public var queued: Int { queue.withLock { $0.count } }

    /// Takes up to `limit` of the oldest queued events.
    func take(_ limit: Int) -> [AuditEvent] {
        queue.withLock { queue in
            let batch = Array(queue.prefix(limit))
            queue.removeFirst(batch.count)
            return batch
        }
    }

    /// Puts back events that could not be written, ahead of newer ones.
    func putBack(_ events: [AuditEvent]) {
        queue.withLock { $0.insert(contentsOf: events, at: 0) }
    }
}

extension AuditActor {
    /// The principal, address and agent of the request `context` belongs to.
    init(request: Request, context: ClaimsRequestContext) {
        let principal = context.principal
        self.init(
            principal: principal.map { $0.kind == .unauthenticated ? "anonymous" : $0.id } ?? "anonymous",
            role: principal.map { $0.role.rawValue }, requestID: context.requestID.isEmpty ? nil : context.requestID,
            clientAddress: context.clientAddress.isEmpty ? context.peerAddress : context.clientAddress,
            userAgent: request.headers[.userAgent].map { String($0.prefix(256)) })
    }
}

/// Writes the ``AuditRecorder``'s queue every 200 ms, seals written rows into the hash chain
/// every second, keeps monthly partitions two months ahead and drops months past the retention.
/// On shutdown it writes what is queued before it ends.
public struct AuditService: Service {
    let recorder: AuditRecorder
    let store: PostgresAuditStore
    /// Seconds an event is kept; 0 keeps them for ever.
    let retentionSeconds: Int64
    let logger: Logger
    let written: Counter
    let sealed: Counter

    public init(recorder: AuditRecorder, store: PostgresAuditStore, retentionSeconds: Int64, logger: Logger, metrics: any MetricsFactory) {
        self.recorder = recorder
        self.store = store
        self.retentionSeconds = retentionSeconds
        self.logger = logger
        self.written = Counter(label: "claimsd_audit_events_written_total", factory: metrics)
        self.sealed = Counter(label: "claimsd_audit_events_sealed_total", factory: metrics)
    }

    public func run() async throws {
        var tick = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(200)) }
            await flush()
            if tick % 5 == 0 { await seal() }
            if tick % 18_000 == 0 { await upkeep() }
            tick += 1
        }
        // A clean shutdown loses nothing that was queued: a few tries while PostgreSQL answers.
        for _ in 0..<5 where recorder.queued > 0 {
            if await flush() == 0 { try? await Task.sleep(for: .milliseconds(200)) }
        }
        await seal()
        if recorder.queued > 0 {
            logger.error("audit events could not be written before shutdown", metadata: ["event": "audit_events_lost", "count": "\(recorder.queued)"])
        }
    }

    /// Writes what is queued, in batches of 1,000; returns how many were written. A failure
    /// puts the batch back for the next round.
    @discardableResult
    public func flush() async -> Int {
        var total = 0
        while true {
            let batch = recorder.take(1_000)
            guard !batch.isEmpty else { break }
            do {
                try await store.append(batch)
                total += batch.count
                written.increment(by: Int64(batch.count))
            } catch {
                recorder.putBack(batch)
                logger.warning("audit events could not be written; retrying", metadata: ["event": "audit_write_failed", "error": "\(error)"])
                break
            }
        }
        return total
    }

    /// Seals what was written into the chain, in links of up to 10,000 events. An event
    /// written during a round is sealed by a later one (see ``PostgresAuditStore/seal(limit:)``).
    public func seal() async {
        do {
            while true {
                let count = try await store.seal(limit: 10_000)
                sealed.increment(by: Int64(count))
                if count < 10_000 { break }
            }
        } catch {
            logger.warning("audit events could not be sealed; retrying", metadata: ["event": "audit_seal_failed", "error": "\(error)"])
        }
    }

    /// Monthly partitions ahead, and old months dropped after the retention.
    func upkeep() async {
        do {
            try await store.ensurePartitions(monthsAhead: 2)
            if retentionSeconds > 0 {
                for name in try await store.dropPartitions(olderThan: retentionSeconds) {
                    logger.notice("audit month dropped after its retention", metadata: ["event": "audit_partition_dropped", "partition": "\(name)"])
                }
            }
        } catch {
            logger.warning("audit partitions could not be maintained", metadata: ["event": "audit_upkeep_failed", "error": "\(error)"])
        }
    }
}
