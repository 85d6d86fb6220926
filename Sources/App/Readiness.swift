public import Postgres
public import Redis

/// One external dependency /ready checks.
public protocol DependencyProbe: Sendable {
    /// The name shown in readiness answers, e.g. `postgresql`.
    var name: String { get }
    /// Whether the service cannot do its job without it (down → 503) rather than working in a
    /// reduced way (down → 200 `degraded`).
    var isRequired: Bool { get }
    /// Returns when the dependency answers; throws the reason otherwise.
    func check() async throws
}

/// Checks PostgreSQL with `SELECT 1` on a pooled connection.
public struct PostgresProbe: DependencyProbe {
    public let name = "postgresql"
    public let isRequired = true
    let client: PostgresClient

    public init(client: PostgresClient) { self.client = client }

    public func check() async throws {
        try await client.query("SELECT 1")
    }
}

/// Checks Redis with `PING` on a pooled connection. Optional: without Redis, claims are still
/// accepted (the relay catches up later), the ranking comes from PostgreSQL and the rate limiter
/// limits per instance.
public struct RedisProbe: DependencyProbe {
    public let name = "redis"
    public let isRequired = false
    let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    public func check() async throws {
        try await client.send("PING")
    }
}

/// The state of one dependency as /ready reports it.
public struct DependencyStatus: Sendable, Encodable, Equatable {
    /// `up` or `down`.
    public var status: String
    /// Whether claimsd needs it to serve (see ``DependencyProbe/isRequired``).
    public var required: Bool
    /// How long the check took, in milliseconds.
    public var latencyMs: Double
    /// Why the dependency is down.
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case status, required
        case latencyMs = "latency_ms"
        case error
    }

    public var isUp: Bool { status == "up" }
}

/// Runs all dependency probes at once and collects their states.
public struct ReadinessChecker: Sendable {
    public let probes: [any DependencyProbe]

    public init(probes: [any DependencyProbe]) {
        self.probes = probes
    }

    /// Each probe's state, keyed by probe name.
    public func check() async -> [String: DependencyStatus] {
        await withTaskGroup(of: (String, DependencyStatus).self) { group in
            for probe in probes {
                group.addTask {
                    let clock = ContinuousClock()
                    let start = clock.now
                    var failure: String?
                    do { try await probe.check() } catch { failure = "\(error)" }
                    let elapsed = start.duration(to: clock.now)
                    let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                    let rounded = (millis * 1000).rounded() / 1000
                    return (
                        probe.name,
                        DependencyStatus(status: failure == nil ? "up" : "down", required: probe.isRequired, latencyMs: rounded, error: failure)
                    )
                }
            }
            var states: [String: DependencyStatus] = [:]
            for await (name, state) in group { states[name] = state }
            return states
        }
    }
}
