import Foundation
import Synchronization

/// Runs queries on threads of their own, at most `limit` at once (later ones wait their turn),
/// so a heavy PromQL query never holds one of the two cooperative threads that serve claims,
/// `/health` and `/metrics`.
final class QueryExecutor: Sendable {
    let limit: Int
    private let state = Mutex<(running: Int, waiting: [CheckedContinuation<Void, Never>])>((0, []))

    init(limit: Int = 4) {
        self.limit = limit
    }

    /// The result of `work`, computed on a dedicated thread once a slot is free.
    func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await acquire()
        defer { release() }
        return await offThePool(work)
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state in
                if state.running < limit {
                    state.running += 1
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if admitted { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.running -= 1
                return nil
            }
            // The slot passes straight to the next waiter.
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
