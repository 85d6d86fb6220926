@testable import App
import Testing

@Suite struct ServiceConfigurationTests {
    @Test func defaultsWhenNothingIsSet() throws {
        let configuration = try ServiceConfiguration.load(environment: [:])
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8000)
        #expect(configuration.logLevel == .info)
        #expect(configuration.migrateOnStart)
        #expect(try configuration.redis.port == 6379)
    }

    @Test func readsEverySetting() throws {
        let configuration = try ServiceConfiguration.load(environment: [
            "CLAIMS_HOST": "0.0.0.0", "CLAIMS_PORT": "9000", "CLAIMS_DATABASE_URL": "postgresql://u@db:5433/claims",
            "CLAIMS_REDIS_URL": "redis://cache:6380/3", "CLAIMS_LOG_LEVEL": "DEBUG", "CLAIMS_LOG_TARGET": "stdout",
            "CLAIMS_MIGRATE_ON_START": "false", "CLAIMS_DATABASE_POOL_SIZE": "16", "CLAIMS_REDIS_POOL_SIZE": "4", "CLAIMS_STARTUP_TIMEOUT": "0",
        ])
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 9000)
        #expect(configuration.databaseURL == "postgresql://u@db:5433/claims")
        #expect(try configuration.redis.host == "cache")
        #expect(try configuration.redis.database == 3)
        #expect(try configuration.redis.maxConnections == 4)
        #expect(configuration.postgres.maxConnections == 16)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.logTarget == .stdout)
        #expect(!configuration.migrateOnStart)
        #expect(configuration.startupTimeoutSeconds == 0)
    }

    @Test(arguments: [
        ("CLAIMS_PORT", "eighty", "CLAIMS_PORT (--port) is invalid: must be a whole number from 0 to 65535"),
        ("CLAIMS_PORT", "70000", "CLAIMS_PORT (--port)"),
        ("CLAIMS_DATABASE_URL", "mysql://x", "CLAIMS_DATABASE_URL (--database-url)"),
        ("CLAIMS_DATABASE_URL", "postgresql://h:99999/db", "CLAIMS_DATABASE_URL (--database-url)"),
        ("CLAIMS_DATABASE_URL", "postgresql://h/db?bogus=1", "CLAIMS_DATABASE_URL (--database-url)"),
        ("CLAIMS_REDIS_URL", "http://cache", "CLAIMS_REDIS_URL (--redis-url)"),
        ("CLAIMS_LOG_LEVEL", "loud", "CLAIMS_LOG_LEVEL (--log-level)"),
        ("CLAIMS_LOG_TARGET", "syslog", "CLAIMS_LOG_TARGET (--log-target)"),
        ("CLAIMS_MIGRATE_ON_START", "maybe", "CLAIMS_MIGRATE_ON_START (--[no-]migrate) is invalid"),
        ("CLAIMS_DATABASE_POOL_SIZE", "0", "CLAIMS_DATABASE_POOL_SIZE (--database-pool-size)"),
        ("CLAIMS_RATE_LIMITS", "GET /top=ten/60s", "CLAIMS_RATE_LIMITS (--rate-limits) is invalid"),
        ("CLAIMS_TRUSTED_PROXIES", "10.0.0.0/40", "CLAIMS_TRUSTED_PROXIES (--trusted-proxies)"),
        ("CLAIMS_RELAY", "sometimes", "CLAIMS_RELAY (--relay)"),
        ("CLAIMS_RELAY_BATCH_SIZE", "0", "CLAIMS_RELAY_BATCH_SIZE (--relay-batch-size)"),
        ("CLAIMS_TELEMETRY", "quiet", "CLAIMS_TELEMETRY (--telemetry)"),
        ("CLAIMS_INSERT_BATCH_CLAIMS", "0", "CLAIMS_INSERT_BATCH_CLAIMS (--insert-batch-claims)"),
        ("CLAIMS_INSERT_WRITERS", "many", "CLAIMS_INSERT_WRITERS (--insert-writers)"),
    ])
    func badValuesNameTheSettingAndTheValue(variable: String, value: String, named: String) {
        let error = #expect(throws: ConfigurationError.self) { try ServiceConfiguration.load(environment: [variable: value]) }
        let message = error?.description ?? ""
        #expect(message.hasPrefix(named))
        #expect(message.contains("\"\(value)\""))
        #expect(!message.contains("\n"))
    }

    @Test func theReadmeTableIsTheSettingsDeclaration() throws {
        // The README's table is made from the one declaration of each setting; edit the
        // declaration (ServiceConfiguration.Setting) and paste `Setting.markdownTable`.
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md"), encoding: .utf8)
        let table = readme.split(separator: "\n", omittingEmptySubsequences: false).filter { $0.hasPrefix("| `CLAIMS_") || $0.hasPrefix("| variable |") || $0 == "|---|---|---|---|" }
        #expect(table.joined(separator: "\n") == ServiceConfiguration.Setting.markdownTable)
        #expect(Set(ServiceConfiguration.Setting.allCases.map(\.optionName)).count == ServiceConfiguration.Setting.allCases.count)
    }

    @Test func settingOptionsAreTakenOutOfTheCommandLineInAnyPosition() throws {
        let arguments = try SettingArguments.extract(from: [
            "import", "claims.csv", "--database-url", "postgresql://x@h/db", "--port=0", "--format", "csv", "--no-migrate", "--", "--host", "h",
        ])
        #expect(arguments.overrides == ["CLAIMS_DATABASE_URL": "postgresql://x@h/db", "CLAIMS_PORT": "0", "CLAIMS_MIGRATE_ON_START": "false"])
        #expect(arguments.remaining == ["import", "claims.csv", "--format", "csv", "--", "--host", "h"])
        #expect(try SettingArguments.extract(from: ["--migrate", "--rule-files="]).overrides == ["CLAIMS_MIGRATE_ON_START": "true", "CLAIMS_RULE_FILES": ""])
        let error = #expect(throws: SettingArgumentError.self) { try SettingArguments.extract(from: ["serve", "--port"]) }
        #expect(error?.description == "--port needs a value, e.g. --port=VALUE")
        // Every setting's option is recognised, and the options' values reach the configuration.
        for setting in ServiceConfiguration.Setting.allCases where !setting.isFlag {
            #expect(try SettingArguments.extract(from: ["--" + setting.optionName, "v"]).overrides == [setting.rawValue: "v"])
        }
        let environment = try SettingArguments.extract(from: ["--port", "9123", "--tsdb-retention", "2h"]).overrides
        let configuration = try ServiceConfiguration.load(environment: environment)
        #expect(configuration.port == 9123 && configuration.tsdbRetention == 7_200_000)
    }

    @Test func faultInjectionIsOffUnlessTurnedOn() throws {
        #expect(try ServiceConfiguration.load(environment: [:]).faultInjection == false)
        #expect(try ServiceConfiguration.load(environment: ["CLAIMS_FAULT_INJECTION": "on"]).faultInjection == true)
        let error = #expect(throws: ConfigurationError.self) { try ServiceConfiguration.load(environment: ["CLAIMS_FAULT_INJECTION": "sometimes"]) }
        #expect(error?.description.hasPrefix("CLAIMS_FAULT_INJECTION (--fault-injection) is invalid") == true)
    }

    @Test func alertingSettingsAreReadAndCheckedWithClearErrors() throws {
        let defaults = try ServiceConfiguration.load(environment: [:])
        #expect(defaults.ruleFiles == ["alerts/*.yml"] && defaults.ruleEvaluationInterval == 15_000 && defaults.alertmanagerURLs.isEmpty)
        let configuration = try ServiceConfiguration.load(environment: [
            "CLAIMS_RULE_FILES": "/etc/claimsd/alerts/*.yml, extra.yml", "CLAIMS_RULE_EVALUATION_INTERVAL": "30s",
            "CLAIMS_ALERTMANAGER_URLS": "http://am1:9093,http://am2:9093/prefix/", "CLAIMS_ALERT_WEBHOOKS": "http://hooks:8080/claimsd",
            "CLAIMS_ALERT_WEBHOOK_SECRET": "s", "CLAIMS_EXTERNAL_LABELS": "cluster=eu1, env=prod", "CLAIMS_EXTERNAL_URL": "https://claims.example/",
            "CLAIMS_RULE_NO_SERIES_AFTER": "2h",
        ])
        #expect(configuration.ruleFiles == ["/etc/claimsd/alerts/*.yml", "extra.yml"])
        #expect(configuration.ruleEvaluationInterval == 30_000 && configuration.ruleNoSeriesAfter == 7_200_000)
        #expect(configuration.alertmanagerURLs.map(\.description) == ["http://am1:9093/api/v2/alerts", "http://am2:9093/prefix/api/v2/alerts"])
        #expect(configuration.alertWebhooks.map(\.description) == ["http://hooks:8080/claimsd"])
        #expect(configuration.externalLabels == ["cluster": "eu1", "env": "prod"])
        #expect(configuration.externalURL == "https://claims.example")
        #expect(try ServiceConfiguration.load(environment: ["CLAIMS_RULE_FILES": ""]).ruleFiles.isEmpty, "empty evaluates no rules")
        for (name, value) in [
            ("CLAIMS_ALERTMANAGER_URLS", "https://am:9093"), ("CLAIMS_ALERT_WEBHOOKS", "hooks:8080"), ("CLAIMS_EXTERNAL_LABELS", "cluster"),
            ("CLAIMS_EXTERNAL_LABELS", "0bad=x"), ("CLAIMS_EXTERNAL_URL", "claims.example"), ("CLAIMS_RULE_EVALUATION_INTERVAL", "soon"),
        ] {
            #expect(throws: ConfigurationError.self, "\(name)=\(value)") { try ServiceConfiguration.load(environment: [name: value]) }
        }
    }

    @Test func rankingRelayAndRateLimitSettingsAreRead() throws {
        let configuration = try ServiceConfiguration.load(environment: [
            "CLAIMS_REDIS_KEY_PREFIX": "{prod}:", "CLAIMS_RATE_LIMITS": "GET /api/v1/providers/top=20/30s, POST /api/v1/claims=100/1m",
            "CLAIMS_RATE_LIMIT_FAIL_CLOSED": "true", "CLAIMS_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.0.1", "CLAIMS_RELAY": "off",
            "CLAIMS_RELAY_BATCH_SIZE": "1000", "CLAIMS_PAYMENTS_STREAM_MAX_LENGTH": "0", "CLAIMS_INSERT_BATCH_CLAIMS": "16",
            "CLAIMS_INSERT_WRITERS": "4",
        ])
        #expect(configuration.insertLimits.maxClaims == 16)
        #expect(configuration.insertLimits.maxWriters == 4)
        #expect(configuration.redisKeyPrefix == "{prod}:")
        #expect(configuration.rateLimits.map { "\($0.method) \($0.route)=\($0.policy)" } == ["GET /api/v1/providers/top=20/30s", "POST /api/v1/claims=100/60s"])
        #expect(configuration.rateLimitFailClosed)
        #expect(configuration.trustedProxies == ["10.0.0.0/8", "192.168.0.1"])
        #expect(!configuration.relayEnabled)
        #expect(configuration.relayBatchSize == 1000)
        #expect(configuration.paymentsStreamMaxLength == 0)
        // Defaults: the top-providers limit of 10 per minute, the relay on.
        let defaults = try ServiceConfiguration.load(environment: [:])
        #expect(defaults.rateLimits == ServiceConfiguration.defaultRateLimits)
        #expect(defaults.relayEnabled)
        #expect(defaults.telemetryEnabled)
        #expect(try !ServiceConfiguration.load(environment: ["CLAIMS_TELEMETRY": "off"]).telemetryEnabled)
        #expect(try ServiceConfiguration.load(environment: ["CLAIMS_RATE_LIMITS": "off"]).rateLimits.isEmpty)
        // Empty is unset, like every other setting: the default limits stay on.
        #expect(try ServiceConfiguration.load(environment: ["CLAIMS_RATE_LIMITS": ""]).rateLimits == ServiceConfiguration.defaultRateLimits)
    }

    @Test func passwordsNeverAppearInErrors() {
        let error = #expect(throws: ConfigurationError.self) {
            try ServiceConfiguration.load(environment: ["CLAIMS_DATABASE_URL": "postgresql://claims:topsecret@db:99999/x"])
        }
        #expect(error?.description.contains("topsecret") == false)
        #expect(error?.description.contains("postgresql://claims:****@db:99999/x") == true)
    }
}

import Foundation
