// swift-tools-version:6.1
import PackageDescription

/// Settings shared by every Swift target: Swift 6 language mode with strict concurrency.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "claimsd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "claimsd", targets: ["claimsd"]),
        .executable(name: "flood-loki", targets: ["flood-loki"]),
        .executable(name: "flood-api", targets: ["flood-api"]),
        .executable(name: "generate-error-logs", targets: ["generate-error-logs"]),
    ],
    dependencies: [
        // No traits: claimsd uses neither swift-configuration (ConfigurationSupport) nor the
        // Foundation-only URL-encoded-form dates (FullFoundation). Two enabled traits would be
        // passed as -D flags in hash order, which SwiftPM 6.3 redraws each time it plans a build,
        // recompiling Hummingbird for nothing half the time (swiftlang/swift-package-manager#10525).
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Access tokens: EdDSA-signed JWTs and their JWKS (the issue names jwt-kit).
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        // Password hashes: bcrypt (only the HummingbirdBcrypt product is built).
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        // AES-256-GCM and HMAC-SHA256 for values encrypted at rest (BoringSSL on Linux). jwt-kit
        // builds it already, so naming it adds no build time.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        // Native TLS on claimsd's port (Hummingbird's HummingbirdTLS) and reading its certificate.
        // Both are in the build already: Hummingbird's testing library uses swift-nio-ssl, jwt-kit
        // uses swift-certificates.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    ],
    targets: [
        // C system libraries: module maps only, no code.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),

        // A bounded connection pool that knows nothing about any protocol.
        .target(name: "Pooling", swiftSettings: strict),

        // Wrappers: each owns all C interop for one native client.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ", "Pooling",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Redis",
            dependencies: [
                "CHiredis", "Pooling",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // JSON text into byte buffers, without Foundation, for hot paths.
        .target(name: "JSONText", swiftSettings: strict),

        .target(
            name: "Journal",
            dependencies: [
                "CSystemd", "JSONText",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // systemd's service notifications (sd_notify): readiness, status, watchdog, stopping.
        .target(name: "ServiceManager", dependencies: ["CSystemd"], swiftSettings: strict),

        // A time budget and circuit breaker for dependency calls that have a fallback.
        .target(name: "CircuitBreaking", dependencies: [.product(name: "CoreMetrics", package: "swift-metrics")], swiftSettings: strict),

        // Digests without a cryptography package: SHA-256, HMAC-SHA-256 and FNV-1a.
        .target(name: "Digests", swiftSettings: strict),

        // The database schema: versioned SQL migrations and the migrator that applies them.
        .target(
            name: "Schema",
            dependencies: ["Postgres", "Digests", .product(name: "Logging", package: "swift-log")],
            resources: [
                .embedInCode("sql/V0001__claims_schema.sql"),
                .embedInCode("sql/V0002__provider_ranking.sql"),
                .embedInCode("sql/V0003__idempotency_scope.sql"),
                .embedInCode("sql/V0004__provider_shares.sql"),
                .embedInCode("sql/V0005__accounts.sql"),
                .embedInCode("sql/V0006__audit_trail.sql"),
                .embedInCode("sql/V0007__encryption_at_rest.sql"),
                .embedInCode("sql/V0008__plaintext_dropped.sql"),
                .embedInCode("sql/V0009__audit_queue_per_statement.sql"),
                .embedInCode("sql/V0010__audit_hash_inlined.sql"),
                .embedInCode("sql/V0011__audit_sealed_in_batches.sql"),
                .embedInCode("sql/V0012__rejected_claims_review.sql"),
                .embedInCode("sql/V0013__claim_screening.sql"),
                .embedInCode("sql/V0014__claimed_lines_generic_plan.sql"),
                .embedInCode("sql/V0015__claimed_lines_lookup_by_one_index.sql"),
                .embedInCode("sql/V0016__no_line_claimed_guard.sql"),
            ],
            swiftSettings: strict
        ),

        // Who may do what: roles and the permission matrix, principals and their scope, credential
        // formats, password hashes and signed access tokens. No I/O.
        .target(
            name: "Access",
            dependencies: [
                "Digests", .product(name: "JWTKit", package: "jwt-kit"), .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            ],
            swiftSettings: strict
        ),

        // Users, API keys and refresh-token families in PostgreSQL.
        .target(name: "AccountStore", dependencies: ["Access", "AuditTrail", "Postgres", "DataProtection"], swiftSettings: strict),

        // The audit trail: who did what to which resource, appended, hash-chained, verified.
        .target(name: "AuditTrail", dependencies: ["Postgres"], swiftSettings: strict),

        // The claims domain: normalization, parsing, validation rules, pricing. Pure Swift, no I/O.
        .target(name: "Claims", dependencies: ["JSONText"], swiftSettings: strict),

        // Values encrypted at rest: the data keyring, AES-256-GCM sealing with the key id beside
        // the value, the blind index, and the catalog of protected columns. No I/O.
        .target(name: "DataProtection", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),

        // The protected columns in PostgreSQL: the keyring checked against the database, plain
        // values encrypted in batches, and key rotation.
        .target(
            name: "EncryptedColumns",
            dependencies: ["DataProtection", "Postgres", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),

        // Claims in PostgreSQL: repository protocol and its implementation.
        // Screening of accepted claims for review: the rules, and the trailing averages they
        // compare fees with, kept in memory. No I/O.
        .target(name: "Screening", dependencies: ["Claims"], swiftSettings: strict),

        .target(name: "ClaimStore", dependencies: ["Claims", "Postgres", "JSONText", "AuditTrail", "DataProtection"], swiftSettings: strict),

        // The provider ranking in Redis and the outbox relay that keeps it (and the payments
        // stream) up to date, exactly once.
        .target(
            name: "Ranking",
            dependencies: [
                "ClaimStore", "Claims", "Postgres", "Redis",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // Sliding-window rate limiting in Redis, with an in-process fallback.
        .target(
            name: "RateLimiting",
            dependencies: [
                "Redis", "CircuitBreaking", .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // The built-in time-series store: compressed chunks, postings index, WAL and checkpoints,
        // retention, and the exposition formats. No HTTP, PostgreSQL or Redis.
        .target(
            name: "TimeSeries",
            dependencies: [.product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),

        // PromQL: lexer, parser, type checks and an evaluator over the store's query interface.
        .target(name: "PromQL", dependencies: ["TimeSeries"], swiftSettings: strict),

        // One outbound HTTP/1.1 exchange over NIO (scrapes, notifications, health checks).
        .target(
            name: "OutboundHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),

        // YAML read strictly: unknown keys are errors and every error names its line.
        .target(name: "StrictYAML", dependencies: ["TimeSeries", .product(name: "Yams", package: "Yams")], swiftSettings: strict),

        // Prometheus rule files evaluated in process: rule groups, alert state, annotation
        // templates, and promtool's rule unit tests. No I/O but reading rule files.
        .target(
            name: "Alerting",
            dependencies: ["PromQL", "TimeSeries", "StrictYAML", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),

        // Scraping into the store: claimsd's own registry and the targets of a scrape config
        // (Prometheus YAML subset), over a small NIO HTTP/1.1 client.
        .target(
            name: "Scraping",
            dependencies: [
                "TimeSeries", "StrictYAML", "OutboundHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),

        // Alerts out: Alertmanager's v2 API and signed webhooks, with bounded queues and retries.
        .target(
            name: "AlertDelivery",
            dependencies: [
                "Alerting", "OutboundHTTP", "JSONText", "TimeSeries", "Digests",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),

        // The certificate claimsd serves TLS with: read, checked against its key, reloaded.
        .target(
            name: "ServerTLS",
            dependencies: [.product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "X509", package: "swift-certificates")],
            swiftSettings: strict
        ),

        // The operations console's page: layout and sparklines, no I/O.
        .target(name: "OpsConsole", dependencies: ["Claims"], resources: [.embedInCode("ops.css")], swiftSettings: strict),

        // The service: configuration, HTTP wiring, lifecycle.
        .target(
            name: "App",
            dependencies: [
                "Pooling", "Postgres", "Redis", "Journal", "Access", "AccountStore", "AuditTrail", "Claims", "ClaimStore", "DataProtection", "EncryptedColumns", "ServerTLS", "Schema", "Digests", "CircuitBreaking", "JSONText", "Ranking", "RateLimiting", "TimeSeries", "Scraping", "PromQL", "Alerting", "AlertDelivery", "OutboundHTTP", "ServiceManager", "OpsConsole", "Screening",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [
                .embedInCode("OpenAPI/openapi.yaml"), .embedInCode("OpenAPI/docs.html"), .embedInCode("OpenAPI/docs.js"), .embedInCode("OpenAPI/docs.css"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "claimsd",
            dependencies: [
                "App", "Access", "AccountStore", "AuditTrail", "Claims", "ClaimStore", "DataProtection", "EncryptedColumns", "Schema", "TimeSeries", "PromQL",
                "Alerting", "OutboundHTTP", .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // The error-flood tools' shared code: synthetic access records, Loki's push format,
        // retries with backoff, progress and summaries, and the three commands.
        .target(
            name: "Flooding",
            dependencies: [
                "Journal", "JSONText", "OutboundHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "flood-loki", dependencies: ["Flooding"], swiftSettings: strict),
        .executableTarget(name: "flood-api", dependencies: ["Flooding"], swiftSettings: strict),
        .executableTarget(name: "generate-error-logs", dependencies: ["Flooding"], swiftSettings: strict),

        // The bare HTTP stack the top-providers benchmark measures claimsd against.
        .executableTarget(name: "http-reference", dependencies: [.product(name: "Hummingbird", package: "hummingbird")], swiftSettings: strict),

        // Benchmarks of the time-series store (benchmarks/tsdb.sh runs them in release mode).
        .executableTarget(
            name: "tsdb-bench",
            dependencies: ["TimeSeries", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),

        // Helpers the integration tests share: the real servers scripts/test.sh started.
        .target(
            name: "TestSupport",
            dependencies: [
                "Postgres", "Claims", "ClaimStore", "DataProtection", "Flooding", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "PoolingTests", dependencies: ["Pooling"], swiftSettings: strict),
        .testTarget(name: "ClaimsTests", dependencies: ["Claims", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ScreeningTests", dependencies: ["Screening", "Claims", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "JSONTextTests", dependencies: ["JSONText"], swiftSettings: strict),
        .testTarget(name: "OpsConsoleTests", dependencies: ["OpsConsole"], swiftSettings: strict),
        .testTarget(name: "TimeSeriesTests", dependencies: ["TimeSeries", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "PromQLTests", dependencies: ["PromQL", "TimeSeries", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "AlertingTests", dependencies: ["Alerting", "AlertDelivery", "Digests", "OutboundHTTP", "PromQL", "TimeSeries", "TestSupport", .product(name: "Metrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .testTarget(name: "ScrapingTests", dependencies: ["Scraping", "TimeSeries", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "RateLimitingTests", dependencies: ["RateLimiting", "Redis", "CircuitBreaking", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ClaimStoreTests", dependencies: ["ClaimStore", "Schema", "Claims", "Postgres", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "RankingTests",
            dependencies: ["Ranking", "Schema", "ClaimStore", "Claims", "Postgres", "Redis", "TestSupport", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict),
        .testTarget(name: "CircuitBreakingTests", dependencies: ["CircuitBreaking"], swiftSettings: strict),
        .testTarget(name: "DigestsTests", dependencies: ["Digests"], swiftSettings: strict),
        .testTarget(name: "AccessTests", dependencies: ["Access", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DataProtectionTests", dependencies: ["DataProtection", "EncryptedColumns", "Postgres", "Schema", "TestSupport", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .testTarget(name: "AuditTrailTests", dependencies: ["AuditTrail", "Postgres", "Schema", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "SchemaTests", dependencies: ["Schema", "Postgres", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "RedisTests", dependencies: ["Redis", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "JournalTests", dependencies: ["Journal", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "FloodingTests",
            dependencies: [
                "Flooding", "Journal", "OutboundHTTP", "TestSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "AppTests",
            dependencies: [
                "App", "Access", "AccountStore", "Postgres", "Redis", "TestSupport", "Journal", "Ranking", "RateLimiting", "ClaimStore", "Claims", "TimeSeries", "PromQL", "Alerting", "AlertDelivery",
                "ServiceManager", "Schema", "Digests", "DataProtection", "EncryptedColumns", .product(name: "Yams", package: "Yams"),
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
