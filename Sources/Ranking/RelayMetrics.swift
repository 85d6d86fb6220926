import CoreMetrics

/// The relay's metrics. Names are stable: dashboards and alerts depend on them.
struct RelayMetrics: Sendable {
    /// Events written to the outbox but not yet applied to Redis.
    let lagEvents: Gauge
    /// Seconds the oldest event not yet applied has waited.
    let lagSeconds: Gauge
    /// 1 while this instance holds the relay lock.
    let leader: Gauge
    let eventsApplied: Counter
    let rebuilds: Counter

    init(factory: any MetricsFactory) {
        lagEvents = Gauge(label: "claimsd_outbox_lag_events", factory: factory)
        lagSeconds = Gauge(label: "claimsd_outbox_lag_seconds", factory: factory)
        leader = Gauge(label: "claimsd_relay_leader", factory: factory)
        eventsApplied = Counter(label: "claimsd_relay_events_applied_total", factory: factory)
        rebuilds = Counter(label: "claimsd_relay_rebuilds_total", factory: factory)
    }

    /// Sets the gauges from the relay's state.
    func record(_ state: RelayState) {
        lagEvents.record(state.lagEvents)
        lagSeconds.record(state.lagSeconds)
        leader.record(state.isLeader ? 1 : 0)
    }
}
