@testable import App
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The fault-injection switch: off, the header means nothing; on, it answers the asked 5xx on
/// the real route (counted under that route), and refuses anything but a 5xx.
@Suite struct FaultInjectionTests {
    static let fault = HTTPField.Name("X-Claimsd-Fault")!

    @Test func offByDefaultTheHeaderMeansNothing() async throws {
        let dependencies = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: "redis://127.0.0.1:1")
        let app = Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.withoutDatabase()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get, headers: [Self.fault: "503"]) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func onItAnswersTheAskedStatusOnTheRealRoute() async throws {
        let dependencies = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: "redis://127.0.0.1:1")
        let app = Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(faultInjection: true)))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok, "no header, no fault")
            }
            for status in [500, 502, 503, 504] {
                try await client.execute(uri: "/health", method: .get, headers: [Self.fault: String(status)]) { response in
                    #expect(response.status.code == status)
                    #expect(response.headers[.contentType] == "application/problem+json")
                    let body = try json(response.body)
                    #expect(body["type"] as? String == "https://claimsd.dev/problems/injected-fault")
                    #expect(response.headers[.retryAfter] == (status == 503 ? "1" : nil))
                }
            }
            for bad in ["404", "abc", "5000", ""] {
                try await client.execute(uri: "/health", method: .get, headers: [Self.fault: bad]) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                    let detail = try json(response.body)["detail"] as? String
                    #expect(detail?.contains("X-Claimsd-Fault must be a status from 500 to 599") == true)
                }
            }
        }
        // The metrics count the fault under the route it hit.
        let exposition = String(decoding: dependencies.telemetry.exposition(), as: UTF8.self)
        let line = exposition.split(separator: "\n").first {
            $0.hasPrefix("claimsd_http_requests_total{") && $0.contains(#"route="/health""#) && $0.contains(#"status="503""#)
        }
        #expect(line?.hasSuffix(" 1") == true, "\(exposition.prefix(3000))")
    }
}
