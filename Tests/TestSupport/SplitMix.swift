public import Flooding

/// SplitMix64, the flood tools' seeded generator: random tests repeat when given the seed they print.
public typealias SplitMix = SeededGenerator

extension SeededGenerator {
    /// A value in `0..<bound`.
    public mutating func next(upTo bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// A value in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }
}
