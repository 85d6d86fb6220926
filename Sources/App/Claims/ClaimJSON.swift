import ClaimStore
import DataProtection
import JSONText
import Postgres
public import Claims
public import Foundation
import Journal

/// A stored claim as a response body. Money is always a decimal string with two places
/// ("116.85"), so no client parses it into binary floating point by accident. Keys are sorted, as
/// in every other body; a value that is absent (`claim_number`, `quadrant`, `next_cursor`) is
/// `null`, never left out.
/// Written directly (every POST and GET of a claim returns one), not through `JSONEncoder`.
/// `maskedIdentifiers`: subscriber ids masked to their last four characters (for roles that
/// see them so, see ``Role/seesIdentifiersMasked``).
func claimJSON(_ claim: StoredClaim, maskedIdentifiers: Bool = false) -> [UInt8] {
    var writer = JSONWriter(capacity: 512 + 400 * claim.lines.count)
    writer.open("{")
    writer.member("claim_number", orNull: claim.externalClaimNumber)
    writer.member("created_at", claim.createdAt)
    writer.key("flags")
    writer.flags(claim.flags)
    writer.member("id", claim.id.postgresText)
    writer.key("ignored_fields")
    writer.strings(claim.ignoredFields)
    writer.member("line_count", claim.lines.count)
    writer.key("lines")
    writer.open("[")
    for line in claim.lines {
        writer.open("{")
        writer.member("allowed_fees", line.allowedFees.description)
        writer.member("group_id", line.groupID)
        writer.member("line_number", line.lineNumber)
        writer.member("member_coinsurance", line.memberCoinsurance.description)
        writer.member("member_copay", line.memberCopay.description)
        writer.member("net_fee", line.netFee.description)
        writer.member("provider_fees", line.providerFees.description)
        writer.member("provider_npi", line.providerNPI)
        writer.member("quadrant", orNull: line.quadrant)
        writer.member("service_date", line.serviceDate.description)
        writer.member("submitted_procedure", line.submittedProcedure)
        writer.member("subscriber_id", maskedIdentifiers ? IdentifierMask.lastFour(line.subscriberID) : line.subscriberID)
        writer.close("}")
    }
    writer.close("]")
    writer.member("net_fee", claim.netFee.description)
    writer.member("provider_npi", claim.providerNPI)
    writer.member("status", claim.status.rawValue)
    writer.member("updated_at", claim.updatedAt)
    writer.key("warnings")
    writer.violations(claim.warnings)
    writer.close("}")
    return writer.bytes
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

    /// As synthesized, except that a missing claim number is `null` rather than left out.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(claimNumber, forKey: .claimNumber)
        try container.encode(status, forKey: .status)
        try container.encode(providerNpi, forKey: .providerNpi)
        try container.encode(netFee, forKey: .netFee)
        try container.encode(lineCount, forKey: .lineCount)
        try container.encode(serviceDateFrom, forKey: .serviceDateFrom)
        try container.encode(serviceDateTo, forKey: .serviceDateTo)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }
}

struct ClaimPageBody: Encodable {
    var items: [ClaimSummaryBody]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items, nextCursor = "next_cursor"
    }

    /// The last page says so with `"next_cursor": null`.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
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

/// A bulk import's full result as the JSON that POST /api/v1/claims/import returns: counts,
/// then every claim's outcome in input order, keys sorted. Written directly: a report lists
/// every claim of the file, and `JSONEncoder` took longer than storing them.
public func importReportJSON(_ report: ImportReport) -> [UInt8] {
    var writer = JSONWriter(capacity: 256 + 200 * report.accepted.count + 400 * report.rejected.count)
    writer.open("{")
    writer.member("accepted", report.accepted.count)
    writer.key("accepted_claims")
    writer.open("[")
    for claim in report.accepted {
        writer.open("{")
        writer.member("claim_number", orNull: claim.claimNumber)
        if !claim.flags.isEmpty {
            writer.key("flags")
            writer.strings(claim.flags)
            writer.key("held")
            writer.raw(claim.held ? "true" : "false")
        }
        writer.member("id", claim.id.postgresText)
        writer.member("line_count", claim.lines)
        writer.member("net_fee", claim.netFee.description)
        writer.member("source", claim.source)
        writer.key("warnings")
        writer.strings(claim.warnings)
        writer.close("}")
    }
    writer.close("]")
    writer.member("accepted_lines", report.acceptedLines)
    writer.member("claims", report.items)
    writer.member("import_id", report.importID.postgresText)
    writer.member("rejected", report.rejected.count)
    writer.key("rejected_claims")
    writer.open("[")
    for claim in report.rejected {
        writer.open("{")
        writer.member("claim_number", orNull: claim.claimNumber)
        writer.key("errors")
        writer.open("[")
        for error in claim.errors { writer.violation(error, sourceLine: claim.sourceLine(of: error)) }
        writer.close("]")
        writer.member("rejection_id", claim.id.postgresText)
        writer.member("source", claim.source)
        writer.close("}")
    }
    writer.close("]")
    writer.close("}")
    return writer.bytes
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
