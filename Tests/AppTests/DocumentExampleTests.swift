@testable import App
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The OpenAPI document's examples of claim answers are real answers: the same claim sent to
/// claimsd gets exactly the example back, but for what differs per request (id, times,
/// request id).
extension ClaimsAPITests {
    /// The document as JSON objects.
    static func documentObject() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(APIDocument.bundled().json)) as? [String: Any])
    }

    static func value(_ object: Any?, _ path: String...) -> Any? {
        path.reduce(object) { ($0 as? [String: Any])?[$1] }
    }

    /// The claim object whose stored form is `example` (its lines' input fields).
    static func claimSending(_ example: [String: Any]) throws -> String {
        let inputs = ["service_date", "submitted_procedure", "quadrant", "group_id", "subscriber_id", "provider_npi", "provider_fees", "allowed_fees", "member_coinsurance", "member_copay"]
        let lines = try #require(example["lines"] as? [[String: Any]]).map { line in line.filter { inputs.contains($0.key) && !($0.value is NSNull) } }
        let claim: [String: Any] = ["claim_number": example["claim_number"] ?? NSNull(), "lines": lines]
        return String(decoding: try JSONSerialization.data(withJSONObject: claim, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func theDocumentsClaimExamplesAreRealAnswers() async throws {
        try await withApp { client, _ in
            let document = try Self.documentObject()
            let stored = try #require(Self.value(document, "components", "examples", "StoredClaim", "value") as? [String: Any])
            let invalid = try #require(Self.value(document, "components", "responses", "Invalid", "content", "application/problem+json", "example") as? [String: Any])
            let body = try Self.claimSending(stored)
            let created = try await client.execute(uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
            #expect(created.status == .created, "\(String(buffer: created.body))")
            var answer = try #require(try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: Any])
            for key in ["id", "created_at", "updated_at"] {
                #expect(answer[key] != nil, "\(key)")
                answer[key] = stored[key]
            }
            #expect(NSDictionary(dictionary: answer).isEqual(to: stored), "the document's StoredClaim example is not what claimsd answers:\n\(answer)\n\(stored)")

            // The example problem names an NPI of five digits: the same claim with one.
            let broken = body.replacingOccurrences(of: "\"1497775530\"", with: "\"12345\"")
            #expect(broken != body)
            let refused = try await client.execute(uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: broken))
            #expect(refused.status == .unprocessableContent)
            var problem = try #require(try JSONSerialization.jsonObject(with: Data(buffer: refused.body)) as? [String: Any])
            #expect(problem["instance"] != nil)
            problem["instance"] = invalid["instance"]
            #expect(NSDictionary(dictionary: problem).isEqual(to: invalid), "the document's Invalid example is not what claimsd answers:\n\(problem)\n\(invalid)")
        }
    }
}
