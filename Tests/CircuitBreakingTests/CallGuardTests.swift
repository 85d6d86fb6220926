import CircuitBreaking
import Synchronization
import Testing

/// The budget and the breaker's states, with operations that fail, hang or succeed on demand.
@Suite struct CallGuardTests {
    struct Refused: Error {}

    /// Counts how often an operation really ran.
    final class Calls: Sendable {
        let count = Atomic<Int>(0)
        func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
            count.add(1, ordering: .relaxed)
            return try await body()
        }
        var made: Int { count.load(ordering: .relaxed) }
    }

    @Test func aCallPastItsBudgetIsAbandonedAtTheBudget() async throws {
        let guarded = CallGuard(dependency: "test", budget: .milliseconds(50))
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: CallGuardError.self) {
            try await guarded.run { try await Task.sleep(for: .seconds(30)); return 1 }
        }
        // Abandoned long before the operation's 30 s: the caller does not wait for it.
        #expect(clock.now - started < .seconds(10))
        #expect(error?.reason == "budget")
        #expect(try await guarded.run { 7 } == 7)
    }

    @Test func repeatedFailuresOpenTheBreakerAndAProbeClosesIt() async throws {
        let guarded = CallGuard(dependency: "test", budget: .seconds(5), failureThreshold: 3, cooldown: .milliseconds(200))
        let calls = Calls()
        for _ in 0..<2 {
            await #expect(throws: CallGuardError.self) { try await guarded.run { try await calls.run { throw Refused() } as Int } }
        }
        #expect(guarded.current == .closed)
        await #expect(throws: CallGuardError.self) { try await guarded.run { try await calls.run { throw Refused() } as Int } }
        #expect(guarded.current == .open)
        // Open: nothing is called.
        let shed = await #expect(throws: CallGuardError.self) { try await guarded.run { try await calls.run { 1 } } }
        #expect(shed?.reason == "breaker_open")
        #expect(calls.made == 3)

        try await Task.sleep(for: .milliseconds(300))
        #expect(guarded.current == .halfOpen)
        // A failed probe opens it again for another cooldown.
        await #expect(throws: CallGuardError.self) { try await guarded.run { try await calls.run { throw Refused() } as Int } }
        #expect(guarded.current == .open && calls.made == 4)
        try await Task.sleep(for: .milliseconds(300))
        // A successful probe closes it; calls run again.
        #expect(try await guarded.run { try await calls.run { 5 } } == 5)
        #expect(guarded.current == .closed)
        #expect(try await guarded.run { try await calls.run { 6 } } == 6)
        #expect(calls.made == 6)
    }

    @Test func onlyOneProbeRunsWhileHalfOpen() async throws {
        let guarded = CallGuard(dependency: "test", budget: .seconds(5), failureThreshold: 1, cooldown: .milliseconds(50))
        await #expect(throws: CallGuardError.self) { try await guarded.run { throw Refused() } as Int }
        try await Task.sleep(for: .milliseconds(100))
        let calls = Calls()
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask { (try? await guarded.run { try await calls.run { try await Task.sleep(for: .milliseconds(200)); return 1 } }) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(calls.made == 1)
        #expect(results.filter { $0 }.count == 1)
        #expect(guarded.current == .closed)
    }
}
