import Flooding
import Foundation
import Journal
import Testing

/// The records, the Loki push body, the retry arithmetic and the summary, without a network.
struct FormatTests {
    @Test func recordsLookLikeClaimsdsAccessRecords() throws {
        let seed = SeededGenerator.freshSeed()
        print("FormatTests seed \(seed)")
        for kind in ErrorKind.allCases {
            var source = SyntheticRecordSource(kind: kind, generator: "test", seed: seed)
            for index in 0..<200 {
                let record = source.next(at: WallClockTime(seconds: 1_800_000_000 + index, nanoseconds: 123_456_789))
                #expect(kind.statuses.contains(record.status))
                #expect(record.level == (record.status >= 500 ? .error : .warning))
                let object = try #require(try JSONSerialization.jsonObject(with: Data(record.line.utf8)) as? [String: Any])
                // The keys claimsd's observability middleware and log handler write, plus `generator`.
                #expect(Set(object.keys) == [
                    "timestamp", "level", "logger", "message", "event", "method", "route", "status", "duration_ms", "response_bytes", "request_id", "generator",
                ])
                #expect(object["event"] as? String == "request_completed")
                #expect(object["status"] as? Int == record.status)
                #expect(object["level"] as? String == record.level.rawValue)
                #expect((object["timestamp"] as? String)?.hasSuffix(".123Z") == true)
                #expect(SyntheticAccessRecord.routes.contains { $0.method == record.method && $0.route == record.route })
                #expect(UUID(uuidString: record.requestID) != nil)
            }
        }
        // The same seed gives the same records.
        var first = SyntheticRecordSource(kind: .both, generator: "test", seed: seed)
        var second = SyntheticRecordSource(kind: .both, generator: "test", seed: seed)
        let time = WallClockTime(seconds: 1_800_000_000, nanoseconds: 0)
        #expect((0..<20).map { _ in first.next(at: time).line } == (0..<20).map { _ in second.next(at: time).line })
    }

    @Test func pushBodyHasOneStreamPerLabelSetInTimeOrder() throws {
        let error = ["job": "api", "level": "error", "host": "h"]
        let warning = ["job": "api", "level": "warning", "host": "h"]
        let entries = [
            LokiEntry(labels: error, unixNanoseconds: 1_800_000_000_000_000_003, line: "e3"),
            LokiEntry(labels: warning, unixNanoseconds: 1_800_000_000_000_000_002, line: "w2 \"quoted\"\n"),
            LokiEntry(labels: error, unixNanoseconds: 1_800_000_000_000_000_001, line: "e1"),
        ]
        let body = try #require(try JSONSerialization.jsonObject(with: Data(LokiPush.body(entries))) as? [String: Any])
        let streams = try #require(body["streams"] as? [[String: Any]])
        #expect(streams.count == 2)
        #expect(streams[0]["stream"] as? [String: String] == error)
        #expect(streams[0]["values"] as? [[String]] == [["1800000000000000001", "e1"], ["1800000000000000003", "e3"]])
        #expect(streams[1]["stream"] as? [String: String] == warning)
        #expect(streams[1]["values"] as? [[String]] == [["1800000000000000002", "w2 \"quoted\"\n"]])
    }

    @Test func backoffDoublesToItsCapAndRetryAfterWins() {
        let policy = RetryPolicy(attempts: 5, timeout: .seconds(1), initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(350))
        #expect((1...4).map { policy.backoff(after: $0, retryAfter: nil) } == [.milliseconds(100), .milliseconds(200), .milliseconds(350), .milliseconds(350)])
        #expect(policy.backoff(after: 1, retryAfter: .milliseconds(300)) == .milliseconds(300))
        #expect(policy.backoff(after: 1, retryAfter: .seconds(60)) == .milliseconds(350))
    }

    @Test func retryAfterReadsSecondsAndHTTPDates() {
        let now = WallClockTime(seconds: 784_111_777, nanoseconds: 0)  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryingSender.retryAfter("3", now: now) == .seconds(3))
        #expect(RetryingSender.retryAfter(" 0 ", now: now) == .zero)
        #expect(RetryingSender.retryAfter("Sun, 06 Nov 1994 08:49:47 GMT", now: now) == .seconds(10))
        #expect(RetryingSender.retryAfter("Sun, 06 Nov 1994 08:49:00 GMT", now: now) == .zero)
        #expect(RetryingSender.retryAfter("-1", now: now) == nil)
        #expect(RetryingSender.retryAfter("soon", now: now) == nil)
        #expect(RetryingSender.retryAfter("Sun, 31 Foo 1994 08:49:47 GMT", now: now) == nil)
        #expect([429, 500, 503].allSatisfy(RetryingSender.isRetryable) && ![400, 404, 413].contains(where: RetryingSender.isRetryable))
    }

    @Test func summaryAsTextAndJSON() throws {
        var counts = FloodCounts()
        counts.sent = 90
        counts.failed = 10
        counts.retried = 3
        counts.statuses = [204: 9, 500: 1]
        let summary = FloodSummary(tool: "flood-loki", target: "http://x/", seed: 42, counts: counts, duration: .milliseconds(1500), problems: ["HTTP 500"])
        #expect(!summary.succeeded)
        #expect(summary.text.hasPrefix("flood-loki: 90 sent, 10 failed, 3 retried in 1.500 s to http://x/ (seed 42)\nstatuses: 204×9 500×1\nproblem: HTTP 500"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(summary.json.utf8)) as? [String: Any])
        #expect(json["sent"] as? Int == 90 && json["failed"] as? Int == 10 && json["retried"] as? Int == 3 && json["seed"] as? Int == 42)
        #expect(json["duration_seconds"] as? Double == 1.5)
        #expect(json["statuses"] as? [String: Int] == ["204": 9, "500": 1])
    }
}
