public import Foundation

/// One priced line of a claim: typed values only, as normalized at intake.
public struct ClaimLine: Sendable, Equatable {
    public var lineNumber: Int
    public var serviceDate: CalendarDate
    public var submittedProcedure: String
    public var quadrant: String?
    public var groupID: String
    public var subscriberID: String
    public var providerNPI: String
    public var providerFees: Money
    public var allowedFees: Money
    public var memberCoinsurance: Money
    public var memberCopay: Money

    public init(
        lineNumber: Int, serviceDate: CalendarDate, submittedProcedure: String, quadrant: String?, groupID: String, subscriberID: String,
        providerNPI: String, providerFees: Money, allowedFees: Money, memberCoinsurance: Money, memberCopay: Money
    ) {
        self.lineNumber = lineNumber
        self.serviceDate = serviceDate
        self.submittedProcedure = submittedProcedure
        self.quadrant = quadrant
        self.groupID = groupID
        self.subscriberID = subscriberID
        self.providerNPI = providerNPI
        self.providerFees = providerFees
        self.allowedFees = allowedFees
        self.memberCoinsurance = memberCoinsurance
        self.memberCopay = memberCopay
    }

    /// provider fees + member coinsurance + member copay − allowed fees.
    public var netFee: Money {
        providerFees + memberCoinsurance + memberCopay - allowedFees
    }
}

/// One provider's part of a claim: the net fees of the claim's lines that name it. The ranking,
/// the outbox events and the payments feed count each line towards its own provider.
public struct ProviderShare: Sendable, Equatable {
    public var providerNPI: String
    public var netFee: Money

    public init(providerNPI: String, netFee: Money) {
        self.providerNPI = providerNPI
        self.netFee = netFee
    }

    /// The shares of `lines`, one per provider, in NPI order.
    public static func shares(of lines: [ClaimLine]) -> [ProviderShare] {
        guard let first = lines.first?.providerNPI else { return [] }
        if lines.allSatisfy({ $0.providerNPI == first }) {
            return [ProviderShare(providerNPI: first, netFee: lines.reduce(.zero) { $0 + $1.netFee })]
        }
        var totals: [String: Money] = [:]
        for line in lines { totals[line.providerNPI, default: .zero] = totals[line.providerNPI, default: .zero] + line.netFee }
        return totals.map { ProviderShare(providerNPI: $0.key, netFee: $0.value) }.sorted { $0.providerNPI < $1.providerNPI }
    }
}

/// A claim that passed validation: its lines, the warnings it carries and what was ignored.
public struct ValidatedClaim: Sendable, Equatable {
    public var externalClaimNumber: String?
    public var lines: [ClaimLine]
    /// Violations of rules whose severity is `warn`, recorded on the claim.
    public var warnings: [Violation]
    /// Input keys that name no known field, in first-seen order.
    public var ignoredFields: [String]

    public init(externalClaimNumber: String?, lines: [ClaimLine], warnings: [Violation] = [], ignoredFields: [String] = []) {
        self.externalClaimNumber = externalClaimNumber
        self.lines = lines
        self.warnings = warnings
        self.ignoredFields = ignoredFields
    }

    /// The billing provider: the first line's. Every line has it unless `single_provider` is
    /// relaxed; ``providerShares`` says what each provider is owed.
    public var providerNPI: String { lines.first?.providerNPI ?? "" }

    /// Each provider's part of the net fee, by NPI.
    public var providerShares: [ProviderShare] { ProviderShare.shares(of: lines) }

    /// The sum of the lines' net fees.
    public var netFee: Money { lines.reduce(.zero) { $0 + $1.netFee } }
}

/// Time-ordered UUIDs (RFC 9562 version 7): 48 bits of Unix milliseconds, then randomness, with a
/// counter so ids made in the same millisecond by one process still sort in creation order.
public struct UUIDv7Generator: Sendable {
    private let state = LockedState()

    public init() {}

    public func next(now: Date = Date()) -> UUID {
        let millis = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (timestamp, counter) = state.advance(millis: millis)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: timestamp >> (8 * (5 - index))) }
        bytes[6] = 0x70 | UInt8((counter >> 8) & 0x0F)
        bytes[7] = UInt8(counter & 0xFF)
        var random = SystemRandomNumberGenerator()
        let tail = random.next() as UInt64
        for index in 8..<16 { bytes[index] = UInt8(truncatingIfNeeded: tail >> (8 * (15 - index))) }
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    /// The last timestamp and 12-bit counter, advanced under a lock.
    final class LockedState: @unchecked Sendable {
        private let lock = NSLock()
        private var lastMillis: UInt64 = 0
        private var counter: UInt16 = 0

        func advance(millis: UInt64) -> (UInt64, UInt16) {
            lock.withLock {
                if millis > lastMillis {
                    lastMillis = millis
                    counter = UInt16.random(in: 0..<0x400)  // room to count up within the millisecond
                } else if counter < 0xFFF {
                    counter += 1
                } else {
                    // 4096 ids in one millisecond: borrow the next millisecond to stay ordered.
                    lastMillis += 1
                    counter = 0
                }
                return (lastMillis, counter)
            }
        }
    }
}
