@testable import App
import ClaimStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Testing
import TestSupport

/// Input PostgreSQL cannot store (NUL, amounts past NUMERIC(14,2)) and bodies in another charset
/// get a 4xx naming the problem, never a 5xx, and never cost the other claims of an import.
extension ClaimsAPITests {
    static let header = "claim number,service date,submitted procedure,Plan/Group #,Subscriber#,Provider NPI,provider fees,Allowed fees,member coinsurance,member copay"

    static func claimJSON(group: String = "GRP-1000", fees: String = "130.00") -> String {
        #"{"lines":[{"service date":"2018-03-28","submitted procedure":"D4346","Plan/Group #":"\#(group)","Subscriber#":"3730189502","Provider NPI":"1497775530","provider fees":"\#(fees)","Allowed fees":"65.00","member coinsurance":"16.25","member copay":"0.00"}]}"#
    }

    static func rules(_ problem: [String: Any]) -> [String] {
        ((problem["errors"] as? [[String: Any]]) ?? []).compactMap { $0["rule"] as? String }
    }

    @Test func nulAndUnstorableAmountsAre422sNot500s() async throws {
        try await withApp { client, database in
            let (nul, nulProblem) = try await post(client, Self.claimJSON(group: #"GRP\u0000"#))
            #expect(nul.status == .unprocessableContent)
            #expect(nul.headers[.contentType] == "application/problem+json")
            #expect(Self.rules(nulProblem).contains("nul_character"))
            for fees in ["1000000000000.00", "999999999999999"] {
                let (huge, hugeProblem) = try await post(client, Self.claimJSON(fees: fees))
                #expect(huge.status == .unprocessableContent, "\(fees)")
                #expect(Self.rules(hugeProblem).contains("amount_range"))
                #expect(!"\(hugeProblem)".contains("numeric field overflow"))
            }
            let csv = Self.header + "\nA-1,3/28/18,D4346,GRP\u{0}1,3730189502,1497775530,$130.00,$65.00,$16.25,$0.00\n"
            let (csvNUL, csvProblem) = try await post(client, csv, type: "text/csv")
            #expect(csvNUL.status == .unprocessableContent)
            #expect(Self.rules(csvProblem).contains("nul_character"))
            #expect(try await ImportTests.count("claims", database) == 0)
        }
    }

    @Test func anImportKeepsItsGoodClaimsBesideUnstorableOnes() async throws {
        try await withApp { client, database in
            let csv = Self.header + "\n"
                + "A-1,3/28/18,D4346,GRP-1,3730189502,1497775530,$130.00,$65.00,$16.25,$0.00\n"
                + "A-2,3/28/18,D4346,GRP\u{0}2,3730189502,1497775530,$130.00,$65.00,$16.25,$0.00\n"
                + "A-3,3/28/18,D4346,GRP-3,3730189502,1497775530,$1000000000000.00,$65.00,$16.25,$0.00\n"
                + "A-4\u{0},3/28/18,D4346,GRP-4,3730189502,1497775530,$130.00,$65.00,$16.25,$0.00\n"
            let (response, report) = try await ImportTests().postImport(client, csv, type: "text/csv")
            #expect(response.status == .ok)
            #expect(report["accepted"] as? Int == 1)
            #expect(report["rejected"] as? Int == 3)
            #expect(try await ImportTests.count("claims", database) == 1)
            // The rejected input is kept, NUL shown as U+FFFD.
            #expect(try await ImportTests.count("rejected_claims", database) == 3)
            let kept = try await KeptRejection.all(in: database).first { $0.externalClaimNumber == "A-2" }
            #expect(kept?.value(at: "rows", 0, 3) as? String == "GRP\u{FFFD}2")

            let ndjson = Self.claimJSON(group: #"GRP\u0000"#) + "\n" + Self.claimJSON() + "\n" + "{\"bad\u{0}\": 1}\n"
            let (lines, linesReport) = try await ImportTests().postImport(client, ndjson, type: "application/x-ndjson")
            #expect(lines.status == .ok)
            #expect(linesReport["accepted"] as? Int == 1)
            #expect(linesReport["rejected"] as? Int == 2)
            #expect(try await ImportTests.count("rejected_claims", database) == 5)
        }
    }

    /// A claim that passes validation but that PostgreSQL refuses (here a real CHECK constraint
    /// added for the test, SQLSTATE 23514) is kept as a rejection; the rest of its batch, before
    /// and after it, is stored.
    @Test func aClaimTheDatabaseRefusesIsRejectedAloneAndTheRestIsStored() async throws {
        try await withApp { client, database in
            try await database.query("ALTER TABLE claims ADD CONSTRAINT refuse_for_test CHECK (external_claim_number IS DISTINCT FROM 'C17')")
            let (csv, _) = ImportTests.export(count: 40, rejectEvery: 1_000)
            let (response, report) = try await ImportTests().postImport(client, csv, type: "text/csv")
            #expect(response.status == .ok)
            #expect(report["accepted"] as? Int == 39)
            #expect(report["rejected"] as? Int == 1)
            let rejected = try #require((report["rejected_claims"] as? [[String: Any]])?.first)
            #expect(rejected["claim_number"] as? String == "C17")
            let error = try #require((rejected["errors"] as? [[String: Any]])?.first)
            #expect(error["rule"] as? String == "storable")
            #expect((error["message"] as? String)?.contains("23514") == true)
            #expect(try await ImportTests.count("claims", database) == 39)
            #expect(try await ImportTests.count("outbox_events", database) == 39)
            // Kept for review with its input, like any rejection.
            let kept = try await KeptRejection.all(in: database).first
            #expect(kept?.value(at: "rows", 0, 0) as? String == "C17")
            #expect(kept?.source.hasPrefix("csv lines") == true)
        }
    }

    @Test func bodiesInAnotherCharsetAre415() async throws {
        try await withApp { client, _ in
            let (latin1, problem) = try await post(client, Self.claimJSON(), type: "application/json; charset=latin1")
            #expect(latin1.status == .unsupportedMediaType)
            #expect((problem["detail"] as? String)?.contains("latin1") == true)
            #expect(try await post(client, Self.claimJSON(), type: "application/json; charset=UTF-8").0.status == .created)
            // Spaces and tabs around the parts (HTTP's optional whitespace) and a quoted charset.
            #expect(try await post(client, Self.claimJSON(group: "GRP-1001"), type: " Application/JSON \t;\tcharset = \"utf-8\" ").0.status == .created)
            let (quoted, quotedProblem) = try await post(client, Self.claimJSON(group: "GRP-1002"), type: "application/json; charset=\"ISO-8859-1\"")
            #expect(quoted.status == .unsupportedMediaType)
            #expect((quotedProblem["detail"] as? String)?.contains("\"iso-8859-1\"") == true, "\(quotedProblem)")
            let importResponse = try await client.execute(
                uri: "/api/v1/claims/import", method: .post, headers: [.contentType: "text/csv; charset=windows-1252"], body: ByteBuffer(string: Self.header + "\n"))
            #expect(importResponse.status == .unsupportedMediaType)
        }
    }

    @Test func aPaymentResultWithNULIsRefusedNotTruncated() throws {
        for field in ["reason", "payment_id"] {
            let body = #"{"outcome":"failed","reason":"closed","payment_id":"P-1"}"#.replacingOccurrences(of: field == "reason" ? "closed" : "P-1", with: #"x\u0000y"#)
            #expect {
                try PaymentsController<PostgresClaimRepository>.paymentReport(from: Array(body.utf8))
            } throws: { error in
                guard let problem = error as? Problem else { return false }
                return problem.status == 422 && problem.errors?.contains { $0.rule == "nul_character" && $0.field == field } == true
            }
        }
    }
}
