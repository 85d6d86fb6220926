import Foundation

/// A checkpoint: every series with all its chunks, as of the start of one WAL segment. A
/// store opens by loading its newest checkpoint and replaying the segments from that one on.
///
/// Layout: the magic `CTSDBCK1`, then (varints unless noted) the next series ref, the newest
/// timestamp (zigzag), the series count, and per series its ref, labels and chunks (sample
/// count, bit count, bytes); last the CRC-32C of everything before it (4 bytes). Files are
/// written under a temporary name, synced, then renamed, so a crash never leaves half a
/// checkpoint under a real name.
struct Checkpoint {
    static let magic = Array("CTSDBCK1".utf8)
    static let prefix = "checkpoint."

    struct SeriesEntry {
        let ref: SeriesRef
        let labels: Labels
        let chunks: [XORChunk]
    }

    var nextRef: UInt64
    var maxTime: Int64
    var series: [SeriesEntry]

    func encoded() -> [UInt8] {
        var encoder = ByteEncoder()
        encoder.raw(Self.magic)
        encoder.uvarint(nextRef)
        encoder.varint(maxTime)
        encoder.uvarint(UInt64(series.count))
        for entry in series {
            encoder.uvarint(entry.ref.rawValue)
            encoder.labels(entry.labels)
            encoder.uvarint(UInt64(entry.chunks.count))
            for chunk in entry.chunks {
                encoder.uvarint(UInt64(chunk.count))
                encoder.uvarint(UInt64(chunk.bitCount))
                encoder.raw(chunk.bytes)
            }
        }
        encoder.uint32(CRC32C.checksum(encoder.bytes))
        return encoder.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(FormatError) -> Checkpoint {
        guard bytes.count >= magic.count + 4, Array(bytes[0..<magic.count]) == magic else { throw FormatError("not a claimsd checkpoint (bad magic)") }
        var trailer = ByteDecoder(bytes, from: bytes.count - 4)
        guard try trailer.uint32() == CRC32C.checksum(bytes, from: 0, to: bytes.count - 4) else { throw FormatError("checksum mismatch") }
        var decoder = ByteDecoder(bytes, from: magic.count, to: bytes.count - 4)
        let nextRef = try decoder.uvarint()
        let maxTime = try decoder.varint()
        let count = try decoder.count()
        var series: [SeriesEntry] = []
        series.reserveCapacity(count)
        for _ in 0..<count {
            let ref = SeriesRef(try decoder.uvarint())
            let labels = try decoder.labels()
            let chunkCount = try decoder.count()
            var chunks: [XORChunk] = []
            chunks.reserveCapacity(chunkCount)
            for _ in 0..<chunkCount {
                let samples = try decoder.count(limit: 1 << 20)
                let bits = try decoder.count()
                let data = try decoder.raw((bits + 7) / 8)
                do {
                    chunks.append(try XORChunk(bytes: data, bitCount: bits, count: samples))
                } catch {
                    throw FormatError("a chunk of series \(labels) does not decode")
                }
            }
            series.append(SeriesEntry(ref: ref, labels: labels, chunks: chunks))
        }
        guard decoder.isAtEnd else { throw FormatError("unexpected bytes after the last series") }
        return Checkpoint(nextRef: nextRef, maxTime: maxTime, series: series)
    }

    /// Writes the checkpoint to `url` atomically (temporary file, sync, rename).
    func write(to url: URL) throws {
        let temporary = url.appendingPathExtension("tmp")
        let bytes = encoded()
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw TimeSeriesStoreError.io(path: temporary.path, problem: "cannot create checkpoint file")
        }
        let handle = try FileHandle(forWritingTo: temporary)
        try handle.write(contentsOf: bytes)
        try handle.synchronize()
        try handle.close()
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        try FileManager.default.moveItem(at: temporary, to: url)
    }
}
