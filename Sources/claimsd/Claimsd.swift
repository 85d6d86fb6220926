import App
import ArgumentParser
import Foundation
import Hummingbird
import Journal
import Logging
import Schema

@main
struct Claimsd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claimsd",
        abstract: "Healthcare claims service: intake, pricing, provider ranking and self-monitoring.",
        discussion: """
            Settings come from the environment (CLAIMS_HOST, CLAIMS_PORT, CLAIMS_DATABASE_URL,
            CLAIMS_REDIS_URL, CLAIMS_LOG_LEVEL, …); each option below overrides its variable.
            See README.md for the full list.
            """,
        subcommands: [Serve.self, Migrate.self, Import.self, TSDB.self, Rules.self, Healthcheck.self],
        defaultSubcommand: Serve.self
    )
}

/// Command-line overrides for the environment settings shared by every subcommand.
struct SettingOptions: ParsableArguments {
    @Option(help: "Address to listen on (CLAIMS_HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (CLAIMS_PORT, default 8000).")
    var port: String?

    @Option(help: "libpq connection URI (CLAIMS_DATABASE_URL).")
    var databaseURL: String?

    @Option(help: "redis://[:password@]host[:port][/db] (CLAIMS_REDIS_URL).")
    var redisURL: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (CLAIMS_LOG_LEVEL, default info).")
    var logLevel: String?

    @Option(help: "auto, journal or stdout (CLAIMS_LOG_TARGET, default auto).")
    var logTarget: String?

    @Option(help: "PostgreSQL connections, 1–256 (CLAIMS_DATABASE_POOL_SIZE, default 8).")
    var databasePoolSize: String?

    @Option(help: "Redis connections, 1–256 (CLAIMS_REDIS_POOL_SIZE, default 8).")
    var redisPoolSize: String?

    @Option(help: "Seconds start-up waits for an unreachable PostgreSQL (CLAIMS_STARTUP_TIMEOUT, default 30).")
    var startupTimeout: String?

    @Option(help: "Largest claim body in bytes (CLAIMS_MAX_CLAIM_BYTES, default 1 MiB).")
    var maxClaimBytes: String?

    @Option(help: "Largest import body in bytes (CLAIMS_MAX_IMPORT_BYTES, default 256 MiB).")
    var maxImportBytes: String?

    @Option(help: "JSON file changing the validation rules (CLAIMS_RULES_FILE).")
    var rulesFile: String?

    @Option(help: "Prefix of every Redis key claimsd writes (CLAIMS_REDIS_KEY_PREFIX, default claimsd:).")
    var redisKeyPrefix: String?

    @Option(help: "Per-route limits, e.g. 'GET /api/v1/providers/top=10/60s', or off (CLAIMS_RATE_LIMITS).")
    var rateLimits: String?

    @Option(help: "true: refuse limited routes while Redis is down; false: limit per instance (CLAIMS_RATE_LIMIT_FAIL_CLOSED, default false).")
    var rateLimitFailClosed: String?

    @Option(help: "Proxies whose X-Forwarded-For is believed: IPs or IPv4 CIDRs, comma-separated (CLAIMS_TRUSTED_PROXIES).")
    var trustedProxies: String?

    @Option(help: "on or off: take part in relaying outbox events to Redis (CLAIMS_RELAY, default on).")
    var relay: String?

    @Option(help: "Outbox events per Redis call, 1–10000 (CLAIMS_RELAY_BATCH_SIZE, default 500).")
    var relayBatchSize: String?

    @Option(help: "Approximate payments stream length cap; 0 keeps all (CLAIMS_PAYMENTS_STREAM_MAX_LENGTH, default 1000000).")
    var paymentsStreamMaxLength: String?

    @Option(help: "on or off: record metrics and write the access log; off also drops logs below error (CLAIMS_TELEMETRY, default on).")
    var telemetry: String?

    @Option(help: "Most new claims stored in one statement and commit, 1–1000 (CLAIMS_INSERT_BATCH_CLAIMS, default 64).")
    var insertBatchClaims: String?

    @Option(help: "Most claim-insert statements in flight at once, 1–256 (CLAIMS_INSERT_WRITERS, default 2).")
    var insertWriters: String?

    @Option(help: "Seconds between self-scrapes into the built-in store, as a duration (15s, 1m) or off (CLAIMS_SCRAPE_INTERVAL, default 15s).")
    var scrapeInterval: String?

    @Option(help: "YAML file of more scrape targets, Prometheus scrape_configs syntax (CLAIMS_SCRAPE_CONFIG).")
    var scrapeConfig: String?

    @Option(help: "Directory of the built-in time-series store (CLAIMS_TSDB_PATH, default data/tsdb).")
    var tsdbPath: String?

    @Option(help: "How long the store keeps data, from its newest sample, e.g. 24h or 15d (CLAIMS_TSDB_RETENTION, default 24h).")
    var tsdbRetention: String?

    @Option(help: "Most series the store holds (CLAIMS_TSDB_MAX_SERIES, default 100000).")
    var tsdbMaxSeries: String?

    @Option(help: "on or off: serve the import, delete-series and snapshot endpoints (CLAIMS_TSDB_ADMIN_API, default off).")
    var tsdbAdminApi: String?

    @Option(help: "How far back an instant selector looks for a sample, e.g. 5m (CLAIMS_QUERY_LOOKBACK_DELTA, default 5m).")
    var queryLookbackDelta: String?

    @Option(help: "Most samples one query may hold in memory (CLAIMS_QUERY_MAX_SAMPLES, default 50000000).")
    var queryMaxSamples: String?

    @Option(help: "Longest a query may run, e.g. 2m (CLAIMS_QUERY_TIMEOUT, default 2m).")
    var queryTimeout: String?

    @Option(help: "Longest a connection may wait for a whole request head, idle or trickling, e.g. 60s (CLAIMS_HTTP_IDLE_TIMEOUT, default 60s).")
    var httpIdleTimeout: String?

    @Option(help: "Longest a request body may take to arrive, e.g. 5m (CLAIMS_HTTP_BODY_TIMEOUT, default 5m).")
    var httpBodyTimeout: String?

    @Option(help: "Rule files to evaluate, paths or globs, comma-separated; empty for none (CLAIMS_RULE_FILES, default alerts/*.yml).")
    var ruleFiles: String?

    @Option(help: "Evaluation interval of rule groups that set none (CLAIMS_RULE_EVALUATION_INTERVAL, default 15s).")
    var ruleEvaluationInterval: String?

    @Option(help: "Flag a rule whose selectors match no series for this long (CLAIMS_RULE_NO_SERIES_AFTER, default 1h).")
    var ruleNoSeriesAfter: String?

    @Option(help: "Alertmanager base URLs, comma-separated, e.g. http://127.0.0.1:9093 (CLAIMS_ALERTMANAGER_URLS).")
    var alertmanagerUrls: String?

    @Option(help: "URLs that receive Alertmanager-style webhook notifications, comma-separated (CLAIMS_ALERT_WEBHOOKS).")
    var alertWebhooks: String?

    @Option(help: "Secret for the X-Claimsd-Signature HMAC of webhook bodies (CLAIMS_ALERT_WEBHOOK_SECRET).")
    var alertWebhookSecret: String?

    @Option(help: "Labels added to every alert, e.g. cluster=eu1,env=prod (CLAIMS_EXTERNAL_LABELS).")
    var externalLabels: String?

    @Option(help: "URL claimsd is reached at, for alert links (CLAIMS_EXTERNAL_URL, default http://<host>:<port>).")
    var externalUrl: String?

    @Option(help: "on or off: let a request ask for a 5xx with X-Claimsd-Fault, for alert drills (CLAIMS_FAULT_INJECTION, default off).")
    var faultInjection: String?

    /// The environment with these options laid over it.
    func environment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        let overrides: [(ServiceConfiguration.Setting, String?)] = [
            (.host, host), (.port, port), (.databaseURL, databaseURL), (.redisURL, redisURL), (.logLevel, logLevel), (.logTarget, logTarget),
            (.databasePoolSize, databasePoolSize), (.redisPoolSize, redisPoolSize), (.startupTimeout, startupTimeout),
            (.maxClaimBytes, maxClaimBytes), (.maxImportBytes, maxImportBytes), (.rulesFile, rulesFile),
            (.redisKeyPrefix, redisKeyPrefix), (.rateLimits, rateLimits), (.rateLimitFailClosed, rateLimitFailClosed),
            (.trustedProxies, trustedProxies), (.relay, relay), (.relayBatchSize, relayBatchSize),
            (.paymentsStreamMaxLength, paymentsStreamMaxLength), (.telemetry, telemetry), (.insertBatchClaims, insertBatchClaims),
            (.insertWriters, insertWriters), (.scrapeInterval, scrapeInterval), (.scrapeConfig, scrapeConfig), (.tsdbPath, tsdbPath),
            (.tsdbRetention, tsdbRetention), (.tsdbMaxSeries, tsdbMaxSeries), (.tsdbAdminAPI, tsdbAdminApi),
            (.queryLookbackDelta, queryLookbackDelta), (.queryMaxSamples, queryMaxSamples), (.queryTimeout, queryTimeout),
            (.httpIdleTimeout, httpIdleTimeout), (.httpBodyTimeout, httpBodyTimeout),
            (.ruleFiles, ruleFiles), (.ruleEvaluationInterval, ruleEvaluationInterval), (.ruleNoSeriesAfter, ruleNoSeriesAfter),
            (.alertmanagerURLs, alertmanagerUrls), (.alertWebhooks, alertWebhooks), (.alertWebhookSecret, alertWebhookSecret),
            (.externalLabels, externalLabels), (.externalURL, externalUrl), (.faultInjection, faultInjection),
        ]
        for (setting, value) in overrides {
            if let value { environment[setting.rawValue] = value }
        }
        return environment
    }

    /// The validated configuration, or exit 78 (EX_CONFIG) with one line saying what is wrong.
    func load(_ adjust: (inout [String: String]) -> Void = { _ in }) throws -> ServiceConfiguration {
        var environment = environment()
        adjust(&environment)
        do {
            return try ServiceConfiguration.load(environment: environment)
        } catch {
            FileHandle.standardError.write(Data("claimsd: configuration error: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}

/// Sends swift-log output to journald or stdout as JSON, counting records by level into
/// `telemetry` when given, and returns the root logger. With telemetry off, records below
/// `error` are dropped and nothing is counted.
func bootstrapLogging(_ configuration: ServiceConfiguration, telemetry: Telemetry? = nil) -> Logger {
    let sink = configuration.logTarget.makeSink(identifier: "claimsd")
    let level = configuration.telemetryEnabled ? configuration.logLevel : max(configuration.logLevel, .error)
    let counters = telemetry.flatMap { $0.isEnabled ? LogLevelCounters(factory: $0.factory) : nil }
    LoggingSystem.bootstrap { label in JournalLogHandler(label: label, sink: sink, level: level, counters: counters) }
    var logger = Logger(label: "claimsd")
    logger.logLevel = level
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service (the default).")

    @OptionGroup var settings: SettingOptions

    @Flag(inversion: .prefixedNo, help: "Apply pending migrations before serving (CLAIMS_MIGRATE_ON_START, default on).")
    var migrate: Bool?

    func run() async throws {
        let configuration = try settings.load { environment in
            if let migrate { environment[ServiceConfiguration.Setting.migrateOnStart.rawValue] = migrate ? "true" : "false" }
        }
        let telemetry = Telemetry(enabled: configuration.telemetryEnabled)
        let logger = bootstrapLogging(configuration, telemetry: telemetry)
        logger.info(
            "configuration loaded",
            metadata: [
                "event": "configuration_loaded", "host": "\(configuration.host)", "port": "\(configuration.port)",
                "log_target": "\(configuration.logTarget.rawValue)", "migrate_on_start": "\(configuration.migrateOnStart)",
                "relay": "\(configuration.relayEnabled)", "telemetry": "\(configuration.telemetryEnabled)", "rate_limits": "\(configuration.rateLimits.map { "\($0.method) \($0.route)=\($0.policy)" })",
            ])
        do {
            let app = try await buildApplication(configuration: configuration, logger: logger, telemetry: telemetry)
            try await app.runService()
            logger.info("claimsd stopped", metadata: ["event": "shutdown_complete"])
        } catch {
            logger.critical("claimsd stopped", metadata: ["event": "startup_failed", "error": "\(error)"])
            throw ExitCode.failure
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")

    @OptionGroup var settings: SettingOptions

    func run() async throws {
        let configuration = try settings.load()
        let logger = bootstrapLogging(configuration)
        let dependencies = try AppDependencies(configuration: configuration, logger: logger)
        var failure: (any Error)?
        do {
            let migrator = Migrator(client: dependencies.postgres, logger: logger)
            try await migrator.migrateWhenReachable(timeout: .seconds(configuration.startupTimeoutSeconds))
            let versions = try await migrator.appliedVersions().keys.sorted()
            print("claimsd: schema at version \(versions.last ?? 0) (\(versions.count) migrations applied)")
        } catch {
            failure = error
        }
        await dependencies.postgres.shutdown()
        await dependencies.redis.shutdown()
        if let failure {
            FileHandle.standardError.write(Data("claimsd: migration failed: \(failure)\n".utf8))
            throw ExitCode.failure
        }
    }
}
