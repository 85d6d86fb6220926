import Foundation

/// Reads the system journal back with `journalctl -o json` (or `CLAIMS_TEST_JOURNALCTL`, which
/// scripts/test.sh sets to `sudo journalctl` for users outside the systemd-journal group).
public enum JournalReader {
    /// The raw `journalctl -o json` output for entries matching every `FIELD=value` in `matches`,
    /// oldest first, one JSON object per line. Extra journalctl options (`--since=@EPOCH`) may be
    /// among `matches`.
    public static func output(_ matches: [String]) async throws -> String {
        let command = (ProcessInfo.processInfo.environment["CLAIMS_TEST_JOURNALCTL"] ?? "journalctl").split(separator: " ").map(String.init)
        return try await TestEnvironment.run("/usr/bin/env", command + ["-o", "json", "--no-pager"] + matches)
    }

    /// The entries matching `matches`, parsed, oldest first.
    public static func entries(_ matches: [String]) async throws -> [[String: Any]] {
        try await output(matches).split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// The entries matching `matches` once `satisfied` holds for them, waiting up to `timeout`
    /// for journald to store what was sent.
    public static func waitForEntries(
        _ matches: [String], timeout: Duration = .seconds(10), until satisfied: ([[String: Any]]) -> Bool = { !$0.isEmpty }
    ) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let found = try await entries(matches)
            if satisfied(found) { return found }
            guard ContinuousClock.now < deadline else {
                throw TestEnvironmentError.commandFailed("journal entries matching \(matches) never became complete (\(found.count) found)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
