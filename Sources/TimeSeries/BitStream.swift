/// Bits written most significant first into a growing byte array; the last byte may be partly
/// used (its low bits are zero until written).
struct BitWriter: Sendable {
    private(set) var bytes: [UInt8] = []
    /// Unused bits at the end of the last byte (0 when the last byte is full or there is none).
    private(set) var freeBits = 0

    init() {}

    init(bytes: [UInt8], freeBits: Int) {
        self.bytes = bytes
        self.freeBits = freeBits
    }

    /// The number of bits written.
    var bitCount: Int { bytes.count * 8 - freeBits }

    @inline(__always)
    mutating func writeBit(_ bit: Bool) {
        if freeBits == 0 {
            bytes.append(0)
            freeBits = 8
        }
        freeBits -= 1
        if bit { bytes[bytes.count - 1] |= 1 << UInt8(freeBits) }
    }

    /// Writes the low `count` bits of `value` (0…64), most significant first.
    @inline(__always)
    mutating func write(_ value: UInt64, bits count: Int) {
        var remaining = count
        while remaining > 0 {
            if freeBits == 0 {
                bytes.append(0)
                freeBits = 8
            }
            let taken = min(freeBits, remaining)
            let shift = remaining - taken
            let mask: UInt64 = taken == 64 ? .max : (1 << UInt64(taken)) - 1
            let part = UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & mask)
            bytes[bytes.count - 1] |= part << UInt8(freeBits - taken)
            freeBits -= taken
            remaining -= taken
        }
    }

    /// Writes `value` as an unsigned LEB128 varint, byte by byte.
    mutating func writeUVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            write(value & 0x7F | 0x80, bits: 8)
            value >>= 7
        }
        write(value, bits: 8)
    }

    /// Writes `value` zigzag-encoded as a varint.
    mutating func writeVarint(_ value: Int64) {
        writeUVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}

/// Bytes a ``BitReader`` reads: an array (iterators, which outlive any one call) or a buffer
/// pointer (bulk decoding inside `withUnsafeBufferPointer`).
protocol ChunkBytes {
    var count: Int { get }
    subscript(_ index: Int) -> UInt8 { get }
    /// The 8 bytes from `index` as a big-endian word; only called when they are all there.
    func word(at index: Int) -> UInt64
}

extension Array: ChunkBytes where Element == UInt8 {
    @inline(__always)
    func word(at index: Int) -> UInt64 {
        withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: index, as: UInt64.self)) }
    }
}

extension UnsafeBufferPointer: ChunkBytes where Element == UInt8 {
    @inline(__always)
    func word(at index: Int) -> UInt64 {
        UInt64(bigEndian: UnsafeRawBufferPointer(self).loadUnaligned(fromByteOffset: index, as: UInt64.self))
    }
}

/// Reads what ``BitWriter`` wrote.
struct BitReader<Bytes: ChunkBytes> {
    let bytes: Bytes
    private var position = 0
    let end: Int

    init(bytes: Bytes, bitCount: Int) {
        self.bytes = bytes
        self.end = bitCount
    }

    @inline(__always)
    mutating func readBit() throws(ChunkDecodingError) -> Bool {
        guard position < end else { throw ChunkDecodingError() }
        let byte = bytes[position >> 3]
        let bit = (byte >> UInt8(7 - position & 7)) & 1
        position += 1
        return bit == 1
    }

    /// Reads `count` bits (0…64) as the low bits of the result: one unaligned 64-bit load
    /// (and a ninth byte when the bits straddle it) instead of a loop over bytes.
    @inline(__always)
    mutating func read(bits count: Int) throws(ChunkDecodingError) -> UInt64 {
        guard count <= end - position else { throw ChunkDecodingError() }
        guard count > 0 else { return 0 }
        let index = position >> 3
        let offset = UInt64(position & 7)
        let word = loadWord(at: index)
        let width = UInt64(count)
        let result: UInt64
        if width <= 64 - offset {
            result = (word << offset) >> (64 - width)
        } else {
            let extra = width - (64 - offset)
            let next = index + 8 < bytes.count ? UInt64(bytes[index + 8]) : 0
            result = ((word << offset) >> offset) << extra | next >> (8 - extra)
        }
        position += count
        return result
    }

    /// The 8 bytes from `index` as a big-endian word, zeros past the end.
    @inline(__always)
    private func loadWord(at index: Int) -> UInt64 {
        if index + 8 <= bytes.count { return bytes.word(at: index) }
        var word: UInt64 = 0
        for position in index..<(index + 8) { word = word << 8 | (position < bytes.count ? UInt64(bytes[position]) : 0) }
        return word
    }

    mutating func readUVarint() throws(ChunkDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while shift < 64 {
            let byte = try read(bits: 8)
            result |= (byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        throw ChunkDecodingError()
    }

    mutating func readVarint() throws(ChunkDecodingError) -> Int64 {
        let raw = try readUVarint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }
}

/// A chunk's bits end before its samples do: the chunk was damaged.
public struct ChunkDecodingError: Error, Sendable, CustomStringConvertible {
    public var description: String { "chunk data ends before its last sample" }
}

extension BitReader: Sendable where Bytes: Sendable {}
