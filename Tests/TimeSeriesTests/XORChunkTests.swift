import Foundation
import TestSupport
import Testing
@testable import TimeSeries

/// A small seeded generator so random tests repeat; the seed is printed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// A generator seeded at random, or from CLAIMS_TEST_SEED to replay a run; prints the seed.
    static func fresh(_ name: String) -> SeededGenerator {
        let seed = ProcessInfo.processInfo.environment["CLAIMS_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        print("\(name): seed \(seed)")
        return SeededGenerator(seed: seed)
    }
}

@Suite struct XORChunkTests {
    func roundTrip(_ samples: [Sample]) throws {
        var chunk = XORChunk()
        for sample in samples { chunk.append(sample.timestamp, sample.value) }
        #expect(chunk.count == samples.count)
        let decoded = chunk.samples()
        #expect(decoded == samples)
        // Loading the bytes as stored gives the same samples and the same appending state.
        let restored = try XORChunk(bytes: chunk.bytes, bitCount: chunk.bitCount, count: chunk.count)
        #expect(restored.samples() == samples)
        // The bulk decoder of queries gives the same samples, whole and within a time range.
        var bulk: [Sample] = []
        #expect(chunk.appendSamples(into: &bulk, from: .min, through: .max))
        #expect(bulk == samples)
        let from = samples[samples.count / 3].timestamp
        let through = samples[2 * samples.count / 3].timestamp
        var part: [Sample] = []
        _ = chunk.appendSamples(into: &part, from: from, through: through)
        #expect(part == samples.filter { $0.timestamp >= from && $0.timestamp <= through })
    }

    @Test func adversarialValuesKeepTheirExactBits() throws {
        let values: [Double] = [
            0, -0.0, 1, -1, .nan, Double(bitPattern: 0x7FF8_0000_0000_0001), StaleMarker.value, .infinity, -.infinity,
            .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude / 3, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
            0.1, 0.2, 0.30000000000000004, 1e300, 1e-300, 42, 42, 42, StaleMarker.value, 7,
        ]
        let samples = values.enumerated().map { Sample(1_700_000_000_000 + Int64($0.offset) * 15_000, $0.element) }
        try roundTrip(samples)
        let decoded = XORChunk.chunk(samples).samples()
        #expect(StaleMarker.isMarker(decoded[6].value))
        #expect(!StaleMarker.isMarker(decoded[4].value))
        #expect(decoded[1].value.sign == .minus)
    }

    @Test func equalJitteredAndExtremeTimestamps() throws {
        try roundTrip([Sample(5, 1), Sample(5, 2), Sample(5, 3)])
        try roundTrip([Sample(-1_000, 1), Sample(-999, 1), Sample(0, 1), Sample(1, 1)])
        // Each width's extremes: a delta of delta of exactly +2^(w−1) and −(2^(w−1) − 1).
        for edge: Int64 in [8192, -8191, 8193, -8192, 65536, -65535, 65537, 524_288, -524_287, 524_289] {
            try roundTrip([Sample(0, 1), Sample(100_000, 2), Sample(200_000 + edge, 3), Sample(300_000 + edge, 4)])
        }
        // Every width of delta of delta: 0, 14, 17, 20 and 64 bits, both signs.
        let deltas: [Int64] = [15_000, 15_000, 15_001, 14_999, 15_000 + 8_192, 15_000 - 8_191, 15_000 + 65_536, 40_000, 15_000 + 524_288, 1, 9_000_000_000_000, 1]
        var timestamp: Int64 = 1_600_000_000_000
        var samples = [Sample(timestamp, 0)]
        for (index, delta) in deltas.enumerated() {
            timestamp += delta
            samples.append(Sample(timestamp, Double(index)))
        }
        try roundTrip(samples)
        try roundTrip([Sample(.min / 4, 1), Sample(.max / 4, 2), Sample(.max / 4 + 1, 3)])
    }

    @Test func randomSeriesRoundTrip() async throws {
        try await onOwnThread { try self.roundTripRandomSeries() }
    }

    func roundTripRandomSeries() throws {
        var generator = SeededGenerator.fresh("randomSeriesRoundTrip")
        for _ in 0..<200 {
            let count = Int.random(in: 1...XORChunk.maxSamples, using: &generator)
            var timestamp = Int64.random(in: -1_000_000_000_000...2_000_000_000_000, using: &generator)
            var value = Double.random(in: -1e6...1e6, using: &generator)
            var samples: [Sample] = []
            for _ in 0..<count {
                samples.append(Sample(timestamp, value))
                timestamp += Int64.random(in: 0...120_000, using: &generator)
                switch Int.random(in: 0..<5, using: &generator) {
                case 0: break
                case 1: value += 1
                case 2: value = Double(bitPattern: generator.next())
                case 3: value = Double.random(in: -1...1, using: &generator)
                default: value = Double(Int.random(in: 0...1000, using: &generator))
                }
            }
            try roundTrip(samples)
        }
    }

    @Test func aSteadyCounterCostsAboutTwoBitsASample() {
        var chunk = XORChunk()
        for index in 0..<XORChunk.maxSamples { chunk.append(1_700_000_000_000 + Int64(index) * 15_000, 12) }
        // Header: varint timestamp (6 bytes), raw value (8), first delta (3); then 2 bits each.
        #expect(chunk.byteCount <= 17 + (118 * 2 + 1 + 7) / 8 + 1)
    }

    @Test func damagedBytesAreRefusedWhenLoaded() {
        let chunk = XORChunk.chunk((0..<50).map { Sample(Int64($0) * 1000, Double($0 * $0)) })
        #expect(throws: ChunkDecodingError.self) { try XORChunk(bytes: Array(chunk.bytes.prefix(10)), bitCount: 80, count: 50) }
    }
}

extension XORChunk {
    static func chunk(_ samples: [Sample]) -> XORChunk {
        var chunk = XORChunk()
        for sample in samples { chunk.append(sample.timestamp, sample.value) }
        return chunk
    }
}
