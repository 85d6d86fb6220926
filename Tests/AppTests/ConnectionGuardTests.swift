@testable import App
import Foundation
import Glibc
import Hummingbird
import HummingbirdTesting
import Logging
import NIOPosix
import Testing
import TestSupport

/// claimsd's HTTP server (the builder `buildApplication` uses) on a real port, spoken to over
/// raw TCP: HTTP/1.0 ends with the connection closed, idle and trickling connections are closed
/// after the idle timeout, a body that stops arriving after the body timeout.
@Suite struct ConnectionGuardTests {
    /// A blocking TCP client with a receive timeout.
    final class RawConnection {
        let descriptor: Int32

        init(port: Int) throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard descriptor >= 0, connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        }

        deinit { close(descriptor) }

        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        /// What arrives until `marker` has, the server closes, or `seconds` pass: waits for
        /// answers generously (the responder shares the machine with other suites).
        func receive(until marker: String, within seconds: Double = 30) -> (text: String, closed: Bool) {
            var text = ""
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                // Short reads, so the wait ends as soon as the marker is in.
                let (more, closed) = receive(for: 0.05)
                text += more
                if closed || text.hasSuffix(marker) { return (text, closed) }
            }
            return (text, false)
        }

        /// What arrives until the server closes the connection or `seconds` pass.
        func receiveUntilClosed(within seconds: Double) -> (text: String, closed: Bool) {
            receive(until: "\u{0}", within: seconds)  // no answer ends in NUL: only closing ends the wait
        }

        /// What arrives within `seconds`, and whether the server closed the connection.
        func receive(for seconds: Double) -> (text: String, closed: Bool) {
            var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count == 0 { return (String(decoding: received, as: UTF8.self), true) }
                if count < 0 { break }
                received += buffer[0..<count]
            }
            return (String(decoding: received, as: UTF8.self), false)
        }
    }

    func withServer(idle: Duration, body: Duration, _ test: @escaping @Sendable (Int) throws -> Void) async throws {
        let router = Router()
        router.get("hello") { _, _ in "hello" }
        router.post("upload") { request, _ -> String in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            return "\(body.readableBytes)"
        }
        // An event loop of its own: other suites' work on the shared loops must not delay the
        // deadlines these tests time.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = Application(
            router: router, server: claimsdHTTPServer(timeouts: HTTPTimeouts(idle: idle, body: body), logger: TestEnvironment.quietLogger),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)), eventLoopGroupProvider: .shared(group))
        do {
            try await app.test(.live) { client in
                let port = try #require(client.port)
                try await onOwnThread { try test(port) }
            }
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    @Test func http10WithoutKeepAliveEndsWithTheConnectionClosed() async throws {
        try await withServer(idle: .seconds(120), body: .seconds(120)) { port in
            let connection = try RawConnection(port: port)
            connection.send("GET /hello HTTP/1.0\r\n\r\n")
            // A client reading to EOF must get EOF, not hang until its own timeout (the idle
            // timeout is two minutes: only the HTTP/1.0 rule can close within the wait).
            let (text, closed) = connection.receiveUntilClosed(within: 30)
            #expect(text.hasPrefix("HTTP/1.1 200") || text.hasPrefix("HTTP/1.0 200"), "\(text)")
            #expect(text.lowercased().contains("connection: close"))
            #expect(text.hasSuffix("hello"))
            #expect(closed)

            let kept = try RawConnection(port: port)
            kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let first = kept.receive(until: "hello")
            #expect(first.text.hasSuffix("hello"))
            #expect(!first.closed)
            kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(kept.receive(until: "hello").text.hasSuffix("hello"))
        }
    }

    @Test func idleAndTricklingConnectionsAreClosedAfterTheIdleTimeout() async throws {
        try await withServer(idle: .seconds(1), body: .seconds(120)) { port in
            // Keep-alive works: a second request on the same connection.
            let idle = try RawConnection(port: port)
            idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(idle.receive(until: "hello").text.hasSuffix("hello"))
            idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(idle.receive(until: "hello").text.hasSuffix("hello"))
            // Then idle: closed after about a second (the wait leaves room for a loaded machine).
            #expect(idle.receiveUntilClosed(within: 20).closed)

            // A head sent a byte at a time never completes; the connection is closed anyway.
            let trickle = try RawConnection(port: port)
            trickle.send("GET /hello HTTP/1.1\r\nHost: x\r\n")
            var closed = false
            for _ in 0..<80 where !closed {
                trickle.send("X")
                closed = trickle.receive(for: 0.25).closed
            }
            #expect(closed)
        }
    }

    /// The idle timeout counts from the end of the last response, not from the connection's
    /// start: a connection that keeps asking for longer than the timeout stays open.
    @Test func aConnectionInUseOutlivesTheIdleTimeout() async throws {
        try await withServer(idle: .seconds(2), body: .seconds(120)) { port in
            let busy = try RawConnection(port: port)
            let start = ContinuousClock.now
            var answered = 0
            while ContinuousClock.now - start < .seconds(5) {
                busy.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                let answer = busy.receive(until: "hello")
                #expect(answer.text.hasSuffix("hello") && !answer.closed, "request \(answered + 1): \(answer)")
                guard !answer.closed else { return }
                answered += 1
                Thread.sleep(forTimeInterval: 0.3)
            }
            #expect(answered >= 5, "\(answered) answered in 5 s")
            // Then idle: closed as before.
            #expect(busy.receiveUntilClosed(within: 20).closed)
        }
    }

    @Test func aBodyThatStopsArrivingIsCutOffAfterTheBodyTimeout() async throws {
        try await withServer(idle: .seconds(120), body: .seconds(1)) { port in
            let complete = try RawConnection(port: port)
            complete.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
            #expect(complete.receive(until: "10").text.hasSuffix("10"))

            // The idle timeout is two minutes: only the body timeout can close within the wait.
            let stalled = try RawConnection(port: port)
            stalled.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            #expect(stalled.receiveUntilClosed(within: 20).closed)
        }
    }

    @Test func requestsTheDecoderCannotReadGetProblemJSONWithARequestID() async throws {
        try await withServer(idle: .seconds(120), body: .seconds(120)) { port in
            let cases: [(String, String)] = [
                ("GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400"),
                ("GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "400"),
                ("GET /hello HTTP/1.1\r\nHost: x\r\nX-Bad\u{0}: y\r\n\r\n", "400"),
                ("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n", "431"),
                ("GET /hello?" + String(repeating: "q", count: 100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "431"),
            ]
            for (request, status) in cases {
                let connection = try RawConnection(port: port)
                connection.send(request)
                let (text, closed) = connection.receiveUntilClosed(within: 30)
                let head = text.prefix(40)
                #expect(text.hasPrefix("HTTP/1.1 \(status)"), "\(head)")
                #expect(text.lowercased().contains("content-type: application/problem+json"), "\(head)")
                #expect(text.lowercased().contains("x-request-id: "), "\(head)")
                #expect(text.contains("\"status\":\(status)"), "\(head)")
                #expect(text.contains("\"instance\":"), "\(head)")
                #expect(closed, "\(head)")
            }
            // The server goes on answering good requests.
            let good = try RawConnection(port: port)
            good.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(good.receive(until: "hello").text.hasSuffix("hello"))
        }
    }
}
