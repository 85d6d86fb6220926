import App
import ArgumentParser
import AuditTrail
import ClaimStore
import Claims
import Foundation
import Schema

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bulk-load a CSV or NDJSON file of claims into PostgreSQL through COPY.",
        discussion: """
            Each claim is validated with the same rules as POST /api/v1/claims; accepted claims are
            stored with their outbox events, rejected ones are kept in rejected_claims with every
            violation. Prints a summary; --report writes every claim's outcome as JSON.
            Exit status: 0 all accepted, 65 some rejected, 1 the import could not finish.
            """
    )

    @Argument(help: "The file to import (.csv, or .ndjson / .jsonl).")
    var file: String

    @Option(help: "csv or ndjson (default: from the file extension).")
    var format: String?

    @Option(help: "Write the full result (every claim's outcome) as JSON to this file.")
    var report: String?

    @Option(help: "Claims per COPY transaction.")
    var batchSize: Int = 1000

    @Flag(help: "Do not draw the progress bar.")
    var quiet = false


    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let format, ImportFormat(rawValue: format) == nil { throw ValidationError("--format must be csv or ndjson; got \"\(format)\"") }
    }

    func run() async throws {
        let configuration = try loadConfiguration(requiringDataKeys: true)
        let logger = bootstrapLogging(configuration)
        let format = try resolvedFormat()
        let started = ContinuousClock.now
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw fail("cannot read \(file): \(error.localizedDescription)")
        }
        let items: [ImportItem]
        do {
            items = try ClaimDecoding.importItems(from: bytes, format: format)
        } catch {
            throw fail("\(file) is not a readable \(format.rawValue) import: \(error)")
        }
        guard !items.isEmpty else { throw fail("\(file) holds no claims") }

        let dependencies = try AppDependencies(configuration: configuration, logger: logger)
        let outcome: Result<ImportReport, any Error>
        do {
            try await dependencies.prepareDatabase(
                migrating: configuration.migrateOnStart, timeout: .seconds(configuration.startupTimeoutSeconds), logger: logger)
            let importer = ClaimImporter(
                repository: PostgresClaimRepository(client: dependencies.postgres, cipher: dependencies.cipher), validator: ClaimValidator(rules: configuration.rules),
                batchSize: batchSize, auditActor: .commandLine)
            let bar = ProgressBar(total: items.count, enabled: !quiet)
            outcome = .success(try await importer.run(items, importID: UUIDv7Generator().next(), today: utcToday()) { bar.show(done: $0) })
            bar.finish()
        } catch {
            outcome = .failure(error)
        }
        await dependencies.shutdown()

        let result: ImportReport
        switch outcome {
        case .failure(let error): throw fail("\(error)")
        case .success(let report): result = report
        }
        if let path = report {
            do {
                try Data(importReportJSON(result)).write(to: URL(fileURLWithPath: path))
            } catch {
                throw fail("cannot write the report to \(path): \(error.localizedDescription)")
            }
        }
        let seconds = (ContinuousClock.now - started).seconds
        print(
            "claimsd: import \(result.importID.uuidString.lowercased()): \(result.accepted.count) accepted (\(result.acceptedLines) lines), "
                + "\(result.rejected.count) rejected, in \(String(format: "%.1f", seconds)) s")
        for rejected in result.rejected.prefix(20) {
            let rules = Set(rejected.errors.map(\.rule)).sorted().joined(separator: ", ")
            FileHandle.standardError.write(Data("  rejected \(rejected.source)\(rejected.claimNumber.map { " (claim \($0))" } ?? ""): \(rules)\n".utf8))
        }
        if result.rejected.count > 20 {
            FileHandle.standardError.write(Data("  … and \(result.rejected.count - 20) more; see --report or the rejected_claims table\n".utf8))
        }
        if !result.rejected.isEmpty { throw ExitCode(65) }
    }

    func resolvedFormat() throws -> ImportFormat {
        if let format, let known = ImportFormat(rawValue: format) { return known }
        switch URL(fileURLWithPath: file).pathExtension.lowercased() {
        case "csv": return .csv
        case "ndjson", "jsonl": return .ndjson
        default: throw fail("cannot tell the format of \(file) from its extension; pass --format csv or --format ndjson")
        }
    }

    func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("claimsd: import failed: \(message)\n".utf8))
        return ExitCode.failure
    }
}

/// A one-line progress bar on stderr: redrawn in place on a terminal, one line per update otherwise.
struct ProgressBar: Sendable {
    let total: Int
    let enabled: Bool
    /// What is being done (`importing`) and to what (`claims`).
    var verb = "importing"
    var unit = "claims"
    let interactive = isatty(STDERR_FILENO) == 1
    let started = ContinuousClock.now

    func show(done: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = width * done / total
        let seconds = (ContinuousClock.now - started).seconds
        let rate = seconds > 0 ? Int(Double(done) / seconds) : 0
        let text = "\(verb) [\(String(repeating: "#", count: filled))\(String(repeating: "-", count: width - filled))] "
            + "\(100 * done / total)% \(done)/\(total) \(unit), \(rate) \(unit)/s"
        FileHandle.standardError.write(Data((interactive ? "\r\(text)" : "\(text)\n").utf8))
    }

    func finish() {
        if enabled, interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

extension Duration {
    /// The duration in seconds, with fractions.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
