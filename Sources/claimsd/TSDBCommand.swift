import App
import ArgumentParser
import Foundation
import PromQL
import TimeSeries

/// `claimsd tsdb …`: offline work on the built-in time-series store.
struct TSDB: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsdb",
        abstract: "Work on the built-in time-series store at CLAIMS_TSDB_PATH.",
        subcommands: [TSDBImport.self, TSDBDump.self]
    )
}

/// Writes `message` to standard error as claimsd's one-line failure.
func failure(_ message: String, status: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("claimsd: \(message)\n".utf8))
    return ExitCode(status)
}

struct TSDBImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Backfill history from an exposition file with a timestamp on every sample.",
        discussion: """
            Reads OpenMetrics text (ending in # EOF, timestamps in seconds: the input of
            'promtool tsdb create-blocks-from openmetrics') or Prometheus text with timestamps in
            milliseconds. Samples are merged into their series in time order; a sample at a
            timestamp the series already has replaces it. The whole file is checked before
            anything is stored: a bad line stores nothing and names the line (exit 65).
            The store must not be in use: stop claimsd first, or use POST /api/v1/import/prometheus.
            """
    )

    @Argument(help: "The file to import.")
    var file: String


    func run() throws {
        let configuration = try loadConfiguration()
        let options = TimeSeriesOptions(retention: configuration.tsdbRetention, maxSeries: configuration.tsdbMaxSeries)
        let store: TimeSeriesStore
        do {
            (store, _) = try TimeSeriesStore.open(path: configuration.tsdbPath, options: options)
        } catch {
            throw failure("\(error)")
        }
        let summary: ExpositionImport.Summary
        do {
            summary = try ExpositionImport.importFile(path: file, into: store)
        } catch {
            try? store.close()
            throw failure("\(file): \(error); nothing was imported", status: 65)
        }
        let removed = store.applyRetention()
        do {
            try store.close()
        } catch {
            throw failure("the import could not be saved: \(error)")
        }
        var line = "imported \(summary.samplesStored) of \(summary.samplesRead) samples into \(summary.series) series (\(summary.newSeries) new) at \(configuration.tsdbPath)"
        if !summary.refused.isEmpty {
            line += "; refused: " + summary.refused.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
        }
        if removed > 0 { line += "; \(removed) series older than the retention window (\(PrometheusDuration.format(options.retention))) dropped" }
        print(line)
    }
}

struct TSDBDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print stored samples as Prometheus text with millisecond timestamps.",
        discussion: """
            Opens the store read-only (a running claimsd may keep writing to it) and prints one
            line per sample, series sorted by labels. Staleness markers print as the value
            'stale'; with --skip-stale they are left out and the output is the text
            'claimsd tsdb import' and POST /api/v1/import/prometheus take.
            """
    )

    @Option(name: .customLong("match"), help: "Series selector, e.g. 'up{job=\"claimsd\"}'; repeatable (default: every series).")
    var selectors: [String] = []

    @Option(help: "Earliest timestamp to print, in milliseconds.")
    var minTime: Int64 = .min

    @Option(help: "Latest timestamp to print, in milliseconds.")
    var maxTime: Int64 = .max

    @Flag(help: "Leave staleness markers out.")
    var skipStale = false


    func run() throws {
        let configuration = try loadConfiguration()
        let matcherSets: [[LabelMatcher]]
        do {
            matcherSets = try selectors.map { selector throws(ParseError) in try Parser.parseSelector(selector) }
        } catch {
            throw failure("--match: \(error)", status: 64)
        }
        let store: TimeSeriesStore
        do {
            (store, _) = try TimeSeriesStore.open(path: configuration.tsdbPath, readOnly: true)
        } catch {
            throw failure("\(error)")
        }
        var seen = Set<SeriesRef>()
        var snapshots: [SeriesSnapshot] = []
        for matchers in matcherSets.isEmpty ? [[]] : matcherSets {
            for snapshot in store.select(matchers, from: minTime, through: maxTime) where seen.insert(snapshot.ref).inserted { snapshots.append(snapshot) }
        }
        snapshots.sort { $0.labels < $1.labels }
        var output = ""
        for snapshot in snapshots {
            let series = exposition(snapshot.labels)
            var iterator = snapshot.samples(from: minTime, through: maxTime)
            while let sample = iterator.next() {
                if StaleMarker.isMarker(sample.value) {
                    if skipStale { continue }
                    output += "\(series) stale \(sample.timestamp)\n"
                } else {
                    output += "\(series) \(formatValue(sample.value)) \(sample.timestamp)\n"
                }
                if output.utf8.count > 1 << 20 {
                    FileHandle.standardOutput.write(Data(output.utf8))
                    output = ""
                }
            }
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }

    /// `name{label="value",…}` as the text format writes it.
    func exposition(_ labels: Labels) -> String {
        let others = labels.filter { $0.name != Labels.metricName }
        guard !others.isEmpty else { return labels.name }
        return labels.name + "{" + others.map { "\($0.name)=\"\(escapeLabelValue($0.value))\"" }.joined(separator: ",") + "}"
    }

    /// Values as the exposition formats write them: `NaN`, `+Inf`, `-Inf`, shortest exact decimal.
    func formatValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        return "\(value)"
    }
}
