/// Bytes of the WAL and checkpoint formats: little-endian fixed-width integers, LEB128
/// varints, and length-prefixed UTF-8 strings.
struct ByteEncoder: Sendable {
    var bytes: [UInt8] = []

    mutating func uvarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func varint(_ value: Int64) {
        uvarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func uint32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func uint64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func string(_ value: String) {
        uvarint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    mutating func labels(_ labels: Labels) {
        uvarint(UInt64(labels.count))
        for label in labels {
            string(label.name)
            string(label.value)
        }
    }

    mutating func raw(_ data: [UInt8]) {
        bytes.append(contentsOf: data)
    }
}

/// Reads what ``ByteEncoder`` wrote; every read checks the bounds.
struct ByteDecoder {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = start
        self.end = end ?? bytes.count
    }

    var isAtEnd: Bool { offset >= end }

    mutating func uvarint() throws(FormatError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < end && shift < 64 {
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        throw FormatError("truncated varint")
    }

    mutating func varint() throws(FormatError) -> Int64 {
        let raw = try uvarint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    mutating func count(limit: Int = 1 << 30) throws(FormatError) -> Int {
        let value = try uvarint()
        guard value <= UInt64(limit) else { throw FormatError("count \(value) is out of range") }
        return Int(value)
    }

    mutating func uint32() throws(FormatError) -> UInt32 {
        guard end - offset >= 4 else { throw FormatError("truncated integer") }
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << UInt32(index * 8) }
        offset += 4
        return value
    }

    mutating func uint64() throws(FormatError) -> UInt64 {
        guard end - offset >= 8 else { throw FormatError("truncated integer") }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << UInt64(index * 8) }
        offset += 8
        return value
    }

    mutating func raw(_ length: Int) throws(FormatError) -> [UInt8] {
        guard length >= 0, end - offset >= length else { throw FormatError("truncated data") }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    mutating func string() throws(FormatError) -> String {
        let length = try count(limit: end - offset)
        let text = try raw(length)
        guard let string = String(validating: text, as: UTF8.self) else { throw FormatError("label text is not UTF-8") }
        return string
    }

    mutating func labels() throws(FormatError) -> Labels {
        let count = try count(limit: 10_000)
        var labels: [Label] = []
        labels.reserveCapacity(count)
        for _ in 0..<count { labels.append(Label(try string(), try string())) }
        return Labels(labels)
    }
}

/// Stored bytes that do not follow the format.
struct FormatError: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// CRC-32C (Castagnoli), the checksum of WAL records and checkpoints.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for index in start..<(end ?? bytes.count) {
                crc = table[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
            }
        }
        return ~crc
    }
}
