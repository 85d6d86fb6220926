import ClaimStore
public import Claims
public import Hummingbird
public import Logging
public import Postgres
public import Redis

/// The dependencies the HTTP layer needs, made in exactly one place (``buildApplication``).
public struct AppDependencies: Sendable {
    public let postgres: PostgresClient
    public let redis: RedisClient

    public init(postgres: PostgresClient, redis: RedisClient) {
        self.postgres = postgres
        self.redis = redis
    }

    /// The clients for `configuration`; no connection is opened yet.
    public init(configuration: ServiceConfiguration, logger: Logger) throws {
        self.postgres = try PostgresClient(configuration: configuration.postgres, logger: logger)
        self.redis = RedisClient(configuration: try configuration.redis, logger: logger)
    }

    /// The readiness probes for these clients.
    public var readiness: ReadinessChecker {
        ReadinessChecker(probes: [PostgresProbe(client: postgres), RedisProbe(client: redis)])
    }
}

/// The router with all middleware and routes; production and tests both use it.
public func buildRouter(
    dependencies: AppDependencies, validator: ClaimValidator = ClaimValidator(), limits: IntakeLimits = IntakeLimits()
) -> Router<ClaimsRequestContext> {
    let router = Router(context: ClaimsRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: ProblemMiddleware())
    OperationalRoutes(readiness: dependencies.readiness).register(on: router)
    ClaimsController(repository: PostgresClaimRepository(client: dependencies.postgres), validator: validator, limits: limits)
        .register(on: router)
    return router
}

/// Builds the whole service: clients, migrations (when configured), router and lifecycle.
public func buildApplication(configuration: ServiceConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    let dependencies = try AppDependencies(configuration: configuration, logger: logger)
    if configuration.migrateOnStart {
        try await migrateWhenReachable(
            Migrator(client: dependencies.postgres, logger: logger), timeout: .seconds(configuration.startupTimeoutSeconds), logger: logger)
    }
    let validator = ClaimValidator(rules: configuration.rules)
    let limits = IntakeLimits(maxClaimBytes: configuration.maxClaimBytes, maxImportBytes: configuration.maxImportBytes)
    return Application(
        router: buildRouter(dependencies: dependencies, validator: validator, limits: limits),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "claimsd"),
        services: [DependencyClientsService(postgres: dependencies.postgres, redis: dependencies.redis)],
        logger: logger
    )
}

/// Applies migrations, retrying while PostgreSQL cannot be reached yet (a database that starts
/// after claimsd, as in docker compose) until `timeout` has passed.
public func migrateWhenReachable(_ migrator: Migrator, timeout: Duration, logger: Logger) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        do {
            try await migrator.migrate()
            return
        } catch let error as PostgresError where error.code == .connectionFailed && clock.now < deadline {
            logger.warning("waiting for PostgreSQL", metadata: ["event": "dependency_waiting", "dependency": "postgresql", "error": "\(error.message)"])
            try await Task.sleep(for: .seconds(1))
        }
    }
}
