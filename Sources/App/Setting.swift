import Foundation

/// The environment variables claimsd reads. Each case is the one declaration of a setting: its
/// variable, its command-line option, its default and meaning (the README's table and
/// `claimsd --help` are made from them, and a test checks the README), and
/// ``ServiceConfiguration/load(environment:)`` reads it.
extension ServiceConfiguration {
    public enum Setting: String, Sendable, CaseIterable {
        case host = "CLAIMS_HOST"
        case port = "CLAIMS_PORT"
        case tlsCert = "CLAIMS_TLS_CERT"
        case tlsKey = "CLAIMS_TLS_KEY"
        case databaseURL = "CLAIMS_DATABASE_URL"
        case redisURL = "CLAIMS_REDIS_URL"
        case logLevel = "CLAIMS_LOG_LEVEL"
        case logTarget = "CLAIMS_LOG_TARGET"
        case migrateOnStart = "CLAIMS_MIGRATE_ON_START"
        case databasePoolSize = "CLAIMS_DATABASE_POOL_SIZE"
        case redisPoolSize = "CLAIMS_REDIS_POOL_SIZE"
        case databaseStatementTimeout = "CLAIMS_DATABASE_STATEMENT_TIMEOUT"
        case databaseIdleInTransactionTimeout = "CLAIMS_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT"
        case redisBudget = "CLAIMS_REDIS_BUDGET"
        case startupTimeout = "CLAIMS_STARTUP_TIMEOUT"
        case maxClaimBytes = "CLAIMS_MAX_CLAIM_BYTES"
        case maxImportBytes = "CLAIMS_MAX_IMPORT_BYTES"
        case rulesFile = "CLAIMS_RULES_FILE"
        case redisKeyPrefix = "CLAIMS_REDIS_KEY_PREFIX"
        case rateLimits = "CLAIMS_RATE_LIMITS"
        case rateLimitFailClosed = "CLAIMS_RATE_LIMIT_FAIL_CLOSED"
        case trustedProxies = "CLAIMS_TRUSTED_PROXIES"
        case corsOrigins = "CLAIMS_CORS_ORIGINS"
        case idempotencyRetention = "CLAIMS_IDEMPOTENCY_RETENTION"
        case relay = "CLAIMS_RELAY"
        case relayBatchSize = "CLAIMS_RELAY_BATCH_SIZE"
        case paymentsStreamMaxLength = "CLAIMS_PAYMENTS_STREAM_MAX_LENGTH"
        case telemetry = "CLAIMS_TELEMETRY"
        case insertBatchClaims = "CLAIMS_INSERT_BATCH_CLAIMS"
        case insertWriters = "CLAIMS_INSERT_WRITERS"
        case scrapeInterval = "CLAIMS_SCRAPE_INTERVAL"
        case scrapeConfig = "CLAIMS_SCRAPE_CONFIG"
        case tsdbPath = "CLAIMS_TSDB_PATH"
        case tsdbRetention = "CLAIMS_TSDB_RETENTION"
        case tsdbMaxSeries = "CLAIMS_TSDB_MAX_SERIES"
        case tsdbAdminAPI = "CLAIMS_TSDB_ADMIN_API"
        case queryLookbackDelta = "CLAIMS_QUERY_LOOKBACK_DELTA"
        case queryMaxSamples = "CLAIMS_QUERY_MAX_SAMPLES"
        case queryTimeout = "CLAIMS_QUERY_TIMEOUT"
        case httpIdleTimeout = "CLAIMS_HTTP_IDLE_TIMEOUT"
        case httpBodyTimeout = "CLAIMS_HTTP_BODY_TIMEOUT"
        case ruleFiles = "CLAIMS_RULE_FILES"
        case ruleEvaluationInterval = "CLAIMS_RULE_EVALUATION_INTERVAL"
        case ruleNoSeriesAfter = "CLAIMS_RULE_NO_SERIES_AFTER"
        case alertmanagerURLs = "CLAIMS_ALERTMANAGER_URLS"
        case alertWebhooks = "CLAIMS_ALERT_WEBHOOKS"
        case alertWebhookSecret = "CLAIMS_ALERT_WEBHOOK_SECRET"
        case externalLabels = "CLAIMS_EXTERNAL_LABELS"
        case externalURL = "CLAIMS_EXTERNAL_URL"
        case faultInjection = "CLAIMS_FAULT_INJECTION"
        case auth = "CLAIMS_AUTH"
        case jwtKeys = "CLAIMS_JWT_KEYS"
        case accessTokenLifetime = "CLAIMS_ACCESS_TOKEN_LIFETIME"
        case refreshTokenLifetime = "CLAIMS_REFRESH_TOKEN_LIFETIME"
        case passwordCost = "CLAIMS_PASSWORD_COST"
        case openRegistration = "CLAIMS_OPEN_REGISTRATION"
        case loginLimits = "CLAIMS_LOGIN_LIMITS"
        case audit = "CLAIMS_AUDIT"
        case auditRetention = "CLAIMS_AUDIT_RETENTION"
        case dataKeys = "CLAIMS_DATA_KEYS"
        case screening = "CLAIMS_SCREENING"
        case screeningFeeFactor = "CLAIMS_SCREENING_FEE_FACTOR"
        case screeningFeeWindow = "CLAIMS_SCREENING_FEE_WINDOW"
        case screeningMinimumSamples = "CLAIMS_SCREENING_MIN_SAMPLES"
        case screeningStaleAfter = "CLAIMS_SCREENING_STALE_AFTER"
        case holdFlagged = "CLAIMS_HOLD_FLAGGED"

        /// The command-line option that overrides this variable.
        public var option: String {
            isFlag ? "--[no-]" + optionName : "--" + optionName
        }

        /// The option's name without dashes: the variable's name after `CLAIMS_`, in kebab case.
        public var optionName: String {
            switch self {
            case .migrateOnStart: return "migrate"
            default: return rawValue.dropFirst("CLAIMS_".count).lowercased().replacingOccurrences(of: "_", with: "-")
            }
        }

        /// Whether the option is a flag (`--migrate`, `--no-migrate`) rather than taking a value.
        public var isFlag: Bool { self == .migrateOnStart }

        /// The default as the README shows it, and what the setting means (Markdown).
        public var documentation: (defaultValue: String, meaning: String) {
            switch self {
        case .host: return ("`127.0.0.1`", "address to listen on")
        case .port: return ("`8000`", "port to listen on (`0`: any free port)")
        case .tlsCert: return ("none", "PEM certificate chain (leaf first) to serve HTTPS with, TLS 1.2 and later, with `Strict-Transport-Security`; read again on SIGHUP (a bad file keeps the one in use); set with `CLAIMS_TLS_KEY`. Unset: plain HTTP, for a TLS-terminating proxy (`docs/security.md`)")
        case .tlsKey: return ("none", "the certificate's unencrypted PEM private key (readable by claimsd only)")
        case .databaseURL: return ("`postgresql://claimsd@127.0.0.1:5432/claimsd`", "libpq URI or `key=value` string")
        case .redisURL: return ("`redis://127.0.0.1:6379/0`", "`redis://[[user]:password@]host[:port][/db]`")
        case .logLevel: return ("`info`", "trace, debug, info, notice, warning, error, critical")
        case .logTarget: return ("`auto`", "`journal`, `stdout` (JSON lines), or `auto`: journald when its socket exists")
        case .migrateOnStart: return ("`true`", "apply pending migrations before serving")
        case .databasePoolSize: return ("`8`", "PostgreSQL connections (and their threads) for requests; the audit writer has one more, the insert writers one each")
        case .redisPoolSize: return ("`8`", "Redis connections (and their threads)")
        case .databaseStatementTimeout: return ("`60s`", "PostgreSQL cancels any statement of claimsd's that runs longer (`statement_timeout`; migrations are exempt); `off`: no limit")
        case .databaseIdleInTransactionTimeout: return ("`60s`", "PostgreSQL ends a claimsd session left idle inside a transaction this long, releasing its locks (`idle_in_transaction_session_timeout`); `off`: no limit")
        case .redisBudget: return ("`50ms`", "longest a request waits for Redis (rate-limit decision, ranking read) before deciding without it; after 3 failures in a row Redis is not asked for 1 s (circuit breaker)")
        case .startupTimeout: return ("`30`", "seconds start-up waits for an unreachable PostgreSQL")
        case .maxClaimBytes: return ("`1048576`", "largest POST/PUT claim body (larger: 413)")
        case .maxImportBytes: return ("`268435456`", "largest body of `POST /api/v1/claims/import`")
        case .rulesFile: return ("none", "JSON file changing the validation rules (`docs/claims.md`)")
        case .redisKeyPrefix: return ("`claimsd:`", "prefix of every Redis key; `{claimsd}:` for Redis Cluster")
        case .rateLimits: return ("`GET /api/v1/providers/top=10/60s`", "per-route limits, comma-separated `METHOD /route=LIMIT/WINDOW`; `off` for none (empty is unset, like every setting)")
        case .rateLimitFailClosed: return ("`false`", "while Redis is down: `true` refuses limited routes (503), `false` limits per instance")
        case .trustedProxies: return ("none", "peers whose `X-Forwarded-For` is believed: IPs or IPv4 CIDRs, comma-separated")
        case .corsOrigins: return ("none", "browser origins allowed to call the API (`https://ops.example.org`, comma-separated); none: no CORS headers, so browsers keep other sites from reading answers")
        case .idempotencyRetention: return ("`24h`", "how long an `Idempotency-Key` is remembered (per caller), at least `1m`; older keys are forgotten and purged")
        case .relay: return ("`on`", "take part in relaying outbox events to Redis (one instance relays at a time)")
        case .relayBatchSize: return ("`500`", "outbox events per Redis call")
        case .paymentsStreamMaxLength: return ("`1000000`", "approximate cap of the payments stream; `0` keeps all")
        case .telemetry: return ("`on`", "`off` records no metrics, writes no access log and drops logs below `error` (for measuring their cost)")
        case .insertBatchClaims: return ("`64`", "most new claims (POST without `Idempotency-Key`) stored in one statement and commit; `1` turns group commit off")
        case .insertWriters: return ("`2`", "most of those statements in flight at once, each on a connection of its own (`docs/claims.md`)")
        case .scrapeInterval: return ("`15s`", "how often claimsd scrapes its own metrics into the built-in store (≥ 1s), or `off`")
        case .scrapeConfig: return ("none", "YAML file of more scrape targets (exporters), Prometheus `scrape_configs` syntax (`docs/timeseries.md`)")
        case .tsdbPath: return ("`data/tsdb`", "directory of the built-in store (WAL and checkpoints; `run.sh` uses `.local/run/tsdb`)")
        case .tsdbRetention: return ("`24h`", "how much history the store keeps, measured back from its newest sample")
        case .tsdbMaxSeries: return ("`100000`", "most series the store holds; samples of further new series are refused and counted")
        case .tsdbAdminAPI: return ("`off`", "serve the store's import, delete-series and snapshot endpoints")
        case .queryLookbackDelta: return ("`5m`", "how far back a PromQL instant selector looks for a sample")
        case .queryMaxSamples: return ("`50000000`", "most samples one query may hold in memory (beyond: 422)")
        case .queryTimeout: return ("`2m`", "longest a query may run (beyond: 503 `timeout`)")
        case .httpIdleTimeout: return ("`60s`", "longest a connection may wait for a whole request head, idle between requests or trickling its headers; then it is closed")
        case .httpBodyTimeout: return ("`5m`", "longest a request's body may take to arrive once its head has (a 256 MiB import needs about 7 Mbit/s); then the connection is closed")
        case .ruleFiles: return ("`alerts/*.yml`", "rule files to evaluate: paths or globs, comma-separated; empty for none; a file that does not load stops the start")
        case .ruleEvaluationInterval: return ("`15s`", "interval of rule groups that set none")
        case .ruleNoSeriesAfter: return ("`1h`", "flag a rule whose selectors match no series for this long")
        case .alertmanagerURLs: return ("—", "Alertmanager base URLs (`http://host:9093`), comma-separated")
        case .alertWebhooks: return ("—", "URLs that get Alertmanager-style webhook notifications")
        case .alertWebhookSecret: return ("—", "signs webhook bodies: `X-Claimsd-Signature: sha256=<HMAC>`")
        case .externalLabels: return ("—", "labels added to every alert sent, e.g. `cluster=eu1,env=prod`")
        case .externalURL: return ("`http(s)://<host>:<port>`", "where claimsd is reached: alerts' `generatorURL`, `$externalURL`")
        case .auth: return ("`required`", "`required`: every route but `/health`, `/ready`, login, refresh, the JWKS and the API document (`/openapi.*`, `/docs`) needs an API key or access token (`docs/security.md`); `off`: every request acts as admin, for local experiments only (warned at every start, reported by `/ready`)")
        case .jwtKeys: return ("none", "keyring file of access-token signing keys, one `<kid> <Ed25519 seed, base64url>` per line, the first signing (`claimsd jwt-keys generate`); unset: a key made at start, so tokens die with the process")
        case .accessTokenLifetime: return ("`15m`", "lifetime of access tokens (1m to 24h)")
        case .refreshTokenLifetime: return ("`14d`", "lifetime of each refresh token; every refresh issues a new one")
        case .passwordCost: return ("`11`", "bcrypt cost of new password hashes (4–16; each step doubles a login's CPU time)")
        case .openRegistration: return ("`off`", "`on`: anyone may `POST /api/v1/users` and becomes a member bound to nothing; `off`: only admins create users")
        case .loginLimits: return ("`account=10/5m,address=100/5m`", "login attempts allowed per account and per client address (429 beyond)")
        case .audit: return ("`on`", "`off` records no audit events at all, for benchmarks and local experiments only (warned at every start); `on`: every access and change is audited (`docs/security.md`)")
        case .auditRetention: return ("`6y`", "how long audit events are kept (at least `31d`); a month's partition is dropped once all of it is older (HIPAA keeps records six years)")
        case .dataKeys: return ("none (required)", "keyring of the keys that encrypt member identifiers and names at rest: a file path, or the keyring itself (lines `data <id> <32 bytes, base64url>`, the first encrypting, and one `index <id> <key>`; `;` ends a line). `claimsd keys generate` makes one; see `docs/security.md`. Start-up stops without it, or when it does not fit the database")
        case .screening: return ("all three", "screening rules that flag accepted claims for review, comma-separated: `net_fee_over_average`, `duplicate_line`, `future_or_stale_service_date`; `off` for none (`docs/claims.md`, \"Screening\")")
        case .screeningFeeFactor: return ("`2`", "`net_fee_over_average` flags a line or a provider's part of a claim whose net fee is more than this many times the trailing average")
        case .screeningFeeWindow: return ("`30d`", "the trailing window of those averages (at least `1h`)")
        case .screeningMinimumSamples: return ("`10`", "amounts an average needs before fees are compared with it")
        case .screeningStaleAfter: return ("`365d`", "`future_or_stale_service_date` flags a service date older than this (whole days)")
        case .holdFlagged: return ("`off`", "`on`: a flagged claim is held (status `held`) out of the ranking and the payments feed until an operator releases it in the review queue")
        case .faultInjection: return ("`off`", "`on`: a request carrying `X-Claimsd-Fault: 500…599` is answered with that status on its route (alert drills, `flood-api -t 5xx`); never turn it on where it matters")
            }
        }

        /// The README's settings table: one row per setting, in declaration order.
        public static var markdownTable: String {
            var lines = ["| variable | option | default | meaning |", "|---|---|---|---|"]
            for setting in allCases {
                let (defaultValue, meaning) = setting.documentation
                lines.append("| `\(setting.rawValue)` | `\(setting.option)` | \(defaultValue) | \(meaning) |")
            }
            return lines.joined(separator: "\n")
        }

        /// Every setting's option for `--help`: option, variable, default and meaning, as plain text.
        public static var helpText: String {
            allCases.map { setting in
                let (defaultValue, meaning) = setting.documentation
                let plainDefault = defaultValue.replacingOccurrences(of: "`", with: "")
                let defaultText = plainDefault == "none" || plainDefault == "—" ? "" : ", default \(plainDefault)"
                return "  \(setting.option) (\(setting.rawValue)\(defaultText))\n      \(meaning.replacingOccurrences(of: "`", with: ""))"
            }.joined(separator: "\n")
        }
    }
}

/// Setting options on a command line (`--port 9000`, `--port=9000`, `--no-migrate`), taken out
/// so the command's own parser sees only its arguments.
public struct SettingArguments: Sendable, Equatable {
    /// The values given, by variable name, to lay over the environment.
    public var overrides: [String: String]
    /// The arguments left, in order.
    public var remaining: [String]

    /// Splits `arguments` (without the program name). Nothing after `--` is taken.
    public static func extract(from arguments: [String]) throws(SettingArgumentError) -> SettingArguments {
        let byName = Dictionary(uniqueKeysWithValues: ServiceConfiguration.Setting.allCases.map { ($0.optionName, $0) })
        var result = SettingArguments(overrides: [:], remaining: [])
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                result.remaining += arguments[(index - 1)...]
                break
            }
            guard argument.hasPrefix("--") else {
                result.remaining.append(argument)
                continue
            }
            let body = argument.dropFirst(2)
            let name = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let inlineValue = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
            if let setting = byName[String(name)], !setting.isFlag {
                if let inlineValue {
                    result.overrides[setting.rawValue] = inlineValue
                } else {
                    guard index < arguments.endIndex else { throw SettingArgumentError(option: argument) }
                    result.overrides[setting.rawValue] = arguments[index]
                    index += 1
                }
            } else if let setting = byName[String(name)], setting.isFlag, inlineValue == nil {
                result.overrides[setting.rawValue] = "true"
            } else if name.hasPrefix("no-"), let setting = byName[String(name.dropFirst(3))], setting.isFlag, inlineValue == nil {
                result.overrides[setting.rawValue] = "false"
            } else {
                result.remaining.append(argument)
            }
        }
        return result
    }
}

/// A setting option given last, with no value after it.
public struct SettingArgumentError: Error, Sendable, CustomStringConvertible {
    public var option: String
    public var description: String { "\(option) needs a value, e.g. \(option)=VALUE" }
}
