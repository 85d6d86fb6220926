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

    /// The newest journal entry whose `field` equals `value`, waiting for journald to store it.
    static func readJournal(field: String, value: String) async throws -> [String: Any] {
        try #require(try await JournalReader.waitForEntries(["\(field)=\(value)"], timeout: .seconds(5)).last)
    }
}
