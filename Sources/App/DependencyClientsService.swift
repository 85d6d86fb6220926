public import Postgres
public import Redis
public import ServiceLifecycle

/// Keeps the PostgreSQL and Redis clients for the life of the process and closes them on
/// graceful shutdown, after the HTTP server (listed after this service) has drained.
public struct DependencyClientsService: Service {
    let postgres: PostgresClient
    let redis: RedisClient

    public init(postgres: PostgresClient, redis: RedisClient) {
        self.postgres = postgres
        self.redis = redis
    }

    public func run() async throws {
        // Returns when graceful shutdown begins, or throws when the task is cancelled; close
        // the pools either way.
        try? await gracefulShutdown()
        await postgres.shutdown()
        await redis.shutdown()
    }
}
