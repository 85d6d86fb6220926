public import CoreMetrics
import Synchronization

/// A time budget and a circuit breaker for calls that have a fallback (a rate-limit decision
/// made in process, a ranking read from PostgreSQL), so a dependency that hangs costs each
/// request at most the budget, and once it keeps failing, nothing at all.
///
/// - Closed: calls run, each within `budget`. `failureThreshold` failures in a row (errors or
///   budget overruns) open the breaker.
/// - Open: calls fail at once with ``CallGuardError/open`` for `cooldown`.
/// - Then one call at a time is let through as a probe (half-open): its success closes the
///   breaker, its failure opens it for another cooldown. Other calls meanwhile fail at once.
///
/// A call that overruns its budget is abandoned, not stopped: the caller gets
/// ``CallGuardError/budgetExceeded`` at once while the call finishes (or times out) on its own.
public final class CallGuard: Sendable {
    /// Where the breaker stands.
    public enum State: Sendable, Equatable {
        case closed
        case open
        case halfOpen
    }

    public let budget: Duration
    public let failureThreshold: Int
    public let cooldown: Duration
    private let clock = ContinuousClock()
    private let state: Mutex<Breaker>
    private let openGauge: Gauge
    private let shedByReason: [String: Counter]

    private struct Breaker {
        var consecutiveFailures = 0
        var openUntil: ContinuousClock.Instant?
        var probing = false
    }

    /// `dependency` names what is guarded in `claimsd_dependency_breaker_open{dependency}` (1
    /// while open) and `claimsd_dependency_calls_shed_total{dependency,reason}` (calls given up:
    /// `budget`, `breaker_open`, `error`).
    public init(
        dependency: String, budget: Duration, failureThreshold: Int = 3, cooldown: Duration = .seconds(1),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.budget = budget
        self.failureThreshold = max(1, failureThreshold)
        self.cooldown = cooldown
        self.state = Mutex(Breaker())
        self.openGauge = Gauge(label: "claimsd_dependency_breaker_open", dimensions: [("dependency", dependency)], factory: metrics)
        self.shedByReason = Dictionary(
            uniqueKeysWithValues: ["budget", "breaker_open", "error"].map { reason in
                (reason, Counter(label: "claimsd_dependency_calls_shed_total", dimensions: [("dependency", dependency), ("reason", reason)], factory: metrics))
            })
        openGauge.record(0)
    }

    /// The breaker's state now.
    public var current: State {
        let now = clock.now
        return state.withLock { breaker in
            guard let until = breaker.openUntil else { return .closed }
            return now < until ? .open : .halfOpen
        }
    }

    /// Runs `operation` within the budget, unless the breaker is open.
    public func run<Result: Sendable>(_ operation: @escaping @Sendable () async throws -> Result) async throws(CallGuardError) -> Result {
        let isProbe: Bool
        do {
            isProbe = try admit()
        } catch {
            shedByReason[error.reason]?.increment()
            throw error
        }
        do {
            let result = try await withinBudget(operation)
            record(success: true, probe: isProbe)
            return result
        } catch {
            shedByReason[error.reason]?.increment()
            record(success: false, probe: isProbe)
            throw error
        }
    }

    /// Whether a call may run now, and whether it is the half-open probe.
    private func admit() throws(CallGuardError) -> Bool {
        let now = clock.now
        let verdict: Bool? = state.withLock { breaker in
            guard let until = breaker.openUntil else { return false }
            guard now >= until, !breaker.probing else { return nil }
            breaker.probing = true
            return true
        }
        guard let isProbe = verdict else { throw .open }
        return isProbe
    }

    private func record(success: Bool, probe: Bool) {
        let now = clock.now
        let cooldown = self.cooldown
        let threshold = failureThreshold
        let isOpen = state.withLock { breaker in
            if probe { breaker.probing = false }
            if success {
                breaker.consecutiveFailures = 0
                breaker.openUntil = nil
            } else {
                breaker.consecutiveFailures += 1
                if probe || breaker.consecutiveFailures >= threshold { breaker.openUntil = now.advanced(by: cooldown) }
            }
            return breaker.openUntil != nil
        }
        openGauge.record(isOpen ? 1 : 0)
    }

    /// The operation's result, or ``CallGuardError/budgetExceeded`` once the budget has passed.
    private func withinBudget<Result: Sendable>(_ operation: @escaping @Sendable () async throws -> Result) async throws(CallGuardError) -> Result {
        let outcome: Swift.Result<Result, CallGuardError> = await withCheckedContinuation { continuation in
            let once = ResumeOnce(continuation)
            let budget = self.budget
            let timer = Task {
                try? await Task.sleep(for: budget)
                guard !Task.isCancelled else { return }
                once.resume(returning: .failure(.budgetExceeded(budget)))
            }
            Task {
                let result: Swift.Result<Result, CallGuardError>
                do {
                    result = .success(try await operation())
                } catch {
                    result = .failure(.failed(error))
                }
                timer.cancel()
                once.resume(returning: result)
            }
        }
        return try outcome.get()
    }
}

/// A continuation that the first of two racing tasks resumes; the other's resume does nothing.
private final class ResumeOnce<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Never>?>

    init(_ continuation: CheckedContinuation<Value, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(returning value: Value) {
        continuation.withLock { $0.take() }?.resume(returning: value)
    }
}

/// Why a guarded call did not return a result.
public enum CallGuardError: Error, Sendable, CustomStringConvertible {
    /// The breaker is open: recent calls kept failing, so this one was not made.
    case open
    /// The call did not finish within the budget and was abandoned.
    case budgetExceeded(Duration)
    /// The call failed.
    case failed(any Error)

    public var description: String {
        switch self {
        case .open: return "circuit open after repeated failures; not called"
        case .budgetExceeded(let budget): return "no answer within the \(budget) budget"
        case .failed(let error): return "\(error)"
        }
    }

    /// A short name for metrics and logs: `open`, `budget` or `error`.
    public var reason: String {
        switch self {
        case .open: return "breaker_open"
        case .budgetExceeded: return "budget"
        case .failed: return "error"
        }
    }
}
