/// One versioned schema change: SQL applied once, in version order, inside a transaction.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// A stable fingerprint of the SQL (FNV-1a, 64 bit), recorded when the migration is applied
    /// so a file edited after release is caught instead of silently diverging.
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension Migration {
    /// The migrations shipped in this binary, from `Sources/App/Migrations/sql/`. Register each
    /// new file here (a test fails when a file is missing from this list).
    public static let bundled: [Migration] = [
        Migration(version: 1, name: "claims_schema", sql: String(decoding: PackageResources.V0001__claims_schema_sql, as: UTF8.self)),
    ]
}
