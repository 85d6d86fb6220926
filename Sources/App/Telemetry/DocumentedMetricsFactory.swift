import CoreMetrics
import Prometheus

/// A swift-metrics factory over a Prometheus registry that gives every metric its `# HELP` text
/// from ``MetricCatalog`` (swift-metrics has no place for one, and `promtool check metrics`
/// requires it).
struct DocumentedMetricsFactory: CoreMetrics.MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let durationBuckets: [Duration]
    let valueBuckets: [Double]

    func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: MetricCatalog.help(for: label))
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: valueBuckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: durationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}

/// Every metric claimsd exports, with its help text. Names are stable: dashboards and alerts use them.
enum MetricCatalog {
    static let helpTexts: [String: String] = [
        "claimsd_http_requests_total": "HTTP requests answered, by method, route template and status code.",
        "claimsd_http_request_duration_seconds": "Time from request to response, by method and route template.",
        "claimsd_http_requests_in_flight": "HTTP requests being handled now.",
        "claimsd_outbox_lag_events": "Outbox events written but not yet applied to Redis (leader only).",
        "claimsd_outbox_lag_seconds": "Seconds the oldest outbox event not yet applied has waited (leader only).",
        "claimsd_relay_leader": "1 while this instance holds the relay lock.",
        "claimsd_relay_events_applied_total": "Outbox events this instance applied to Redis.",
        "claimsd_relay_rebuilds_total": "Rebuilds of the provider ranking from PostgreSQL.",
        "claimsd_ranking_reads_total": "Top-provider answers, by source (memory, redis or postgresql).",
        "claimsd_ranking_memo_subscribed": "1 while this instance hears ranking changes, so it may answer the ranking from memory.",
        "claimsd_ranking_memo_invalidations_total": "Times this instance forgot its kept ranking answers, by reason (message or check).",
        "claimsd_rate_limit_decisions_total": "Rate-limit decisions, by route, decision and what decided.",
        "claimsd_rate_limit_fallbacks_total": "Rate-limit decisions made without Redis.",
        "claimsd_claims_received_total": "Claims received, by channel (api, import or review) and outcome (accepted or rejected).",
        "claimsd_claims_flagged_total": "Accepted claims screening flagged for review, by rule (a claim counts once per rule).",
        "claimsd_claims_held_total": "Flagged claims held from payments until reviewed (CLAIMS_HOLD_FLAGGED).",
        "claimsd_claim_lines_accepted_total": "Lines of accepted claims, by channel.",
        "claimsd_claim_validation_failures_total": "Rule violations found in claims, by rule name and severity.",
        "claimsd_net_fee_accepted_cents_total": "Net fee of accepted claims in cents, positive and negative fees apart.",
        "log_messages_total": "Log records written, by level.",
        "claimsd_postgres_operation_duration_seconds": "Time of each claim-store operation in PostgreSQL, by operation.",
        "claimsd_postgres_errors_total": "PostgreSQL errors by operation and SQLSTATE class (connection: no statement reached the server).",
        "claimsd_redis_command_duration_seconds": "Time of each Redis command, pipeline or script call, by command (script:<name> for scripts).",
        "claimsd_redis_errors_total": "Failed Redis calls by command and kind (connection_failed, connection_lost, server, pool_timeout, ...).",
        "claimsd_pool_connections": "Pooled connections by dependency and state (in_use, idle).",
        "claimsd_pool_waiters": "Callers waiting for a pooled connection, by dependency.",
        "claimsd_dependency_up": "1 when the dependency answered its readiness check at scrape time.",
        "claimsd_tsdb_head_series": "Series held by the built-in time-series store.",
        "claimsd_tsdb_head_samples": "Samples held by the built-in time-series store.",
        "claimsd_tsdb_head_chunks": "Compressed chunks held by the built-in store, sealed and open.",
        "claimsd_tsdb_chunk_bytes": "Bytes of compressed chunk data in the built-in store.",
        "claimsd_tsdb_sealed_chunk_bytes": "Bytes of sealed chunks; divided by claimsd_tsdb_sealed_chunk_samples, the bytes per sample.",
        "claimsd_tsdb_sealed_chunk_samples": "Samples in sealed chunks.",
        "claimsd_tsdb_wal_bytes": "Bytes written to the write-ahead log since the last checkpoint.",
        "claimsd_tsdb_wal_write_errors": "Records the disk refused since start-up (kept in memory only).",
        "claimsd_tsdb_lowest_timestamp_seconds": "Oldest sample held, Unix seconds.",
        "claimsd_tsdb_highest_timestamp_seconds": "Newest sample held, Unix seconds; retention is measured from it.",
        "claimsd_tsdb_retention_limit_seconds": "How far back from the newest sample data is kept.",
        "claimsd_tsdb_samples_appended_total": "Samples appended to the built-in store.",
        "claimsd_tsdb_series_created_total": "Series created in the built-in store.",
        "claimsd_tsdb_series_removed_total": "Series removed by retention.",
        "claimsd_tsdb_samples_refused_total": "Samples the store refused, by reason (out_of_order, duplicate_timestamp, series_limit, too_old, no_metric_name).",
        "claimsd_tsdb_checkpoint_duration_seconds": "How long the last checkpoint took to write.",
        "claimsd_tsdb_checkpoint_failures_total": "Checkpoints that could not be written.",
        "claimsd_dependency_breaker_open": "1 while the circuit breaker of a dependency's request-path calls is open (Redis is not asked).",
        "claimsd_dependency_calls_shed_total": "Request-path dependency calls given up, by reason: budget (no answer in CLAIMS_REDIS_BUDGET), breaker_open, error.",
        "claimsd_idempotency_keys_purged_total": "Idempotency keys deleted after their retention (CLAIMS_IDEMPOTENCY_RETENTION).",
        "claimsd_audit_events_written_total": "Audit events written from the in-memory queue (reads, denials, logins; changes are audited in their own transaction).",
        "claimsd_audit_events_sealed_total": "Audit events sealed into the hash chain by this instance.",
        "claimsd_audit_events_dropped_total": "Audit events dropped because the in-memory queue was full (PostgreSQL unreachable for long).",
        "claimsd_refresh_tokens_purged_total": "Refresh tokens deleted one refresh lifetime after they expired (CLAIMS_REFRESH_TOKEN_LIFETIME).",
        "claimsd_tsdb_replay_duration_seconds": "How long loading the checkpoint and replaying the WAL took at start-up.",
        "claimsd_scrape_duration_seconds": "Time each scrape took, by job.",
        "claimsd_scrape_failures_total": "Scrapes that failed (target down, timeout, bad exposition), by job.",
        "claimsd_rule_group_iterations_total": "Evaluations of each rule group (file;name).",
        "claimsd_rule_group_iterations_missed_total": "Evaluation ticks a rule group skipped because an evaluation overran its interval.",
        "claimsd_rule_evaluations_total": "Rule evaluations, by rule group.",
        "claimsd_rule_evaluation_failures_total": "Rule evaluations that failed (query error, duplicate labels, limit), by rule group.",
        "claimsd_rule_group_last_duration_seconds": "How long the last evaluation of each rule group took.",
        "claimsd_rule_group_interval_seconds": "Each rule group's evaluation interval.",
        "claimsd_rules_without_series": "Rules of a group whose selectors have matched no series for CLAIMS_RULE_NO_SERIES_AFTER.",
        "claimsd_rule_config_last_reload_successful": "1 when the last load of the rule files succeeded.",
        "claimsd_rule_config_last_reload_success_timestamp_seconds": "When the rule files last loaded successfully.",
        "claimsd_notifications_sent_total": "Alerts delivered, by receiver and kind (alertmanager or webhook).",
        "claimsd_notifications_errors_total": "Alerts whose delivery failed after every attempt, by receiver and kind.",
        "claimsd_notifications_dropped_total": "Alerts dropped because a receiver's queue was full, by receiver and kind.",
        "claimsd_notifications_latency_seconds": "Time of each notification request, by receiver and kind.",
        "claimsd_notifications_queue_length": "Notification requests waiting, by receiver and kind.",
    ]

    /// The help text of `name`; a metric missing from the catalog still gets a non-empty one.
    static func help(for name: String) -> String {
        helpTexts[name] ?? "claimsd metric \(name)."
    }
}
