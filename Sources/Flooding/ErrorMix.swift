public import ArgumentParser

/// Which errors a flood produces: client errors, server errors, or both.
public enum ErrorKind: String, CaseIterable, Sendable, ExpressibleByArgument {
    case clientErrors = "4xx"
    case serverErrors = "5xx"
    case both

    /// The status codes of an access record of this kind, as the original flood scripts chose them.
    public var statuses: [Int] {
        switch self {
        case .clientErrors: return Self.clientStatuses
        case .serverErrors: return Self.serverStatuses
        case .both: return Self.clientStatuses + Self.serverStatuses
        }
    }

    /// 400, 401, 403, 404 and 429.
    public static let clientStatuses = [400, 401, 403, 404, 429]
    /// 500 to 504.
    public static let serverStatuses = [500, 501, 502, 503, 504]
}

/// SplitMix64: a small seeded generator, so a flood repeats when given the seed it printed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// A random version-4 UUID in its usual text form, drawn from this generator.
    public mutating func uuid() -> String {
        var bytes = (0..<16).map { _ in UInt8(truncatingIfNeeded: next()) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = Array(bytes.map { byte in String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16) }.joined())
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }.joined(separator: "-")
    }

    /// A seed from the system's generator, for runs not given one.
    public static func freshSeed() -> UInt64 {
        var system = SystemRandomNumberGenerator()
        return system.next()
    }
}
