import CoreMetrics
import Postgres
import Redis

/// Pool and reachability gauges, refreshed when `/metrics` is scraped:
/// - `claimsd_pool_connections{dependency,state}`: `in_use` and `idle` connections
///   (`dependency` is `postgresql` for the requests' pool, `postgresql_writers` for the insert
///   writers' connections, `redis`)
/// - `claimsd_pool_waiters{dependency}`: callers waiting for a connection
/// - `claimsd_dependency_up{dependency}`: 1 when the readiness check (`SELECT 1`, `PING`) answers
struct DependencyMetrics: Sendable {
    let postgres: PostgresClient
    /// The insert writers' connections (``AppDependencies/claimWriters``).
    let claimWriters: PostgresClient
    let redis: RedisClient
    let readiness: ReadinessChecker
    let factory: any MetricsFactory

    func refresh() async {
        let postgresPool = await postgres.statistics()
        let writersPool = await claimWriters.statistics()
        let redisPool = await redis.statistics()
        let pools = [
            ("postgresql", postgresPool.inUse, postgresPool.idle, postgresPool.waiters),
            ("postgresql_writers", writersPool.inUse, writersPool.idle, writersPool.waiters), ("redis", redisPool.inUse, redisPool.idle, redisPool.waiters),
        ]
        for (name, inUse, idle, waiters) in pools {
            Gauge(label: "claimsd_pool_connections", dimensions: [("dependency", name), ("state", "in_use")], factory: factory).record(inUse)
            Gauge(label: "claimsd_pool_connections", dimensions: [("dependency", name), ("state", "idle")], factory: factory).record(idle)
            Gauge(label: "claimsd_pool_waiters", dimensions: [("dependency", name)], factory: factory).record(waiters)
        }
        for (name, state) in await readiness.check() {
            Gauge(label: "claimsd_dependency_up", dimensions: [("dependency", name)], factory: factory).record(state.isUp ? 1 : 0)
        }
    }
}
