import Foundation
public import Access
public import Claims
public import ClaimStore
public import DataProtection
public import RateLimiting
public import Journal
public import Logging
public import Postgres
public import Redis
public import OutboundHTTP
public import Scraping
public import Screening
import TimeSeries

/// Everything claimsd reads from its environment, validated once at start-up.
///
/// Each setting comes from an environment variable; command-line options override it by
/// supplying the same variable name (see ``load(environment:)``).
public struct ServiceConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8000
    public var databaseURL: String = "postgresql://claimsd@127.0.0.1:5432/claimsd"
    public var redisURL: String = "redis://127.0.0.1:6379/0"
    public var logLevel: Logger.Level = .info
    public var logTarget: LogTarget = .auto
    public var migrateOnStart: Bool = true
    public var databasePoolSize: Int = 8
    public var redisPoolSize: Int = 8
    /// Longest a request waits for Redis (rate-limit decision, ranking read) before deciding
    /// without it (milliseconds).
    public var redisBudget: Int64 = 50
    /// How long start-up keeps retrying while PostgreSQL is not reachable yet.
    public var startupTimeoutSeconds: Int = 30
    /// Largest body of POST/PUT /api/v1/claims.
    public var maxClaimBytes: Int = 1 << 20
    /// Largest body of POST /api/v1/claims/import.
    public var maxImportBytes: Int = 256 << 20
    /// A JSON file changing the standard validation rules (see docs/claims.md).
    public var rulesFile: String?
    /// The validation rules in force: the standard ones, changed by `rulesFile` when set; read
    /// and checked once, in ``load(environment:)``.
    public var rules: RuleSet = .standard
    /// Prefix of every Redis key claimsd writes; give each deployment sharing a Redis its own.
    public var redisKeyPrefix: String = "claimsd:"
    /// Per-route request limits (see ``RateLimitRule/parse(_:)``).
    public var rateLimits: [RateLimitRule] = ServiceConfiguration.defaultRateLimits
    /// Refuse limited routes (503) instead of limiting per instance while Redis is unreachable.
    public var rateLimitFailClosed: Bool = false
    /// Peers whose `X-Forwarded-For` is believed: IPv4 addresses or CIDR blocks, IPv6 addresses.
    public var trustedProxies: [String] = []
    /// Browser origins allowed to call the API (`CLAIMS_CORS_ORIGINS`).
    public var corsOrigins: [String] = []
    /// Milliseconds before PostgreSQL cancels a statement; 0 for no limit.
    public var databaseStatementTimeout: Int64 = 60_000
    /// Milliseconds a session may sit idle in a transaction; 0 for no limit.
    public var databaseIdleInTransactionTimeout: Int64 = 60_000
    /// How long an `Idempotency-Key` is remembered (milliseconds); older keys are purged.
    public var idempotencyRetention: Int64 = 24 * 3_600_000
    /// Whether this instance takes part in relaying outbox events to Redis.
    public var relayEnabled: Bool = true
    /// Outbox events the relay applies per Redis call.
    public var relayBatchSize: Int = 500
    /// Approximate longest length of the payments stream in Redis; 0 keeps every entry.
    public var paymentsStreamMaxLength: Int = 1_000_000
    /// Whether metrics are recorded and the access log written; off also drops log records below
    /// `error`. Exists to measure what observability costs; production runs with it on.
    public var telemetryEnabled: Bool = true
    /// How new claims are grouped into statements and commits (group commit; see
    /// docs/performance.md).
    public var insertLimits = ClaimInsertQueue.Limits()
    /// Milliseconds between scrapes of claimsd's own metrics into the built-in store; nil when
    /// scraping is off.
    public var scrapeInterval: Int64? = 15_000
    /// A YAML file listing more scrape targets (see docs/timeseries.md).
    public var scrapeConfigFile: String?
    /// The targets `scrapeConfigFile` lists, read and checked once at start-up.
    public var scrapeTargets: [ScrapeTarget] = []
    /// Where the built-in time-series store keeps its WAL and checkpoints.
    public var tsdbPath: String = "data/tsdb"
    /// How far back from the newest sample the store keeps data (milliseconds).
    public var tsdbRetention: Int64 = 24 * 3_600_000
    /// Most series the store holds.
    public var tsdbMaxSeries: Int = 100_000
    /// Whether the import, delete-series and snapshot endpoints are served.
    public var tsdbAdminAPI: Bool = false
    /// Whether a request may ask for a 5xx with `X-Claimsd-Fault` (alert drills, `flood-api`).
    public var faultInjection: Bool = false
    /// Whether requests must authenticate (`CLAIMS_AUTH`).
    public var authMode: AuthMode = .required
    /// Where the access-token keyring was read from, if set.
    public var jwtKeysFile: String?
    /// The access-token signing keys, read and checked once; `nil`: made at start.
    public var tokenKeyring: TokenKeyring?
    /// Lifetime of access tokens (seconds).
    public var accessTokenLifetime: Int64 = 900
    /// Lifetime of each refresh token (seconds).
    public var refreshTokenLifetime: Int64 = 14 * 86_400
    /// Whether audit events are recorded (`CLAIMS_AUDIT`).
    public var auditEnabled = true
    /// The screening rules and whether flagged claims are held (`CLAIMS_SCREENING*`,
    /// `CLAIMS_HOLD_FLAGGED`).
    public var screening = ScreeningSettings()
    /// Seconds audit events are kept (`CLAIMS_AUDIT_RETENTION`).
    public var auditRetention: Int64 = 6 * 365 * 86_400
    /// The certificate chain and key files of native TLS (`CLAIMS_TLS_CERT`, `CLAIMS_TLS_KEY`);
    /// `nil`: plain HTTP.
    public var tlsFiles: TLSFiles?
    /// The keys of values encrypted at rest (`CLAIMS_DATA_KEYS`); `nil` when unset, and then
    /// nothing that reads or writes claim data starts.
    public var dataKeyring: DataKeyring?
    /// bcrypt cost of new password hashes.
    public var passwordCost: UInt8 = PasswordHasher.defaultCost
    /// Whether anyone may register (as an unbound member).
    public var openRegistration: Bool = false
    /// Login attempts per account and per client address.
    public var loginLimits = LoginLimits()
    /// How far back an instant selector looks for a sample (milliseconds).
    public var queryLookbackDelta: Int64 = 300_000
    /// Most samples one query may hold in memory.
    public var queryMaxSamples: Int = 50_000_000
    /// Longest a query may run (milliseconds).
    public var queryTimeout: Int64 = 120_000
    /// Longest a connection may wait for a request's whole head, idle or trickling (milliseconds).
    public var httpIdleTimeout: Int64 = 60_000
    /// Longest a request's body may take to arrive once its head has (milliseconds).
    public var httpBodyTimeout: Int64 = 300_000
    /// Rule files to evaluate: paths or globs (`*`, `?`, `[…]` in the last component); empty
    /// evaluates no rules.
    public var ruleFiles: [String] = ["alerts/*.yml"]
    /// Interval of rule groups that set none (milliseconds).
    public var ruleEvaluationInterval: Int64 = 15_000
    /// How long a rule's selectors may match no series before it is flagged (milliseconds).
    public var ruleNoSeriesAfter: Int64 = 3_600_000
    /// Alertmanagers that receive alerts (their `/api/v2/alerts` is posted to).
    public var alertmanagerURLs: [OutboundURL] = []
    /// Receivers of Alertmanager-style webhook notifications.
    public var alertWebhooks: [OutboundURL] = []
    /// When set, webhook bodies carry `X-Claimsd-Signature: sha256=<HMAC>` made with it.
    public var alertWebhookSecret: String?
    /// Labels added to every alert sent (and visible to templates as `$externalLabels`).
    public var externalLabels: [String: String] = [:]
    /// The URL claimsd is reached at (alert `generatorURL`s, `$externalURL`); by default
    /// `http://<host>:<port>`.
    public var externalURL: String?

    /// `GET /api/v1/providers/top`: 10 requests per minute per client.
    public static let defaultRateLimits = [
        RateLimitRule(method: "GET", route: "/api/v1/providers/top", policy: RateLimitPolicy(limit: 10, window: .seconds(60)))
    ]

    public init() {}

    /// The Redis settings the URL and pool size describe.
    public var redis: RedisConfiguration {
        get throws(ConfigurationError) {
            do {
                var configuration = try RedisConfiguration(url: redisURL)
                configuration.maxConnections = redisPoolSize
                return configuration
            } catch {
                throw ConfigurationError(setting: .redisURL, value: redisURL, problem: error.message)
            }
        }
    }

    /// The standard rules changed by the JSON file at `path`.
    static func loadRules(from path: String) throws(ConfigurationError) -> RuleSet {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(setting: .rulesFile, value: path, problem: "names no readable file")
        }
        do {
            return try RuleSet.standard(overriddenBy: data)
        } catch {
            throw ConfigurationError(setting: .rulesFile, value: path, problem: error.description)
        }
    }

    /// The files of native TLS.
    public struct TLSFiles: Sendable, Equatable {
        /// The PEM certificate chain, leaf first.
        public var certificate: String
        /// The PEM private key.
        public var key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// The keyring `setting` holds (it has spaces) or names (a file). A problem names the file or
    /// the line, never a key.
    static func loadDataKeyring(_ setting: String) throws(ConfigurationError) -> DataKeyring {
        let inline = setting.contains(" ")
        let shown = inline ? "(a keyring in the value)" : setting
        let text: String
        if inline {
            text = setting
        } else {
            do {
                text = try String(contentsOfFile: setting, encoding: .utf8)
            } catch {
                throw ConfigurationError(setting: .dataKeys, value: shown, problem: "cannot be read (\(error.localizedDescription))")
            }
        }
        do {
            return try DataKeyring(text: text)
        } catch {
            throw ConfigurationError(setting: .dataKeys, value: shown, problem: error.description)
        }
    }

    /// The data keyring, or the error that stops start-up without one.
    public var requiredDataKeyring: DataKeyring {
        get throws(ConfigurationError) {
            guard let dataKeyring else {
                throw ConfigurationError(
                    setting: .dataKeys, value: "",
                    problem: "must be set, since claimsd stores member identifiers and names encrypted with its keys (make one with 'claimsd keys generate', keep it secret, and back it up: without it the data cannot be read)")
            }
            return dataKeyring
        }
    }

    /// The targets the scrape configuration at `path` lists.
    static func loadScrapeTargets(from path: String, defaultInterval: Int64) throws(ConfigurationError) -> [ScrapeTarget] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(setting: .scrapeConfig, value: path, problem: "names no readable UTF-8 file")
        }
        do {
            return try ScrapeConfigFile.targets(from: text, defaultInterval: defaultInterval)
        } catch {
            throw ConfigurationError(setting: .scrapeConfig, value: path, problem: error.description)
        }
    }

    /// The PostgreSQL client settings the URL and pool size describe.
    public var postgres: PostgresClient.Configuration {
        // Connections live for the whole run, and PostgreSQL keeps the first plan of a foreign-key
        // check for the life of a session: planned while `claims` was nearly empty, it stays a
        // sequential scan and every insert slows down as the table grows (measured: 1,100 → 560
        // claims/s within 15 s). Custom plans are made with the table's current size.
        PostgresClient.Configuration(
            conninfo: databaseURL, maxConnections: databasePoolSize,
            sessionSettings: [
                "plan_cache_mode": "force_custom_plan", "statement_timeout": String(databaseStatementTimeout),
                "idle_in_transaction_session_timeout": String(databaseIdleInTransactionTimeout),
            ])
    }

    /// Reads and checks every setting; the first bad one stops start-up with a message that
    /// names the variable, the option and what would be accepted.
    public static func load(environment: [String: String]) throws(ConfigurationError) -> ServiceConfiguration {
        var configuration = ServiceConfiguration()
        func value(_ setting: Setting) -> String? {
            environment[setting.rawValue].flatMap { $0.isEmpty ? nil : $0 }
        }
        func integer(_ setting: Setting, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
            guard let text = value(setting) else { return nil }
            guard let number = Int(text), range.contains(number) else {
                throw ConfigurationError(setting: setting, value: text, problem: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }

        if let host = value(.host) { configuration.host = host }
        if let port = try integer(.port, in: 0...65535) { configuration.port = port }
        if let url = value(.databaseURL) {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") || url.contains("=") else {
                throw ConfigurationError(setting: .databaseURL, value: url, problem: "must be a libpq URI (postgresql://user@host:port/db) or key=value string")
            }
            do {
                try PostgresClient.Configuration.validate(conninfo: url)
            } catch {
                throw ConfigurationError(setting: .databaseURL, value: url, problem: error.message)
            }
            configuration.databaseURL = url
        }
        if let url = value(.redisURL) { configuration.redisURL = url }
        if let level = value(.logLevel) {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError(setting: .logLevel, value: level, problem: "must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            configuration.logLevel = parsed
        }
        if let target = value(.logTarget) {
            guard let parsed = LogTarget(rawValue: target.lowercased()) else {
                throw ConfigurationError(setting: .logTarget, value: target, problem: "must be one of \(LogTarget.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            configuration.logTarget = parsed
        }
        if let flag = value(.migrateOnStart) {
            switch flag.lowercased() {
            case "1", "true", "yes", "on": configuration.migrateOnStart = true
            case "0", "false", "no", "off": configuration.migrateOnStart = false
            default: throw ConfigurationError(setting: .migrateOnStart, value: flag, problem: "must be true or false")
            }
        }
        if let size = try integer(.databasePoolSize, in: 1...256) { configuration.databasePoolSize = size }
        if let size = try integer(.redisPoolSize, in: 1...256) { configuration.redisPoolSize = size }
        if let text = value(.redisBudget) {
            guard let milliseconds = PrometheusDuration.milliseconds(text), (1...5_000).contains(milliseconds) else {
                throw ConfigurationError(setting: .redisBudget, value: text, problem: "must be a duration from 1ms to 5s, such as 50ms")
            }
            configuration.redisBudget = milliseconds
        }
        if let seconds = try integer(.startupTimeout, in: 0...3600) { configuration.startupTimeoutSeconds = seconds }
        if let bytes = try integer(.maxClaimBytes, in: 1024...(64 << 20)) { configuration.maxClaimBytes = bytes }
        if let bytes = try integer(.maxImportBytes, in: 1024...(4 << 30)) { configuration.maxImportBytes = bytes }
        func flag(_ setting: Setting) throws(ConfigurationError) -> Bool? {
            guard let text = value(setting) else { return nil }
            switch text.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ConfigurationError(setting: setting, value: text, problem: "must be true or false")
            }
        }
        if let prefix = value(.redisKeyPrefix) { configuration.redisKeyPrefix = prefix }
        // Empty is unset, as for every setting: only `off` switches rate limiting off.
        if let text = value(.rateLimits) {
            do {
                configuration.rateLimits = try RateLimitRule.parse(text)
            } catch {
                throw ConfigurationError(setting: .rateLimits, value: text, problem: error.description)
            }
        }
        if let failClosed = try flag(.rateLimitFailClosed) { configuration.rateLimitFailClosed = failClosed }
        if let text = value(.trustedProxies) {
            let proxies = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if let bad = proxies.first(where: { ClientAddress.Matcher($0) == nil }) {
                throw ConfigurationError(setting: .trustedProxies, value: text, problem: "\"\(bad)\" is not an IP address or IPv4 CIDR block")
            }
            configuration.trustedProxies = proxies
        }
        if let text = value(.corsOrigins) {
            let origins = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if let problem = origins.lazy.compactMap(CORSMiddleware.problem(with:)).first {
                throw ConfigurationError(setting: .corsOrigins, value: text, problem: problem)
            }
            configuration.corsOrigins = origins
        }
        for (setting, keyPath) in [
            (Setting.databaseStatementTimeout, \ServiceConfiguration.databaseStatementTimeout),
            (.databaseIdleInTransactionTimeout, \ServiceConfiguration.databaseIdleInTransactionTimeout),
        ] {
            if value(setting)?.lowercased() == "off" {
                configuration[keyPath: keyPath] = 0
            } else if let timeout = try duration(setting) {
                configuration[keyPath: keyPath] = timeout
            }
        }
        if let relay = try flag(.relay) { configuration.relayEnabled = relay }
        if let telemetry = try flag(.telemetry) { configuration.telemetryEnabled = telemetry }
        if let size = try integer(.relayBatchSize, in: 1...10_000) { configuration.relayBatchSize = size }
        if let claims = try integer(.insertBatchClaims, in: 1...1_000) { configuration.insertLimits.maxClaims = claims }
        if let writers = try integer(.insertWriters, in: 1...256) { configuration.insertLimits.maxWriters = writers }
        if let length = try integer(.paymentsStreamMaxLength, in: 0...1_000_000_000) { configuration.paymentsStreamMaxLength = length }
        if let path = value(.rulesFile) {
            configuration.rulesFile = path
            configuration.rules = try loadRules(from: path)
        }
        func duration(_ setting: Setting) throws(ConfigurationError) -> Int64? {
            guard let text = value(setting) else { return nil }
            guard let milliseconds = PrometheusDuration.milliseconds(text), milliseconds > 0 else {
                throw ConfigurationError(setting: setting, value: text, problem: "must be a positive duration such as 15s, 1m, 24h or 15d")
            }
            return milliseconds
        }
        if let text = value(.scrapeInterval), text.lowercased() == "off" {
            configuration.scrapeInterval = nil
        } else if let interval = try duration(.scrapeInterval) {
            guard interval >= 1000 else {
                throw ConfigurationError(setting: .scrapeInterval, value: value(.scrapeInterval) ?? "", problem: "must be at least 1s, or off")
            }
            configuration.scrapeInterval = interval
        }
        if let retention = try duration(.tsdbRetention) { configuration.tsdbRetention = retention }
        if let retention = try duration(.idempotencyRetention) {
            guard retention >= 60_000 else {
                throw ConfigurationError(setting: .idempotencyRetention, value: value(.idempotencyRetention) ?? "", problem: "must be at least 1m")
            }
            configuration.idempotencyRetention = retention
        }
        if let series = try integer(.tsdbMaxSeries, in: 1...100_000_000) { configuration.tsdbMaxSeries = series }
        if let path = value(.tsdbPath) { configuration.tsdbPath = path }
        if let admin = try flag(.tsdbAdminAPI) { configuration.tsdbAdminAPI = admin }
        if let faults = try flag(.faultInjection) { configuration.faultInjection = faults }
        if let text = value(.auth) {
            guard let mode = AuthMode(rawValue: text.lowercased()) else {
                throw ConfigurationError(setting: .auth, value: text, problem: "must be required or off")
            }
            configuration.authMode = mode
        }
        if let path = value(.jwtKeys) {
            configuration.jwtKeysFile = path
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigurationError(setting: .jwtKeys, value: path, problem: "cannot be read (\(error.localizedDescription))")
            }
            do {
                configuration.tokenKeyring = try TokenKeyring(text: text)
            } catch {
                throw ConfigurationError(setting: .jwtKeys, value: path, problem: error.description)
            }
        }
        if let lifetime = try duration(.accessTokenLifetime) {
            guard (60_000...86_400_000).contains(lifetime) else {
                throw ConfigurationError(setting: .accessTokenLifetime, value: value(.accessTokenLifetime) ?? "", problem: "must be from 1m to 24h")
            }
            configuration.accessTokenLifetime = lifetime / 1000
        }
        if let text = value(.audit) {
            switch text.lowercased() {
            case "on": configuration.auditEnabled = true
            case "off": configuration.auditEnabled = false
            default: throw ConfigurationError(setting: .audit, value: text, problem: "must be on or off")
            }
        }
        if let retention = try duration(.auditRetention) {
            guard retention >= 31 * 86_400_000 else {
                throw ConfigurationError(setting: .auditRetention, value: value(.auditRetention) ?? "", problem: "must be at least 31d (events are dropped a month at a time)")
            }
            configuration.auditRetention = retention / 1000
        }
        switch (value(.tlsCert), value(.tlsKey)) {
        case (let certificate?, let key?): configuration.tlsFiles = TLSFiles(certificate: certificate, key: key)
        case (let certificate?, nil): throw ConfigurationError(setting: .tlsKey, value: "", problem: "must be set with CLAIMS_TLS_CERT (\(certificate))")
        case (nil, let key?): throw ConfigurationError(setting: .tlsCert, value: "", problem: "must be set with CLAIMS_TLS_KEY (\(key))")
        case (nil, nil): break
        }
        if let setting = value(.dataKeys) {
            configuration.dataKeyring = try loadDataKeyring(setting)
        }
        if let text = value(.screening) {
            do {
                configuration.screening.rules = try ScreeningSettings.rules(parsing: text)
            } catch {
                throw ConfigurationError(setting: .screening, value: text, problem: error.description)
            }
        }
        if let text = value(.screeningFeeFactor) {
            guard let factor = Double(text), factor.isFinite, factor >= 1, factor <= 1000 else {
                throw ConfigurationError(setting: .screeningFeeFactor, value: text, problem: "must be a number from 1 to 1000, such as 2 or 2.5")
            }
            configuration.screening.feeFactor = factor
        }
        if let window = try duration(.screeningFeeWindow) {
            guard window >= 3_600_000 else {
                throw ConfigurationError(setting: .screeningFeeWindow, value: value(.screeningFeeWindow) ?? "", problem: "must be at least 1h")
            }
            configuration.screening.feeWindow = window
        }
        if let samples = try integer(.screeningMinimumSamples, in: 1...1_000_000) { configuration.screening.minimumSamples = samples }
        if let stale = try duration(.screeningStaleAfter) {
            guard stale >= 86_400_000, stale % 86_400_000 == 0 else {
                throw ConfigurationError(setting: .screeningStaleAfter, value: value(.screeningStaleAfter) ?? "", problem: "must be whole days, at least 1d (such as 365d)")
            }
            configuration.screening.staleAfterDays = Int(stale / 86_400_000)
        }
        if let text = value(.holdFlagged) {
            switch text.lowercased() {
            case "on": configuration.screening.holdFlagged = true
            case "off": configuration.screening.holdFlagged = false
            default: throw ConfigurationError(setting: .holdFlagged, value: text, problem: "must be on or off")
            }
        }
        if let lifetime = try duration(.refreshTokenLifetime) {
            guard lifetime >= 60_000 else {
                throw ConfigurationError(setting: .refreshTokenLifetime, value: value(.refreshTokenLifetime) ?? "", problem: "must be at least 1m")
            }
            configuration.refreshTokenLifetime = lifetime / 1000
        }
        if let cost = try integer(.passwordCost, in: 4...16) { configuration.passwordCost = UInt8(cost) }
        if let open = try flag(.openRegistration) { configuration.openRegistration = open }
        if let text = value(.loginLimits) {
            do {
                configuration.loginLimits = try LoginLimits.parse(text)
            } catch {
                throw ConfigurationError(setting: .loginLimits, value: text, problem: error.description)
            }
        }
        if let lookback = try duration(.queryLookbackDelta) { configuration.queryLookbackDelta = lookback }
        if let samples = try integer(.queryMaxSamples, in: 1...1_000_000_000) { configuration.queryMaxSamples = samples }
        if let timeout = try duration(.queryTimeout) { configuration.queryTimeout = timeout }
        if let timeout = try duration(.httpIdleTimeout) { configuration.httpIdleTimeout = timeout }
        if let timeout = try duration(.httpBodyTimeout) { configuration.httpBodyTimeout = timeout }
        if let path = value(.scrapeConfig) {
            configuration.scrapeConfigFile = path
            configuration.scrapeTargets = try loadScrapeTargets(from: path, defaultInterval: configuration.scrapeInterval ?? 15_000)
        }
        if let text = environment[Setting.ruleFiles.rawValue] {
            configuration.ruleFiles = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let interval = try duration(.ruleEvaluationInterval) { configuration.ruleEvaluationInterval = interval }
        if let after = try duration(.ruleNoSeriesAfter) { configuration.ruleNoSeriesAfter = after }
        func urls(_ setting: Setting) throws(ConfigurationError) -> [OutboundURL]? {
            guard let text = value(setting) else { return nil }
            var parsed: [OutboundURL] = []
            for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
                guard let url = OutboundURL(item) else {
                    throw ConfigurationError(setting: setting, value: text, problem: "\"\(item)\" is not an http://host:port/… URL (https is not supported: put a proxy in front)")
                }
                parsed.append(url)
            }
            return parsed
        }
        if let managers = try urls(.alertmanagerURLs) {
            // Alertmanager's base URL: alerts go to <base>/api/v2/alerts.
            configuration.alertmanagerURLs = managers.map { url in
                var base = url.target
                while base.hasSuffix("/") { base.removeLast() }
                return OutboundURL(host: url.host, port: url.port, target: base.hasSuffix("/api/v2/alerts") ? base : base + "/api/v2/alerts")
            }
        }
        if let hooks = try urls(.alertWebhooks) { configuration.alertWebhooks = hooks }
        if let secret = value(.alertWebhookSecret) { configuration.alertWebhookSecret = secret }
        if let text = value(.externalLabels) {
            var labels: [String: String] = [:]
            for pair in text.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, isValidLabelName(parts[0]), !parts[1].isEmpty else {
                    throw ConfigurationError(setting: .externalLabels, value: text, problem: "expected name=value pairs separated by commas, with valid label names")
                }
                labels[parts[0]] = parts[1]
            }
            configuration.externalLabels = labels
        }
        if let url = value(.externalURL) {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigurationError(setting: .externalURL, value: url, problem: "must be an http:// or https:// URL")
            }
            configuration.externalURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        _ = try configuration.redis
        return configuration
    }
}

/// A setting that claimsd cannot start with.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var setting: ServiceConfiguration.Setting
    public var value: String
    public var problem: String

    public var description: String {
        "\(setting.rawValue) (\(setting.option)) is invalid: \(problem); got \"\(Self.redacted(value))\""
    }

    /// The value with any password in a URL replaced, so the message is safe to print.
    static func redacted(_ value: String) -> String {
        guard let scheme = value.range(of: "://"), let at = value.lastIndex(of: "@"), at > scheme.upperBound else { return value }
        let credentials = value[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return value }
        return String(value[..<credentials.index(after: colon)]) + "****" + String(value[at...])
    }
}
