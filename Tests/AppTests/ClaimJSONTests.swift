@testable import App
@testable import ClaimStore
@testable import Claims
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Testing
import TestSupport

@Suite struct ClaimJSONTests {
    static func claim(number: String?, quadrant: String?) -> StoredClaim {
        let line = ClaimLine(
            lineNumber: 1, serviceDate: CalendarDate(year: 2018, month: 3, day: 28)!, submittedProcedure: "D0180", quadrant: quadrant,
            groupID: "GRP \"1\"", subscriberID: "S\\1", providerNPI: "1497775530", providerFees: Money(cents: 13_000),
            allowedFees: Money(cents: 6_500), memberCoinsurance: Money(cents: 1_625), memberCopay: Money(cents: 0))
        return StoredClaim(
            id: UUID(uuidString: "01a20277-ad4e-71df-9f5d-684a4fdda57e")!, externalClaimNumber: number, status: .submitted, providerNPI: "1497775530",
            netFee: line.netFee, lines: [line], warnings: [Violation(line: 1, field: "provider_npi", rule: "npi_check_digit", severity: .warn, message: "fails")],
            ignoredFields: ["notes"], createdAt: "2026-11-22T09:00:00.000Z", updatedAt: "2026-11-22T09:00:01.000Z")
    }

    @Test func theBodyHasEveryFieldWithMoneyAsStrings() throws {
        let body = try #require(try JSONSerialization.jsonObject(with: Data(claimJSON(Self.claim(number: "C-1", quadrant: nil)))) as? [String: Any])
        #expect(body.keys.sorted() == ["claim_number", "created_at", "flags", "id", "ignored_fields", "line_count", "lines", "net_fee", "provider_npi", "status", "updated_at", "warnings"])
        #expect(body["id"] as? String == "01a20277-ad4e-71df-9f5d-684a4fdda57e")
        #expect(body["net_fee"] as? String == "81.25")
        #expect(body["line_count"] as? Int == 1)
        #expect(body["ignored_fields"] as? [String] == ["notes"])
        let line = try #require((body["lines"] as? [[String: Any]])?.first)
        #expect(line["quadrant"] is NSNull)
        #expect(line["group_id"] as? String == "GRP \"1\"")
        #expect(line["subscriber_id"] as? String == "S\\1")
        #expect(line["provider_fees"] as? String == "130.00")
        #expect(line["service_date"] as? String == "2018-03-28")
        #expect(line.count == 12)
        #expect((body["warnings"] as? [[String: Any]])?.first?["rule"] as? String == "npi_check_digit")
    }

    @Test func keysAreSortedAndAMissingClaimNumberIsNull() throws {
        let text = String(decoding: claimJSON(Self.claim(number: nil, quadrant: "UR")), as: UTF8.self)
        #expect(text.hasPrefix(#"{"claim_number":null,"created_at":"#))
        #expect(text.contains(#""quadrant":"UR""#))
    }
}

@Suite struct ViolationsJSONTests {
    @Test func handWrittenJSONReadsBackAsTheSameViolations() throws {
        let violations = [
            Violation(line: 3, field: "provider_npi", rule: "npi_format", severity: .reject, message: "quote \" backslash \\ newline \n tab \t bell \u{7} é ✓"),
            Violation(line: nil, field: "lines", rule: "lines_required", severity: .warn, message: ""),
        ]
        let text = PostgresClaimRepository.violationsJSON(violations)
        #expect(try JSONDecoder().decode([Violation].self, from: Data(text.utf8)) == violations)
        #expect(PostgresClaimRepository.violationsJSON([]) == "[]")
        // The same text JSONEncoder writes with sorted keys, so stored rows look alike whichever path wrote them.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(text == String(decoding: try encoder.encode(violations), as: UTF8.self).replacingOccurrences(of: "\\/", with: "/"))
    }
}

@Suite struct ImportReportJSONTests {
    /// The report's shape as plain Encodable values, for JSONEncoder to write the reference text.
    struct Reference: Encodable {
        struct Accepted: Encodable {
            var source: String
            var claim_number: AlwaysWritten
            var id: String
            var line_count: Int
            var net_fee: String
            var warnings: [String]
        }
        struct Error: Encodable {
            var field: String
            var line: Int?
            var message: String
            var rule: String
            var severity: String
            var source_line: Int?
        }
        struct Rejected: Encodable {
            var source: String
            var claim_number: AlwaysWritten
            var rejection_id: String
            var errors: [Error]
        }
        var import_id: String
        var claims: Int
        var accepted: Int
        var rejected: Int
        var accepted_lines: Int
        var accepted_claims: [Accepted]
        var rejected_claims: [Rejected]
    }

    @Test func theWrittenReportIsTheTextJSONEncoderWritesWithSortedKeys() throws {
        let importID = UUID()
        var report = ImportReport(importID: importID, items: 4)
        report.accepted = [
            .init(source: "csv lines 2-3", claimNumber: "C-1", id: UUID(), lines: 2, netFee: Money(cents: 11_685), warnings: ["npi_check_digit"]),
            .init(source: "ndjson line 2", claimNumber: nil, id: UUID(), lines: 1, netFee: Money(cents: -5), warnings: []),
        ]
        let errors = [
            Violation(line: 1, field: "provider_npi", rule: "npi_format", severity: .reject, message: "quote \" slash / backslash \\ é"),
            Violation(line: nil, field: "lines", rule: "lines_required", severity: .reject, message: "needs lines"),
        ]
        report.rejected = [
            .init(source: "csv lines 4-4", claimNumber: "C-\"2\"", id: UUID(), errors: errors, sourceLines: [4]),
            .init(source: "ndjson line 3", claimNumber: nil, id: UUID(), errors: [], sourceLines: []),
        ]
        let reference = Reference(
            import_id: importID.postgresText, claims: 4, accepted: 2, rejected: 2, accepted_lines: 3,
            accepted_claims: report.accepted.map {
                .init(source: $0.source, claim_number: AlwaysWritten($0.claimNumber), id: $0.id.postgresText, line_count: $0.lines, net_fee: $0.netFee.description, warnings: $0.warnings)
            },
            rejected_claims: report.rejected.map { claim in
                .init(
                    source: claim.source, claim_number: AlwaysWritten(claim.claimNumber), rejection_id: claim.id.postgresText,
                    errors: claim.errors.map {
                        .init(field: $0.field, line: $0.line, message: $0.message, rule: $0.rule, severity: $0.severity.rawValue, source_line: claim.sourceLine(of: $0))
                    })
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(report.rejected.first?.sourceLine(of: errors[0]) == 4)
        #expect(String(decoding: importReportJSON(report), as: UTF8.self) == String(decoding: try encoder.encode(reference), as: UTF8.self))
    }
}

/// An optional the reference encoder writes as `null` when absent, as claimsd's bodies do.
struct AlwaysWritten: Encodable {
    var value: String?

    init(_ value: String?) {
        self.value = value
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}
