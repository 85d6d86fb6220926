import AuditTrail
import Foundation
public import CircuitBreaking
import ClaimStore
import AccountStore
public import DataProtection
import EncryptedColumns
import HummingbirdTLS
import ServerTLS
import CoreMetrics
public import Claims
public import RateLimiting
public import Ranking
public import Hummingbird
public import HummingbirdCore
public import Logging
public import Postgres
public import Redis
import ServiceLifecycle
import ServiceManager
import Scraping
public import TimeSeries
public import PromQL
public import Schema

/// The dependencies the HTTP layer needs, made in exactly one place (``buildApplication``).
public struct AppDependencies: Sendable {
    public let postgres: PostgresClient
    /// The connections that store new claims (``ClaimInsertQueue``'s writers), one per writer, set
    /// up to keep their statements' plans (``ClaimInsertQueue/sessionSettings``).
    public let claimWriters: PostgresClient
    public let redis: RedisClient
    /// Prefix of every Redis key claimsd writes.
    public let redisKeyPrefix: String
    /// Where every component records its metrics; served at `/metrics`.
    public let telemetry: Telemetry
    /// The time budget and circuit breaker of the Redis calls a request waits for and can do
    /// without (the rate-limit decision, the ranking read); shared, since a sick Redis is sick
    /// for both.
    public let redisGuard: CallGuard
    /// The audit events written beside requests rather than in their transactions; written out
    /// by the ``AuditService`` of ``buildApplication(configuration:logger:)``.
    public let audit: AuditRecorder
    /// Encrypts and decrypts the values kept encrypted at rest (see ``ProtectedColumn``).
    public let cipher: FieldCipher
    /// This instance's ranking answers, kept while current; kept only while a
    /// ``RankingChangeListener`` (``rankingChangeListener(logger:)``) runs.
    public let rankingMemo = TopProvidersMemo()

    /// `claimWriters` defaults to a client of `postgres`'s own with the default number of writers.
    public init(
        postgres: PostgresClient, redis: RedisClient, cipher: FieldCipher, redisKeyPrefix: String = "claimsd:", redisBudget: Duration = .milliseconds(50),
        telemetry: Telemetry = Telemetry(), auditEnabled: Bool = true, claimWriters: PostgresClient? = nil
    ) {
        self.postgres = postgres
        self.claimWriters =
            claimWriters
            ?? postgres.separateClient(maxConnections: ClaimInsertQueue.Limits().maxWriters, sessionSettings: ClaimInsertQueue.sessionSettings)
        self.cipher = cipher
        self.redis = redis
        self.redisKeyPrefix = redisKeyPrefix
        self.telemetry = telemetry
        self.redisGuard = CallGuard(dependency: "redis", budget: redisBudget, metrics: telemetry.factory)
        self.audit = AuditRecorder(enabled: auditEnabled, metrics: telemetry.factory)
    }

    /// The clients for `configuration`; no connection is opened yet.
    public init(configuration: ServiceConfiguration, logger: Logger, telemetry: Telemetry = Telemetry()) throws {
        let postgres = try PostgresClient(configuration: configuration.postgres, logger: logger)
        self.init(
            postgres: postgres,
            redis: RedisClient(configuration: try configuration.redis, logger: logger, observer: telemetry.isEnabled ? RedisMetrics(factory: telemetry.factory) : nil),
            cipher: FieldCipher(keyring: try configuration.requiredDataKeyring), redisKeyPrefix: configuration.redisKeyPrefix, redisBudget: .milliseconds(configuration.redisBudget), telemetry: telemetry,
            auditEnabled: configuration.auditEnabled,
            claimWriters: postgres.separateClient(maxConnections: configuration.insertLimits.maxWriters, sessionSettings: ClaimInsertQueue.sessionSettings))
    }

    /// Closes the PostgreSQL and Redis clients (commands call it; the service through
    /// ``DependencyClientsService``).
    public func shutdown() async {
        await postgres.shutdown()
        await claimWriters.shutdown()
        await redis.shutdown()
    }

    /// The migrator of this binary's migrations, which encrypts plain values with ``cipher``
    /// before the migration that drops the plain columns.
    public func migrator(logger: Logger) -> Migrator {
        Migrator(
            client: postgres,
            preparations: [PlaintextEncryption.migrationVersion: { [cipher] connection in
                try await PlaintextEncryption(cipher: cipher, logger: logger).run(on: connection)
            }],
            logger: logger)
    }

    /// Makes the database ready for this binary: applies pending migrations when `migrating`
    /// (waiting up to `timeout` for an unreachable PostgreSQL), then checks the data keyring
    /// against it, so nothing reads or writes claim data under a key that does not fit.
    public func prepareDatabase(migrating: Bool, timeout: Duration, logger: Logger) async throws {
        if migrating { try await migrator(logger: logger).migrateWhenReachable(timeout: timeout) }
        try await DataKeyRegistry(cipher: cipher).verify(client: postgres)
    }

    /// The readiness probes for these clients. Only PostgreSQL is required: without Redis,
    /// claims are still accepted and the ranking is answered from PostgreSQL.
    public var readiness: ReadinessChecker {
        ReadinessChecker(probes: [PostgresProbe(client: postgres), RedisProbe(client: redis)])
    }

    /// Brings the gauges that are read at scrape time up to date: pools, dependency checks and,
    /// when given, the time-series store.
    func metricsRefresher(store: TimeSeriesStore?) -> MetricsRefresher {
        MetricsRefresher(
            enabled: telemetry.isEnabled,
            dependencies: DependencyMetrics(postgres: postgres, claimWriters: claimWriters, redis: redis, readiness: readiness, factory: telemetry.factory),
            timeSeries: store.map { TimeSeriesMetrics(store: $0, factory: telemetry.factory) })
    }

    /// The provider ranking in Redis, as the HTTP routes read it.
    func rankingCache(streamLengthCap: Int = 1_000_000) -> RankingCache {
        RankingCache(redis: redis, keys: RankingKeys(prefix: redisKeyPrefix), streamLengthCap: streamLengthCap, memo: rankingMemo)
    }

    /// The service that keeps ``rankingMemo`` current; until it runs, nothing is kept.
    func rankingChangeListener(checkInterval: Duration = .seconds(1), logger: Logger = Logger(label: "claimsd.ranking")) -> RankingChangeListener {
        RankingChangeListener(cache: rankingCache(), memo: rankingMemo, checkInterval: checkInterval, logger: logger, metrics: telemetry.factory)
    }
}

/// Who may send how many requests: per-route limits and how clients are told apart.
public struct TrafficSettings: Sendable {
    public var rateLimits: [RateLimitRule]
    /// Refuse limited routes while Redis is unreachable instead of limiting per instance.
    public var failClosed: Bool
    /// Peers whose `X-Forwarded-For` is believed.
    public var trustedProxies: [String]
    /// Answer `X-Claimsd-Fault` requests with the 5xx they ask for (``FaultInjectionMiddleware``).
    public var faultInjection: Bool
    /// Browser origins allowed to call the API (``CORSMiddleware``).
    public var corsOrigins: [String]
    /// Whether claimsd serves TLS itself, so answers carry `Strict-Transport-Security`.
    public var servesTLS: Bool

    public init(
        rateLimits: [RateLimitRule] = ServiceConfiguration.defaultRateLimits, failClosed: Bool = false, trustedProxies: [String] = [],
        faultInjection: Bool = false, corsOrigins: [String] = [], servesTLS: Bool = false
    ) {
        self.rateLimits = rateLimits
        self.failClosed = failClosed
        self.trustedProxies = trustedProxies
        self.faultInjection = faultInjection
        self.corsOrigins = corsOrigins
        self.servesTLS = servesTLS
    }
}

/// The router with all middleware and routes; production and tests both use it.
///
/// Every route is registered through ``SecuredRoutes`` with the requirement it declares;
/// `declarations` receives them (for tests and documentation).
public func buildRouter(
    dependencies: AppDependencies, access: AccessSettings, validator: ClaimValidator = ClaimValidator(), limits: IntakeLimits = IntakeLimits(),
    traffic: TrafficSettings = TrafficSettings(), timeSeries: TimeSeriesSettings? = nil, alerting: AlertingRuntime? = nil,
    screening: ClaimScreening? = nil, declarations: RouteDeclarations = RouteDeclarations()
) -> Router<ClaimsRequestContext> {
    let router = Router(context: ClaimsRequestContext.self)
    let routes = SecuredRoutes(router: router, declarations: declarations, audit: dependencies.audit)
    router.add(middleware: RequestIDMiddleware())
    if dependencies.telemetry.isEnabled {
        router.add(middleware: ObservabilityMiddleware(factory: dependencies.telemetry.factory))
    }
    // Outside the problem middleware, so errors carry these headers too.
    router.add(middleware: SecurityHeadersMiddleware(strictTransportSecurity: traffic.servesTLS))
    if !traffic.corsOrigins.isEmpty { router.add(middleware: CORSMiddleware(origins: traffic.corsOrigins)) }
    router.add(middleware: ProblemMiddleware())
    if traffic.faultInjection { router.add(middleware: FaultInjectionMiddleware()) }
    let limiter = SlidingWindowLimiter(
        redis: dependencies.redis, keyPrefix: dependencies.redisKeyPrefix, failClosed: traffic.failClosed, callGuard: dependencies.redisGuard,
        logger: Logger(label: "claimsd.ratelimit"),
        metrics: dependencies.telemetry.factory)
    let accounts = PostgresAccountStore(client: dependencies.postgres, cipher: dependencies.cipher)
    let authenticator = Authenticator(store: accounts, tokens: access.tokens, cacheLifetime: access.cacheLifetime)
    router.add(middleware: AuthenticationMiddleware(mode: access.mode, authenticator: authenticator))
    let clients = ClientAddress(trustedProxies: traffic.trustedProxies)
    router.add(middleware: CallerMiddleware(clients: clients))
    router.add(middleware: RateLimitMiddleware(limiter: limiter, rules: traffic.rateLimits, aliases: RouteAliases.all))
    let repository = InstrumentedClaimRepository(
        PostgresClaimRepository(
            client: dependencies.postgres, cipher: dependencies.cipher, insertLimits: limits.insert, writers: dependencies.claimWriters,
            idempotencyRetention: limits.idempotencyRetention),
        factory: dependencies.telemetry.factory)
    OperationalRoutes(readiness: dependencies.readiness, authMode: access.mode).register(on: routes)
    APIDocumentRoutes().register(on: routes)
    let accountRoutes = AccountRoutes(store: accounts, authenticator: authenticator, settings: access, limiter: limiter, clients: clients, audit: dependencies.audit)
    accountRoutes.register(on: routes)
    AuditRoutes(store: PostgresAuditStore(client: dependencies.postgres), recorder: dependencies.audit).register(on: routes)
    MetricsRoute(telemetry: dependencies.telemetry, refresher: dependencies.metricsRefresher(store: timeSeries?.store)).register(on: routes)
    let claimMetrics = ClaimMetrics(factory: dependencies.telemetry.factory)
    let flagged = FlaggedClaimReview(client: dependencies.postgres, cipher: dependencies.cipher)
    // The standard rules unless the caller brings its own (the service, with its settings and
    // the averages it loaded).
    let screening = screening ?? ClaimScreening(store: flagged)
    ClaimsController(repository: repository, validator: validator, limits: limits, metrics: claimMetrics, audit: dependencies.audit, screening: screening)
        .register(on: routes)
    ProvidersController(repository: repository, cache: dependencies.rankingCache(), redisGuard: dependencies.redisGuard, metrics: dependencies.telemetry.factory)
        .register(on: routes)
    PaymentsController(repository: repository, audit: dependencies.audit).register(on: routes)
    if let timeSeries {
        AdminRoutes(store: timeSeries.store, enabled: timeSeries.adminAPI, maxImportBytes: limits.maxImportBytes).register(on: routes)
        QueryRoutes(store: timeSeries.store, engine: timeSeries.engine, targets: timeSeries.targets, executor: timeSeries.executor).register(on: routes)
    }
    if let alerting { RuleRoutes(runtime: alerting).register(on: routes) }
    OpsRoutes(
        readiness: dependencies.readiness, repository: repository, review: RejectedClaimReview(client: dependencies.postgres, cipher: dependencies.cipher),
        audit: dependencies.audit, validator: validator, metrics: claimMetrics, screening: screening, flagged: flagged, ranking: dependencies.rankingCache(),
        redisGuard: dependencies.redisGuard,
        timeSeries: timeSeries, alerting: alerting, authentication: access.mode
    ).register(on: routes)
    ConsoleSessionRoutes(accounts: accountRoutes, servesTLS: traffic.servesTLS).register(on: routes)
    // Last: it sees only requests no route took (see the middleware).
    router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
    return router
}

/// Builds the whole service: clients, migrations (when configured), router and lifecycle.
/// `telemetry` should be the one the logging handlers count into (see `claimsd serve`).
public func buildApplication(configuration: ServiceConfiguration, logger: Logger, telemetry: Telemetry = Telemetry()) async throws -> some ApplicationProtocol {
    let dependencies = try AppDependencies(configuration: configuration, logger: logger, telemetry: telemetry)
    try await dependencies.prepareDatabase(
        migrating: configuration.migrateOnStart, timeout: .seconds(configuration.startupTimeoutSeconds), logger: logger)
    let validator = ClaimValidator(rules: configuration.rules)
    let limits = IntakeLimits(
        maxClaimBytes: configuration.maxClaimBytes, maxImportBytes: configuration.maxImportBytes, insert: configuration.insertLimits,
        idempotencyRetention: .milliseconds(configuration.idempotencyRetention))
    let traffic = TrafficSettings(
        rateLimits: configuration.rateLimits, failClosed: configuration.rateLimitFailClosed, trustedProxies: configuration.trustedProxies,
        faultInjection: configuration.faultInjection, corsOrigins: configuration.corsOrigins, servesTLS: configuration.tlsFiles != nil)
    if configuration.faultInjection {
        logger.warning(
            "fault injection is on: a request with X-Claimsd-Fault gets the 5xx it asks for",
            metadata: ["event": "fault_injection_enabled", "setting": "\(ServiceConfiguration.Setting.faultInjection.rawValue)"])
    }
    if !configuration.auditEnabled {
        logger.warning(
            "auditing is off: no access to claim data is recorded; never run like this where claim data matters",
            metadata: ["event": "audit_off", "setting": "\(ServiceConfiguration.Setting.audit.rawValue)"])
    }
    let access = try await AccessSettings.from(configuration)
    if access.mode == .off {
        logger.warning(
            "authentication is off: every request acts as admin; never run like this where claim data matters",
            metadata: ["event": "authentication_off", "setting": "\(ServiceConfiguration.Setting.auth.rawValue)"])
    } else if access.ephemeralKeys {
        logger.warning(
            "no access-token keyring: a key was made for this process, so tokens stop working when it restarts and other instances refuse them",
            metadata: ["event": "ephemeral_token_keys", "setting": "\(ServiceConfiguration.Setting.jwtKeys.rawValue)"])
    }
    let timeSeries = try openTimeSeries(configuration: configuration, telemetry: telemetry, logger: logger)
    // The audit writer has a connection of its own: its flushes and seals never hold one a
    // request is waiting for, and a request never delays the trail.
    let auditClient = dependencies.postgres.separateClient(maxConnections: 1)
    var services: [any Service] = [
        DependencyClientsService(dependencies: dependencies, backgroundClients: [auditClient])
    ]
    if configuration.relayEnabled {
        services.append(
            OutboxRelay(
                postgres: dependencies.postgres,
                repository: InstrumentedClaimRepository(
                    PostgresClaimRepository(client: dependencies.postgres, cipher: dependencies.cipher), factory: dependencies.telemetry.factory),
                cache: dependencies.rankingCache(streamLengthCap: configuration.paymentsStreamMaxLength),
                settings: RelaySettings(batchSize: configuration.relayBatchSize), logger: Logger(label: "claimsd.relay"),
                metrics: dependencies.telemetry.factory))
    }
    services.append(dependencies.rankingChangeListener())
    let idempotencyKeys = InstrumentedClaimRepository(
        PostgresClaimRepository(client: dependencies.postgres, cipher: dependencies.cipher, idempotencyRetention: limits.idempotencyRetention),
        factory: dependencies.telemetry.factory)
    services.append(
        ExpiredRecordsPurgeService(
            records: "idempotency keys", counter: "claimsd_idempotency_keys_purged_total",
            interval: min(.milliseconds(configuration.idempotencyRetention) / 24, .seconds(600)), logger: Logger(label: "claimsd.idempotency"),
            metrics: dependencies.telemetry.factory
        ) { limit in try await idempotencyKeys.purgeIdempotencyKeys(limit: limit) })
    let accounts = PostgresAccountStore(client: dependencies.postgres, cipher: dependencies.cipher)
    let refreshLifetime = access.refreshTokenLifetime
    services.append(
        ExpiredRecordsPurgeService(
            records: "refresh tokens", counter: "claimsd_refresh_tokens_purged_total", interval: .seconds(3600),
            logger: Logger(label: "claimsd.accounts"), metrics: dependencies.telemetry.factory
        ) { limit in try await accounts.purgeExpiredRefreshTokens(limit: limit, graceSeconds: refreshLifetime) })
    // After the PostgreSQL client in the list, so it stops first and writes out its queue.
    services.append(
        AuditService(
            recorder: dependencies.audit, store: PostgresAuditStore(client: auditClient), retentionSeconds: configuration.auditRetention,
            logger: Logger(label: "claimsd.audit"), metrics: dependencies.telemetry.factory))
    // The store closes after the scraper stops appending: services shut down in reverse order.
    services.append(TimeSeriesService(store: timeSeries.store, logger: Logger(label: "claimsd.tsdb"), metrics: telemetry.factory))
    let (addresses, addressContinuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
    let refresher = dependencies.metricsRefresher(store: timeSeries.store)
    services.append(
        ScrapingService(address: addresses) { instance in
            let loops = makeScrapeLoops(instance: instance, configuration: configuration, store: timeSeries.store) {
                await refresher.refresh()
                return telemetry.exposition()
            }
            timeSeries.targets.set(loops)
            return ScrapeManager(loops: loops, logger: Logger(label: "claimsd.scrape"), metrics: telemetry.factory)
        })
    // Rule evaluation stops before the store closes (services stop in reverse order). Rule files
    // that do not load stop the start, naming the problem, as Prometheus does.
    let alerting = AlertingRuntime(configuration: configuration, timeSeries: timeSeries, factory: telemetry.factory, logger: logger)
    do {
        try await alerting.reload()
    } catch {
        throw ConfigurationError(setting: .ruleFiles, value: configuration.ruleFiles.joined(separator: ","), problem: error.description)
    }
    services.append(AlertingService(runtime: alerting))
    let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
    // A service that ends stops the whole group: this one runs until shutdown even outside systemd.
    services.append(SystemdNotifyService(notifier: notifier))
    let host = configuration.host
    let timeouts = HTTPTimeouts(idle: .milliseconds(configuration.httpIdleTimeout), body: .milliseconds(configuration.httpBodyTimeout))
    var server = claimsdHTTPServer(timeouts: timeouts, logger: logger)
    if let files = configuration.tlsFiles {
        let certificate: ServedCertificate
        do {
            certificate = try ServedCertificate(certificatePath: files.certificate, keyPath: files.key)
        } catch {
            throw ConfigurationError(setting: .tlsCert, value: files.certificate, problem: error.description)
        }
        server = try .tls(server, tlsConfiguration: certificate.serverConfiguration)
        let reloads = CertificateReloadService(certificate: certificate, logger: Logger(label: "claimsd.tls"), metrics: telemetry.factory)
        reloads.loaded(certificate.summary)
        services.append(reloads)
    }
    let ruleGroups = alerting.manager.groups.count
    let screening = ClaimScreening(settings: configuration.screening, store: FlaggedClaimReview(client: dependencies.postgres, cipher: dependencies.cipher))
    try await screening.loadHistory(logger: logger)
    return Application(
        router: buildRouter(
            dependencies: dependencies, access: access, validator: validator, limits: limits, traffic: traffic, timeSeries: timeSeries, alerting: alerting,
            screening: screening),
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "claimsd"),
        services: services,
        onServerRunning: { channel in
            let address = instanceLabel(host: host, channel: channel)
            addressContinuation.yield(address)
            addressContinuation.finish()
            notifier.ready(status: "serving on \(address); \(ruleGroups) rule groups loaded")
        },
        logger: logger
    )
}

/// claimsd's HTTP/1 server: Hummingbird's, with every connection's timeouts and HTTP/1.0
/// semantics kept by an ``HTTPConnectionGuard``.
public func claimsdHTTPServer(timeouts: HTTPTimeouts, logger: Logger) -> HTTPServerBuilder {
    .http1(configuration: .init(additionalChannelHandlers: [HTTPConnectionGuardInstaller(timeouts: timeouts, logger: logger)]))
}

/// The built-in time-series store and what the HTTP layer needs to know about it.
public struct TimeSeriesSettings: Sendable {
    public let store: TimeSeriesStore
    /// Whether the import, delete-series and snapshot endpoints are served.
    public let adminAPI: Bool
    /// The engine the query API evaluates with.
    public let engine: QueryEngine
    /// The scrape loops, once the scraper runs (for `/api/v1/targets`).
    let targets = ScrapeTargets()
    /// Where queries run: threads of their own, a few at a time.
    let executor = QueryExecutor()

    public init(store: TimeSeriesStore, adminAPI: Bool = false, engine: QueryEngine = QueryEngine()) {
        self.store = store
        self.adminAPI = adminAPI
        self.engine = engine
    }
}

/// Opens the store at `CLAIMS_TSDB_PATH`, replaying its WAL; logs what replay found.
func openTimeSeries(configuration: ServiceConfiguration, telemetry: Telemetry, logger: Logger) throws -> TimeSeriesSettings {
    let options = TimeSeriesOptions(retention: configuration.tsdbRetention, maxSeries: configuration.tsdbMaxSeries)
    let (store, report) = try TimeSeriesStore.open(path: configuration.tsdbPath, options: options, metrics: telemetry.factory)
    for warning in report.warnings {
        logger.warning("time-series store repaired", metadata: ["event": "tsdb_repaired", "problem": "\(warning)"])
    }
    logger.info(
        "time-series store opened",
        metadata: [
            "event": "tsdb_opened", "path": "\(configuration.tsdbPath)", "series": "\(report.series)", "samples": "\(report.samples)",
            "wal_records": "\(report.records)", "replay_ms": "\(report.duration.milliseconds)",
        ])
    Gauge(label: "claimsd_tsdb_replay_duration_seconds", factory: telemetry.factory).record(Double(report.duration.milliseconds) / 1000)
    var engine = QueryEngine()
    engine.lookbackDelta = configuration.queryLookbackDelta
    engine.maxSamples = configuration.queryMaxSamples
    engine.timeout = .milliseconds(configuration.queryTimeout)
    return TimeSeriesSettings(store: store, adminAPI: configuration.tsdbAdminAPI, engine: engine)
}
