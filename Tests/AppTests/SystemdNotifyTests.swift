import Foundation
import Glibc
import ServiceManager
import Testing
import TestSupport

/// claimsd speaks systemd's notify protocol (deploy/claimsd.service is `Type=notify`): the test
/// is systemd's end of it, a real datagram socket named by `NOTIFY_SOCKET`.
@Suite(.serialized) struct SystemdNotifyTests {
    /// A bound `AF_UNIX` datagram socket that collects what is sent to it.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        private let descriptor: Int32
        private let lock = NSLock()
        private var received: [String] = []
        private var thread: Thread?

        init() throws {
            path = NSTemporaryDirectory() + "claimsd-notify-\(TestEnvironment.uniqueSuffix()).sock"
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard descriptor >= 0, bound == 0 else { throw TestEnvironmentError.commandFailed("cannot bind \(path): errno \(errno)") }
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let thread = Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !Thread.current.isCancelled {
                    let count = recv(descriptor, &buffer, buffer.count, 0)
                    if count > 0 {
                        let text = String(decoding: buffer[0..<count], as: UTF8.self)
                        lock.withLock { received.append(text) }
                    }
                }
            }
            self.thread = thread
            thread.start()
        }

        var messages: [String] { lock.withLock { received } }

        func close() {
            thread?.cancel()
            Thread.sleep(forTimeInterval: 0.3)
            Glibc.close(descriptor)
            unlink(path)
        }
    }

    @Test func readyWatchdogAndStoppingReachTheNotifySocket() async throws {
        try await ScratchDatabase.with { _, database in
            let directory = try AlertingIntegrationTests.scratch("notify")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let socket = try NotifySocket()
            defer { socket.close() }
            let claimsd = try await AlertingIntegrationTests.start(
                rules: AlertDrillTests.repository + "/alerts/*.yml", tsdb: directory + "/tsdb", database: database.url,
                environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "400000"])
            try await waitUntil(timeout: .seconds(10)) { socket.messages.filter { $0 == "WATCHDOG=1" }.count >= 3 }
            let ready = try #require(socket.messages.first { $0.hasPrefix("READY=1") })
            #expect(ready.contains("\nSTATUS=serving on 127.0.0.1:\(claimsd.port); 6 rule groups loaded"), "\(ready)")
            // The container health check (`claimsd healthcheck`) asks the same running server.
            let healthy = try ChildProcess(ExecutableTests.binary.path, ["healthcheck", "--url", "http://127.0.0.1:\(claimsd.port)/health"])
            #expect(try await healthy.waitForExit() == 0, "\(healthy.standardOutput)\(healthy.standardError)")
            #expect(healthy.standardOutput.contains("answered 200"))
            let unreachable = try ChildProcess(ExecutableTests.binary.path, ["healthcheck", "--url", "http://127.0.0.1:1/health", "--timeout", "2"])
            #expect(try await unreachable.waitForExit() == 1)
            #expect(unreachable.standardError.contains("claimsd healthcheck: connecting to 127.0.0.1:1 failed"), "\(unreachable.standardError)")
            try await claimsd.stop()
            let stopping = try #require(socket.messages.first { $0.hasPrefix("STOPPING=1") })
            #expect(stopping.contains("\nSTATUS=stopping"))
            // Ready came before any keep-alive was needed, stopping last of the three kinds.
            let kinds = socket.messages.map { $0.split(separator: "\n").first.map(String.init) ?? "" }
            #expect(kinds.firstIndex(of: "READY=1") ?? .max < kinds.lastIndex(of: "WATCHDOG=1") ?? -1)
            #expect(kinds.last == "STOPPING=1" || kinds.lastIndex(of: "STOPPING=1") ?? -1 > kinds.firstIndex(of: "READY=1") ?? .max)
        }
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUSecForThisProcessOnly() {
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"], pid: 7) == .seconds(15))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"], pid: 7) == .seconds(15))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"], pid: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "0"], pid: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: [:], pid: 7) == nil)
        #expect(!SystemdNotifier(environment: [:]).isActive)
        #expect(!SystemdNotifier(environment: [:]).send("READY=1"), "outside systemd nothing is sent")
    }
}
