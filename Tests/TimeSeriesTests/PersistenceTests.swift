import Foundation
import Testing
@testable import TimeSeries

/// A fresh directory under the system's temporary directory, removed by the caller.
func temporaryStorePath(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "claimsd-tsdb-\(name)-\(UInt64.random(in: 0...UInt64.max))"
    try? FileManager.default.removeItem(atPath: path)
    return path
}

@Suite struct PersistenceTests {
    func scrape(_ store: TimeSeriesStore, at timestamp: Int64, series: Int = 20) {
        store.append((0..<series).map { PendingSample(labels: labels("metric", ["i": "\($0)"]), timestamp: timestamp, value: Double(timestamp / 1000 + Int64($0))) })
    }

    func everything(_ store: TimeSeriesStore) -> [Labels: [Sample]] {
        Dictionary(uniqueKeysWithValues: store.select([]).map { ($0.labels, $0.sampleArray()) })
    }

    @Test func reopeningReplaysTheWALWithoutACheckpoint() throws {
        let path = temporaryStorePath("replay")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var expected: [Labels: [Sample]] = [:]
        do {
            let (store, report) = try TimeSeriesStore.open(path: path)
            #expect(report.series == 0)
            for scrapeIndex in 0..<300 { scrape(store, at: Int64(scrapeIndex) * 15_000) }
            store.importSamples([(labels("metric", ["i": "3"]), [Sample(7_500, -1)])])
            store.deleteSeries(matching: [.equal("i", "19")], from: 0, through: 100_000)
            expected = everything(store)
            try store.sync()
            // No close: as after kill -9, only the WAL holds the data.
        }
        let (reopened, report) = try TimeSeriesStore.open(path: path)
        #expect(report.warnings.isEmpty)
        #expect(report.series == 20)
        #expect(everything(reopened) == expected)
        #expect(expected[labels("metric", ["i": "3"])]?[1] == Sample(7_500, -1))
        #expect(expected[labels("metric", ["i": "19"])]?.first?.timestamp == 105_000)
        // Refs survive: appending by the old ref still reaches the same series.
        let ref = reopened.select([.equal("i", "0")])[0].ref
        #expect(reopened.append([PendingSample(labels: .empty, ref: ref, timestamp: 10_000_000, value: 1)]).appended == 1)
    }

    @Test func checkpointsReplaceTheWALAndKeepEverything() throws {
        let path = temporaryStorePath("checkpoint")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var expected: [Labels: [Sample]] = [:]
        do {
            let (store, _) = try TimeSeriesStore.open(path: path)
            for scrapeIndex in 0..<200 { scrape(store, at: Int64(scrapeIndex) * 15_000) }
            try store.checkpoint()
            for scrapeIndex in 200..<250 { scrape(store, at: Int64(scrapeIndex) * 15_000) }
            expected = everything(store)
            let files = try FileManager.default.contentsOfDirectory(atPath: path + "/wal")
            #expect(files.count == 1, "segments before the checkpoint are removed: \(files)")
        }
        let (reopened, report) = try TimeSeriesStore.open(path: path)
        #expect(everything(reopened) == expected)
        #expect(report.samples == 20 * 250)
        try reopened.close()
        let (again, _) = try TimeSeriesStore.open(path: path)
        #expect(everything(again) == expected)
        #expect(again.walStatus().bytes == 0)
    }

    @Test func aTornWALTailIsCutOffWithAWarning() throws {
        let path = temporaryStorePath("torn")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let (store, _) = try TimeSeriesStore.open(path: path)
            for scrapeIndex in 0..<10 { scrape(store, at: Int64(scrapeIndex) * 15_000) }
            try store.sync()
        }
        let wal = path + "/wal/" + (try FileManager.default.contentsOfDirectory(atPath: path + "/wal").sorted().last!)
        let full = try Data(contentsOf: URL(fileURLWithPath: wal))
        try full.prefix(full.count - 7).write(to: URL(fileURLWithPath: wal))
        let (reopened, report) = try TimeSeriesStore.open(path: path)
        #expect(report.warnings.count == 1)
        #expect(report.warnings[0].contains("torn record"))
        // The last scrape's record was torn: the nine before it are all there.
        let lengths = Set(reopened.select([]).map { $0.sampleArray().count })
        #expect(lengths == [9])
        // A later open finds nothing more to repair.
        _ = consume reopened
        let (_, second) = try TimeSeriesStore.open(path: path)
        #expect(second.warnings.isEmpty)
    }

    @Test func aDamagedCheckpointIsRefusedNamingTheFile() throws {
        let path = temporaryStorePath("corrupt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let (store, _) = try TimeSeriesStore.open(path: path)
            scrape(store, at: 0)
            try store.close()
        }
        let name = try FileManager.default.contentsOfDirectory(atPath: path).first { $0.hasPrefix("checkpoint.") }!
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path + "/" + name))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path + "/" + name))
        #expect {
            _ = try TimeSeriesStore.open(path: path)
        } throws: { error in
            guard case TimeSeriesStoreError.corruptCheckpoint(let file, _) = error else { return false }
            return file.hasSuffix(name) && "\(error)".contains(name)
        }
    }

    @Test func aSecondOpenOfTheSameDirectoryIsRefused() throws {
        let path = temporaryStorePath("lock")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (store, _) = try TimeSeriesStore.open(path: path)
        #expect(throws: TimeSeriesStoreError.self) { _ = try TimeSeriesStore.open(path: path) }
        _ = store
    }

    @Test func snapshotsOpenAsStoresOfTheirOwn() throws {
        let path = temporaryStorePath("snapshot")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (store, _) = try TimeSeriesStore.open(path: path)
        for scrapeIndex in 0..<30 { scrape(store, at: Int64(scrapeIndex) * 15_000) }
        let name = try store.snapshot(name: "first")
        let (copy, _) = try TimeSeriesStore.open(path: path + "/snapshots/" + name)
        #expect(everything(copy) == everything(store))
    }
}
