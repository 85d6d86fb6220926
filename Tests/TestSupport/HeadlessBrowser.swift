import Foundation
import Glibc

/// Debian's headless Chromium driven through the DevTools protocol over
/// `--remote-debugging-pipe`: JSON messages ending in a NUL byte, commands written to the
/// child's descriptor 3, answers and events read from its descriptor 4. Enough to open a page,
/// run script in it (fill a form, click) and read what it shows, as a user's browser would.
///
/// The pipes are non-blocking and polled with short sleeps, so no cooperative thread waits.
public actor HeadlessBrowser {
    let process: ChildProcess
    let profile: String
    let commands: Int32
    let answers: Int32
    var nextID = 0
    var received: [UInt8] = []
    var session: String?

    /// Starts Chromium with an empty profile of its own.
    public init(executable: String = "/usr/bin/chromium") throws {
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else {
            throw TestEnvironmentError.commandFailed("could not make pipes for Chromium: \(String(cString: strerror(errno)))")
        }
        // Not inherited by other children the tests start; the dup2 into Chromium's 3 and 4
        // clears the flag there.
        for descriptor in toBrowser + fromBrowser { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        profile = NSTemporaryDirectory() + "claimsd-chromium-\(TestEnvironment.uniqueSuffix())"
        process = try ChildProcess(
            executable,
            ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)", "--remote-debugging-pipe", "about:blank"],
            descriptors: [3: toBrowser[0], 4: fromBrowser[1]])
        close(toBrowser[0])
        close(fromBrowser[1])
        commands = toBrowser[1]
        answers = fromBrowser[0]
        _ = fcntl(commands, F_SETFL, fcntl(commands, F_GETFL) | O_NONBLOCK)
        _ = fcntl(answers, F_SETFL, fcntl(answers, F_GETFL) | O_NONBLOCK)
    }

    /// Opens `url` in a new tab and attaches to it; later commands go to that tab.
    public func open(_ url: String) async throws {
        let target = try await command("Target.createTarget", ["url": url], inSession: false)
        guard let targetID = target["targetId"] as? String else { throw Self.failure("no target id in \(target)") }
        let attached = try await command("Target.attachToTarget", ["targetId": targetID, "flatten": true], inSession: false)
        guard let id = attached["sessionId"] as? String else { throw Self.failure("no session id in \(attached)") }
        session = id
    }

    /// The value of `expression` evaluated in the page, as JSON text (`JSON.stringify`).
    public func evaluate(_ expression: String) async throws -> String {
        let result = try await command(
            "Runtime.evaluate", ["expression": "JSON.stringify((() => { return \(expression); })())", "returnByValue": true], inSession: true)
        if let exception = result["exceptionDetails"] { throw Self.failure("the page's script failed: \(exception)") }
        return ((result["result"] as? [String: Any])?["value"] as? String) ?? "undefined"
    }

    /// Waits until `expression` is true in the page (it is evaluated again every 100 ms; a
    /// page being replaced by a navigation counts as not yet).
    public func waitUntil(_ expression: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if (try? await evaluate("Boolean(\(expression))")) == "true" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Self.failure("the page never showed \(expression) within \(timeout)")
    }

    /// Closes the browser and removes its profile.
    public func quit() async {
        _ = try? await command("Browser.close", [:], inSession: false, timeout: .seconds(10))
        if (try? await process.waitForExit(timeout: .seconds(20))) == nil { process.send(SIGKILL) }
        close(commands)
        close(answers)
        try? FileManager.default.removeItem(atPath: profile)
    }

    /// Sends one command and returns its result, skipping the events that arrive meanwhile.
    func command(_ method: String, _ parameters: [String: Any], inSession: Bool, timeout: Duration = .seconds(60)) async throws -> [String: Any] {
        nextID += 1
        let id = nextID
        var message: [String: Any] = ["id": id, "method": method, "params": parameters]
        if inSession {
            guard let session else { throw Self.failure("no page is open") }
            message["sessionId"] = session
        }
        try await write(Array(try JSONSerialization.data(withJSONObject: message)) + [0])
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            while let end = received.firstIndex(of: 0) {
                let text = Array(received[..<end])
                received.removeSubrange(...end)
                guard let answer = try JSONSerialization.jsonObject(with: Data(text)) as? [String: Any], answer["id"] as? Int == id else { continue }
                if let error = answer["error"] { throw Self.failure("\(method) failed: \(error)") }
                return answer["result"] as? [String: Any] ?? [:]
            }
            guard ContinuousClock.now < deadline else { throw Self.failure("no answer to \(method) within \(timeout): \(process.standardError.suffix(2000))") }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = read(answers, &chunk, chunk.count)
            if count > 0 {
                received.append(contentsOf: chunk[..<count])
            } else if count == 0 {
                throw Self.failure("Chromium closed its pipe: \(process.standardError.suffix(2000))")
            } else {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(commands, $0.baseAddress, $0.count) }
            if written > 0 {
                offset += written
            } else if errno == EAGAIN {
                try await Task.sleep(for: .milliseconds(10))
            } else {
                throw Self.failure("could not write to Chromium: \(String(cString: strerror(errno)))")
            }
        }
    }

    static func failure(_ message: String) -> TestEnvironmentError { .commandFailed("Chromium: " + message) }
}
