import Foundation
import Glibc
import Journal
import Logging
import Testing
import TestSupport

/// Writes through the real sinks and reads the output back.
@Suite struct JournalSinkTests {
    @Test func recordsReachJournaldWithJSONMessageAndIndexedFields() async throws {
        #expect(JournaldSink.isAvailable, "scripts/test.sh starts journald when no journal socket exists")
        let run = "run\(TestEnvironment.uniqueSuffix())"
        let logger = Logger(label: "claimsd.test") { JournalLogHandler(label: $0, sink: JournaldSink(identifier: "claimsd-test"), level: .debug) }
        logger.warning(
            "claim rejected",
            metadata: [
                "test_run": "\(run)", "request_id": "req-1", "http_status": .stringConvertible(422), "subscriber_id": "3730189502", "event": "claim_rejected",
                "duration_ms": .stringConvertible(0.5), "response_bytes": .stringConvertible(170),
            ])

        let entry = try await Self.readJournal(field: "TEST_RUN", value: run)
        #expect(entry["SYSLOG_IDENTIFIER"] as? String == "claimsd-test")
        #expect(entry["PRIORITY"] as? String == "4")
        #expect(entry["REQUEST_ID"] as? String == "req-1")
        #expect(entry["HTTP_STATUS"] as? String == "422")
        #expect(entry["EVENT"] as? String == "claim_rejected")
        #expect(entry["SUBSCRIBER_ID"] as? String == "******9502")
        #expect(entry["LOGGER"] as? String == "claimsd.test")
        #expect((entry["CODE_FILE"] as? String)?.hasSuffix("JournalSinkTests.swift") == true)
        // Per-request measurements are in the message only, not indexed fields.
        #expect(entry["DURATION_MS"] == nil)
        #expect(entry["RESPONSE_BYTES"] == nil)

        let message = try #require(entry["MESSAGE"] as? String)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(message.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "claim rejected")
        #expect(object["level"] as? String == "warning")
        #expect(object["http_status"] as? Int == 422)
        #expect(object["duration_ms"] as? Double == 0.5)
        #expect(object["response_bytes"] as? Int == 170)
        #expect(object["subscriber_id"] as? String == "******9502")
        #expect(!message.contains("3730189502"))
    }

    @Test func stdoutSinkWritesOneParseableJSONObjectPerLine() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        let sink = StdoutJSONSink(descriptor: descriptors[1])
        let logger = Logger(label: "claimsd") { JournalLogHandler(label: $0, sink: sink) }
        DispatchQueue.concurrentPerform(iterations: 200) { index in
            logger.info("record \(index)", metadata: ["index": .stringConvertible(index), "text": "multi\nline"])
        }
        sink.flush()
        close(descriptors[1])
        let output = FileHandle(fileDescriptor: descriptors[0], closeOnDealloc: true).readDataToEndOfFile()
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 200)
        let indices = try lines.map { line -> Int in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["text"] as? String == "multi\nline")
            return try #require(object["index"] as? Int)
        }
        #expect(Set(indices) == Set(0..<200))
    }

    @Test func stdoutSinkGathersLinesUntilItsDelayAnErrorOrAFullBuffer() async throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]); close(descriptors[1]) }
        #expect(fcntl(descriptors[0], F_SETFL, O_NONBLOCK) == 0)
        let delayed = StdoutJSONSink(descriptor: descriptors[1], capacity: 4096, flushDelay: .milliseconds(300))
        let logger = Logger(label: "claimsd") { JournalLogHandler(label: $0, sink: delayed) }

        logger.info("first")
        #expect(Self.readLines(descriptors[0]).isEmpty, "an info record waits for the delay")
        var waited: [String] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while waited.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            waited = Self.readLines(descriptors[0])
        }
        #expect(waited.count == 1 && waited.first?.contains("\"message\":\"first\"") == true, "written once the delay passed: \(waited)")

        logger.info("second")
        logger.error("third")
        let urgent = Self.readLines(descriptors[0])
        #expect(urgent.count == 2, "an error is written at once, with the line before it: \(urgent)")
        #expect(urgent.first?.contains("\"message\":\"second\"") == true && urgent.last?.contains("\"message\":\"third\"") == true)

        let small = StdoutJSONSink(descriptor: descriptors[1], capacity: 1000, flushDelay: .seconds(3600))
        let filling = Logger(label: "claimsd") { JournalLogHandler(label: $0, sink: small) }
        var logged = 0
        var written: [String] = []
        while written.isEmpty, logged < 100 {
            filling.info("filling \(logged)")
            logged += 1
            written = Self.readLines(descriptors[0])
        }
        #expect(written.count == logged && logged > 1, "a full buffer is written at once, every line of it: \(written.count) of \(logged)")
        let totalBytes = written.reduce(0) { $0 + $1.utf8.count + 1 }
        #expect(totalBytes >= 1000 && totalBytes - (written.last?.utf8.count ?? 0) - 1 < 1000)
    }

    /// The complete lines that can be read from `descriptor` (non-blocking) now.
    static func readLines(_ descriptor: Int32) -> [String] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// The newest journal entry whose `field` equals `value`, waiting for journald to store it.
    static func readJournal(field: String, value: String) async throws -> [String: Any] {
        try #require(try await JournalReader.waitForEntries(["\(field)=\(value)"], timeout: .seconds(5)).last)
    }
}
