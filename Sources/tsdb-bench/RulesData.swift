import ArgumentParser
import Foundation

/// Writes a wide history and a rule file over it, for timing rule evaluation in claimsd and in
/// Prometheus on the same data (benchmarks/alerting.sh).
struct RulesData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules-data", abstract: "OpenMetrics history of many counters and a rule file of recording and alerting rules over it.")

    @Argument(help: "Where to write the OpenMetrics history.") var history: String
    @Argument(help: "Where to write the rule file.") var rules: String
    @Option(help: "Metric names; each has series/metrics series.") var metrics = 50
    @Option(help: "Series in all.") var series = 10_000
    @Option(help: "Minutes of history.") var minutes = 60
    @Option(help: "Seconds between samples.") var interval = 15
    @Option(help: "Unix seconds of the last sample.") var end = 1_700_000_000

    func run() throws {
        var random = SplitMix64(state: 23)
        _ = FileManager.default.createFile(atPath: history, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: history) else { throw ValidationError("cannot write \(history)") }
        var buffer = ""
        let steps = minutes * 60 / interval
        let start = end - (steps - 1) * interval
        let perMetric = series / metrics
        for metric in 0..<metrics {
            for index in 0..<perMetric {
                let instance = "host-\(index % 20)"
                let shard = "s\(index / 20)"
                var value = 0.0
                let speed = Int.random(in: 1...12, using: &random)
                for step in 0..<steps {
                    value += Double(Int.random(in: 0...speed, using: &random))
                    buffer += "bench_m\(metric)_total{instance=\"\(instance)\",shard=\"\(shard)\"} \(Int(value)) \(start + step * interval)\n"
                }
                if buffer.utf8.count > 4 << 20 {
                    handle.write(Data(buffer.utf8))
                    buffer = ""
                }
            }
        }
        buffer += "# EOF\n"
        handle.write(Data(buffer.utf8))
        try handle.close()

        // Four rules per metric: two recording rules, an alert that fires for some shards and
        // one that never fires.
        var text = "groups:\n  - name: bench\n    rules:\n"
        for metric in 0..<metrics {
            text += """
                  - record: bench:m\(metric):rate5m
                    expr: sum by (instance) (rate(bench_m\(metric)_total[5m]))
                  - record: bench:m\(metric):max5m
                    expr: max by (shard) (max_over_time(bench_m\(metric)_total[5m]))
                  - alert: BenchShardBusy\(metric)
                    expr: sum by (shard) (rate(bench_m\(metric)_total[5m])) > 4.5
                    for: 1m
                    labels: {severity: warning}
                    annotations: {summary: "shard {{ $labels.shard }} at {{ $value | humanize }}/s"}
                  - alert: BenchNever\(metric)
                    expr: rate(bench_m\(metric)_total[5m]) > 1e9
                    labels: {severity: page}

            """
        }
        try text.write(toFile: rules, atomically: true, encoding: .utf8)
    }
}
