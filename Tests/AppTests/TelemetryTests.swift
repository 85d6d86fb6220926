@testable import App
import Foundation
import Hummingbird
import HummingbirdTesting
import Journal
import Logging
import Redis
import Synchronization
import Testing
import TestSupport

/// Keeps every log record, for assertions.
final class RecordingSink: LogSink {
    let records = Mutex<[LogRecord]>([])
    func write(_ record: LogRecord) { records.withLock { $0.append(record) } }
    var all: [LogRecord] { records.withLock { $0 } }
}

/// The value of one series in a Prometheus exposition, e.g. `claimsd_http_requests_in_flight`.
func sample(_ exposition: String, _ series: String) -> Double? {
    exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
}

@Suite struct TelemetryTests {
    /// An app on unreachable stores is enough: most routes used here touch neither, and those
    /// that do show the error families.
    func withApp(_ body: @escaping @Sendable (any TestClientProtocol, RecordingSink) async throws -> Void) async throws {
        let sink = RecordingSink()
        let telemetry = Telemetry()
        let dependencies = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: "redis://127.0.0.1:1", telemetry: telemetry)
        let counters = LogLevelCounters(factory: telemetry.factory)
        let logger = Logger(label: "claimsd") { label in JournalLogHandler(label: label, sink: sink, level: .info, counters: counters) }
        try await Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: [])), logger: logger)
            .test(.router) { try await body($0, sink) }
    }

    func metrics(_ client: any TestClientProtocol) async throws -> String {
        String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
    }

    @Test func requestsAreCountedByRouteTemplateAndStatusAndTimed() async throws {
        try await withApp { client, _ in
            for _ in 0..<3 { _ = try await client.execute(uri: "/health", method: .get) }
            for id in ["not-a-uuid", "also-not"] { _ = try await client.execute(uri: "/api/v1/claims/\(id)", method: .get) }
            _ = try await client.execute(uri: "/no/such/path/\(UUID())", method: .get)

            let text = try await metrics(client)
            #expect(sample(text, #"claimsd_http_requests_total{method="GET",route="/health",status="200"}"#) == 3)
            // The route template, not the raw path: both ids are one series.
            #expect(sample(text, #"claimsd_http_requests_total{method="GET",route="/api/v1/claims/{id}",status="400"}"#) == 2)
            #expect(sample(text, #"claimsd_http_requests_total{method="GET",route="unmatched",status="404"}"#) == 1)
            #expect(!text.contains("not-a-uuid") && !text.contains("/no/such/path"))
            #expect(sample(text, #"claimsd_http_request_duration_seconds_count{method="GET",route="/health"}"#) == 3)
            #expect(sample(text, #"claimsd_http_request_duration_seconds_bucket{method="GET",route="/health",le="10.0"}"#) == 3)
            #expect(text.contains(#"claimsd_http_request_duration_seconds_bucket{method="GET",route="/health",le="0.00025"}"#))
            // The scrape itself is in flight while the exposition is written.
            #expect(sample(text, "claimsd_http_requests_in_flight") == 1)

            // A second scrape sees exactly one more /metrics request and nothing else moved.
            let again = try await metrics(client)
            #expect(sample(again, #"claimsd_http_requests_total{method="GET",route="/metrics",status="200"}"#) == 1)
            #expect(sample(again, #"claimsd_http_requests_total{method="GET",route="/health",status="200"}"#) == 3)
        }
    }

    @Test func redisCallsAreTimedAndFailuresCountedByKind() async throws {
        let telemetry = Telemetry()
        let redis = RedisClient(
            configuration: try RedisConfiguration(url: "redis://127.0.0.1:1"), logger: TestEnvironment.quietLogger,
            observer: RedisMetrics(factory: telemetry.factory))
        for _ in 0..<2 { await #expect(throws: RedisError.self) { try await redis.send("PING") } }
        await redis.shutdown()
        let text = String(decoding: telemetry.exposition(), as: UTF8.self)
        #expect(sample(text, #"claimsd_redis_command_duration_seconds_count{command="ping"}"#) == 2)
        #expect(sample(text, #"claimsd_redis_errors_total{command="ping",kind="connection_failed"}"#) == 2)
    }

    @Test func switchedOffTelemetryRecordsNoMetricsAndNoAccessLog() async throws {
        let sink = RecordingSink()
        let telemetry = Telemetry(enabled: false)
        let dependencies = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: "redis://127.0.0.1:1", telemetry: telemetry)
        let logger = Logger(label: "claimsd") { label in JournalLogHandler(label: label, sink: sink, level: .info) }
        try await Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: [])), logger: logger).test(.router) {
            client in
            for _ in 0..<3 { _ = try await client.execute(uri: "/health", method: .get) }
            let text = try await metrics(client)
            #expect(!text.contains("claimsd_http_requests_total"))
            #expect(!text.contains("claimsd_dependency_up"))
            // Process and build metrics stay: they cost nothing per request.
            #expect(sample(text, #"claimsd_build_info{version="\#(ClaimsdBuild.version)",revision="\#(ClaimsdBuild.revision)"}"#) == 1)
        }
        #expect(!sink.all.contains { $0.metadata["event"] == "request_completed" })
    }

    /// A domain event goes into the access record when there will be one, and is its own record
    /// otherwise (telemetry off), so switching the access log off never loses it.
    @Test func aDomainEventJoinsTheAccessRecordOrIsLoggedAlone() {
        let sink = RecordingSink()
        let logger = Logger(label: "claimsd") { label in JournalLogHandler(label: label, sink: sink, level: .info) }
        let alone = RequestFacts()
        alone.domainEvent("claim_voided", "claim voided", metadata: ["claim_id": "c1"], logger: logger)
        #expect(alone.domainEventFields == nil)
        #expect(sink.all.count == 1)
        #expect(sink.all.first?.metadata["event"] == "claim_voided")
        #expect(sink.all.first?.metadata["claim_id"] == "c1")
        #expect(sink.all.first?.message == "claim voided")

        let joined = RequestFacts()
        joined.willRecordAccess()
        joined.domainEvent("claim_rejected", "claim rejected", level: .warning, metadata: ["rules": ["npi_format"]], logger: logger)
        #expect(sink.all.count == 1)
        #expect(joined.domainEventFields == ["domain_event": "claim_rejected", "rules": ["npi_format"]])
    }

    @Test func processAndBuildMetricsAreReadFromProc() async throws {
        try await withApp { client, _ in
            let text = try await metrics(client)
            #expect((sample(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
            #expect((sample(text, "process_virtual_memory_bytes") ?? 0) >= (sample(text, "process_resident_memory_bytes") ?? 0))
            #expect((sample(text, "process_open_fds") ?? 0) > 3)
            #expect((sample(text, "process_max_fds") ?? 0) >= (sample(text, "process_open_fds") ?? 0))
            #expect((sample(text, "process_cpu_seconds_total") ?? 0) > 0)
            let start = sample(text, "process_start_time_seconds") ?? 0
            let now = Date().timeIntervalSince1970
            #expect(start > now - 3600 && start <= now + 1)
            #expect(sample(text, #"claimsd_build_info{version="\#(ClaimsdBuild.version)",revision="\#(ClaimsdBuild.revision)"}"#) == 1)
            // This app's stores are unreachable on purpose.
            #expect(sample(text, #"claimsd_dependency_up{dependency="postgresql"}"#) == 0)
            #expect(sample(text, #"claimsd_dependency_up{dependency="redis"}"#) == 0)
        }
    }

    @Test func theExpositionPassesPromtool() async throws {
        try await withApp { client, _ in
            _ = try await client.execute(uri: "/health", method: .get)
            _ = try await client.execute(uri: "/api/v1/claims/x", method: .get)
            // The stores are unreachable: the error families appear too.
            _ = try await client.execute(uri: "/api/v1/providers/top", method: .get)
            let text = try await metrics(client)
            #expect(text.contains("# TYPE claimsd_redis_errors_total counter") && text.contains("# TYPE claimsd_postgres_errors_total counter"))
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("claimsd-metrics-\(TestEnvironment.uniqueSuffix()).txt").path
            try Data(try await metrics(client).utf8).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let output = try await TestEnvironment.run("/bin/sh", ["-c", "promtool check metrics < '\(path)' 2>&1"])
            #expect(output.isEmpty, "promtool: \(output)")
        }
    }

    @Test func logRecordsAreCountedByLevel() async throws {
        try await withApp { client, sink in
            _ = try await client.execute(uri: "/health", method: .get)
            _ = try await client.execute(uri: "/api/v1/claims/not-a-uuid", method: .get)
            _ = try await client.execute(uri: "/api/v1/claims/also-bad", method: .get)
            let written = sink.all
            let text = try await metrics(client)
            #expect(sample(text, #"log_messages_total{level="info"}"#) == Double(written.filter { $0.level == .info }.count))
            #expect(sample(text, #"log_messages_total{level="warning"}"#) == 2)
            #expect(sample(text, #"log_messages_total{level="error"}"#) == 0)
        }
    }

    @Test func everyRequestWritesOneAccessRecordAtTheLevelOfItsStatus() async throws {
        try await withApp { client, sink in
            let ok = try await client.execute(uri: "/health", method: .get)
            _ = try await client.execute(uri: "/api/v1/claims/not-a-uuid", method: .get)
            let records = sink.all.filter { $0.metadata["event"] == "request_completed" }
            #expect(records.count == 2)
            let health = try #require(records.first)
            #expect(health.level == .info)
            #expect(health.metadata["method"] == "GET")
            #expect(health.metadata["route"] == "/health")
            #expect(health.metadata["status"]?.description == "200")
            #expect(health.metadata["request_id"] == ok.headers[.requestID].map { .string($0) })
            #expect(health.metadata["hb.request.id"] == nil, "request_id names the request, not Hummingbird's id beside it")
            #expect(Double(health.metadata["duration_ms"]?.description ?? "") != nil)
            #expect((Int(health.metadata["response_bytes"]?.description ?? "") ?? 0) > 0)
            let bad = try #require(records.last)
            #expect(bad.level == .warning)
            #expect(bad.metadata["route"] == "/api/v1/claims/{id}")
            #expect(ObservabilityMiddleware.level(status: 503) == .error)
            #expect(ObservabilityMiddleware.level(status: 302) == .info)
        }
    }
}
