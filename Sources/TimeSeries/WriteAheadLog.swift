import Foundation

/// The log of every change since the last checkpoint, in numbered segment files under
/// `<store>/wal/`. Each record is framed as a type byte, the payload's length and its CRC-32C
/// (both 4 bytes, little-endian), then the payload, so a torn or damaged tail is recognised and
/// cut off on replay. Records reach the operating system at once (a `kill -9` loses nothing
/// written); ``sync()`` makes them durable against power loss.
final class WriteAheadLog {
    /// Kinds of records.
    enum RecordType: UInt8 {
        /// New series: ref and labels of each.
        case series = 1
        /// Samples appended in time order.
        case samples = 2
        /// Samples imported at any time, merged into their series.
        case imported = 3
        /// Samples removed from some series within a time range.
        case deletion = 4
    }

    static let maxSegmentBytes = 32 << 20
    let directory: URL
    private(set) var segment: Int
    private var handle: FileHandle
    private var segmentBytes = 0
    /// Bytes written to the current and earlier segments since they were last checkpointed.
    private(set) var totalBytes = 0
    /// The last write error, if the disk refused a record; the data stays in memory.
    private(set) var lastError: String?
    private(set) var writeErrors = 0

    /// Opens a new segment numbered `segment` in `directory`.
    init(directory: URL, segment: Int, existingBytes: Int) throws {
        self.directory = directory
        self.segment = segment
        self.handle = try Self.createSegment(directory, segment)
        self.totalBytes = existingBytes
    }

    static func segmentName(_ number: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    private static func createSegment(_ directory: URL, _ number: Int) throws -> FileHandle {
        let url = directory.appendingPathComponent(segmentName(number))
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw TimeSeriesStoreError.io(path: url.path, problem: "cannot create WAL segment")
        }
        return try FileHandle(forWritingTo: url)
    }

    func write(series: [(SeriesRef, Labels)], samples: [(SeriesRef, Int64, Double)], imported: Bool) {
        var frames = ByteEncoder()
        if !series.isEmpty {
            var payload = ByteEncoder()
            payload.uvarint(UInt64(series.count))
            for (ref, labels) in series {
                payload.uvarint(ref.rawValue)
                payload.labels(labels)
            }
            Self.frame(.series, payload.bytes, into: &frames)
        }
        if !samples.isEmpty {
            var payload = ByteEncoder()
            payload.uvarint(UInt64(samples.count))
            let base = samples[0].1
            payload.varint(base)
            for (ref, timestamp, value) in samples {
                payload.uvarint(ref.rawValue)
                payload.varint(timestamp &- base)
                payload.uint64(value.bitPattern)
            }
            Self.frame(imported ? .imported : .samples, payload.bytes, into: &frames)
        }
        append(frames.bytes)
    }

    func writeDeletion(refs: [SeriesRef], mint: Int64, maxt: Int64) {
        var payload = ByteEncoder()
        payload.varint(mint)
        payload.varint(maxt)
        payload.uvarint(UInt64(refs.count))
        for ref in refs { payload.uvarint(ref.rawValue) }
        var frames = ByteEncoder()
        Self.frame(.deletion, payload.bytes, into: &frames)
        append(frames.bytes)
    }

    static func frame(_ type: RecordType, _ payload: [UInt8], into encoder: inout ByteEncoder) {
        encoder.bytes.append(type.rawValue)
        encoder.uint32(UInt32(payload.count))
        encoder.uint32(CRC32C.checksum(payload))
        encoder.raw(payload)
    }

    private func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        do {
            if segmentBytes > 0 && segmentBytes + bytes.count > Self.maxSegmentBytes { _ = try cut() }
            try handle.write(contentsOf: bytes)
            segmentBytes += bytes.count
            totalBytes += bytes.count
        } catch {
            writeErrors += 1
            lastError = "\(error)"
        }
    }

    /// Closes the current segment and starts the next; returns the new segment's number.
    /// Everything logged before the call is in segments with smaller numbers.
    func cut() throws -> Int {
        try handle.synchronize()
        try handle.close()
        segment += 1
        handle = try Self.createSegment(directory, segment)
        segmentBytes = 0
        return segment
    }

    /// Flushes written records to stable storage.
    func sync() throws {
        try handle.synchronize()
    }

    func close() throws {
        try handle.synchronize()
        try handle.close()
    }

    /// Notes that segments before a checkpoint were removed.
    func forgetBytes(_ count: Int) {
        totalBytes = max(0, totalBytes - count)
    }
}

/// One record read back from a segment.
struct WALRecord {
    let type: WriteAheadLog.RecordType
    let payload: ByteDecoder
}

/// Reads a segment's records, stopping at the first one that is torn or damaged.
struct WALSegmentReader {
    /// The records that checked out, and where the good part of the file ends.
    static func read(_ bytes: [UInt8]) -> (records: [WALRecord], validLength: Int, problem: String?) {
        var records: [WALRecord] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 9 else { return (records, offset, "torn record header at byte \(offset)") }
            guard let type = WriteAheadLog.RecordType(rawValue: bytes[offset]) else {
                return (records, offset, "unknown record type \(bytes[offset]) at byte \(offset)")
            }
            var header = ByteDecoder(bytes, from: offset + 1, to: offset + 9)
            guard let length = try? Int(header.uint32()), let checksum = try? header.uint32() else {
                return (records, offset, "torn record header at byte \(offset)")
            }
            let start = offset + 9
            guard bytes.count - start >= length else { return (records, offset, "torn record at byte \(offset): \(length) bytes announced, \(bytes.count - start) present") }
            guard CRC32C.checksum(bytes, from: start, to: start + length) == checksum else {
                return (records, offset, "checksum mismatch in record at byte \(offset)")
            }
            records.append(WALRecord(type: type, payload: ByteDecoder(bytes, from: start, to: start + length)))
            offset = start + length
        }
        return (records, offset, nil)
    }
}

/// Why a store could not be opened or saved.
public enum TimeSeriesStoreError: Error, Sendable, CustomStringConvertible {
    /// A checkpoint file is damaged; the store refuses to start rather than lose its history.
    case corruptCheckpoint(path: String, problem: String)
    /// Another process holds the store.
    case locked(path: String)
    /// A file could not be read or written.
    case io(path: String, problem: String)

    public var description: String {
        switch self {
        case .corruptCheckpoint(let path, let problem):
            return "checkpoint \(path) is damaged (\(problem)); move it aside to start without the history it holds, or restore it from a snapshot"
        case .locked(let path):
            return "the time-series store at \(path) is in use by another claimsd process; stop it first or choose another CLAIMS_TSDB_PATH"
        case .io(let path, let problem):
            return "\(path): \(problem)"
        }
    }
}
