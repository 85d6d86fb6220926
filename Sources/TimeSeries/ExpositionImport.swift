import Foundation

/// Backfilling: samples with their own timestamps, read from an exposition, merged into a
/// store in time order whatever order they come in.
public enum ExpositionImport {
    /// What an import stored.
    public struct Summary: Sendable {
        /// Samples read and samples stored.
        public var samplesRead = 0
        public var samplesStored = 0
        /// Distinct series read, and how many of them were new to the store.
        public var series = 0
        public var newSeries = 0
        /// Samples not stored, by reason (see ``RefusalReason``).
        public var refused: [RefusalReason: Int] = [:]
    }

    /// An import that stored nothing, and why.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// A line of the input is malformed (or lacks a timestamp where one is required).
        case invalid(ExpositionError)
        /// The file could not be read.
        case unreadable(path: String, problem: String)

        public var description: String {
            switch self {
            case .invalid(let error): return "\(error)"
            case .unreadable(let path, let problem): return "\(path): \(problem)"
            }
        }
    }

    /// Imports an exposition held in memory, all or nothing: every line is checked before any
    /// sample is stored. Samples without a timestamp get `defaultTimestamp`, or are an error
    /// when it is nil.
    public static func importText(
        _ text: [UInt8], format: ExpositionFormat, defaultTimestamp: Int64?, into store: TimeSeriesStore
    ) throws(Failure) -> Summary {
        let samples: [ExposedSample]
        do {
            samples = try ExpositionParser.parse(text, format: format)
        } catch {
            throw .invalid(error)
        }
        var batch = Batch()
        for sample in samples { try batch.add(sample, defaultTimestamp: defaultTimestamp) }
        var summary = Summary()
        batch.flush(into: store, summary: &summary)
        return summary
    }

    /// Imports a file that may be larger than memory: OpenMetrics when it ends with `# EOF`,
    /// Prometheus text (timestamps in milliseconds) otherwise; every sample needs a timestamp.
    /// The file is read twice: first checked whole, then stored, so a bad line stores nothing.
    public static func importFile(path: String, into store: TimeSeriesStore, batchSamples: Int = 1_000_000) throws(Failure) -> Summary {
        let format = try detectFormat(path)
        try forEachFragment(path: path, format: format) { samples throws(Failure) in
            for sample in samples where sample.timestamp == nil {
                throw .invalid(ExpositionError(line: sample.line, problem: "sample of \(sample.labels.name) has no timestamp (imports need one on every line)"))
            }
        }
        var summary = Summary()
        var batch = Batch()
        var seen = Set<Labels>()
        try forEachFragment(path: path, format: format) { samples throws(Failure) in
            for sample in samples {
                try batch.add(sample, defaultTimestamp: nil)
                seen.insert(sample.labels)
            }
            if batch.count >= batchSamples { batch.flush(into: store, summary: &summary) }
        }
        batch.flush(into: store, summary: &summary)
        summary.series = seen.count
        return summary
    }

    /// OpenMetrics when the file's last line is `# EOF`.
    static func detectFormat(_ path: String) throws(Failure) -> ExpositionFormat {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .unreadable(path: path, problem: "cannot open the file") }
        defer { try? handle.close() }
        do {
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: size > 64 ? size - 64 : 0)
            let tail = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
            let lastLine = tail.split(separator: "\n", omittingEmptySubsequences: true).last
            return lastLine == "# EOF" ? .openMetrics : .prometheusText
        } catch {
            throw .unreadable(path: path, problem: error.localizedDescription)
        }
    }

    /// Parses the file in pieces of whole lines, a few MiB each.
    static func forEachFragment(
        path: String, format: ExpositionFormat, _ body: ([ExposedSample]) throws(Failure) -> Void
    ) throws(Failure) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .unreadable(path: path, problem: "cannot open the file") }
        defer { try? handle.close() }
        var carry: [UInt8] = []
        var line = 1
        var sawEOF = false
        while true {
            let data: Data
            do {
                data = try handle.read(upToCount: 4 << 20) ?? Data()
            } catch {
                throw .unreadable(path: path, problem: error.localizedDescription)
            }
            let atEnd = data.isEmpty
            carry.append(contentsOf: data)
            let cut: Int
            if atEnd {
                cut = carry.count
            } else if let lastNewline = carry.lastIndex(of: UInt8(ascii: "\n")) {
                cut = lastNewline + 1
            } else {
                continue
            }
            let piece = Array(carry[0..<cut])
            carry.removeFirst(cut)
            if !piece.isEmpty {
                if sawEOF { throw .invalid(ExpositionError(line: line, problem: "content after # EOF")) }
                var pieceEOF = false
                let samples: [ExposedSample]
                do {
                    samples = try ExpositionParser.parseFragment(piece, format: format, firstLine: line, sawEOF: &pieceEOF)
                } catch {
                    throw .invalid(error)
                }
                sawEOF = pieceEOF
                line += piece.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                try body(samples)
            }
            if atEnd { break }
        }
        if format == .openMetrics && !sawEOF { throw .invalid(ExpositionError(line: line, problem: "missing # EOF at the end of an OpenMetrics file")) }
    }

    /// Samples grouped by series until they are stored.
    struct Batch {
        private var bySeries: [Labels: [Sample]] = [:]
        private(set) var count = 0

        mutating func add(_ sample: ExposedSample, defaultTimestamp: Int64?) throws(Failure) {
            guard let timestamp = sample.timestamp ?? defaultTimestamp else {
                throw .invalid(ExpositionError(line: sample.line, problem: "sample of \(sample.labels.name) has no timestamp"))
            }
            bySeries[sample.labels, default: []].append(Sample(timestamp, sample.value))
            count += 1
        }

        mutating func flush(into store: TimeSeriesStore, summary: inout Summary) {
            guard !bySeries.isEmpty else { return }
            let entries = bySeries.map { (labels: $0.key, samples: $0.value) }
            let result = store.importSamples(entries)
            summary.samplesRead += count
            summary.samplesStored += result.appended
            summary.newSeries += result.newSeries
            summary.series = max(summary.series, entries.count)
            for (reason, refused) in result.refused { summary.refused[reason, default: 0] += refused }
            bySeries = [:]
            count = 0
        }
    }
}
