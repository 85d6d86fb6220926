import CSystemd
import Glibc

/// Tells systemd how the service is doing, through `sd_notify` (a `Type=notify` unit): `READY=1`
/// once it serves, `STATUS=` lines for `systemctl status`, `WATCHDOG=1` keep-alives when the unit
/// sets `WatchdogSec=`, and `STOPPING=1` when a graceful stop begins. Outside systemd
/// (`NOTIFY_SOCKET` unset) every call does nothing.
public struct SystemdNotifier: Sendable {
    /// Whether systemd is listening (`NOTIFY_SOCKET` is set).
    public let isActive: Bool
    /// How often to send `WATCHDOG=1`: half the unit's `WatchdogSec=` (`WATCHDOG_USEC`), when the
    /// watchdog is meant for this process; nil otherwise.
    public let watchdogInterval: Duration?

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the environment.
    public init(environment: [String: String]) {
        isActive = !(environment["NOTIFY_SOCKET"] ?? "").isEmpty
        watchdogInterval = Self.watchdogInterval(environment: environment, pid: Int(getpid()))
    }

    /// Half of `WATCHDOG_USEC` when it is set, positive, and `WATCHDOG_PID` is unset or this process.
    public static func watchdogInterval(environment: [String: String], pid: Int) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], Int(owner) != pid { return nil }
        return .microseconds(microseconds / 2)
    }

    /// `READY=1` with a status line.
    public func ready(status: String) { send("READY=1\nSTATUS=\(Self.oneLine(status))") }

    /// A `STATUS=` line alone.
    public func status(_ text: String) { send("STATUS=\(Self.oneLine(text))") }

    /// `WATCHDOG=1`: still alive.
    public func watchdog() { send("WATCHDOG=1") }

    /// `STOPPING=1` with a status line.
    public func stopping(status: String) { send("STOPPING=1\nSTATUS=\(Self.oneLine(status))") }

    /// Sends `state` (newline-separated assignments); returns whether systemd got it.
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard isActive else { return false }
        return sd_notify(0, state) > 0
    }

    /// A status must be one line: newlines would start new assignments.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
