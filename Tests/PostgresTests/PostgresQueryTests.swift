@testable import Postgres
import Testing

@Suite struct PostgresQueryTests {
    @Test func interpolatedValuesBecomeBindParameters() {
        let npi = "1497775530"
        let limit = 10
        let missing: String? = nil
        let query: PostgresQuery = "SELECT * FROM claims WHERE provider_npi = \(npi) AND note = \(missing) LIMIT \(limit)"
        #expect(query.sql == "SELECT * FROM claims WHERE provider_npi = $1 AND note = $2 LIMIT $3")
        #expect(query.binds == ["1497775530", nil, "10"])
    }

    @Test func identifiersAreQuoted() {
        let query: PostgresQuery = "SELECT 1 FROM \(identifier: "we\"ird")"
        #expect(query.sql == "SELECT 1 FROM \"we\"\"ird\"")
        #expect(query.binds.isEmpty)
    }

    @Test func copyTextFormatEscapesSeparatorsAndMarksNull() {
        var buffer: [UInt8] = []
        CopyTextFormat.append(row: ["a\tb", nil, "line\nbreak\r", "back\\slash", ""], to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "a\\tb\t\\N\tline\\nbreak\\r\tback\\\\slash\t\n")
    }

    @Test func invalidConnectionStringsAreRejectedBeforeConnecting() {
        #expect(throws: PostgresError.self) {
            try PostgresClient.Configuration.validate(conninfo: "postgresql://host:5432/db?nonsense_option=1")
        }
        #expect(throws: Never.self) {
            try PostgresClient.Configuration.validate(conninfo: "postgresql://claimsd@127.0.0.1:5432/claimsd")
        }
    }

    @Test func aConnectTimeoutIsAddedOnlyWhenMissing() {
        #expect(PostgresClient.Configuration(conninfo: "postgresql://h/db").effectiveConninfo == "postgresql://h/db?connect_timeout=5")
        #expect(PostgresClient.Configuration(conninfo: "postgresql://h/db?sslmode=disable").effectiveConninfo == "postgresql://h/db?sslmode=disable&connect_timeout=5")
        #expect(PostgresClient.Configuration(conninfo: "host=h dbname=db").effectiveConninfo == "host=h dbname=db connect_timeout=5")
        #expect(PostgresClient.Configuration(conninfo: "host=h connect_timeout=2").effectiveConninfo == "host=h connect_timeout=2")
    }
}
