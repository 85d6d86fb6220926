@testable import App
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport
import TimeSeries

@Suite struct TimeSeriesAdminTests {
    /// An app over an in-memory store; PostgreSQL and Redis are unreachable and not needed here.
    func withApp(adminAPI: Bool = true, _ body: @escaping @Sendable (any TestClientProtocol, TimeSeriesStore) async throws -> Void) async throws {
        let base = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: "redis://127.0.0.1:1")
        let store = TimeSeriesStore()
        let router = buildRouter(dependencies: base, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: []), timeSeries: TimeSeriesSettings(store: store, adminAPI: adminAPI))
        try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { try await body($0, store) }
    }

    func samples(_ store: TimeSeriesStore, _ name: String) -> [Sample] {
        store.select([.equal("__name__", name)]).flatMap { $0.sampleArray() }
    }

    @Test func importMergesOutOfOrderSamplesAndReportsWhatItStored() async throws {
        try await withApp { client, store in
            let body = "temperature{room=\"a\"} 21.5 3000\ntemperature{room=\"a\"} 20 1000\ntemperature{room=\"a\"} 20.5 2000\n"
            let response = try await client.execute(
                uri: "/api/v1/import/prometheus", method: .post, headers: [.contentType: "text/plain; version=0.0.4"], body: ByteBuffer(string: body))
            #expect(response.status == .ok)
            let json = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            let data = json?["data"] as? [String: Any]
            #expect(data?["samplesStored"] as? Int == 3 && data?["newSeries"] as? Int == 1)
            #expect(samples(store, "temperature") == [Sample(1000, 20), Sample(2000, 20.5), Sample(3000, 21.5)])

            // Older history for the same series is merged in time order.
            _ = try await client.execute(uri: "/api/v1/import/prometheus", method: .post, body: ByteBuffer(string: "temperature{room=\"a\"} 19 500\n"))
            #expect(samples(store, "temperature").map(\.timestamp) == [500, 1000, 2000, 3000])
        }
    }

    @Test func aBadLineIsA400NamingItAndStoresNothing() async throws {
        try await withApp { client, store in
            let body = "good_metric 1 1000\ngood_metric 2 2000\nbad_metric{x=\"1\" 3 3000\n"
            let response = try await client.execute(uri: "/api/v1/import/prometheus", method: .post, body: ByteBuffer(string: body))
            #expect(response.status == .badRequest)
            #expect(response.headers[.contentType] == "application/problem+json")
            let detail = try #require((try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["detail"] as? String)
            #expect(detail.contains("line 3") && detail.contains("nothing of this request was stored"))
            #expect(store.statistics().series == 0)
            // A body with no sample (empty, or comments only) imports nothing: a 400, not a 200.
            for empty in ["", "# HELP m nothing\n# TYPE m gauge\n\n"] {
                let response = try await client.execute(uri: "/api/v1/import/prometheus", method: .post, body: ByteBuffer(string: empty))
                #expect(response.status == .badRequest && String(buffer: response.body).contains("no samples"), "\(String(buffer: response.body))")
            }
        }
    }

    @Test func deleteSeriesRemovesTheSelectedRange() async throws {
        try await withApp { client, store in
            store.importSamples([
                (Labels(["__name__": "m", "k": "a"]), (1...10).map { Sample(Int64($0) * 1000, Double($0)) }),
                (Labels(["__name__": "m", "k": "b"]), (1...10).map { Sample(Int64($0) * 1000, Double($0)) }),
            ])
            let response = try await client.execute(
                uri: "/api/v1/admin/tsdb/delete_series?match%5B%5D=m%7Bk%3D%22a%22%7D&start=3&end=1970-01-01T00:00:05Z", method: .post)
            #expect(response.status == .noContent)
            let a = store.select([.equal("k", "a")])[0].sampleArray().map(\.timestamp)
            #expect(a == [1000, 2000, 6000, 7000, 8000, 9000, 10000])
            #expect(store.select([.equal("k", "b")])[0].sampleArray().count == 10)
            // An empty bound is no bound, as in Prometheus: from the beginning through 2 s.
            let open = try await client.execute(uri: "/api/v1/admin/tsdb/delete_series?match%5B%5D=m%7Bk%3D%22b%22%7D&start=&end=2", method: .post)
            #expect(open.status == .noContent)
            #expect(store.select([.equal("k", "b")])[0].sampleArray().map(\.timestamp) == (3...10).map { Int64($0) * 1000 })

            // Every problem at once, as a 400.
            let bad = try await client.execute(uri: "/api/v1/admin/tsdb/delete_series?match%5B%5D=%7B%7D&start=yesterday", method: .post)
            #expect(bad.status == .badRequest)
            let detail = String(buffer: bad.body)
            #expect(detail.contains("at least one") && detail.contains("start"))
        }
    }

    @Test func theAdminAPIIsRefusedUntilTurnedOn() async throws {
        try await withApp(adminAPI: false) { client, store in
            for path in ["/api/v1/import/prometheus", "/api/v1/admin/tsdb/delete_series?match%5B%5D=up", "/api/v1/admin/tsdb/snapshot"] {
                let response = try await client.execute(uri: path, method: .post, body: ByteBuffer(string: "m 1 1\n"))
                #expect(response.status == .forbidden)
                #expect(String(buffer: response.body).contains("CLAIMS_TSDB_ADMIN_API=on"))
            }
            #expect(store.statistics().series == 0)
        }
    }

    @Test func snapshotsAreWrittenUnderTheStore() async throws {
        let path = NSTemporaryDirectory() + "claimsd-snapshot-\(TestEnvironment.uniqueSuffix())"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (store, _) = try TimeSeriesStore.open(path: path)
        store.importSamples([(Labels(["__name__": "kept"]), [Sample(1000, 1)])])
        let base = try makeDependencies(databaseURL: "postgresql://claimsd@127.0.0.1:1/none", redisURL: "redis://127.0.0.1:1")
        let router = buildRouter(dependencies: base, access: try await TestAccess.withoutDatabase(), traffic: TrafficSettings(rateLimits: []), timeSeries: TimeSeriesSettings(store: store, adminAPI: true))
        try await Application(router: router, logger: TestEnvironment.quietLogger).test(.router) { client in
            let response = try await client.execute(uri: "/api/v1/admin/tsdb/snapshot", method: .post)
            #expect(response.status == .ok)
            let data = (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["data"] as? [String: Any]
            let name = try #require(data?["name"] as? String)
            let (copy, _) = try TimeSeriesStore.open(path: path + "/snapshots/" + name, readOnly: true)
            #expect(copy.select([.equal("__name__", "kept")]).first?.sampleArray() == [Sample(1000, 1)])
        }
    }
}
