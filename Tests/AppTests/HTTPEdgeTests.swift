@testable import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// What the HTTP edge promises: a wrong method on a known path is 405 with `Allow`, an unknown
/// path 404, both as problem+json with a request id; one request carries one idempotency key.
extension ClaimsAPITests {
    @Test func aWrongMethodOnAKnownPathIs405WithAllow() async throws {
        try await withApp { client, _ in
            try await client.execute(uri: "/api/v1/claims", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, POST")
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[HTTPField.Name("X-Request-Id")!] != nil)
            }
            // A path with a parameter: the claim routes' methods, whatever the id.
            try await client.execute(uri: "/api/v1/claims/\(UUID().uuidString)", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
                let allow = Set((response.headers[.allow] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                #expect(allow.contains("GET") && allow.contains("PUT"), "\(allow)")
                #expect(!allow.contains("POST"))
            }
            // A fixed path beside a parameter one: the router takes `claims/import` (POST only)
            // and never `claims/{id}`, so PUT there is refused with import's methods, not a 404.
            try await client.execute(uri: "/api/v1/claims/import", method: .put) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
            }
            try await client.execute(uri: "/api/v1/no-such-thing", method: .delete) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.allow] == nil)
            }
            try await client.execute(uri: "/api/v1/claims/\(UUID().uuidString)", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func twoIdempotencyKeysAreRefusedForWhatTheyAre() async throws {
        try await withApp { client, database in
            var headers: HTTPFields = [.contentType: "application/json"]
            headers.append(HTTPField(name: .idempotencyKey, value: "first"))
            headers.append(HTTPField(name: .idempotencyKey, value: "second"))
            let response = try await client.execute(uri: "/api/v1/claims", method: .post, headers: headers, body: ByteBuffer(string: Self.claimJSON()))
            #expect(response.status == .badRequest)
            let problem = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
            #expect((problem["detail"] as? String)?.contains("one Idempotency-Key header") == true)
            #expect(try await ImportTests.count("claims", database) == 0)
        }
    }
}

extension ClaimsAPITests {
    /// Clients of the original services call these paths unchanged.
    @Test func theOriginalServicesPathsAreAliases() async throws {
        try await withApp { client, database in
            // The original claim_process took a bare array of lines at /claims.
            let lines = "[" + String(Self.claimJSON().dropFirst(#"{"lines":["#.count).dropLast(2)) + "]"
            let created = try await client.execute(uri: "/claims", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: lines))
            #expect(created.status == .created)
            let claim = try #require(try JSONSerialization.jsonObject(with: Data(created.body.readableBytesView)) as? [String: Any])
            let id = try #require(claim["id"] as? String)
            #expect(claim["net_fee"] as? String == "81.25")
            #expect(try await ImportTests.count("claims", database) == 1)

            for path in ["/api/v1/claims/status/\(id)", "/api/v1/claims/\(id)/status"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok, "\(path)")
                    let body = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
                    #expect(body["status"] as? String == "submitted", "\(path)")
                }
            }
            // The ranking's content is the ranking tests' business (other suites share this
            // Redis and change it meanwhile): here, every alias answers the ranking's shape.
            for path in ["/top-provider", "/top-providers", "/top-providers/"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok, "\(path)")
                    #expect(response.headers[.rankingSource] != nil, "\(path)")
                    let body = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
                    #expect(body["providers"] is [[String: Any]], "\(path)")
                    #expect(body.keys.contains("as_of_sequence"), "\(path)")
                }
            }
        }
    }
}
