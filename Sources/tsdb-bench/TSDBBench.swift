import ArgumentParser
import Foundation
import TimeSeries

/// Benchmarks of the built-in time-series store, run by benchmarks/tsdb.sh in a release build.
/// Each prints Markdown rows for docs/performance.md.
@main
struct TSDBBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsdb-bench",
        abstract: "Measure the built-in time-series store: append rate, compression, memory, replay, scrape cost.",
        subcommands: [Append.self, Day.self, ScrapeCost.self, Generate.self, RulesData.self]
    )
}

/// Resident memory of this process in bytes, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

/// A seeded generator, so runs repeat.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How a series' value moves from one scrape to the next in generated data.
enum Motion {
    case constant
    case counter(rate: Double)
    case gauge(step: Double)

    static func forSeries(named name: String, value: Double, random: inout SplitMix64) -> Motion {
        // About a third of series change between scrapes: idle error counters, build info,
        // bucket counts of rare routes and fixed gauges make up the rest of real expositions.
        guard Double.random(in: 0..<1, using: &random) < 0.35 else { return .constant }
        let counterLike = ["_total", "_count", "_sum", "_bucket", "_seconds_total"].contains { name.hasSuffix($0) }
        if counterLike { return .counter(rate: Double(Int.random(in: 1...50, using: &random))) }
        return .gauge(step: max(abs(value) * 0.01, 0.5))
    }

    func next(_ value: Double, random: inout SplitMix64) -> Double {
        switch self {
        case .constant: return value
        case .counter(let rate): return value + Double(Int.random(in: 0...Int(rate * 2), using: &random))
        case .gauge(let step): return value + Double.random(in: -step...step, using: &random)
        }
    }
}

struct Append: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Samples per second appended to existing series, one thread.")

    @Option(help: "Series per scrape.") var series = 10_000
    @Option(help: "Scrapes.") var scrapes = 300
    @Option(help: "Directory for the WAL-backed run (emptied first).") var directory = "/tmp/tsdb-bench-append"

    func run() throws {
        var random = SplitMix64(state: 42)
        let labels = (0..<series).map { Labels(["__name__": "bench_metric_\($0 % 100)", "instance": "host-\($0 / 100):9100", "job": "bench"]) }
        var values = (0..<series).map { _ in Double(Int.random(in: 0...1000, using: &random)) }
        // Every scrape's samples, generated before timing.
        var batches: [[(Int64, Double)]] = []
        for scrape in 0..<scrapes {
            let timestamp = 1_700_000_000_000 + Int64(scrape) * 15_000
            batches.append(
                values.indices.map { index in
                    if index % 3 == 0 { values[index] += Double(Int.random(in: 0...20, using: &random)) }
                    return (timestamp, values[index])
                })
        }
        let total = Double(series * (scrapes - 1))

        // Reference: the same tuples appended to a plain array (the ceiling for any store).
        var flat: [(Int, Int64, Double)] = []
        flat.reserveCapacity(series * scrapes)
        let referenceStart = ContinuousClock.now
        for batch in batches.dropFirst() { for (index, sample) in batch.enumerated() { flat.append((index, sample.0, sample.1)) } }
        let reference = seconds(ContinuousClock.now - referenceStart)

        func measure(_ store: TimeSeriesStore) -> Double {
            let first = store.append(zip(labels, batches[0]).map { PendingSample(labels: $0, timestamp: $1.0, value: $1.1) })
            let refs = first.refs
            let pending = batches.dropFirst().map { batch in
                batch.indices.map { PendingSample(labels: .empty, ref: refs[$0], timestamp: batch[$0].0, value: batch[$0].1) }
            }
            let start = ContinuousClock.now
            for batch in pending { store.append(batch) }
            return seconds(ContinuousClock.now - start)
        }
        let memory = measure(TimeSeriesStore())
        try? FileManager.default.removeItem(atPath: directory)
        let (durable, _) = try TimeSeriesStore.open(path: directory)
        let withWAL = measure(durable)
        let walBytes = durable.walStatus().bytes
        try durable.close()
        try? FileManager.default.removeItem(atPath: directory)

        print("| append to existing series, in memory | \(String(format: "%.2f", total / memory / 1e6)) M samples/s |")
        print("| append to existing series, with WAL | \(String(format: "%.2f", total / withWAL / 1e6)) M samples/s (WAL \(String(format: "%.1f", Double(walBytes) / total)) B/sample) |")
        print("| reference: the same tuples into a Swift array | \(String(format: "%.2f", total / reference / 1e6)) M samples/s |")
        print("(\(series) series × \(scrapes - 1) scrapes, batches of one scrape, one thread)")
    }
}

struct Day: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A day of scrapes of the series in the given expositions: compression, memory, checkpoint and WAL replay.")

    @Argument(help: "Exposition files captured from real targets (claimsd, node, postgres and redis exporters).")
    var templates: [String]

    @Option(help: "Scrape interval in seconds.") var interval = 15
    @Option(help: "Hours of data.") var hours = 24
    @Option(help: "Store directory (emptied first).") var directory = "/tmp/tsdb-bench-day"
    @Option(help: "Unix seconds of the last scrape.") var end = 1_700_000_000 + 86_400
    @Option(help: "The job label of every series (default: job0, job1, … by template).") var job: String?
    @Option(help: "The instance label of every series (default: 127.0.0.1:9100, :9101, … by template).") var instance: String?
    @Flag(help: "Leave the store, checkpointed, in the directory (for a claimsd to open) instead of removing it.") var keep = false

    func run() throws {
        var random = SplitMix64(state: 7)
        var series: [(Labels, Double, Motion)] = []
        for (number, path) in templates.enumerated() {
            let text = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let format: ExpositionFormat = String(decoding: text.suffix(8), as: UTF8.self).contains("# EOF") ? .openMetrics : .prometheusText
            for sample in try ExpositionParser.parse(text, format: format) {
                let labels = sample.labels.setting("job", to: job ?? "job\(number)").setting("instance", to: instance ?? "127.0.0.1:\(9100 + number)")
                let value = sample.value.isFinite ? sample.value : 0
                series.append((labels, value, Motion.forSeries(named: labels.name, value: value, random: &random)))
            }
        }
        let scrapes = hours * 3600 / interval
        try? FileManager.default.removeItem(atPath: directory)
        let before = residentBytes()
        let (store, _) = try TimeSeriesStore.open(path: directory, options: TimeSeriesOptions(retention: Int64(hours) * 3_600_000))
        var values = series.map(\.1)
        var refs: [SeriesRef?] = Array(repeating: nil, count: series.count)
        let start = ContinuousClock.now
        for scrape in 0..<scrapes {
            let timestamp = (Int64(end) - Int64((scrapes - 1 - scrape) * interval)) * 1000
            var batch: [PendingSample] = []
            batch.reserveCapacity(series.count)
            for index in series.indices {
                if scrape > 0 { values[index] = series[index].2.next(values[index], random: &random) }
                batch.append(PendingSample(labels: series[index].0, ref: refs[index], timestamp: timestamp, value: values[index]))
            }
            let result = store.append(batch)
            if scrape == 0 { refs = result.refs }
        }
        let generation = seconds(ContinuousClock.now - start)
        let statistics = store.statistics()
        let resident = residentBytes() - before
        let walBytes = store.walStatus().bytes
        try store.sync()
        _ = consume store

        // Replay of a day held only in the WAL (no checkpoint was written: a kill -9 worst case).
        let walStart = ContinuousClock.now
        let (fromWAL, walReport) = try TimeSeriesStore.open(path: directory, options: TimeSeriesOptions(retention: Int64(hours) * 3_600_000))
        let walReplay = seconds(ContinuousClock.now - walStart)
        let checkpointStart = ContinuousClock.now
        let checkpointBytes = try fromWAL.checkpoint()
        let checkpointTime = seconds(ContinuousClock.now - checkpointStart)
        try fromWAL.close()
        _ = consume fromWAL
        let loadStart = ContinuousClock.now
        let (fromCheckpoint, loadReport) = try TimeSeriesStore.open(path: directory, options: TimeSeriesOptions(retention: Int64(hours) * 3_600_000))
        let load = seconds(ContinuousClock.now - loadStart)
        precondition(loadReport.samples == walReport.samples && walReport.samples == statistics.samples, "replay lost samples")
        try fromCheckpoint.close()
        if !keep { try? FileManager.default.removeItem(atPath: directory) }

        let perSample = Double(statistics.sealedChunkBytes) / Double(max(1, statistics.sealedSamples))
        print("| series | \(statistics.series) |")
        print("| samples (\(hours) h at \(interval) s) | \(statistics.samples) (generated and appended with WAL in \(String(format: "%.1f", generation)) s) |")
        print("| sealed chunks: bytes per sample | \(String(format: "%.3f", perSample)) B |")
        print("| chunk data | \(mebibytes(statistics.chunkBytes)) in \(statistics.chunks) chunks |")
        print("| resident memory added by the store | \(mebibytes(resident)) |")
        print("| WAL for the whole day (no checkpoint) | \(mebibytes(walBytes)) |")
        print("| replay of that WAL | \(String(format: "%.2f", walReplay)) s |")
        print("| checkpoint written | \(mebibytes(checkpointBytes)) in \(String(format: "%.2f", checkpointTime)) s |")
        print("| start-up from the checkpoint | \(String(format: "%.2f", load)) s |")
    }
}

struct ScrapeCost: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "CPU time of one scrape of an exposition: parse, label merge, append.")

    @Argument(help: "An exposition file (claimsd's /metrics).") var template: String
    @Option(help: "Scrapes to average over.") var scrapes = 500

    func run() throws {
        let text = try [UInt8](Data(contentsOf: URL(fileURLWithPath: template)))
        let store = TimeSeriesStore()
        let target = Labels(["job": "claimsd", "instance": "127.0.0.1:8000"])
        var refs: [Labels: SeriesRef] = [:]
        let start = ContinuousClock.now
        for scrape in 0..<scrapes {
            let timestamp = 1_700_000_000_000 + Int64(scrape) * 15_000
            let samples = try ExpositionParser.parse(text, format: .prometheusText)
            let batch = samples.map { sample -> PendingSample in
                var labels = sample.labels
                for label in target { labels = labels.setting(label.name, to: label.value) }
                return PendingSample(labels: labels, ref: refs[labels], timestamp: timestamp, value: sample.value + Double(scrape))
            }
            let result = store.append(batch)
            for (sample, ref) in zip(batch, result.refs) { refs[sample.labels] = ref }
        }
        let perScrape = seconds(ContinuousClock.now - start) / Double(scrapes)
        let lines = try ExpositionParser.parse(text, format: .prometheusText).count
        print("| one self-scrape (\(lines) samples): parse + append | \(String(format: "%.2f", perScrape * 1000)) ms CPU = \(String(format: "%.4f", perScrape / 15 * 100)) % of one core at 15 s |")
    }
}
