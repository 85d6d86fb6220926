import Flooding
import Foundation
import Testing
import TestSupport

/// The built tools run as testers run them: flood-loki against a server that checks every push
/// against Loki's push API and answers 429 before 200; generate-error-logs into the real journal
/// and to a URL.
@Suite(.serialized) struct ToolRunTests {
    static func binary(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug/\(name)").standardized.path
    }

    /// Runs a tool to its end; returns exit status, standard output and standard error.
    static func run(_ tool: String, _ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
        let child = try ChildProcess(binary(tool), arguments)
        let status = try await child.waitForExit(timeout: .seconds(120))
        return (status, child.standardOutput, child.standardError)
    }

    /// Every problem with `request` as a Loki push (`POST /loki/api/v1/push`, JSON): the entries it
    /// carries, in the order of their streams.
    static func validatePush(_ request: CaptureServer.Request, host: String) -> (entries: [(labels: [String: String], ns: String, line: [String: Any])], problems: [String]) {
        var problems: [String] = []
        var entries: [(labels: [String: String], ns: String, line: [String: Any])] = []
        if request.method != "POST" { problems.append("method \(request.method)") }
        if request.path != "/loki/api/v1/push" { problems.append("path \(request.path)") }
        if request.headers["content-type"] != "application/json" { problems.append("content-type \(request.headers["content-type"] ?? "none")") }
        guard let body = request.json as? [String: Any], body.keys.sorted() == ["streams"], let streams = body["streams"] as? [[String: Any]] else {
            return ([], problems + ["body is not {\"streams\":[…]}"])
        }
        var seen: Set<[String: String]> = []
        for stream in streams {
            guard stream.keys.sorted() == ["stream", "values"], let labels = stream["stream"] as? [String: String], let values = stream["values"] as? [[Any]] else {
                problems.append("stream is not {\"stream\":{…},\"values\":[…]}")
                continue
            }
            if !seen.insert(labels).inserted { problems.append("label set \(labels) in two streams of one push") }
            let level = labels["level"] ?? ""
            if labels != ["job": "api", "level": level, "host": host] || !["warning", "error"].contains(level) { problems.append("labels \(labels)") }
            var previous: Int64 = 0
            for value in values {
                guard value.count == 2, let ns = value[0] as? String, let text = value[1] as? String else {
                    problems.append("value \(value) is not [\"<ns>\", \"<line>\"]")
                    continue
                }
                guard let time = Int64(ns), ns.allSatisfy(\.isNumber), time > 1_700_000_000_000_000_000 else {
                    problems.append("timestamp \(ns) is not a string of nanoseconds since the epoch")
                    continue
                }
                if time <= previous { problems.append("timestamps out of order in stream \(labels)") }
                previous = time
                guard let line = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                    problems.append("line is not JSON: \(text)")
                    continue
                }
                if line["level"] as? String != level { problems.append("line of level \(line["level"] ?? "none") in stream \(level)") }
                entries.append((labels, ns, line))
            }
        }
        return (entries, problems)
    }

    @Test func floodLokiPushesValidStreamsAndRetriesAfter429() async throws {
        let loki = try await CaptureServer()
        defer { Task { await loki.stop() } }
        loki.respond(status: 204)
        loki.respond(sequence: [(429, [("Retry-After", "1")])])
        let seed = SeededGenerator.freshSeed()
        print("floodLoki seed \(seed)")
        let started = ContinuousClock.now
        let (status, output, error) = try await Self.run(
            "flood-loki",
            ["-n", "23", "-b", "5", "-i", "0", "-t", "both", "-u", loki.url("/loki/api/v1/push"), "--tenant", "team-a", "--host", "test-host",
             "--seed", String(seed), "--json"])
        #expect(status == 0, "\(output)\(error)")
        // The 429 asked for one second; the retry waited for it.
        #expect(ContinuousClock.now - started >= .seconds(1))
        let requests = loki.requests
        // 5 batches, the first one twice (429, then accepted). A busy machine may add a retry
        // after a lost answer; Loki drops an entry it already has (same stream, time and line),
        // so what counts is the set of distinct entries.
        #expect(requests.count >= 6, "\(error)")
        #expect(requests[0].body == requests[1].body, "a retry sends the same batch")
        var lines: [String: [String: Any]] = [:]
        for request in requests.dropFirst() {
            #expect(request.headers["x-scope-orgid"] == "team-a")
            let (entries, problems) = Self.validatePush(request, host: "test-host")
            #expect(problems.isEmpty, "\(problems)")
            for entry in entries { lines[entry.ns + " " + (entry.line["request_id"] as? String ?? "")] = entry.line }
        }
        #expect(lines.count == 23)
        #expect(Set(lines.values.compactMap { $0["request_id"] as? String }).count == 23)
        #expect(lines.values.allSatisfy { ($0["status"] as? Int).map { ErrorKind.both.statuses.contains($0) } ?? false })
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(summary["sent"] as? Int == 23 && summary["failed"] as? Int == 0, "\(error)")
        #expect((summary["retried"] as? Int ?? 0) == requests.count - 5, "every extra request is a counted retry")
        #expect((summary["statuses"] as? [String: Int])?["204"] == 5, "the last answer of each batch")
        #expect(error.contains("attempt 1 failed (HTTP 429)"))
    }

    @Test func floodLokiExitsNonZeroWhenLokiRefuses() async throws {
        let loki = try await CaptureServer()
        defer { Task { await loki.stop() } }
        loki.respond(status: 400)
        let (status, output, _) = try await Self.run("flood-loki", ["-n", "4", "-b", "2", "-i", "0", "-u", loki.url("/loki/api/v1/push"), "--seed", "1"])
        #expect(status == 1)
        #expect(output.contains("flood-loki: 0 sent, 4 failed, 0 retried"), "\(output)")
        #expect(loki.requests.count == 2, "a 400 is final: not retried")
    }

    @Test func generateErrorLogsWritesClaimsdRecordsToTheJournal() async throws {
        let identifier = "claimsd-flood-\(TestEnvironment.uniqueSuffix())"
        let (status, output, error) = try await Self.run("generate-error-logs", ["-n", "6", "-i", "0", "-t", "both", "--identifier", identifier, "--seed", "5"])
        #expect(status == 0, "\(output)\(error)")
        let entries = try await JournalReader.waitForEntries(["SYSLOG_IDENTIFIER=\(identifier)"]) { $0.count >= 6 }
        #expect(entries.count == 6)
        for entry in entries {
            let message = try #require(try JSONSerialization.jsonObject(with: Data(((entry["MESSAGE"] as? String) ?? "").utf8)) as? [String: Any])
            let status = try #require(message["status"] as? Int)
            #expect(message["event"] as? String == "request_completed")
            // The priority Alloy's and promtail's relabelling turn into level="warning" / "error".
            #expect(entry["PRIORITY"] as? String == (status >= 500 ? "3" : "4"))
            #expect(entry["HTTP_STATUS"] as? String == String(status))
        }
    }

    @Test func generateErrorLogsPostsToATargetURL() async throws {
        let target = try await CaptureServer()
        defer { Task { await target.stop() } }
        let (status, output, _) = try await Self.run("generate-error-logs", ["-n", "3", "-i", "0", "-t", "4xx", "-u", target.url("/logs"), "--seed", "9"])
        #expect(status == 0, "\(output)")
        #expect(target.requests.count == 3)
        for request in target.requests {
            let record = try #require(request.json as? [String: Any])
            #expect(request.path == "/logs" && request.headers["content-type"] == "application/json")
            #expect(record["level"] as? String == "warning" && ErrorKind.clientStatuses.contains(record["status"] as? Int ?? 0))
        }
    }
}
