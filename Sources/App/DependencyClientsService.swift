public import Postgres
public import ServiceLifecycle

/// Keeps the service's clients for the life of the process and closes them on graceful
/// shutdown, after the HTTP server (listed after this service) has drained.
public struct DependencyClientsService: Service {
    let dependencies: AppDependencies
    /// Clients of background services (such as the audit writer's), closed with the rest.
    let backgroundClients: [PostgresClient]

    public init(dependencies: AppDependencies, backgroundClients: [PostgresClient] = []) {
        self.dependencies = dependencies
        self.backgroundClients = backgroundClients
    }

    public func run() async throws {
        // Returns when graceful shutdown begins, or throws when the task is cancelled; close
        // the clients either way.
        try? await gracefulShutdown()
        await dependencies.shutdown()
        for client in backgroundClients { await client.shutdown() }
    }
}
