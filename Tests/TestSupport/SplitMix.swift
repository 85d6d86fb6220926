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
        SeededGenerator(seed: testSeed(name, variable: variable))
    }

    /// The seed of a random test that draws its own numbers: from `variable` when set, fresh
    /// otherwise; printed either way.
    public static func testSeed(_ name: String, variable: String) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment[variable].flatMap { UInt64($0) }.map { max(1, $0) } ?? max(1, freshSeed())
        print("\(name): seed \(seed) (\(variable))")
        return seed
    }
}
