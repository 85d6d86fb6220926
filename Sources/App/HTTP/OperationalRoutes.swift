public import Hummingbird

/// `/health` (liveness, no I/O) and `/ready` (PostgreSQL reachable; Redis reported, optional).
public struct OperationalRoutes: Sendable {
    let readiness: ReadinessChecker
    let authMode: AuthMode

    public init(readiness: ReadinessChecker, authMode: AuthMode = .required) {
        self.readiness = readiness
        self.authMode = authMode
    }

    public func register(on router: SecuredRoutes) {
        router.get("health", requires: .open) { _, _ in
            Response.json(["status": "ok"])
        }
        router.get("ready", requires: .open) { _, _ in
            try await ready()
        }
    }

    /// 200 `ready` when every dependency answers, 200 `degraded` when only optional ones (Redis)
    /// are down, or a 503 problem naming each required one that is down.
    func ready() async throws -> Response {
        let checks = await readiness.check()
        let down = checks.filter { !$0.value.isUp && $0.value.required }.keys.sorted()
        guard down.isEmpty else {
            let reasons = down.map { "\($0) is unavailable: \(checks[$0]?.error ?? "no answer")" }
            throw Problem(status: .serviceUnavailable, detail: reasons.joined(separator: "; "), title: "Dependency unavailable", checks: checks)
        }
        let degraded = checks.values.contains { !$0.isUp }
        return Response.json(
            ReadyBody(
                status: degraded ? "degraded" : "ready", checks: checks, authentication: authMode.rawValue,
                warnings: authMode == .off ? ["authentication is off (CLAIMS_AUTH=off): every request acts as admin"] : nil))
    }

    struct ReadyBody: Encodable {
        var status: String
        var checks: [String: DependencyStatus]
        var authentication: String
        var warnings: [String]?
    }
}
