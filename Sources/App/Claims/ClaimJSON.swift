import ClaimStore
public import Claims
public import Foundation
import Journal

/// The JSON shapes of claims in responses. Money is always a decimal string with two places
/// ("116.85"), so no client parses it into binary floating point by accident.
struct ClaimBody: Encodable {
    struct Line: Encodable {
        var lineNumber: Int
        var serviceDate: String
        var submittedProcedure: String
        var quadrant: String?
        var groupId: String
        var subscriberId: String
        var providerNpi: String
        var providerFees: String
        var allowedFees: String
        var memberCoinsurance: String
        var memberCopay: String
        var netFee: String

        init(_ line: ClaimLine) {
            lineNumber = line.lineNumber
            serviceDate = line.serviceDate.description
            submittedProcedure = line.submittedProcedure
            quadrant = line.quadrant
            groupId = line.groupID
            subscriberId = line.subscriberID
            providerNpi = line.providerNPI
            providerFees = line.providerFees.description
            allowedFees = line.allowedFees.description
            memberCoinsurance = line.memberCoinsurance.description
            memberCopay = line.memberCopay.description
            netFee = line.netFee.description
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(lineNumber, forKey: .lineNumber)
            try container.encode(serviceDate, forKey: .serviceDate)
            try container.encode(submittedProcedure, forKey: .submittedProcedure)
            try container.encode(quadrant, forKey: .quadrant)  // null, not absent
            try container.encode(groupId, forKey: .groupId)
            try container.encode(subscriberId, forKey: .subscriberId)
            try container.encode(providerNpi, forKey: .providerNpi)
            try container.encode(providerFees, forKey: .providerFees)
            try container.encode(allowedFees, forKey: .allowedFees)
            try container.encode(memberCoinsurance, forKey: .memberCoinsurance)
            try container.encode(memberCopay, forKey: .memberCopay)
            try container.encode(netFee, forKey: .netFee)
        }

        enum CodingKeys: String, CodingKey {
            case lineNumber = "line_number", serviceDate = "service_date", submittedProcedure = "submitted_procedure", quadrant
            case groupId = "group_id", subscriberId = "subscriber_id", providerNpi = "provider_npi", providerFees = "provider_fees"
            case allowedFees = "allowed_fees", memberCoinsurance = "member_coinsurance", memberCopay = "member_copay", netFee = "net_fee"
        }
    }

    var id: String
    var claimNumber: String?
    var status: String
    var providerNpi: String
    var netFee: String
    var lineCount: Int
    var lines: [Line]
    var warnings: [Violation]
    var ignoredFields: [String]
    var createdAt: String
    var updatedAt: String

    init(_ claim: StoredClaim) {
        id = claim.id.uuidString.lowercased()
        claimNumber = claim.externalClaimNumber
        status = claim.status.rawValue
        providerNpi = claim.providerNPI
        netFee = claim.netFee.description
        lineCount = claim.lines.count
        lines = claim.lines.map(Line.init)
        warnings = claim.warnings
        ignoredFields = claim.ignoredFields
        createdAt = claim.createdAt
        updatedAt = claim.updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, claimNumber = "claim_number", status, providerNpi = "provider_npi", netFee = "net_fee", lineCount = "line_count", lines, warnings
        case ignoredFields = "ignored_fields", createdAt = "created_at", updatedAt = "updated_at"
    }
}

/// A claim in a list page: no lines.
struct ClaimSummaryBody: Encodable {
    var id: String
    var claimNumber: String?
    var status: String
    var providerNpi: String
    var netFee: String
    var lineCount: Int
    var serviceDateFrom: String
    var serviceDateTo: String
    var createdAt: String
    var updatedAt: String

    init(_ claim: ClaimSummary) {
        id = claim.id.uuidString.lowercased()
        claimNumber = claim.externalClaimNumber
        status = claim.status.rawValue
        providerNpi = claim.providerNPI
        netFee = claim.netFee.description
        lineCount = claim.lineCount
        serviceDateFrom = claim.serviceDateFrom.description
        serviceDateTo = claim.serviceDateTo.description
        createdAt = claim.createdAt
        updatedAt = claim.updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, claimNumber = "claim_number", status, providerNpi = "provider_npi", netFee = "net_fee", lineCount = "line_count"
        case serviceDateFrom = "service_date_from", serviceDateTo = "service_date_to", createdAt = "created_at", updatedAt = "updated_at"
    }
}

struct ClaimPageBody: Encodable {
    var items: [ClaimSummaryBody]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items, nextCursor = "next_cursor"
    }
}

struct ClaimStatusBody: Encodable {
    var id: String
    var status: String
    var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case id, status, updatedAt = "updated_at"
    }
}

/// The result of a bulk import: counts, then every claim's outcome in input order.
struct ImportReportBody: Encodable {
    struct Accepted: Encodable {
        var source: String
        var claimNumber: String?
        var id: String
        var lineCount: Int
        var netFee: String
        var warnings: [String]

        enum CodingKeys: String, CodingKey {
            case source, claimNumber = "claim_number", id, lineCount = "line_count", netFee = "net_fee", warnings
        }
    }

    struct Rejected: Encodable {
        var source: String
        var claimNumber: String?
        var rejectionId: String
        var errors: [ImportViolationBody]

        enum CodingKeys: String, CodingKey {
            case source, claimNumber = "claim_number", rejectionId = "rejection_id", errors
        }
    }

    var importId: String
    var claims: Int
    var accepted: Int
    var rejected: Int
    var acceptedLines: Int
    var acceptedClaims: [Accepted]
    var rejectedClaims: [Rejected]

    init(_ report: ImportReport) {
        importId = report.importID.uuidString.lowercased()
        claims = report.items
        accepted = report.accepted.count
        rejected = report.rejected.count
        acceptedLines = report.acceptedLines
        acceptedClaims = report.accepted.map {
            Accepted(source: $0.source, claimNumber: $0.claimNumber, id: $0.id.uuidString.lowercased(), lineCount: $0.lines, netFee: $0.netFee.description, warnings: $0.warnings)
        }
        rejectedClaims = report.rejected.map { rejected in
            Rejected(
                source: rejected.source, claimNumber: rejected.claimNumber, rejectionId: rejected.id.uuidString.lowercased(),
                errors: rejected.errors.map { ImportViolationBody($0, sourceLine: rejected.sourceLine(of: $0)) })
        }
    }

    enum CodingKeys: String, CodingKey {
        case importId = "import_id", claims, accepted, rejected, acceptedLines = "accepted_lines", acceptedClaims = "accepted_claims"
        case rejectedClaims = "rejected_claims"
    }
}

/// A violation in an import result, with the input line it is on.
struct ImportViolationBody: Encodable {
    var violation: Violation
    var sourceLine: Int?

    init(_ violation: Violation, sourceLine: Int?) {
        self.violation = violation
        self.sourceLine = sourceLine
    }

    func encode(to encoder: any Encoder) throws {
        try violation.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(sourceLine, forKey: .sourceLine)
    }

    enum CodingKeys: String, CodingKey {
        case sourceLine = "source_line"
    }
}

/// A bulk import's full result as the JSON that POST /api/v1/claims/import returns.
public func importReportJSON(_ report: ImportReport) throws -> Data {
    try encodeJSON(ImportReportBody(report))
}

/// JSON text with sorted keys: stable bodies for clients, tests and idempotent replays.
func encodeJSON(_ value: some Encodable) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(value)
}

/// A UTC timestamp in RFC 3339 with milliseconds, as stored and returned.
func rfc3339Now(_ date: Date = Date()) -> String {
    let nanos = Int64((date.timeIntervalSince1970 * 1_000_000_000).rounded(.down))
    return LogRecord.rfc3339(WallClockTime(seconds: Int(nanos / 1_000_000_000), nanoseconds: Int(nanos % 1_000_000_000)))
}

/// Today's date in UTC: the day "not in the future" is measured against.
public func utcToday(_ date: Date = Date()) -> CalendarDate {
    CalendarDate(daysSinceEpoch: Int((date.timeIntervalSince1970 / 86_400).rounded(.down)))
}
