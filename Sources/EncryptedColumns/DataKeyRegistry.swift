public import DataProtection
public import Postgres

/// The data keys a database has seen, checked against claimsd's keyring at every start.
///
/// Each data key that encrypted anything is recorded in `data_keys` with a known text sealed
/// under it; the blind index key is recorded in `blind_index_key` with an HMAC made with it.
/// A keyring whose key of a recorded id has other bytes, that lacks a key still in use, or whose
/// index key differs, is refused before anything is read or written with it.
public struct DataKeyRegistry: Sendable {
    public let cipher: FieldCipher

    /// The text every check value seals.
    static let checkText = Array("claimsd data key check".utf8)
    /// The text the index key's fingerprint is the HMAC of.
    static let indexCheckText = "claimsd blind index check"

    public init(cipher: FieldCipher) {
        self.cipher = cipher
    }

    /// Records the keyring's new keys and checks it against the recorded ones.
    public func verify(client: PostgresClient) async throws {
        try await client.withConnection { try await verify(on: $0) }
    }

    /// ``verify(client:)`` on one connection (the migrator's, before it encrypts anything).
    public func verify(on connection: PostgresConnection) async throws {
        let index = cipher.keyring.indexKey
        let fingerprint = PostgresBytes(cipher.blindIndex(Self.indexCheckText))
        try await connection.query(
            "INSERT INTO blind_index_key (key_id, fingerprint) VALUES (\(index.id), \(fingerprint)) ON CONFLICT (only_one) DO NOTHING")
        let recordedIndex = try await connection.query("SELECT key_id, fingerprint FROM blind_index_key").rows[0]
        let recordedID: String = try recordedIndex.decode("key_id")
        guard recordedID == index.id, try recordedIndex.decode("fingerprint", as: PostgresBytes.self) == fingerprint else {
            throw DataKeyError.indexKeyMismatch(recorded: recordedID, given: index.id)
        }

        for key in cipher.keyring.dataKeys {
            let context = Self.checkContext(key.id)
            let check = PostgresBytes(try cipher.seal(Self.checkText, context: context, keyID: key.id))
            try await connection.query("INSERT INTO data_keys (key_id, check_value) VALUES (\(key.id), \(check)) ON CONFLICT (key_id) DO NOTHING")
        }
        let recorded = try await connection.query("SELECT key_id, check_value, retired_at IS NOT NULL AS retired FROM data_keys ORDER BY added_at, key_id").rows
        var missing: [String] = []
        for row in recorded {
            let id: String = try row.decode("key_id")
            guard cipher.keyring.dataKeys.contains(where: { $0.id == id }) else {
                if try !row.decode("retired", as: Bool.self) { missing.append(id) }
                continue
            }
            let check: PostgresBytes = try row.decode("check_value")
            guard (try? cipher.open(check.bytes, context: Self.checkContext(id))) == Self.checkText else { throw DataKeyError.keyMismatch(id: id) }
        }
        guard missing.isEmpty else { throw DataKeyError.missingKeys(missing) }
    }

    /// The recorded data keys and whether the keyring holds each.
    public func status(client: PostgresClient) async throws -> [DataKeyStatus] {
        let rows = try await client.query(
            """
            SELECT key_id, to_char(added_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS added_at,
                   to_char(retired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS retired_at
            FROM data_keys ORDER BY added_at, key_id
            """
        ).rows
        return try rows.map { row in
            let id: String = try row.decode("key_id")
            return DataKeyStatus(
                id: id, addedAt: try row.decode("added_at"), retiredAt: try row.decodeIfPresent("retired_at"),
                inKeyring: cipher.keyring.dataKeys.contains { $0.id == id }, encrypts: id == cipher.encryptingKeyID)
        }
    }

    static func checkContext(_ id: String) -> String { "data_keys.check_value/" + id }
}

/// A data key as the database records it.
public struct DataKeyStatus: Sendable, Equatable {
    public let id: String
    public let addedAt: String
    /// When `claimsd keys rotate` found no value left under the key.
    public let retiredAt: String?
    public let inKeyring: Bool
    /// Whether it is the keyring's encrypting key.
    public let encrypts: Bool
}

/// Why claimsd's keyring does not fit the database; start-up stops with it.
public enum DataKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The keyring's key of this id has other bytes than the key that encrypted this database's values.
    case keyMismatch(id: String)
    /// Values are encrypted under keys the keyring lacks.
    case missingKeys([String])
    /// The keyring's index key is not the one the blind indexes were made with.
    case indexKeyMismatch(recorded: String, given: String)

    public var description: String {
        switch self {
        case .keyMismatch(let id):
            "CLAIMS_DATA_KEYS holds a data key '\(id)' that is not the key '\(id)' this database was encrypted with; restore the right key"
        case .missingKeys(let ids):
            "this database holds values encrypted with data key\(ids.count == 1 ? "" : "s") \(ids.map { "'\($0)'" }.joined(separator: ", ")), "
                + "which CLAIMS_DATA_KEYS lacks; add \(ids.count == 1 ? "it" : "them") back (a key leaves the keyring only after 'claimsd keys rotate' retired it)"
        case .indexKeyMismatch(let recorded, let given):
            recorded == given
                ? "CLAIMS_DATA_KEYS holds an index key '\(given)' with other bytes than the one this database's blind indexes were made with; restore the right key"
                : "this database's blind indexes were made with index key '\(recorded)', but CLAIMS_DATA_KEYS holds '\(given)'; restore the index key '\(recorded)'"
        }
    }
}
