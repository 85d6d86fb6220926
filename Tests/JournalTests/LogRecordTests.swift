import Foundation
@testable import Journal
import Logging
import Testing

@Suite struct LogRecordTests {
    func record(message: String = "claim accepted", metadata: Logger.Metadata = [:], level: Logger.Level = .info) -> LogRecord {
        LogRecord(
            timestamp: WallClockTime(seconds: 1_795_334_478, nanoseconds: 355_390_123), level: level, logger: "claimsd", message: message,
            metadata: metadata, source: "App", file: "App/x.swift", function: "f()", line: 7)
    }

    func parse(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func timestampsAreRFC3339UTCWithMilliseconds() {
        #expect(LogRecord.rfc3339(WallClockTime(seconds: 1_795_334_478, nanoseconds: 355_390_123)) == "2026-11-22T08:01:18.355Z")
        #expect(LogRecord.rfc3339(WallClockTime(seconds: 0, nanoseconds: 5_000_000)) == "1970-01-01T00:00:00.005Z")
    }

    @Test func aRecordIsOneJSONObjectWithTypedMetadata() throws {
        let object = try parse(
            record(
                message: "quote \" backslash \\ newline \n tab \t control \u{01} ünïcødé",
                metadata: [
                    "request_id": "abc", "status": .stringConvertible(503), "duration_ms": .stringConvertible(1.25),
                    "cached": .stringConvertible(true), "rules": ["npi_check_digit", "cdt_code"], "nested": ["line": "2"],
                ]
            ).json)
        #expect(object["timestamp"] as? String == "2026-11-22T08:01:18.355Z")
        #expect(object["level"] as? String == "info")
        #expect(object["logger"] as? String == "claimsd")
        #expect(object["message"] as? String == "quote \" backslash \\ newline \n tab \t control \u{01} ünïcødé")
        #expect(object["request_id"] as? String == "abc")
        #expect(object["status"] as? Int == 503)
        #expect(object["duration_ms"] as? Double == 1.25)
        #expect(object["cached"] as? Bool == true)
        #expect(object["rules"] as? [String] == ["npi_check_digit", "cdt_code"])
        #expect((object["nested"] as? [String: String]) == ["line": "2"])
    }

    @Test func metadataCannotOverwriteTheRecordsOwnKeys() throws {
        let object = try parse(record(metadata: ["level": "spoofed", "message": "spoofed"]).json)
        #expect(object["level"] as? String == "info")
        #expect(object["message"] as? String == "claim accepted")
    }

    @Test func levelsMapToSyslogPriorities() {
        #expect(Logger.Level.allCases.map(\.syslogPriority) == [7, 7, 6, 5, 4, 3, 2])
    }

    @Test func metadataKeysBecomeValidJournalFieldNames() {
        #expect(JournaldSink.journalFieldName("request_id") == "REQUEST_ID")
        #expect(JournaldSink.journalFieldName("http.status") == "HTTP_STATUS")
        // The access record's short keys get the HTTP_ prefix operators filter on.
        #expect(JournaldSink.journalFieldName("status") == "HTTP_STATUS")
        #expect(JournaldSink.journalFieldName("route") == "HTTP_ROUTE")
        #expect(JournaldSink.journalFieldName("method") == "HTTP_METHOD")
        #expect(JournaldSink.journalFieldName("_trusted") == "TRUSTED")
        #expect(JournaldSink.journalFieldName("2fa") == "F_2FA")
        #expect(JournaldSink.journalFieldName("message") == "META_MESSAGE")
        #expect(JournaldSink.journalFieldName("___") == nil)
        #expect(JournaldSink.journalFieldName(String(repeating: "k", count: 100))?.count == 64)
    }
}

@Suite struct PIIMaskerTests {
    let masker = PIIMasker.standard

    @Test func identifiersKeepOnlyTheirLastFourCharacters() {
        #expect(masker.mask(key: "subscriber_id", value: "3730189502") == .string("******9502"))
        #expect(masker.mask(key: "Subscriber#", value: "3730189502") == .string("******9502"))
        #expect(masker.mask(key: "email", value: "a@b.c") == .string("*****"))
    }

    @Test func keysMatchWhateverTheirCaseAndPunctuation() {
        for key in ["subscriber_id", "Subscriber#ID", "subscriberId", "SUBSCRIBER ID", "Subscriber-Id"] {
            #expect(PIIMasker.normalize(key) == "subscriberid")
        }
        #expect(PIIMasker.normalize("Subscriber#") == "subscriber")
        #expect(PIIMasker.normalize("api_key_2") == "apikey2")
        // The Kelvin sign lowercases to an ASCII "k".
        #expect(PIIMasker.normalize("\u{212A}ey") == "key")
        #expect(PIIMasker.normalize("naïve") == "nave")
    }

    @Test func secretsKeepNothing() {
        for key in ["password", "api_key", "Authorization", "refresh_token"] {
            #expect(masker.mask(key: key, value: "hunter2-very-secret") == .string("[REDACTED]"))
        }
    }

    @Test func nestedValuesAreMaskedAndOtherKeysUntouched() {
        let masked = masker.mask(key: "claim", value: ["subscriber_id": "3730189502", "provider_npi": "1497775530"])
        #expect(masked == .dictionary(["subscriber_id": "******9502", "provider_npi": "1497775530"]))
        #expect(masker.mask(key: "provider_npi", value: "1497775530") == .string("1497775530"))
        // Inside arrays too; and `masked` says "nothing to mask" with nil, so callers copy nothing.
        #expect(masker.masked(key: "lines", value: [["member_name": "Jane Public"], ["npi": "1497775530"]]) == .array([["member_name": "*******blic"], ["npi": "1497775530"]]))
        #expect(masker.masked(key: "lines", value: [["npi": "1497775530"]]) == nil)
        #expect(masker.masked(key: "route", value: "/api/v1/claims") == nil)
    }

    @Test func theHandlerMasksBeforeAnySinkSeesTheRecord() {
        let captured = CapturingSink()
        var logger = Logger(label: "t") { JournalLogHandler(label: $0, sink: captured) }
        logger[metadataKey: "member_name"] = "Jane Q Public"
        logger.info("claim", metadata: ["subscriber_id": "3730189502", "password": "pw"])
        let record = captured.records.first
        #expect(record?.metadata["subscriber_id"] == .string("******9502"))
        #expect(record?.metadata["member_name"] == .string("*********blic"))
        #expect(record?.metadata["password"] == .string("[REDACTED]"))
        let text = String(decoding: record?.json ?? [], as: UTF8.self)
        #expect(!text.contains("3730189502"))
    }

    @Test func recordsBelowTheLevelAreDropped() {
        let captured = CapturingSink()
        let logger = Logger(label: "t") { JournalLogHandler(label: $0, sink: captured, level: .warning) }
        logger.info("dropped")
        logger.error("kept", error: CocoaError(.fileNoSuchFile))
        #expect(captured.records.map(\.message) == ["kept"])
        #expect(captured.records.first?.metadata["error"] != nil)
    }
}

/// Keeps records in memory.
final class CapturingSink: LogSink, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [LogRecord] = []
    var records: [LogRecord] { lock.withLock { stored } }
    func write(_ record: LogRecord) { lock.withLock { stored.append(record) } }
}
