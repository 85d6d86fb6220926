import Foundation
import Testing
import TestSupport
@testable import TimeSeries

/// Windows at the end of a series are answered from its recent samples instead of its chunks:
/// the answer must be exactly what decoding the chunks gives, after appends, deletions,
/// retention and a reopen from a checkpoint.
@Suite struct RecentSamplesTests {
    @Test func theRingKeepsTheLatestSamplesInOrder() {
        var ring = RecentSamples()
        #expect(!ring.covers(from: 0) && ring.oldest == nil)
        for time in 1...(RecentSamples.capacity + 5) { ring.append(Sample(Int64(time), Double(time))) }
        #expect(ring.oldest?.timestamp == 6)
        #expect(ring.samples(from: .min, through: .max).map(\.timestamp) == Array(6...Int64(RecentSamples.capacity + 5)))
        #expect(ring.samples(from: 10, through: 12).map(\.timestamp) == [10, 11, 12])
        #expect(ring.covers(from: 6) && !ring.covers(from: 5))
        ring.removeSamples(before: 30)
        #expect(ring.samples(from: .min, through: .max).map(\.timestamp) == Array(30...Int64(RecentSamples.capacity + 5)))
    }

    /// Every window of random series, read as an array (recent samples when they cover it) and
    /// through the chunk iterator (always decoding), gives the same samples.
    @Test func windowsMatchTheChunksWhateverTheirStart() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["CLAIMS_TEST_RECENT_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        print("RecentSamplesTests seed \(seed) (CLAIMS_TEST_RECENT_SEED)")
        var random = SplitMix(seed: seed)
        let store = TimeSeriesStore()
        for series in 0..<20 {
            let count = 1 + random.next(upTo: 400)
            var time: Int64 = 1_000_000
            var batch: [PendingSample] = []
            for _ in 0..<count {
                time += Int64(1 + random.next(upTo: 30_000))
                let value = random.next(upTo: 10) == 0 ? StaleMarker.value : Double(random.next(upTo: 1000))
                batch.append(PendingSample(labels: labels("m", ["s": String(series)]), timestamp: time, value: value))
            }
            _ = store.append(batch)
        }
        func check(_ store: TimeSeriesStore) {
            for snapshot in store.select([.equal("__name__", "m")]) {
                let all = Array(IteratorSequence(snapshot.samples()))
                for _ in 0..<50 {
                    let from = all.isEmpty ? 0 : all[random.next(upTo: all.count)].timestamp - Int64(random.next(upTo: 3)) + 1
                    let through = from + Int64(random.next(upTo: 3_000_000))
                    let decoded = Array(IteratorSequence(snapshot.samples(from: from, through: through)))
                    let array = snapshot.sampleArray(from: from, through: through)
                    #expect(array.map(\.timestamp) == decoded.map(\.timestamp), "seed \(seed), \(snapshot.labels) [\(from), \(through)]")
                    #expect(array.map(\.value.bitPattern) == decoded.map(\.value.bitPattern))
                }
            }
        }
        check(store)
        // Deleting a time range rewrites the chunks, and the recent samples with them.
        _ = store.deleteSeries(matching: [.equal("s", "3")], from: 1_000_000, through: 3_000_000)
        // Retention drops whole old chunks; what remains recent must still be in the chunks.
        _ = store.applyRetention()
        check(store)
        // A reopened store rebuilds the recent samples from its checkpoint.
        let directory = NSTemporaryDirectory() + "claimsd-recent-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (persistent, _) = try TimeSeriesStore.open(path: directory)
        for snapshot in store.select([]) {
            _ = persistent.append(Array(IteratorSequence(snapshot.samples())).map { PendingSample(labels: snapshot.labels, timestamp: $0.timestamp, value: $0.value) })
        }
        _ = try persistent.checkpoint()
        try persistent.close()
        let (reopened, _) = try TimeSeriesStore.open(path: directory)
        check(reopened)
        try reopened.close()
    }

    @Test func retentionNeverLeavesRecentSamplesItDropped() {
        let store = TimeSeriesStore(options: TimeSeriesOptions(retention: 60_000))
        // 300 samples 1 s apart: chunks of 120, the newest sample at 300 s.
        _ = store.append((1...300).map { PendingSample(labels: labels("m"), timestamp: Int64($0) * 1000, value: Double($0)) })
        store.applyRetention()
        let snapshot = try? #require(store.select([]).first)
        let oldestKept = snapshot.map { Array(IteratorSequence($0.samples())).first?.timestamp ?? 0 } ?? 0
        // A window reaching before the oldest chunk left gives only what the chunks hold.
        #expect(snapshot?.sampleArray(from: 0, through: .max).first?.timestamp == oldestKept)
    }
}
