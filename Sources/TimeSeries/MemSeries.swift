/// One series in memory: its labels, its sealed chunks and the chunk being appended to.
struct MemSeries: Sendable {
    let ref: SeriesRef
    let labels: Labels
    /// Full chunks, oldest first; never changed again except by retention and deletion.
    var sealed: [XORChunk] = []
    /// The chunk new samples go to; may be empty.
    var open = XORChunk()
    /// The bits of the last sample's value.
    private(set) var lastValueBits: UInt64 = 0
    /// The latest samples, decoded (see ``RecentSamples``).
    private(set) var recent = RecentSamples()

    init(ref: SeriesRef, labels: Labels) {
        self.ref = ref
        self.labels = labels
    }

    /// Sets ``lastValueBits`` and the recent samples from the chunks (after loading them).
    mutating func restoreTail() {
        var tail: [Sample] = []
        // The open chunk and the last sealed one: at least a full ring when the series has that many.
        for chunk in ([sealed.last, open.count > 0 ? open : nil].compactMap { $0 }) where chunk.count > 0 {
            tail.append(contentsOf: chunk.samples())
        }
        recent.removeAll()
        for sample in tail.suffix(RecentSamples.capacity) { recent.append(sample) }
        lastValueBits = tail.last?.value.bitPattern ?? 0
    }

    /// The last sample's timestamp, or `nil` when the series holds none.
    var lastTimestamp: Int64? {
        if open.count > 0 { return open.maxTime }
        return sealed.last?.maxTime
    }

    /// The first sample's timestamp, or `nil` when the series holds none.
    var firstTimestamp: Int64? {
        if let first = sealed.first { return first.minTime }
        return open.count > 0 ? open.minTime : nil
    }

    var sampleCount: Int { sealed.reduce(open.count) { $0 + $1.count } }

    /// What ``tryAppend(_:_:chunkRange:)`` did.
    enum AppendOutcome {
        case appended
        /// The same timestamp and value as the last sample: nothing to do.
        case duplicate
        case outOfOrder
        case duplicateTimestamp
    }

    /// Appends the sample when it is later than the last one; says why not otherwise.
    @inline(__always)
    mutating func tryAppend(_ timestamp: Int64, _ value: Double, chunkRange: Int64) -> AppendOutcome {
        if let last = lastTimestamp, timestamp <= last {
            if timestamp < last { return .outOfOrder }
            return lastValueBits == value.bitPattern ? .duplicate : .duplicateTimestamp
        }
        append(timestamp, value, chunkRange: chunkRange)
        return .appended
    }

    /// Appends a sample later than every sample held, sealing the open chunk first when it is
    /// full or `timestamp` falls in the next chunk window.
    mutating func append(_ timestamp: Int64, _ value: Double, chunkRange: Int64) {
        if open.count >= XORChunk.maxSamples
            || (open.count > 0 && Self.window(timestamp, chunkRange) != Self.window(open.minTime, chunkRange))
        {
            sealed.append(open)
            open = XORChunk()
        }
        open.append(timestamp, value)
        lastValueBits = value.bitPattern
        recent.append(Sample(timestamp, value))
    }

    /// Every sample held, in time order.
    func allSamples() -> [Sample] {
        var samples: [Sample] = []
        samples.reserveCapacity(sampleCount)
        for chunk in sealed { samples.append(contentsOf: chunk.samples()) }
        samples.append(contentsOf: open.samples())
        return samples
    }

    /// Replaces every sample with `samples` (in time order, no repeated timestamps).
    mutating func replaceSamples(_ samples: [Sample], chunkRange: Int64) {
        sealed = []
        open = XORChunk()
        recent.removeAll()
        for sample in samples { append(sample.timestamp, sample.value, chunkRange: chunkRange) }
    }

    /// Drops sealed chunks that end before `cutoff`; true when nothing at or after it remains.
    mutating func dropChunks(endingBefore cutoff: Int64) -> Bool {
        if let index = sealed.firstIndex(where: { $0.maxTime >= cutoff }) {
            if index > 0 { sealed.removeFirst(index) }
        } else {
            sealed = []
        }
        // Never answer from samples whose chunk is gone.
        recent.removeSamples(before: firstTimestamp ?? .max)
        return sealed.isEmpty && (open.count == 0 || open.maxTime < cutoff)
    }

    private static func window(_ timestamp: Int64, _ range: Int64) -> Int64 {
        timestamp >= 0 ? timestamp / range : (timestamp - range + 1) / range
    }
}

/// A reader's view of one series: its labels and the chunks it held when selected. Appends
/// that come later do not change it.
public struct SeriesSnapshot: Sendable {
    /// The series' stable id.
    public let ref: SeriesRef
    /// The series' labels.
    public let labels: Labels
    let sealed: [XORChunk]
    let open: XORChunk
    /// The series' latest samples when the snapshot was taken.
    let recent: RecentSamples

    /// The series as it is now. Holding its chunks costs a reference each: the chunk list is
    /// put together only when a reader needs more than the recent samples.
    init(of series: MemSeries) {
        self.ref = series.ref
        self.labels = series.labels
        self.sealed = series.sealed
        self.open = series.open
        self.recent = series.recent
    }

    /// Every chunk with samples, oldest first.
    var chunks: [XORChunk] { open.count > 0 ? sealed + [open] : sealed }

    /// The samples from `mint` through `maxt` (inclusive, milliseconds), staleness markers included.
    public func samples(from mint: Int64 = .min, through maxt: Int64 = .max) -> SampleIterator {
        SampleIterator(chunks: chunks, mint: mint, maxt: maxt)
    }

    /// Every sample in the range as an array.
    public func sampleArray(from mint: Int64 = .min, through maxt: Int64 = .max) -> [Sample] {
        // A window at the end of the series: no chunk to decode.
        if recent.covers(from: mint) { return recent.samples(from: mint, through: maxt) }
        // Room for every sample of the overlapping chunks at once: reserving chunk by chunk
        // would reallocate (and copy) the array once per chunk.
        let chunks = self.chunks
        var capacity = 0
        for chunk in chunks where chunk.count > 0 && chunk.maxTime >= mint && chunk.minTime <= maxt { capacity += chunk.count }
        var result: [Sample] = []
        result.reserveCapacity(capacity)
        for chunk in chunks {
            if chunk.count == 0 || chunk.maxTime < mint { continue }
            if chunk.minTime > maxt { break }
            guard chunk.appendSamples(into: &result, from: mint, through: maxt) else { break }
        }
        return result
    }

    /// Chunks the snapshot holds (sealed ones and the open one when it has samples).
    public var chunkCount: Int { sealed.count + (open.count > 0 ? 1 : 0) }
}

/// Iterates a series' samples within a time range, decoding one chunk at a time and skipping
/// chunks outside the range without decoding them.
public struct SampleIterator: IteratorProtocol, Sendable {
    private let chunks: [XORChunk]
    private let mint: Int64
    private let maxt: Int64
    private var index = 0
    /// The chunk being decoded; meaningful while `decoding` is true (kept in place rather than
    /// in an optional, so advancing it copies nothing).
    private var current = XORChunkIterator(bytes: [], bitCount: 0, count: 0)
    private var decoding = false

    init(chunks: [XORChunk], mint: Int64, maxt: Int64) {
        self.chunks = chunks
        self.mint = mint
        self.maxt = maxt
    }

    public mutating func next() -> Sample? {
        while true {
            if decoding {
                while let sample = current.next() {
                    if sample.timestamp < mint { continue }
                    if sample.timestamp > maxt {
                        index = chunks.count
                        decoding = false
                        return nil
                    }
                    return sample
                }
                decoding = false
            }
            guard index < chunks.count else { return nil }
            let chunk = chunks[index]
            index += 1
            if chunk.count == 0 || chunk.maxTime < mint { continue }
            if chunk.minTime > maxt {
                index = chunks.count
                return nil
            }
            current = chunk.makeIterator()
            decoding = true
        }
    }
}
