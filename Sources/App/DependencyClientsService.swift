public import Postgres
public import Redis
public import ServiceLifecycle

/// Keeps the PostgreSQL and Redis clients for the life of the process and closes them on
/// graceful shutdown, after the HTTP server (listed after this service) has drained.
public struct DependencyClientsService: Service {
    let postgres: PostgresClient
    let redis: RedisClient
    /// Clients of background services (such as the audit writer's), closed with the rest.
    let backgroundClients: [PostgresClient]

    public init(postgres: PostgresClient, redis: RedisClient, backgroundClients: [PostgresClient] = []) {
        self.postgres = postgres
        self.redis = redis
        self.backgroundClients = backgroundClients
    }

    public func run() async throws {
        // Returns when graceful shutdown begins, or throws when the task is cancelled; close
        // the pools either way.
        try? await gracefulShutdown()
        await postgres.shutdown()
        for client in backgroundClients { await client.shutdown() }
        await redis.shutdown()
    }
}
