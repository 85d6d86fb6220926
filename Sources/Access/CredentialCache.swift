import Synchronization

/// What a lookup found for a key (an API key's record, a user's account), kept for `lifetime`
/// and read again with **one lookup at a time** per key.
///
/// A busy service presents the same credential with every request. Kept naively, its entry
/// expires for all of them at once and every request in flight looks it up at the same moment;
/// under load that burst of queries stalls every request for tens of milliseconds each time.
/// Here:
///
/// - In the first half of its lifetime an entry is simply returned.
/// - In the second half it is still returned, and the first caller to see it starts one lookup
///   in the background, so under steady traffic the entry is renewed before it expires and no
///   request waits for a lookup.
/// - Once expired it is never returned: callers wait, all for the same lookup.
///
/// So nothing older than `lifetime` is ever served, except that when a lookup fails with an
/// error `isOutage` accepts (the database is unreachable) an entry younger than
/// `staleDuringOutage` is returned instead, since nothing can be revoked meanwhile anyway.
/// ``remove(_:)`` forgets a key at once: a lookup that was in flight then stores nothing.
public final class CredentialCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// How long a value is served after it was read.
    public let lifetime: Duration
    /// How long a value is served while lookups fail with an outage.
    public let staleDuringOutage: Duration
    /// Most keys kept; past it the cache starts again empty (a flood of made-up keys cannot grow it).
    public let capacity: Int

    private struct Entry {
        var value: Value
        var fetched: ContinuousClock.Instant
    }

    private struct Lookup {
        var id: UInt64
        var task: Task<Value, any Error>
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// The lookup running for each key; a removal drops it, so it stores nothing.
        var lookups: [Key: Lookup] = [:]
        var lastLookupID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// What a caller does: return a kept value, or wait for a lookup.
    private enum Plan {
        case kept(Value)
        case wait(Task<Value, any Error>)
    }

    public init(lifetime: Duration, staleDuringOutage: Duration, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.staleDuringOutage = staleDuringOutage
        self.capacity = max(1, capacity)
    }

    /// The value for `key` as of `now`: kept, or read with `lookup` (shared by every caller that
    /// needs it meanwhile). `isOutage` says which of `lookup`'s errors mean the source is
    /// unreachable rather than that the lookup is wrong.
    public func value(
        for key: Key, now: ContinuousClock.Instant, isOutage: @escaping @Sendable (any Error) -> Bool,
        lookup: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let plan = state.withLock { state -> Plan in
            let entry = state.entries[key]
            if let entry, now - entry.fetched < lifetime / 2 { return .kept(entry.value) }
            let running = state.lookups[key]?.task ?? startLookup(key, now: now, recordingIn: &state, isOutage: isOutage, lookup: lookup)
            if let entry, now - entry.fetched < lifetime { return .kept(entry.value) }
            return .wait(running)
        }
        switch plan {
        case .kept(let value): return value
        case .wait(let task): return try await task.value
        }
    }

    /// Forgets `key`; a lookup of it in flight neither stores its result nor serves new callers.
    public func remove(_ key: Key) {
        state.withLock { state in
            state.entries.removeValue(forKey: key)
            state.lookups.removeValue(forKey: key)
        }
    }

    /// Keys kept now (for tests and statistics).
    public var count: Int { state.withLock { $0.entries.count } }

    /// Starts the lookup of `key` and records it as running; called with the lock held.
    private func startLookup(
        _ key: Key, now: ContinuousClock.Instant, recordingIn locked: inout State, isOutage: @escaping @Sendable (any Error) -> Bool,
        lookup: @escaping @Sendable () async throws -> Value
    ) -> Task<Value, any Error> {
        locked.lastLookupID &+= 1
        let id = locked.lastLookupID
        let task = Task<Value, any Error> { [self] in
            do {
                let value = try await lookup()
                finish(key, lookup: id) { state in
                    if state.entries.count >= capacity && state.entries[key] == nil { state.entries.removeAll(keepingCapacity: true) }
                    state.entries[key] = Entry(value: value, fetched: now)
                }
                return value
            } catch {
                let kept = state.withLock { $0.entries[key] }
                finish(key, lookup: id) { _ in }
                if isOutage(error), let kept, now - kept.fetched < staleDuringOutage { return kept.value }
                throw error
            }
        }
        locked.lookups[key] = Lookup(id: id, task: task)
        return task
    }

    /// Ends lookup `id` of `key`: applies `update` and drops the running lookup, unless a
    /// removal dropped it first.
    private func finish(_ key: Key, lookup id: UInt64, update: (inout State) -> Void) {
        state.withLock { state in
            guard state.lookups[key]?.id == id else { return }
            update(&state)
            state.lookups.removeValue(forKey: key)
        }
    }
}
