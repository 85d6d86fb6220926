import ArgumentParser
import Foundation

/// Writes an OpenMetrics file shaped like claimsd's own metrics, for loading the same history
/// into claimsd and into Prometheus (benchmarks/query.sh).
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "OpenMetrics history like claimsd's: request counters, a latency histogram, a wide metric.")

    @Argument(help: "Where to write the file.") var output: String
    @Option(help: "Hours of request and histogram history.") var hours = 24
    @Option(help: "Series of the wide metric (bench_wide), over the last two hours.") var wide = 1000
    @Option(help: "Seconds between samples.") var interval = 15
    @Option(help: "Unix seconds of the last sample.") var end = 1_700_000_000

    func run() throws {
        var random = SplitMix64(state: 11)
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: output) else { throw ValidationError("cannot write \(output)") }
        var buffer = ""
        func flush(force: Bool = false) {
            guard force || buffer.utf8.count > 4 << 20 else { return }
            handle.write(Data(buffer.utf8))
            buffer = ""
        }
        let steps = hours * 3600 / interval
        let start = end - (steps - 1) * interval
        let routes = ["/health", "/ready", "/metrics", "/api/v1/claims", "/api/v1/claims/{id}", "/api/v1/claims/import", "/api/v1/providers/top",
                      "/api/v1/payments/events", "/api/v1/claims/{id}/payment", "/api/v1/query"]
        let bounds = ["0.00025", "0.0005", "0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"]
        for route in routes {
            for status in ["200", "201", "404", "500"] {
                var value = 0.0
                let rate = Double(Int.random(in: 0...40, using: &random))
                for step in 0..<steps {
                    value += Double(Int.random(in: 0...Int(rate), using: &random))
                    buffer += "claimsd_http_requests_total{job=\"claimsd\",method=\"GET\",route=\"\(route)\",status=\"\(status)\"} \(Int(value)) \(start + step * interval)\n"
                    flush()
                }
            }
        }
        for route in routes {
            var counts = Array(repeating: 0.0, count: bounds.count)
            var series = Array(repeating: "", count: bounds.count)
            for step in 0..<steps {
                for _ in 0..<Int.random(in: 0...30, using: &random) {
                    let latency = Double.random(in: 0...1, using: &random) * Double.random(in: 0...1, using: &random) * 0.2
                    for (index, bound) in bounds.enumerated() where latency <= (Double(bound) ?? .infinity) { counts[index] += 1 }
                }
                for index in bounds.indices {
                    series[index] += "claimsd_http_request_duration_seconds_bucket{job=\"claimsd\",le=\"\(bounds[index])\",route=\"\(route)\"} \(Int(counts[index])) \(start + step * interval)\n"
                }
            }
            for text in series {
                buffer += text
                flush()
            }
        }
        let wideSteps = min(steps, 2 * 3600 / interval)
        for index in 0..<wide {
            var value = 0.0
            for step in (steps - wideSteps)..<steps {
                value += Double(Int.random(in: 0...9, using: &random))
                buffer += "bench_wide_total{instance=\"host-\(index % 50)\",series=\"\(index)\"} \(Int(value)) \(start + step * interval)\n"
                flush()
            }
        }
        buffer += "# EOF\n"
        flush(force: true)
        try handle.close()
    }
}
