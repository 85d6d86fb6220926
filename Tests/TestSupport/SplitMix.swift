public import Flooding
import Foundation

/// SplitMix64, the flood tools' seeded generator: random tests repeat when given the seed they print.
public typealias SplitMix = SeededGenerator

extension SeededGenerator {
    /// A value in `0..<bound`.
    public mutating func next(upTo bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// A value in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }
}

extension SeededGenerator {
    /// The generator of a random test: seeded from the environment variable `variable` when it
    /// is set (to replay a failure), freshly otherwise; the seed is printed either way.
    public static func forTest(_ name: String, variable: String) -> SeededGenerator {
        let seed = ProcessInfo.processInfo.environment[variable].flatMap { UInt64($0) } ?? freshSeed()
        print("\(name): seed \(seed) (\(variable))")
        return SeededGenerator(seed: seed)
    }
}
