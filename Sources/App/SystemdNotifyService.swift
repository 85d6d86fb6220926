public import ServiceLifecycle
public import ServiceManager

/// Keeps systemd informed while claimsd runs (`Type=notify` in deploy/claimsd.service): a
/// `WATCHDOG=1` every half `WatchdogSec=` from a task on the cooperative pool — if the pool
/// stalls, the pings stop and systemd restarts the service — and `STOPPING=1` as soon as a
/// graceful stop begins. `READY=1` is sent when the server listens (see `buildApplication`).
public struct SystemdNotifyService: Service {
    let notifier: SystemdNotifier

    public init(notifier: SystemdNotifier) {
        self.notifier = notifier
    }

    public func run() async throws {
        let notifier = notifier
        await withTaskGroup(of: Void.self) { group in
            if let interval = notifier.watchdogInterval {
                group.addTask {
                    while !Task.isCancelled {
                        notifier.watchdog()
                        try? await Task.sleep(for: interval)
                    }
                }
            }
            try? await gracefulShutdown()
            notifier.stopping(status: "stopping: draining requests, final checkpoint of the time-series store")
            group.cancelAll()
        }
    }
}
