import Foundation
public import CoreMetrics
import Synchronization

/// What opening a store found.
public struct OpenReport: Sendable {
    /// Series and samples loaded.
    public var series = 0
    public var samples = 0
    /// WAL segments replayed and records applied.
    public var segments = 0
    public var records = 0
    /// How long loading the checkpoint and replaying the WAL took.
    public var duration: Duration = .zero
    /// Damage that was repaired (a torn WAL tail cut off), one line each.
    public var warnings: [String] = []
}

/// The on-disk side of a store: where it lives, the lock that keeps other processes out, and
/// the lock that keeps checkpoints from overlapping.
final class StoreDirectory: Sendable {
    let url: URL
    /// The writer's lock; nil for a store opened read-only.
    let lock: FileLock?
    let checkpointing = Mutex(())

    init(url: URL, lock: FileLock?) {
        self.url = url
        self.lock = lock
    }

    var walURL: URL { url.appendingPathComponent("wal") }
}

extension TimeSeriesStore {
    /// Opens (or creates) the store in `path`: takes its lock, loads the newest checkpoint and
    /// replays the WAL after it. A torn or damaged WAL tail is cut off and reported in
    /// ``OpenReport/warnings``; a damaged checkpoint is refused with an error naming the file.
    ///
    /// `readOnly` opens an existing store without its lock (so while a claimsd writes to it)
    /// and changes no file: damage is reported, not repaired, and appends stay in memory.
    public static func open(
        path: String, options: TimeSeriesOptions = TimeSeriesOptions(), metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        readOnly: Bool = false
    ) throws -> (TimeSeriesStore, OpenReport) {
        let started = ContinuousClock.now
        let url = URL(fileURLWithPath: path, isDirectory: true)
        let files = FileManager.default
        if readOnly {
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw TimeSeriesStoreError.io(path: path, problem: "no time-series store here")
            }
        } else {
            do {
                try files.createDirectory(at: url.appendingPathComponent("wal"), withIntermediateDirectories: true)
            } catch {
                throw TimeSeriesStoreError.io(path: path, problem: "cannot create the store directory: \(error.localizedDescription)")
            }
        }
        let directory = StoreDirectory(url: url, lock: readOnly ? nil : try FileLock(path: url.appendingPathComponent("lock").path))
        var report = OpenReport()
        var head = HeadState()

        // The newest checkpoint, if any; temporary files are what a crash left mid-write.
        let names = (try? files.contentsOfDirectory(atPath: path)) ?? []
        for name in names where !readOnly && name.hasPrefix(Checkpoint.prefix) && name.hasSuffix(".tmp") {
            try? files.removeItem(at: url.appendingPathComponent(name))
        }
        let checkpoints = names.compactMap { name -> Int? in
            guard name.hasPrefix(Checkpoint.prefix), !name.hasSuffix(".tmp") else { return nil }
            return Int(name.dropFirst(Checkpoint.prefix.count))
        }.sorted()
        var firstSegment = 0
        if let newest = checkpoints.last {
            let checkpointURL = url.appendingPathComponent(Checkpoint.prefix + WriteAheadLog.segmentName(newest))
            let checkpoint: Checkpoint
            do {
                let data = try Data(contentsOf: checkpointURL)
                checkpoint = try Checkpoint.decode([UInt8](data))
            } catch let error as FormatError {
                throw TimeSeriesStoreError.corruptCheckpoint(path: checkpointURL.path, problem: error.description)
            } catch {
                throw TimeSeriesStoreError.io(path: checkpointURL.path, problem: error.localizedDescription)
            }
            head.load(checkpoint)
            firstSegment = newest
        }

        // Replay the segments from the checkpoint on, in order.
        let segments = ((try? files.contentsOfDirectory(atPath: directory.walURL.path)) ?? []).compactMap(Int.init).sorted()
        var damaged = false
        var walBytes = 0
        for number in segments {
            let segmentURL = directory.walURL.appendingPathComponent(WriteAheadLog.segmentName(number))
            if number < firstSegment || damaged {
                // Covered by the checkpoint, or after damage whose records cannot be trusted in order.
                if damaged { report.warnings.append("\(readOnly ? "ignored" : "removed") WAL segment \(segmentURL.path) after a damaged one") }
                if !readOnly { try? files.removeItem(at: segmentURL) }
                continue
            }
            let bytes = [UInt8]((try? Data(contentsOf: segmentURL)) ?? Data())
            let (records, validLength, problem) = WALSegmentReader.read(bytes)
            for record in records { head.replay(record, options: options) }
            report.records += records.count
            report.segments += 1
            walBytes += validLength
            if let problem {
                damaged = true
                report.warnings.append(
                    "WAL segment \(segmentURL.path): \(problem); \(readOnly ? "read" : "cut to") \(validLength) of \(bytes.count) bytes, \(records.count) records kept")
                if !readOnly, let handle = try? FileHandle(forWritingTo: segmentURL) {
                    try? handle.truncate(atOffset: UInt64(validLength))
                    try? handle.close()
                }
            }
        }
        _ = head.applyRetention(options.retention)
        if !readOnly {
            head.log = try WriteAheadLog(directory: directory.walURL, segment: max((segments.last ?? 0) + 1, firstSegment, 1), existingBytes: walBytes)
        }
        let statistics = head.statistics()
        report.series = statistics.series
        report.samples = statistics.samples
        report.duration = ContinuousClock.now - started
        let store = TimeSeriesStore(options: options, metrics: StoreMetrics(factory: metrics), state: head, directory: directory)
        return (store, report)
    }

    /// Writes a checkpoint of everything held and removes the WAL segments and checkpoints it
    /// replaces. Appends continue while the checkpoint is written. Returns its size in bytes.
    @discardableResult
    public func checkpoint() throws -> Int {
        guard let directory, directory.lock != nil else { return 0 }
        return try directory.checkpointing.withLock { _ in
            let (segment, checkpoint, loggedBytes) = try state.withLock { head throws -> (Int, Checkpoint, Int) in
                guard let log = head.log else { throw TimeSeriesStoreError.io(path: directory.url.path, problem: "store is closed") }
                let bytes = log.totalBytes
                return (try log.cut(), head.checkpointContents(), bytes)
            }
            let url = directory.url.appendingPathComponent(Checkpoint.prefix + WriteAheadLog.segmentName(segment))
            try checkpoint.write(to: url)
            let files = FileManager.default
            for name in (try? files.contentsOfDirectory(atPath: directory.url.path)) ?? [] {
                guard name.hasPrefix(Checkpoint.prefix), let number = Int(name.dropFirst(Checkpoint.prefix.count)), number < segment else { continue }
                try? files.removeItem(at: directory.url.appendingPathComponent(name))
            }
            for name in (try? files.contentsOfDirectory(atPath: directory.walURL.path)) ?? [] {
                guard let number = Int(name), number < segment else { continue }
                try? files.removeItem(at: directory.walURL.appendingPathComponent(name))
            }
            state.withLock { head in head.log?.forgetBytes(loggedBytes) }
            return ((try? files.attributesOfItem(atPath: url.path))?[.size] as? Int) ?? 0
        }
    }

    /// Writes a checkpoint of everything held to `snapshots/<name>/` without touching the WAL;
    /// returns the name. A snapshot directory can be opened as a store of its own.
    public func snapshot(name: String) throws -> String {
        guard let directory else { throw TimeSeriesStoreError.io(path: "", problem: "a store kept only in memory has no snapshots") }
        let target = directory.url.appendingPathComponent("snapshots").appendingPathComponent(name)
        try FileManager.default.createDirectory(at: target.appendingPathComponent("wal"), withIntermediateDirectories: true)
        let checkpoint = state.withLock { head in head.checkpointContents() }
        try checkpoint.write(to: target.appendingPathComponent(Checkpoint.prefix + WriteAheadLog.segmentName(0)))
        return name
    }

    /// Flushes the WAL to stable storage.
    public func sync() throws {
        try state.withLock { head in try head.log?.sync() }
    }

    /// Checkpoints, closes the WAL and releases the directory's lock; appends after this are
    /// kept in memory only.
    public func close() throws {
        guard let directory, let lock = directory.lock else { return }
        defer { lock.release() }
        try checkpoint()
        try state.withLock { head in
            try head.log?.close()
            head.log = nil
        }
    }

    /// Bytes in the WAL since the last checkpoint, and write errors seen.
    public func walStatus() -> (bytes: Int, writeErrors: Int, lastError: String?) {
        state.withLock { head in (head.log?.totalBytes ?? 0, head.log?.writeErrors ?? 0, head.log?.lastError) }
    }
}

extension HeadState {
    mutating func load(_ checkpoint: Checkpoint) {
        nextRef = max(nextRef, checkpoint.nextRef)
        maxTime = max(maxTime, checkpoint.maxTime)
        for entry in checkpoint.series {
            var memSeries = createSeries(entry.ref, entry.labels)
            if let last = entry.chunks.last {
                memSeries.sealed = Array(entry.chunks.dropLast())
                memSeries.open = last
                memSeries.restoreTail()
            }
            series[entry.ref] = memSeries
        }
    }

    func checkpointContents() -> Checkpoint {
        let entries = series.values.sorted { $0.ref < $1.ref }.map { memSeries in
            Checkpoint.SeriesEntry(
                ref: memSeries.ref, labels: memSeries.labels, chunks: memSeries.open.count > 0 ? memSeries.sealed + [memSeries.open] : memSeries.sealed)
        }
        return Checkpoint(nextRef: nextRef, maxTime: maxTime, series: entries)
    }

    /// Registers a series with a known ref (from a checkpoint or the WAL).
    mutating func createSeries(_ ref: SeriesRef, _ labels: Labels) -> MemSeries {
        if let existing = series[ref] { return existing }
        let interned = Labels(sortedUnique: labels.map { Label(index.intern($0.name), index.intern($0.value)) })
        let memSeries = MemSeries(ref: ref, labels: interned)
        series[ref] = memSeries
        refs[interned] = ref
        index.insert(ref, interned)
        nextRef = max(nextRef, ref.rawValue + 1)
        return memSeries
    }

    /// Applies one WAL record; records that do not decode are skipped (their CRC matched, so
    /// only a bug could write them).
    mutating func replay(_ record: WALRecord, options: TimeSeriesOptions) {
        var payload = record.payload
        do {
            switch record.type {
            case .series:
                let count = try payload.count()
                for _ in 0..<count {
                    let ref = SeriesRef(try payload.uvarint())
                    _ = createSeries(ref, try payload.labels())
                }
            case .samples, .imported:
                let count = try payload.count()
                let base = try payload.varint()
                var bySeries: [SeriesRef: [Sample]] = [:]
                var order: [SeriesRef] = []
                for _ in 0..<count {
                    let ref = SeriesRef(try payload.uvarint())
                    let timestamp = base &+ (try payload.varint())
                    let value = Double(bitPattern: try payload.uint64())
                    if bySeries[ref] == nil { order.append(ref) }
                    bySeries[ref, default: []].append(Sample(timestamp, value))
                }
                for ref in order {
                    guard let samples = bySeries[ref] else { continue }
                    if record.type == .imported {
                        merge(ref, samples, chunkRange: options.chunkRange)
                    } else {
                        for sample in samples where series.append(ref, sample.timestamp, sample.value, chunkRange: options.chunkRange) == .appended {
                            maxTime = max(maxTime, sample.timestamp)
                        }
                    }
                }
            case .deletion:
                let mint = try payload.varint()
                let maxt = try payload.varint()
                let count = try payload.count()
                var refs: [SeriesRef] = []
                for _ in 0..<count { refs.append(SeriesRef(try payload.uvarint())) }
                delete(refs, from: mint, through: maxt, chunkRange: options.chunkRange, log: false)
            }
        } catch {
            return
        }
    }
}
