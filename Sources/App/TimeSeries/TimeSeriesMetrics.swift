import CoreMetrics
import TimeSeries

/// Gauges describing the built-in store, set from its statistics whenever metrics are read
/// (`/metrics` and each self-scrape). Counters of appended and refused samples are kept by the
/// store itself; scrape durations and failures by the scrape manager.
struct TimeSeriesMetrics: Sendable {
    let store: TimeSeriesStore
    let series: Gauge
    let samples: Gauge
    let chunks: Gauge
    let chunkBytes: Gauge
    let sealedBytes: Gauge
    let sealedSamples: Gauge
    let walBytes: Gauge
    let walWriteErrors: Gauge
    let oldest: Gauge
    let newest: Gauge
    let retention: Gauge

    init(store: TimeSeriesStore, factory: any MetricsFactory) {
        self.store = store
        series = Gauge(label: "claimsd_tsdb_head_series", factory: factory)
        samples = Gauge(label: "claimsd_tsdb_head_samples", factory: factory)
        chunks = Gauge(label: "claimsd_tsdb_head_chunks", factory: factory)
        chunkBytes = Gauge(label: "claimsd_tsdb_chunk_bytes", factory: factory)
        sealedBytes = Gauge(label: "claimsd_tsdb_sealed_chunk_bytes", factory: factory)
        sealedSamples = Gauge(label: "claimsd_tsdb_sealed_chunk_samples", factory: factory)
        walBytes = Gauge(label: "claimsd_tsdb_wal_bytes", factory: factory)
        walWriteErrors = Gauge(label: "claimsd_tsdb_wal_write_errors", factory: factory)
        oldest = Gauge(label: "claimsd_tsdb_lowest_timestamp_seconds", factory: factory)
        newest = Gauge(label: "claimsd_tsdb_highest_timestamp_seconds", factory: factory)
        retention = Gauge(label: "claimsd_tsdb_retention_limit_seconds", factory: factory)
    }

    func refresh() {
        let statistics = store.statistics()
        series.record(statistics.series)
        samples.record(statistics.samples)
        chunks.record(statistics.chunks)
        chunkBytes.record(statistics.chunkBytes)
        sealedBytes.record(statistics.sealedChunkBytes)
        sealedSamples.record(statistics.sealedSamples)
        let wal = store.walStatus()
        walBytes.record(wal.bytes)
        walWriteErrors.record(wal.writeErrors)
        if let minTime = statistics.minTime { oldest.record(Double(minTime) / 1000) }
        if let maxTime = statistics.maxTime { newest.record(Double(maxTime) / 1000) }
        retention.record(Double(store.options.retention) / 1000)
    }
}
