/// A column whose values are stored encrypted, and how its rows are told apart.
///
/// Every writer and every batch job (encrypting plain rows, rotating keys) takes the
/// authenticated context of a value from here, so they agree on it byte for byte.
public struct ProtectedColumn: Sendable, Hashable {
    /// The table.
    public let table: String
    /// What the column holds, as contexts name it (`subscriber_id`).
    public let field: String
    /// The column of encrypted values.
    public let sealedColumn: String
    /// The plain column that migration 7 left beside it, as a text expression.
    public let plaintext: String
    /// The plain column's name.
    public let plaintextColumn: String
    /// The column of the value's blind index, if lookups need one.
    public let blindIndexColumn: String?
    /// The columns of the table's primary key, with their types, in order.
    public let rowKey: [(column: String, type: String)]

    public static func == (lhs: ProtectedColumn, rhs: ProtectedColumn) -> Bool {
        lhs.table == rhs.table && lhs.sealedColumn == rhs.sealedColumn
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(table)
        hasher.combine(sealedColumn)
    }

    /// The authenticated context of the value in the row whose key is `rowKey` (the primary key
    /// columns' text, in order): `table.field/key/…`.
    public func context(_ rowKey: String...) -> String {
        context(rowKey: rowKey)
    }

    /// ``context(_:)`` with the key as an array.
    public func context(rowKey: [String]) -> String {
        var text = table + "." + field
        for part in rowKey {
            text += "/"
            text += part
        }
        return text
    }

    /// A claim line's member identifier, with a blind index for members' lists.
    public static let subscriberID = ProtectedColumn(
        table: "claim_lines", field: "subscriber_id", sealedColumn: "subscriber_id_sealed", plaintext: "subscriber_id",
        plaintextColumn: "subscriber_id", blindIndexColumn: "subscriber_id_index", rowKey: [("claim_id", "uuid"), ("line_number", "int")])

    /// A user's full name.
    public static let userFullName = ProtectedColumn(
        table: "users", field: "full_name", sealedColumn: "full_name_sealed", plaintext: "full_name", plaintextColumn: "full_name",
        blindIndexColumn: nil, rowKey: [("id", "uuid")])

    /// The member identifier a member user is bound to.
    public static let userScopeSubscriberID = ProtectedColumn(
        table: "users", field: "scope_subscriber_id", sealedColumn: "scope_subscriber_id_sealed", plaintext: "scope_subscriber_id",
        plaintextColumn: "scope_subscriber_id", blindIndexColumn: nil, rowKey: [("id", "uuid")])

    /// The member identifier a member API key is bound to.
    public static let apiKeyScopeSubscriberID = ProtectedColumn(
        table: "api_keys", field: "scope_subscriber_id", sealedColumn: "scope_subscriber_id_sealed", plaintext: "scope_subscriber_id",
        plaintextColumn: "scope_subscriber_id", blindIndexColumn: nil, rowKey: [("id", "text")])

    /// Rejected input, as received.
    public static let rejectedClaimRaw = ProtectedColumn(
        table: "rejected_claims", field: "raw", sealedColumn: "raw_sealed", plaintext: "raw::text", plaintextColumn: "raw",
        blindIndexColumn: nil, rowKey: [("id", "uuid")])

    /// A remembered response to a request with an `Idempotency-Key`.
    public static let idempotencyResponse = ProtectedColumn(
        table: "idempotency_keys", field: "response_body", sealedColumn: "response_body_sealed", plaintext: "response_body",
        plaintextColumn: "response_body", blindIndexColumn: nil, rowKey: [("scope", "text"), ("key", "text")])

    /// Every protected column.
    public static let all: [ProtectedColumn] = [
        subscriberID, userFullName, userScopeSubscriberID, apiKeyScopeSubscriberID, rejectedClaimRaw, idempotencyResponse,
    ]
}
