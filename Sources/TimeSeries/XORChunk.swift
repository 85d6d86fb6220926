/// An append-only run of samples of one series, compressed the Gorilla way as Prometheus's TSDB
/// does: timestamps as deltas of deltas, values as the XOR of their bits with the previous value.
///
/// A steady 15 s scrape of an unchanged counter costs two bits per sample. The first timestamp
/// is a zigzag varint, the first value its 64 bits; the second timestamp a varint delta. From
/// the third on, the delta of deltas takes 1, 16, 20, 24 or 68 bits. A value equal to the last
/// costs one bit; otherwise its XOR's meaningful bits are written, reusing the previous
/// leading/trailing-zero window when they fit in it.
///
/// Appending requires timestamps that do not decrease; the store guarantees it.
public struct XORChunk: Sendable {
    /// Most samples a chunk holds before it is sealed.
    public static let maxSamples = 120

    private var stream = BitWriter()
    /// The number of samples in the chunk.
    public private(set) var count = 0
    /// The first sample's timestamp (undefined while empty).
    public private(set) var minTime: Int64 = 0
    /// The last sample's timestamp (undefined while empty).
    public private(set) var maxTime: Int64 = 0
    private var lastDelta: Int64 = 0
    private var lastBits: UInt64 = 0
    /// Leading zeros of the last value window; 0xFF while no window exists yet.
    private var leading: UInt8 = 0xFF
    private var trailing: UInt8 = 0

    /// An empty chunk.
    public init() {}

    /// The encoded bytes (the last may be partly used).
    public var bytes: [UInt8] { stream.bytes }
    /// How many bits of ``bytes`` hold data.
    public var bitCount: Int { stream.bitCount }
    /// Bytes the encoded samples occupy.
    public var byteCount: Int { stream.bytes.count }

    /// A chunk from its bytes as stored; the samples are decoded once to restore the appending
    /// state, so a damaged chunk is refused here rather than when read.
    public init(bytes: [UInt8], bitCount: Int, count: Int) throws(ChunkDecodingError) {
        guard bitCount >= 0, bitCount <= bytes.count * 8, bytes.count * 8 - bitCount < 8 || bytes.isEmpty else { throw ChunkDecodingError() }
        var chunk = XORChunk()
        var iterator = XORChunkIterator(bytes: bytes, bitCount: bitCount, count: count)
        while let sample = try iterator.nextSample() {
            chunk.append(sample.timestamp, sample.value)
        }
        // Re-encoding gives the same bits; the stored bytes are kept as they were.
        guard chunk.count == count, chunk.bitCount == bitCount else { throw ChunkDecodingError() }
        self = chunk
    }

    /// Appends a sample; `timestamp` must not be earlier than ``maxTime``.
    public mutating func append(_ timestamp: Int64, _ value: Double) {
        let bits = value.bitPattern
        switch count {
        case 0:
            stream.writeVarint(timestamp)
            stream.write(bits, bits: 64)
            minTime = timestamp
        case 1:
            let delta = timestamp &- maxTime
            stream.writeVarint(delta)
            writeValue(bits)
            lastDelta = delta
        default:
            let delta = timestamp &- maxTime
            let deltaOfDelta = delta &- lastDelta
            if deltaOfDelta == 0 {
                stream.writeBit(false)
            } else if deltaOfDelta >= -(1 << 13) + 1 && deltaOfDelta <= 1 << 13 {
                stream.write(0b10, bits: 2)
                stream.write(UInt64(bitPattern: deltaOfDelta), bits: 14)
            } else if deltaOfDelta >= -(1 << 16) + 1 && deltaOfDelta <= 1 << 16 {
                stream.write(0b110, bits: 3)
                stream.write(UInt64(bitPattern: deltaOfDelta), bits: 17)
            } else if deltaOfDelta >= -(1 << 19) + 1 && deltaOfDelta <= 1 << 19 {
                stream.write(0b1110, bits: 4)
                stream.write(UInt64(bitPattern: deltaOfDelta), bits: 20)
            } else {
                stream.write(0b1111, bits: 4)
                stream.write(UInt64(bitPattern: deltaOfDelta), bits: 64)
            }
            writeValue(bits)
            lastDelta = delta
        }
        maxTime = timestamp
        lastBits = bits
        count += 1
    }

    @inline(__always)
    private mutating func writeValue(_ bits: UInt64) {
        let xor = bits ^ lastBits
        if xor == 0 {
            stream.writeBit(false)
            return
        }
        stream.writeBit(true)
        var newLeading = UInt8(xor.leadingZeroBitCount)
        let newTrailing = UInt8(xor.trailingZeroBitCount)
        // Five bits hold the leading-zero count.
        if newLeading >= 32 { newLeading = 31 }
        if leading != 0xFF && newLeading >= leading && newTrailing >= trailing {
            stream.writeBit(false)
            stream.write(xor >> UInt64(trailing), bits: 64 - Int(leading) - Int(trailing))
            return
        }
        leading = newLeading
        trailing = newTrailing
        let significant = 64 - Int(newLeading) - Int(newTrailing)
        stream.writeBit(true)
        stream.write(UInt64(newLeading), bits: 5)
        // Six bits hold 1…64; 64 is written as 0 (0 significant bits cannot happen here).
        stream.write(UInt64(significant & 63), bits: 6)
        stream.write(xor >> UInt64(newTrailing), bits: significant)
    }

    /// An iterator over the chunk's samples, in time order.
    public func makeIterator() -> XORChunkIterator {
        XORChunkIterator(bytes: stream.bytes, bitCount: stream.bitCount, count: count)
    }

    /// Every sample of the chunk.
    public func samples() -> [Sample] {
        var result: [Sample] = []
        result.reserveCapacity(count)
        var iterator = makeIterator()
        while let sample = iterator.next() { result.append(sample) }
        return result
    }
}

/// Decodes an ``XORChunk``'s samples in order.
public struct XORChunkIterator: IteratorProtocol, Sendable {
    private var reader: BitReader<[UInt8]>
    private var decoder: XORDecoder

    init(bytes: [UInt8], bitCount: Int, count: Int) {
        self.reader = BitReader(bytes: bytes, bitCount: bitCount)
        self.decoder = XORDecoder(count: count)
    }

    /// The next sample; nil at the end (or where the chunk's bits end early, which only a
    /// damaged chunk does; stored chunks are checked when loaded).
    public mutating func next() -> Sample? {
        (try? nextSample()) ?? nil
    }

    /// The next sample, nil at the end; throws where the bits end before the count does.
    public mutating func nextSample() throws(ChunkDecodingError) -> Sample? {
        try decoder.next(from: &reader)
    }
}

extension XORChunk {
    /// Appends the chunk's samples with timestamps in [mint, maxt] to `result`; returns false
    /// once a sample past `maxt` was seen (later chunks need not be read). The bulk path of
    /// queries: it reads the bytes through a buffer pointer, without an iterator copied per
    /// sample or the array retained per read; a damaged chunk ends early, as the iterator does.
    func appendSamples(into result: inout [Sample], from mint: Int64, through maxt: Int64) -> Bool {
        let total = count
        let bitCount = stream.bitCount
        return stream.bytes.withUnsafeBufferPointer { buffer -> Bool in
            var reader = BitReader(bytes: buffer, bitCount: bitCount)
            var decoder = XORDecoder(count: total)
            while let sample = (try? decoder.next(from: &reader)) ?? nil {
                if sample.timestamp < mint { continue }
                if sample.timestamp > maxt { return false }
                result.append(sample)
            }
            return true
        }
    }
}

/// The state of decoding one chunk: timestamps as delta-of-deltas, values as XORs with the
/// previous value (Gorilla), shared by the iterator and the bulk decoder.
struct XORDecoder: Sendable {
    private let count: Int
    private var read = 0
    private var timestamp: Int64 = 0
    private var delta: Int64 = 0
    private var bits: UInt64 = 0
    private var leading: UInt64 = 0
    private var trailing: UInt64 = 0

    init(count: Int) {
        self.count = count
    }

    /// The next sample from `reader`, nil after the last; throws where the bits end early.
    @inline(__always)
    mutating func next<Bytes: ChunkBytes>(from reader: inout BitReader<Bytes>) throws(ChunkDecodingError) -> Sample? {
        guard read < count else { return nil }
        switch read {
        case 0:
            timestamp = try reader.readVarint()
            bits = try reader.read(bits: 64)
        case 1:
            delta = try reader.readVarint()
            timestamp &+= delta
            try readValue(&reader)
        default:
            var prefix = 0
            while prefix < 4 {
                guard try reader.readBit() else { break }
                prefix += 1
            }
            let width: Int
            switch prefix {
            case 0: width = 0
            case 1: width = 14
            case 2: width = 17
            case 3: width = 20
            default: width = 64
            }
            if width > 0 {
                let raw = try reader.read(bits: width)
                // The fields hold −(2^(w−1) − 1) … 2^(w−1): values above 2^(w−1) are negative.
                if width < 64 && raw > 1 << UInt64(width - 1) {
                    delta &+= Int64(bitPattern: raw) &- Int64(1) << Int64(width)
                } else {
                    delta &+= Int64(bitPattern: raw)
                }
            }
            timestamp &+= delta
            try readValue(&reader)
        }
        read += 1
        return Sample(timestamp, Double(bitPattern: bits))
    }

    @inline(__always)
    private mutating func readValue<Bytes: ChunkBytes>(_ reader: inout BitReader<Bytes>) throws(ChunkDecodingError) {
        guard try reader.readBit() else { return }
        if try reader.readBit() {
            leading = try reader.read(bits: 5)
            var significant = try reader.read(bits: 6)
            if significant == 0 { significant = 64 }
            guard leading + significant <= 64 else { throw ChunkDecodingError() }
            trailing = 64 - leading - significant
        }
        let xor = try reader.read(bits: Int(64 - leading - trailing)) << trailing
        bits ^= xor
    }
}
