import Foundation
import Prometheus
import Synchronization

/// The standard Prometheus process metrics, read from `/proc/self` when `/metrics` is scraped:
/// `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
/// `process_open_fds`, `process_max_fds`, `process_start_time_seconds`.
final class ProcessMetrics: Sendable {
    private let cpuSeconds: Prometheus.Counter
    private let residentBytes: Prometheus.Gauge
    private let virtualBytes: Prometheus.Gauge
    private let openFDs: Prometheus.Gauge
    private let maxFDs: Prometheus.Gauge
    private let startTime: Prometheus.Gauge
    /// CPU seconds already added to the counter (a counter only goes up by increments).
    private let countedCPU = Mutex<Double>(0)

    init(registry: PrometheusCollectorRegistry) {
        cpuSeconds = registry.makeCounter(descriptor: Self.descriptor("process_cpu_seconds_total", "User and system CPU time spent, in seconds."))
        residentBytes = registry.makeGauge(descriptor: Self.descriptor("process_resident_memory_bytes", "Resident memory size in bytes."))
        virtualBytes = registry.makeGauge(descriptor: Self.descriptor("process_virtual_memory_bytes", "Virtual memory size in bytes."))
        openFDs = registry.makeGauge(descriptor: Self.descriptor("process_open_fds", "Number of open file descriptors."))
        maxFDs = registry.makeGauge(descriptor: Self.descriptor("process_max_fds", "Maximum number of open file descriptors."))
        startTime = registry.makeGauge(descriptor: Self.descriptor("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds."))
    }

    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Reads `/proc` and updates every metric; a value that cannot be read keeps its last one.
    func update() {
        if let cpu = Self.cpuSeconds() {
            countedCPU.withLock { counted in
                if cpu > counted {
                    cpuSeconds.increment(by: cpu - counted)
                    counted = cpu
                }
            }
        }
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            if let kilobytes = Self.kilobytes("VmRSS:", in: status) { residentBytes.set(kilobytes * 1024) }
            if let kilobytes = Self.kilobytes("VmSize:", in: status) { virtualBytes.set(kilobytes * 1024) }
        }
        // starttime (field 22 of proc(5), index 19 after the command name) is in clock ticks of
        // USER_HZ, which the kernel fixes at 100 for everything it reports in /proc.
        if let stat = Self.statFields(), stat.count > 19, let ticks = Double(stat[19]), let boot = Self.bootTime() {
            startTime.set(boot + ticks / 100)
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFDs.set(Double(descriptors.count))
        }
        if let limit = Self.maxOpenFiles() { maxFDs.set(limit) }
    }

    /// User and system CPU seconds: `/proc/self/schedstat` (nanoseconds on a CPU), or utime +
    /// stime from `/proc/self/stat` in USER_HZ ticks where schedstat is missing.
    static func cpuSeconds() -> Double? {
        if let text = try? String(contentsOfFile: "/proc/self/schedstat", encoding: .utf8),
            let nanoseconds = text.split(separator: " ").first.flatMap({ Double($0) }) {
            return nanoseconds / 1e9
        }
        guard let stat = statFields(), stat.count > 12, let user = Double(stat[11]), let system = Double(stat[12]) else { return nil }
        return (user + system) / 100
    }

    /// A `Name:   123 kB` value of `/proc/self/status`.
    static func kilobytes(_ name: String, in status: String) -> Double? {
        status.split(separator: "\n").first { $0.hasPrefix(name) }
            .flatMap { $0.dropFirst(name.count).split(whereSeparator: \.isWhitespace).first }.flatMap { Double($0) }
    }

    /// `/proc/self/stat` split after the command name (which may contain spaces).
    static func statFields() -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// Seconds since the epoch at boot, from `/proc/stat`.
    static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("btime ") }.flatMap { Double($0.dropFirst(6)) }
    }

    /// The soft limit of open files, from `/proc/self/limits`.
    static func maxOpenFiles() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/limits", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") })
        else { return nil }
        return line.dropFirst("Max open files".count).split(separator: " ").first.flatMap { Double($0) }
    }
}
