import Foundation
import Glibc

/// A child process started with posix_spawn, its output going to files.
///
/// Foundation's `Process` reaps children through machinery that can stall when the cooperative
/// thread pool (two threads here) is busy, so tests use this instead: nothing in it blocks a
/// cooperative thread.
public final class ChildProcess: Sendable {
    public let pid: Int32
    private let stdoutPath: String
    private let stderrPath: String

    /// Starts `executable` with `arguments`; `environment` is laid over the test's environment.
    /// `descriptors` maps a descriptor number in the child to one of this process's descriptors
    /// it gets there (as Chromium's `--remote-debugging-pipe` expects its pipes at 3 and 4).
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], descriptors: [Int32: Int32] = [:]) throws {
        let directory = FileManager.default.temporaryDirectory.path
        let stem = "\(directory)/claimsd-child-\(TestEnvironment.uniqueSuffix())"
        stdoutPath = stem + ".out"
        stderrPath = stem + ".err"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        for (child, parent) in descriptors { posix_spawn_file_actions_adddup2(&actions, parent, child) }

        // The test runner blocks signals such as SIGTERM and SIGINT on its threads; a child
        // inherits that mask, and servers started by it could then never be stopped. Start
        // every child with no signal blocked and default dispositions.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        // Each claimsd keeps its time series in a directory of its own (a store is locked by
        // the process that opened it, and tests run several at once).
        if merged["CLAIMS_TSDB_PATH"] == nil { merged["CLAIMS_TSDB_PATH"] = stem + ".tsdb" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let status = posix_spawnp(&child, executable, &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw TestEnvironmentError.commandFailed("could not start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// What the child wrote to standard output so far.
    public var standardOutput: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    /// What the child wrote to standard error so far.
    public var standardError: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` to the child.
    public func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// The exit status once the child has exited (reaping it), `nil` while it runs.
    public func exitStatus() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return nil }
        if status & 0x7f == 0 { return (status >> 8) & 0xff }  // exited normally
        return 128 + (status & 0x7f)  // killed by a signal, as shells report it
    }

    /// Waits for the child to exit, polling without blocking any thread.
    public func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            if let status = exitStatus() { return status }
            guard ContinuousClock.now < deadline else {
                send(SIGKILL)
                _ = try? await waitForExit(timeout: .seconds(5))
                throw TestEnvironmentError.commandFailed("process \(pid) did not exit within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: stdoutPath)
        try? FileManager.default.removeItem(atPath: stderrPath)
    }
}
