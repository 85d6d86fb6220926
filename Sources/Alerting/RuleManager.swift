import Synchronization
public import TimeSeries

/// Runs rule groups at their intervals, reloads rule files keeping alert state, and hands
/// due alerts to the notifiers: Prometheus's rule manager, with time and storage passed in.
public final class RuleManager: Sendable {
    /// How a manager evaluates.
    public struct Options: Sendable {
        /// Interval of groups that set none (milliseconds).
        public var defaultInterval: Int64 = 15_000
        public var evaluation = RuleEvaluationOptions()
        /// The wall clock in milliseconds since the epoch.
        public var now: @Sendable () -> Int64
        /// Runs one group evaluation; the service moves it off the cooperative pool.
        public var run: @Sendable (@escaping @Sendable () -> Void) async -> Void = { work in work() }
        /// Called after each evaluation of a group with the ticks skipped before it (metrics).
        public var onEvaluated: @Sendable (RuleGroup, _ missed: Int) -> Void = { _, _ in }

        public init(now: @escaping @Sendable () -> Int64) {
            self.now = now
        }
    }

    /// The outcome of the last (re)load.
    public struct LoadStatus: Sendable {
        public var time: Int64
        public var files: [String]
        public var error: String?
    }

    private struct State {
        var groups: [RuleGroup] = []
        var tasks: [String: Task<Void, Never>] = [:]
        var running = false
        var loadedOnce = false
        var lastLoad: LoadStatus?
    }

    private let options: Options
    private let context: RuleContext
    private let append: @Sendable ([PendingSample]) -> Void
    private let notify: @Sendable ([AlertNotification], RuleGroup) -> Void
    private let state = Mutex(State())

    /// A manager evaluating against `context`, writing rule output with `append` and sending
    /// due alerts with `notify`.
    public init(
        options: Options, context: RuleContext, append: @escaping @Sendable ([PendingSample]) -> Void,
        notify: @escaping @Sendable ([AlertNotification], RuleGroup) -> Void
    ) {
        self.options = options
        self.context = context
        self.append = append
        self.notify = notify
    }

    /// The groups, in file order.
    public var groups: [RuleGroup] { state.withLock { $0.groups } }

    /// The outcome of the last load or reload.
    public var lastLoad: LoadStatus? { state.withLock { $0.lastLoad } }

    /// Loads `files` (already expanded), replacing the current groups. A file that fails to
    /// load leaves the current groups running and is reported; groups that stay keep their
    /// alerts. The first load after start restores alert state from the store.
    public func load(files: [String]) async throws(RuleFileErrors) {
        var definitions: [(file: String, group: RuleGroupDefinition)] = []
        for file in files {
            do {
                let parsed = try RuleFile.load(path: file)
                definitions += parsed.groups.map { (file, $0) }
            } catch {
                state.withLock { $0.lastLoad = LoadStatus(time: options.now(), files: files, error: error.description) }
                throw error
            }
        }
        let restore = state.withLock { !$0.loadedOnce }
        var fresh: [RuleGroup] = []
        for (file, definition) in definitions {
            do {
                fresh.append(try RuleGroup(definition, file: file, defaultInterval: options.defaultInterval, restore: restore))
            } catch {
                let failure = RuleFileErrors(path: file, problems: ["group \"\(definition.name)\": \(error)"])
                state.withLock { $0.lastLoad = LoadStatus(time: options.now(), files: files, error: failure.description) }
                throw failure
            }
        }
        // Stop the old loops before taking their state, so no evaluation is half-copied.
        let (old, tasks, running) = state.withLock { state in
            defer { state.tasks = [:] }
            return (state.groups, state.tasks, state.running)
        }
        for task in tasks.values { task.cancel() }
        for task in tasks.values { await task.value }
        let byKey = Dictionary(old.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        for group in fresh {
            if let previous = byKey[group.key] { group.adopt(from: previous) }
        }
        let kept = Set(fresh.map(\.key))
        let now = options.now()
        for group in old where !kept.contains(group.key) {
            let markers = group.staleMarkers(at: now)
            if !markers.isEmpty { append(markers) }
        }
        state.withLock { state in
            state.groups = fresh
            state.loadedOnce = true
            state.lastLoad = LoadStatus(time: now, files: files, error: nil)
        }
        if running { startLoops() }
    }

    /// Evaluates every group at its interval until the task is cancelled.
    public func run() async {
        state.withLock { $0.running = true }
        startLoops()
        // Wait for cancellation (graceful shutdown), then stop the loops.
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        await withTaskCancellationHandler {
            for await _ in stream {}
        } onCancel: {
            continuation.finish()
        }
        let tasks = state.withLock { state in
            defer {
                state.tasks = [:]
                state.running = false
            }
            return state.tasks
        }
        for task in tasks.values { task.cancel() }
        for task in tasks.values { await task.value }
    }

    private func startLoops() {
        state.withLock { state in
            for group in state.groups where state.tasks[group.key] == nil {
                state.tasks[group.key] = Task { [self] in await loop(group) }
            }
        }
    }

    /// Evaluates `group` at its aligned slots; ticks missed while an evaluation overran are
    /// skipped and counted, as in Prometheus.
    private func loop(_ group: RuleGroup) async {
        let interval = group.interval
        var next = group.evaluationTime(atOrBefore: options.now())
        if let last = group.lastEvaluation.time, last >= next { next += interval }
        while !Task.isCancelled {
            let wait = next - options.now()
            if wait > 0 {
                do {
                    try await Task.sleep(for: .milliseconds(wait))
                } catch {
                    return
                }
            }
            let late = options.now() - next
            var missed: Int64 = 0
            if late >= interval {
                missed = late / interval
                next += missed * interval
            }
            let time = next
            let context = context
            let append = append
            let evaluation = options.evaluation
            let notifications = Mutex<[AlertNotification]>([])
            await options.run {
                let due = group.evaluate(at: time, context: context, options: evaluation, append: append)
                notifications.withLock { $0 = due }
            }
            let due = notifications.withLock { $0 }
            options.onEvaluated(group, Int(missed))
            if !due.isEmpty { notify(due, group) }
            next += interval
        }
    }
}
