import Digests

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
        fnv1a64Hex(sql.utf8)
    }
}

extension Migration {
    /// The migrations shipped in this binary, from `Sources/Schema/sql/`. Register each
    /// new file here (a test fails when a file is missing from this list).
    public static let bundled: [Migration] = [
        Migration(version: 1, name: "claims_schema", sql: String(decoding: PackageResources.V0001__claims_schema_sql, as: UTF8.self)),
        Migration(version: 2, name: "provider_ranking", sql: String(decoding: PackageResources.V0002__provider_ranking_sql, as: UTF8.self)),
        Migration(version: 3, name: "idempotency_scope", sql: String(decoding: PackageResources.V0003__idempotency_scope_sql, as: UTF8.self)),
        Migration(version: 4, name: "provider_shares", sql: String(decoding: PackageResources.V0004__provider_shares_sql, as: UTF8.self)),
        Migration(version: 5, name: "accounts", sql: String(decoding: PackageResources.V0005__accounts_sql, as: UTF8.self)),
        Migration(version: 6, name: "audit_trail", sql: String(decoding: PackageResources.V0006__audit_trail_sql, as: UTF8.self)),
        Migration(version: 7, name: "encryption_at_rest", sql: String(decoding: PackageResources.V0007__encryption_at_rest_sql, as: UTF8.self)),
        Migration(version: 8, name: "plaintext_dropped", sql: String(decoding: PackageResources.V0008__plaintext_dropped_sql, as: UTF8.self)),
        Migration(version: 9, name: "audit_queue_per_statement", sql: String(decoding: PackageResources.V0009__audit_queue_per_statement_sql, as: UTF8.self)),
        Migration(version: 10, name: "audit_hash_inlined", sql: String(decoding: PackageResources.V0010__audit_hash_inlined_sql, as: UTF8.self)),
        Migration(version: 11, name: "audit_sealed_in_batches", sql: String(decoding: PackageResources.V0011__audit_sealed_in_batches_sql, as: UTF8.self)),
        Migration(version: 12, name: "rejected_claims_review", sql: String(decoding: PackageResources.V0012__rejected_claims_review_sql, as: UTF8.self)),
        Migration(version: 13, name: "claim_screening", sql: String(decoding: PackageResources.V0013__claim_screening_sql, as: UTF8.self)),
        Migration(version: 14, name: "claimed_lines_generic_plan", sql: String(decoding: PackageResources.V0014__claimed_lines_generic_plan_sql, as: UTF8.self)),
        Migration(
            version: 15, name: "claimed_lines_lookup_by_one_index",
            sql: String(decoding: PackageResources.V0015__claimed_lines_lookup_by_one_index_sql, as: UTF8.self)),
        Migration(version: 16, name: "no_line_claimed_guard", sql: String(decoding: PackageResources.V0016__no_line_claimed_guard_sql, as: UTF8.self)),
    ]
}
