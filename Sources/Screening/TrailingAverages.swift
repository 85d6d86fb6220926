import Synchronization

/// Sums and counts of amounts per key over a trailing time window, kept incrementally: each
/// key holds its amounts in `buckets` slices of the window, and the oldest slice drops out as
/// time moves past it. Recording and reading cost a lock and a few additions, never a scan of
/// history, and stay exact under concurrent use (one lock over all keys).
///
/// Time is passed in (milliseconds since the epoch), so tests control it.
public final class TrailingAverages: Sendable {
    /// The window, and the width of one of its slices (milliseconds).
    public let window: Int64
    let bucketWidth: Int64
    let bucketCount: Int64
    private let state = Mutex<[String: KeyTotals]>([:])

    /// One key's slices, oldest first, and their totals.
    struct KeyTotals {
        var buckets: [(index: Int64, sum: Int64, count: Int)] = []
        var sum: Int64 = 0
        var count = 0

        /// Drops the slices that ended before the window that ends in slice `current`.
        mutating func expire(current: Int64, slices: Int64) {
            var dropped = 0
            for bucket in buckets {
                guard bucket.index <= current - slices else { break }
                sum -= bucket.sum
                count -= bucket.count
                dropped += 1
            }
            if dropped > 0 { buckets.removeFirst(dropped) }
        }

        mutating func add(_ amount: Int64, count added: Int, slice: Int64) {
            if let last = buckets.indices.last, buckets[last].index == slice {
                buckets[last].sum += amount
                buckets[last].count += added
            } else if let position = buckets.lastIndex(where: { $0.index < slice }) {
                buckets.insert((slice, amount, added), at: position + 1)
            } else if buckets.first?.index == slice {
                buckets[0].sum += amount
                buckets[0].count += added
            } else {
                buckets.insert((slice, amount, added), at: 0)
            }
            sum += amount
            count += added
        }
    }

    /// `window` milliseconds long, in `buckets` slices (the window moves a slice at a time).
    public init(window: Int64, buckets: Int = 60) {
        self.window = max(1, window)
        self.bucketCount = Int64(max(1, buckets))
        self.bucketWidth = max(1, self.window / self.bucketCount)
    }

    /// The sum and count of `key`'s amounts in the window ending at `now`; nil when none.
    public func total(of key: String, at now: Int64) -> (sum: Int64, count: Int)? {
        let current = slice(now)
        return state.withLock { keys in
            guard var totals = keys[key] else { return nil }
            totals.expire(current: current, slices: bucketCount)
            if totals.count == 0 {
                keys[key] = nil
                return nil
            }
            keys[key] = totals
            return (totals.sum, totals.count)
        }
    }

    /// Adds each amount to its key at time `at`, all under one lock.
    public func record(_ amounts: [(key: String, amount: Int64)], at time: Int64) {
        let current = slice(time)
        state.withLock { keys in
            for entry in amounts {
                keys[entry.key, default: KeyTotals()].add(entry.amount, count: 1, slice: current)
            }
        }
    }

    /// Adds `count` amounts summing to `sum` to `key` at time `at`: history loaded at start-up.
    public func load(_ key: String, sum: Int64, count: Int, at time: Int64) {
        guard count > 0 else { return }
        state.withLock { keys in keys[key, default: KeyTotals()].add(sum, count: count, slice: slice(time)) }
    }

    /// Drops every key with nothing left in the window ending at `now`: amounts of keys not
    /// seen for a whole window would otherwise stay in memory.
    public func sweep(at now: Int64) {
        let current = slice(now)
        state.withLock { keys in
            for key in Array(keys.keys) {
                keys[key]?.expire(current: current, slices: bucketCount)
                if keys[key]?.count == 0 { keys[key] = nil }
            }
        }
    }

    /// How many keys hold amounts.
    public var keyCount: Int { state.withLock { $0.count } }

    func slice(_ time: Int64) -> Int64 {
        time >= 0 ? time / bucketWidth : (time - bucketWidth + 1) / bucketWidth
    }
}
