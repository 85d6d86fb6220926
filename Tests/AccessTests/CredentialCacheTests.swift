import Access
import Synchronization
import TestSupport
import Testing

/// A lookup the test controls: counts its calls, and holds each until released when asked to.
private final class ScriptedLookup: Sendable {
    private struct State {
        var calls = 0
        var value = 1
        var failure: (any Error)?
        var held: [CheckedContinuation<Void, Never>] = []
        var holding = false
    }

    private let state = Mutex(State())

    var calls: Int { state.withLock { $0.calls } }
    var waiting: Int { state.withLock { $0.held.count } }

    func answer(_ value: Int) { state.withLock { $0.value = value; $0.failure = nil } }
    func fail(with error: any Error) { state.withLock { $0.failure = error } }
    func hold() { state.withLock { $0.holding = true } }

    func release() {
        let held = state.withLock { state in
            state.holding = false
            defer { state.held = [] }
            return state.held
        }
        for continuation in held { continuation.resume() }
    }

    func callAsFunction() async throws -> Int {
        let holding = state.withLock { state -> Bool in
            state.calls += 1
            return state.holding
        }
        if holding {
            await withCheckedContinuation { continuation in state.withLock { $0.held.append(continuation) } }
        }
        return try state.withLock { state in
            if let failure = state.failure { throw failure }
            return state.value
        }
    }
}

private struct Unreachable: Error {}
private struct Refused: Error {}

@Suite struct CredentialCacheTests {
    let start = ContinuousClock.now
    func at(seconds: Double) -> ContinuousClock.Instant { start.advanced(by: .milliseconds(Int(seconds * 1000))) }
    static let isOutage: @Sendable (any Error) -> Bool = { $0 is Unreachable }

    /// A cache of 10 s entries (60 s during an outage) whose key "k" was read as 1 at 0 s.
    fileprivate func cacheHoldingOne() async throws -> (CredentialCache<String, Int>, ScriptedLookup) {
        let cache = CredentialCache<String, Int>(lifetime: .seconds(10), staleDuringOutage: .seconds(60))
        let lookup = ScriptedLookup()
        lookup.answer(1)
        #expect(try await read(cache, lookup, at: 0) == 1)
        return (cache, lookup)
    }

    fileprivate func read(_ cache: CredentialCache<String, Int>, _ lookup: ScriptedLookup, at seconds: Double, key: String = "k") async throws -> Int {
        try await cache.value(for: key, now: at(seconds: seconds), isOutage: Self.isOutage) { try await lookup() }
    }

    @Test func manyCallersOfAMissingKeyShareOneLookup() async throws {
        let cache = CredentialCache<String, Int>(lifetime: .seconds(10), staleDuringOutage: .seconds(60))
        let lookup = ScriptedLookup()
        lookup.answer(7)
        lookup.hold()
        let values = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<16 { group.addTask { try await read(cache, lookup, at: 0) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        try await waitUntil { lookup.waiting == 1 }
        // Give the other callers time to arrive; they must join the lookup, not start their own.
        try await Task.sleep(for: .milliseconds(200))
        lookup.release()
        #expect(try await values.value == Array(repeating: 7, count: 16))
        #expect(lookup.calls == 1)
    }

    @Test func anEntryIsRenewedInTheBackgroundInTheSecondHalfOfItsLife() async throws {
        let (cache, lookup) = try await cacheHoldingOne()
        lookup.answer(2)
        // First half: kept, no lookup.
        #expect(try await read(cache, lookup, at: 4.9) == 1)
        #expect(lookup.calls == 1)
        // Second half: still the kept value at once, while one lookup renews it.
        lookup.hold()
        for _ in 0..<5 { #expect(try await read(cache, lookup, at: 6) == 1) }
        try await waitUntil { lookup.waiting == 1 }
        #expect(lookup.calls == 2)
        lookup.release()
        // The renewed entry counts from when its lookup began (6 s): served until 16 s.
        try await waitUntil { (try? await read(cache, lookup, at: 7)) == 2 }
        #expect(try await read(cache, lookup, at: 10.9) == 2)
        #expect(lookup.calls == 2)
    }

    @Test func anExpiredEntryIsNeverServed() async throws {
        let (cache, lookup) = try await cacheHoldingOne()
        lookup.answer(2)
        lookup.hold()
        let late = Task { try await read(cache, lookup, at: 10) }
        try await waitUntil { lookup.waiting == 1 }
        lookup.release()
        #expect(try await late.value == 2)
    }

    @Test func duringAnOutageAKeptEntryServesUntilItsOutageLimit() async throws {
        let (cache, lookup) = try await cacheHoldingOne()
        lookup.fail(with: Unreachable())
        #expect(try await read(cache, lookup, at: 30) == 1)
        await #expect(throws: Unreachable.self) { try await read(cache, lookup, at: 61) }
        // A lookup that is wrong, not unreachable, is never covered by a kept entry.
        let (other, otherLookup) = try await cacheHoldingOne()
        otherLookup.fail(with: Refused())
        await #expect(throws: Refused.self) { try await read(other, otherLookup, at: 11) }
    }

    @Test func aRemovedKeyIsReadAgainAndALookupInFlightStoresNothing() async throws {
        let (cache, lookup) = try await cacheHoldingOne()
        // A renewal starts, reads the old value, and the key is removed (say, revoked) meanwhile.
        lookup.hold()
        #expect(try await read(cache, lookup, at: 6) == 1)
        try await waitUntil { lookup.waiting == 1 }
        cache.remove("k")
        lookup.release()
        // The next caller does not get what the old lookup read: it waits for its own.
        lookup.answer(3)
        #expect(try await read(cache, lookup, at: 6.1) == 3)
        #expect(lookup.calls == 3)
        // Keys are kept apart.
        lookup.answer(4)
        #expect(try await read(cache, lookup, at: 6.2, key: "other") == 4)
        #expect(try await read(cache, lookup, at: 6.3) == 3)
    }
}
