@testable import App
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite struct LifecycleTests {
    @Test func gracefulShutdownFinishesInFlightRequests() async throws {
        let dependencies = try makeDependencies(databaseURL: TestEnvironment.databaseURL, redisURL: TestEnvironment.redisURL)
        let router = buildRouter(dependencies: dependencies, access: try await TestAccess.settings())
        let started = AsyncStream<Void>.makeStream()
        router.get("slow") { _, _ -> String in
            started.continuation.yield()
            try await Task.sleep(for: .milliseconds(500))
            return "finished"
        }
        let port = Mutex<Int?>(nil)
        let listening = AsyncStream<Void>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            services: [DependencyClientsService(dependencies: dependencies)],
            onServerRunning: { channel in
                port.withLock { $0 = channel.localAddress?.port }
                listening.continuation.yield()
            },
            logger: TestEnvironment.quietLogger
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: TestEnvironment.quietLogger))
        let running = Task { try await group.run() }
        for await _ in listening.stream { break }
        let boundPort = try #require(port.withLock { $0 })
        let url = try #require(URL(string: "http://127.0.0.1:\(boundPort)/slow"))

        let request = Task { try await URLSession.shared.data(from: url) }
        for await _ in started.stream { break }
        await group.triggerGracefulShutdown()

        let (body, response) = try await request.value
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: body, as: UTF8.self) == "finished")
        try await running.value
        // The pools were closed after the server drained.
        await #expect(throws: (any Error).self) { try await dependencies.postgres.query("SELECT 1") }
    }
}
