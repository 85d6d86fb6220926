/// A series' latest samples, decoded, in a ring of fixed size: a query window that starts at or
/// after the oldest of them — a rule's `rate(x[5m])` at a 15 s scrape needs the last 21 — is
/// answered without decoding a chunk. Decoding from the start of the chunk that holds the window
/// is otherwise most of the cost of evaluating short windows over many series.
///
/// 32 samples: 5 minutes at a 10 s scrape. 512 bytes a series once full (on top of the
/// compressed chunks, which hold every sample too).
struct RecentSamples: Sendable {
    static let capacity = 32

    private var ring: [Sample] = []
    /// Where the oldest sample is once the ring is full (it is `ring[0]` until then).
    private var start = 0

    var isEmpty: Bool { ring.isEmpty }

    /// The oldest sample kept.
    var oldest: Sample? { ring.isEmpty ? nil : ring[start] }

    mutating func append(_ sample: Sample) {
        if ring.count < Self.capacity {
            ring.append(sample)
        } else {
            ring[start] = sample
            start = (start + 1) % Self.capacity
        }
    }

    mutating func removeAll() {
        ring = []
        start = 0
    }

    /// Keeps only the samples at or after `time`.
    mutating func removeSamples(before time: Int64) {
        guard let oldest, oldest.timestamp < time else { return }
        let kept = inOrder().filter { $0.timestamp >= time }
        removeAll()
        for sample in kept { append(sample) }
    }

    /// Whether every sample of the series in [mint, …] is here: the oldest kept is at or
    /// before `mint`.
    func covers(from mint: Int64) -> Bool {
        guard let oldest else { return false }
        return oldest.timestamp <= mint
    }

    /// The samples kept from `mint` through `maxt`, oldest first.
    func samples(from mint: Int64, through maxt: Int64) -> [Sample] {
        var result: [Sample] = []
        result.reserveCapacity(ring.count)
        for offset in 0..<ring.count {
            let sample = ring[(start + offset) % ring.count]
            if sample.timestamp > maxt { break }
            if sample.timestamp >= mint { result.append(sample) }
        }
        return result
    }

    private func inOrder() -> [Sample] { samples(from: .min, through: .max) }
}
