public import ClaimStore
public import Claims

/// Claims for store and ranking tests, made directly (validation is tested elsewhere).
public struct ClaimFactory: Sendable {
    public init() {}

    let ids = UUIDv7Generator()

    /// A one-line claim whose net fee is exactly `dollars`.
    public func claim(npi: String, dollars: Int64, cents: Int64 = 0) -> ValidatedClaim {
        ValidatedClaim(externalClaimNumber: nil, lines: [line(npi: npi, netFee: Money(cents: dollars * 100 + cents))])
    }

    public func line(npi: String, netFee: Money) -> ClaimLine {
        ClaimLine(
            lineNumber: 1, serviceDate: CalendarDate(parsing: "2024-03-28")!, submittedProcedure: "D0180", quadrant: nil, groupID: "GRP-1000",
            subscriberID: "3730189502", providerNPI: npi, providerFees: netFee + Money(cents: 5000), allowedFees: Money(cents: 5000),
            memberCoinsurance: .zero, memberCopay: .zero)
    }

    public func stored(_ claim: ValidatedClaim) -> StoredClaim {
        StoredClaim(id: ids.next(), claim: claim, at: "2026-11-22T10:00:00.000Z")
    }
}

