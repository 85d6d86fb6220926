@testable import App
import Foundation
import Glibc
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport
import TimeSeries

/// The built-in store inside the real claimsd binary: self-scrape, kill -9 and restart, a torn
/// WAL, and `claimsd tsdb import` / `dump`.
@Suite struct TimeSeriesIntegrationTests {
    static var binary: String { ExecutableTests.binary.path }

    /// Runs `claimsd tsdb …` against the store at `path`; returns exit status and output.
    static func tsdb(_ arguments: [String], path: String) async throws -> (status: Int32, output: String, error: String) {
        let child = try ChildProcess(binary, ["tsdb"] + arguments, environment: ["CLAIMS_TSDB_PATH": path])
        let status = try await child.waitForExit(timeout: .seconds(120))
        return (status, child.standardOutput, child.standardError)
    }

    /// `up` samples of claimsd's self-scrape, as `tsdb dump` prints them: timestamp → value.
    /// Each call starts a process: poll it every half second, not in a tight loop.
    static func upSamples(_ path: String) async throws -> [Int64: String] {
        let dump = try await tsdb(["dump", "--match", "up{job=\"claimsd\"}"], path: path)
        #expect(dump.status == 0, "\(dump.error)")
        var samples: [Int64: String] = [:]
        for line in dump.output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if let timestamp = Int64(fields.last ?? "") { samples[timestamp] = String(fields[fields.count - 2]) }
        }
        return samples
    }

    static func startClaimsd(tsdb path: String, databaseURL: String) throws -> ChildProcess {
        try ChildProcess(
            binary, ["serve", "--port", "0", "--log-target", "stdout"],
            environment: [
                "CLAIMS_DATABASE_URL": databaseURL, "CLAIMS_REDIS_URL": TestEnvironment.redisURL, "CLAIMS_TSDB_PATH": path,
                "CLAIMS_SCRAPE_INTERVAL": "1s", "CLAIMS_RELAY": "off",
            ])
    }

    @Test func killedWithSIGKILLLosesNoScrapeAndATornWALLoadsWithAWarning() async throws {
        try await ScratchDatabase.with { _, database in
            let path = NSTemporaryDirectory() + "claimsd-crash-\(TestEnvironment.uniqueSuffix())"
            defer { try? FileManager.default.removeItem(atPath: path) }

            let first = try Self.startClaimsd(tsdb: path, databaseURL: database.url)
            _ = try await ExecutableTests.waitForOutput(of: first) { $0.contains("listening on") }
            // Read-only dumps while claimsd writes: wait for five self-scrapes.
            try await waitUntil(timeout: .seconds(30), every: .milliseconds(500)) { try await Self.upSamples(path).count >= 5 }
            first.send(SIGKILL)
            _ = try await first.waitForExit()
            let beforeKill = try await Self.upSamples(path)
            #expect(beforeKill.values.allSatisfy { $0 == "1.0" })

            // Restart: everything appended before the kill is there, and scraping goes on.
            let second = try Self.startClaimsd(tsdb: path, databaseURL: database.url)
            let output = try await ExecutableTests.waitForOutput(of: second) { $0.contains("listening on") }
            #expect(output.contains("\"event\":\"tsdb_opened\""))
            try await waitUntil(timeout: .seconds(30), every: .milliseconds(500)) { try await Self.upSamples(path).count >= beforeKill.count + 2 }
            second.send(SIGTERM)
            #expect(try await second.waitForExit(timeout: .seconds(30)) == 0)
            let afterRestart = try await Self.upSamples(path)
            #expect(beforeKill.allSatisfy { afterRestart[$0.key] == $0.value }, "samples lost across kill -9")

            // A clean stop left a checkpoint; append a scrape's worth, kill, tear the WAL's end.
            let third = try Self.startClaimsd(tsdb: path, databaseURL: database.url)
            _ = try await ExecutableTests.waitForOutput(of: third) { $0.contains("listening on") }
            try await waitUntil(timeout: .seconds(30), every: .milliseconds(500)) { try await Self.upSamples(path).count >= afterRestart.count + 3 }
            third.send(SIGKILL)
            _ = try await third.waitForExit()
            let beforeTear = try await Self.upSamples(path)
            let wal = path + "/wal"
            let segments = try FileManager.default.contentsOfDirectory(atPath: wal).sorted()
            let newest = try #require(segments.last { ((try? FileManager.default.attributesOfItem(atPath: wal + "/" + $0)[.size] as? Int) ?? 0) > 0 })
            let bytes = try Data(contentsOf: URL(fileURLWithPath: wal + "/" + newest))
            try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: wal + "/" + newest))

            let fourth = try Self.startClaimsd(tsdb: path, databaseURL: database.url)
            let repaired = try await ExecutableTests.waitForOutput(of: fourth) { $0.contains("listening on") }
            #expect(repaired.contains("\"event\":\"tsdb_repaired\""))
            fourth.send(SIGTERM)
            #expect(try await fourth.waitForExit(timeout: .seconds(30)) == 0)
            // Only the torn last record (the last scrape) may be missing.
            let afterTear = try await Self.upSamples(path)
            let lastScrape = try #require(beforeTear.keys.max())
            #expect(beforeTear.filter { $0.key < lastScrape }.allSatisfy { afterTear[$0.key] == $0.value })
        }
    }

    @Test func withScrapingOffClaimsdServesAndStopsCleanly() async throws {
        try await ScratchDatabase.with { _, database in
            let path = NSTemporaryDirectory() + "claimsd-noscrape-\(TestEnvironment.uniqueSuffix())"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let claimsd = try ChildProcess(
                Self.binary, ["serve", "--port", "0", "--log-target", "stdout", "--scrape-interval", "off"],
                environment: [
                    "CLAIMS_DATABASE_URL": database.url, "CLAIMS_REDIS_URL": TestEnvironment.redisURL, "CLAIMS_TSDB_PATH": path, "CLAIMS_RELAY": "off",
                ])
            _ = try await ExecutableTests.waitForOutput(of: claimsd) { $0.contains("listening on") }
            // Still serving a while later: the scraper with nothing to do does not end the service.
            try await Task.sleep(for: .seconds(2))
            #expect(claimsd.exitStatus() == nil, "\(claimsd.standardOutput)")
            claimsd.send(SIGTERM)
            #expect(try await claimsd.waitForExit(timeout: .seconds(30)) == 0)
            #expect(try await Self.upSamples(path).isEmpty)
        }
    }

    @Test func importingAnOpenMetricsFileStoresExactlyItsSamples() async throws {
        var random = SplitMix.forTest("importingAnOpenMetricsFileStoresExactlyItsSamples", variable: "CLAIMS_TEST_OPENMETRICS_SEED")
        let path = NSTemporaryDirectory() + "claimsd-import-\(TestEnvironment.uniqueSuffix())"
        let file = path + ".om"
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: file)
        }
        // 20 series × 500 samples 15 s apart, the newest within the default retention of now.
        let now = Int64(Date().timeIntervalSince1970) * 1000
        var expected: [String: [(Int64, Double)]] = [:]
        var text = "# HELP imported_value Generated.\n# TYPE imported_value gauge\n"
        for series in 0..<20 {
            // Labels in sorted order, as dump prints them; the value needs an escaped quote.
            let key = "imported_value{kind=\"k\\\"q\",series=\"\(series)\"}"
            for index in 0..<500 {
                let timestamp = now - Int64(500 - index) * 15_000
                let value = (Double(random.next() % 2_000_000) - 1_000_000) / 1000
                expected[key, default: []].append((timestamp, value))
                text += "\(key) \(value) \(Double(timestamp) / 1000)\n"
            }
        }
        text += "# EOF\n"
        try text.write(toFile: file, atomically: true, encoding: .utf8)

        let result = try await Self.tsdb(["import", file], path: path)
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("imported 10000 of 10000 samples into 20 series (20 new)"))

        let dump = try await Self.tsdb(["dump", "--match", "imported_value"], path: path)
        var stored: [String: [(Int64, Double)]] = [:]
        for line in dump.output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            let key = fields.dropLast(2).joined(separator: " ")
            stored[key, default: []].append((Int64(fields[fields.count - 1]) ?? 0, Double(fields[fields.count - 2]) ?? .nan))
        }
        #expect(stored.count == 20)
        for (key, samples) in expected {
            let got = stored[key] ?? []
            #expect(got.count == samples.count, "\(key)")
            #expect(zip(got, samples).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }, "\(key)")
        }

        // A bad line stores nothing and names the line.
        let bad = path + "-bad.om"
        defer { try? FileManager.default.removeItem(atPath: bad) }
        try "other_value 1 \(now / 1000)\nother_value{ 2 \(now / 1000)\n# EOF\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await Self.tsdb(["import", bad], path: path)
        #expect(refused.status == 65)
        #expect(refused.error.contains("line 2"))
        #expect(try await Self.tsdb(["dump", "--match", "other_value"], path: path).output.isEmpty)
    }
}
