public import AuditTrail
public import Access
public import DataProtection
public import Foundation
public import Postgres

/// A user: a person who logs in with a password.
public struct UserAccount: Sendable, Equatable {
    public let id: UUID
    public let email: String
    public let fullName: String
    public let passwordHash: String
    public let role: Role
    public let scope: Scope
    /// RFC 3339, UTC.
    public let createdAt: String
    /// When the user was disabled (RFC 3339, UTC); a disabled user cannot log in or refresh.
    public let disabledAt: String?

    public var isDisabled: Bool { disabledAt != nil }

    /// The principal the user's access tokens speak for.
    public var principal: Principal { Principal(id: "user:" + id.postgresText, kind: .user, role: role, scope: scope) }
}

/// A user to create.
public struct NewUser: Sendable {
    public var email: String
    public var fullName: String
    public var passwordHash: String
    public var role: Role
    public var scope: Scope

    public init(email: String, fullName: String, passwordHash: String, role: Role, scope: Scope) {
        self.email = email
        self.fullName = fullName
        self.passwordHash = passwordHash
        self.role = role
        self.scope = scope
    }
}

/// An API key as stored: never its secret, only the secret's hash.
public struct APIKeyRecord: Sendable, Equatable {
    public let id: String
    public let name: String
    public let secretHash: String
    public let role: Role
    public let scope: Scope
    /// Who created it: a principal id, or `cli` for `claimsd api-keys create`.
    public let createdBy: String
    public let createdAt: String
    public let expiresAt: String?
    public let lastUsedAt: String?
    public let revokedAt: String?
    /// Neither revoked nor expired, as of the database's clock when it was read.
    public let isUsable: Bool

    /// The principal requests with this key speak for.
    public var principal: Principal { Principal(id: "api_key:" + id, kind: .apiKey, role: role, scope: scope) }
}

/// An API key to create; ``Access/APIKey/generate()`` makes its id and secret.
public struct NewAPIKey: Sendable {
    public var id: String
    public var name: String
    public var secretHash: String
    public var role: Role
    public var scope: Scope
    public var createdBy: String
    /// Seconds from now until the key stops working; `nil` for never.
    public var expiresInSeconds: Int64?

    public init(id: String, name: String, secretHash: String, role: Role, scope: Scope, createdBy: String, expiresInSeconds: Int64? = nil) {
        self.id = id
        self.name = name
        self.secretHash = secretHash
        self.role = role
        self.scope = scope
        self.createdBy = createdBy
        self.expiresInSeconds = expiresInSeconds
    }
}

/// A change to a user; `nil` fields stay as they are.
public struct UserChange: Sendable {
    public var role: Role?
    public var scope: Scope?
    public var fullName: String?
    public var passwordHash: String?
    /// `true` disables the user (and revokes its sessions), `false` enables it again.
    public var disabled: Bool?

    public init(role: Role? = nil, scope: Scope? = nil, fullName: String? = nil, passwordHash: String? = nil, disabled: Bool? = nil) {
        self.role = role
        self.scope = scope
        self.fullName = fullName
        self.passwordHash = passwordHash
        self.disabled = disabled
    }
}

/// What presenting a refresh token led to.
public enum RefreshOutcome: Sendable, Equatable {
    /// The token was current: it is now used, and `newTokenHash` continues its family.
    case rotated(user: UserAccount, familyID: UUID)
    /// The token was already used: its whole family is now revoked. A security event.
    case reuseDetected(userID: UUID, familyID: UUID)
    /// Unknown, expired, revoked, or its user is disabled.
    case refused
}

/// Why an account change was refused.
public enum AccountError: Error, Sendable, Equatable, CustomStringConvertible {
    case emailTaken(String)

    public var description: String {
        switch self {
        case .emailTaken(let email): "a user with the email '\(email)' already exists"
        }
    }
}

/// Users, API keys and refresh tokens in PostgreSQL (tables of migration V0005).
public struct PostgresAccountStore: Sendable {
    let client: PostgresClient
    /// Encrypts names and members' subscriber ids (see ``ProtectedColumn``).
    let cipher: FieldCipher

    public init(client: PostgresClient, cipher: FieldCipher) {
        self.client = client
        self.cipher = cipher
    }

    // MARK: Users

    static let userColumns = """
        id, email, full_name_sealed, password_hash, role, array_to_string(scope_npis, ' ') AS npis, scope_subscriber_id_sealed,
        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
        to_char(disabled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS disabled_at
        """

    /// Creates a user with a new id; an email already used (in any case) is ``AccountError/emailTaken(_:)``.
    /// `audit`, when given, is written in the same transaction with the new user's id as its resource.
    public func createUser(_ user: NewUser, audit: AuditEvent? = nil) async throws -> UserAccount {
        do {
            let id = UUID()
            let fullName = sealed(user.fullName, ProtectedColumn.userFullName, id.postgresText)
            let subscriber = user.scope.subscriberID.map { sealed($0, ProtectedColumn.userScopeSubscriberID, id.postgresText) }
            return try await client.withTransaction { connection in
                let rows = try await connection.query(
                    """
                    INSERT INTO users (id, email, full_name_sealed, password_hash, role, scope_npis, scope_subscriber_id_sealed)
                    VALUES (\(id), \(user.email), \(fullName), \(user.passwordHash), \(user.role.rawValue),
                            \(postgresArrayLiteral(user.scope.npis))::text[], \(subscriber))
                    RETURNING \(unescaped: Self.userColumns)
                    """
                ).rows
                let created = try decodeUser(rows[0])
                try await PostgresAuditStore.append(audit.map { var event = $0; event.resourceID = created.id.postgresText; return [event] } ?? [], on: connection)
                return created
            }
        } catch let error as PostgresError where error.sqlState == "23505" {
            throw AccountError.emailTaken(user.email)
        }
    }

    /// The user with this email, whatever its case.
    public func user(email: String) async throws -> UserAccount? {
        try await client.query("SELECT \(unescaped: Self.userColumns) FROM users WHERE lower(email) = lower(\(email))").rows.first.map(decodeUser)
    }

    /// The user with this id.
    public func user(id: UUID) async throws -> UserAccount? {
        try await client.query("SELECT \(unescaped: Self.userColumns) FROM users WHERE id = \(id)").rows.first.map(decodeUser)
    }

    /// Every user, oldest first.
    public func users() async throws -> [UserAccount] {
        try await client.query("SELECT \(unescaped: Self.userColumns) FROM users ORDER BY created_at, id").rows.map(decodeUser)
    }

    /// Applies `change`; disabling a user also revokes its refresh tokens. `nil` for an unknown id.
    /// `audit`, when given, is written in the same transaction.
    public func updateUser(id: UUID, _ change: UserChange, audit: AuditEvent? = nil) async throws -> UserAccount? {
        let fullName = change.fullName.map { sealed($0, ProtectedColumn.userFullName, id.postgresText) }
        let subscriber = change.scope?.subscriberID.map { sealed($0, ProtectedColumn.userScopeSubscriberID, id.postgresText) }
        return try await client.withTransaction { connection in
            let rows = try await connection.query(
                """
                UPDATE users SET
                    role = coalesce(\(change.role?.rawValue), role),
                    scope_npis = coalesce(\(change.scope.map { postgresArrayLiteral($0.npis) })::text[], scope_npis),
                    scope_subscriber_id_sealed = CASE WHEN \(change.scope != nil) THEN \(subscriber)::bytea ELSE scope_subscriber_id_sealed END,
                    full_name_sealed = coalesce(\(fullName)::bytea, full_name_sealed),
                    password_hash = coalesce(\(change.passwordHash), password_hash),
                    disabled_at = CASE \(change.disabled.map { $0 ? "disable" : "enable" } ?? "keep")
                        WHEN 'disable' THEN coalesce(disabled_at, now()) WHEN 'enable' THEN NULL ELSE disabled_at END
                WHERE id = \(id)
                RETURNING \(unescaped: Self.userColumns)
                """
            ).rows
            guard let row = rows.first else { return nil }
            if change.disabled == true || change.passwordHash != nil || change.role != nil || change.scope != nil {
                // A changed role or scope must not live on in tokens refreshed from old sessions.
                try await connection.query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = \(id) AND revoked_at IS NULL")
            }
            try await PostgresAuditStore.append(audit.map { [$0] } ?? [], on: connection)
            return try decodeUser(row)
        }
    }

    /// `value` encrypted for the row `rowKey` of `column`.
    func sealed(_ value: String, _ column: ProtectedColumn, _ rowKey: String) -> PostgresBytes {
        PostgresBytes(cipher.seal(value, context: column.context(rowKey)))
    }

    /// The decrypted value of `name` (a `bytea` column) in `row`, which belongs to `rowKey`.
    func opened(_ row: PostgresRow, _ name: String, _ column: ProtectedColumn, _ rowKey: String) throws -> String? {
        guard let value = try row.decodeIfPresent(name, as: PostgresBytes.self) else { return nil }
        return try cipher.openString(value.bytes, context: column.context(rowKey))
    }

    func decodeUser(_ row: PostgresRow) throws -> UserAccount {
        let roleText = try row.decode("role", as: String.self)
        guard let role = Role(rawValue: roleText) else {
            throw PostgresError(code: .decoding, message: "users.role '\(roleText)' is not a role this claimsd knows")
        }
        let id: UUID = try row.decode("id")
        let key = id.postgresText
        return UserAccount(
            id: id, email: try row.decode("email"), fullName: try opened(row, "full_name_sealed", ProtectedColumn.userFullName, key) ?? "",
            passwordHash: try row.decode("password_hash"), role: role,
            scope: Scope(
                npis: try row.decode("npis", as: String.self).split(separator: " ").map(String.init),
                subscriberID: try opened(row, "scope_subscriber_id_sealed", ProtectedColumn.userScopeSubscriberID, key)),
            createdAt: try row.decode("created_at"), disabledAt: try row.decodeIfPresent("disabled_at"))
    }

    // MARK: API keys

    static let apiKeyColumns = """
        id, name, secret_hash, role, array_to_string(scope_npis, ' ') AS npis, scope_subscriber_id_sealed, created_by,
        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
        to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS expires_at,
        to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_used_at,
        to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS revoked_at,
        (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS usable
        """

    /// Stores a new key (its secret's hash only), and `audit` in the same transaction.
    public func createAPIKey(_ key: NewAPIKey, audit: AuditEvent? = nil) async throws -> APIKeyRecord {
        try await client.withTransaction { connection in
            let rows = try await connection.query(
                """
                INSERT INTO api_keys (id, name, secret_hash, role, scope_npis, scope_subscriber_id_sealed, created_by, expires_at)
                VALUES (\(key.id), \(key.name), \(key.secretHash), \(key.role.rawValue), \(postgresArrayLiteral(key.scope.npis))::text[],
                        \(key.scope.subscriberID.map { sealed($0, ProtectedColumn.apiKeyScopeSubscriberID, key.id) }), \(key.createdBy), now() + make_interval(secs => \(key.expiresInSeconds)::float8))
                RETURNING \(unescaped: Self.apiKeyColumns)
                """
            ).rows
            try await PostgresAuditStore.append(audit.map { [$0] } ?? [], on: connection)
            return try decodeAPIKey(rows[0])
        }
    }

    /// The key with this id, usable or not.
    public func apiKey(id: String) async throws -> APIKeyRecord? {
        try await client.query("SELECT \(unescaped: Self.apiKeyColumns) FROM api_keys WHERE id = \(id)").rows.first.map(decodeAPIKey)
    }

    /// Every key, newest first.
    public func apiKeys() async throws -> [APIKeyRecord] {
        try await client.query("SELECT \(unescaped: Self.apiKeyColumns) FROM api_keys ORDER BY created_at DESC, id").rows.map(decodeAPIKey)
    }

    /// Revokes the key; `false` when there is no such key or it was revoked already. `audit`
    /// is written in the same transaction when the key is revoked.
    public func revokeAPIKey(id: String, audit: AuditEvent? = nil) async throws -> Bool {
        try await client.withTransaction { connection in
            guard try await connection.query("UPDATE api_keys SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL").affectedRows == 1 else {
                return false
            }
            try await PostgresAuditStore.append(audit.map { [$0] } ?? [], on: connection)
            return true
        }
    }

    /// Records that the key was used now (callers do this at most once a minute per key).
    public func touchAPIKey(id: String) async throws {
        try await client.query("UPDATE api_keys SET last_used_at = now() WHERE id = \(id)")
    }

    func decodeAPIKey(_ row: PostgresRow) throws -> APIKeyRecord {
        let roleText = try row.decode("role", as: String.self)
        guard let role = Role(rawValue: roleText) else {
            throw PostgresError(code: .decoding, message: "api_keys.role '\(roleText)' is not a role this claimsd knows")
        }
        let id: String = try row.decode("id")
        return APIKeyRecord(
            id: id, name: try row.decode("name"), secretHash: try row.decode("secret_hash"), role: role,
            scope: Scope(
                npis: try row.decode("npis", as: String.self).split(separator: " ").map(String.init),
                subscriberID: try opened(row, "scope_subscriber_id_sealed", ProtectedColumn.apiKeyScopeSubscriberID, id)),
            createdBy: try row.decode("created_by"), createdAt: try row.decode("created_at"), expiresAt: try row.decodeIfPresent("expires_at"),
            lastUsedAt: try row.decodeIfPresent("last_used_at"), revokedAt: try row.decodeIfPresent("revoked_at"), isUsable: try row.decode("usable"))
    }

    // MARK: Refresh tokens

    /// Starts a new family (a login) with its first token.
    public func startRefreshFamily(userID: UUID, tokenHash: String, lifetimeSeconds: Int64) async throws -> UUID {
        let family = UUID()
        try await client.query(
            """
            INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
            VALUES (\(tokenHash), \(family), \(userID), now() + make_interval(secs => \(lifetimeSeconds)::float8))
            """)
        return family
    }

    /// Exchanges the token with hash `tokenHash` for `newTokenHash` in the same family, in one
    /// transaction. A token presented twice revokes its family.
    public func rotateRefreshToken(tokenHash: String, newTokenHash: String, lifetimeSeconds: Int64) async throws -> RefreshOutcome {
        try await client.withTransaction { connection in
            let rows = try await connection.query(
                """
                SELECT t.family_id, t.user_id, t.used_at IS NOT NULL AS used, t.revoked_at IS NOT NULL AS revoked,
                       t.expires_at <= now() AS expired
                FROM refresh_tokens t WHERE t.token_hash = \(tokenHash) FOR UPDATE
                """
            ).rows
            guard let row = rows.first else { return .refused }
            let family: UUID = try row.decode("family_id")
            let userID: UUID = try row.decode("user_id")
            if try row.decode("used", as: Bool.self) {
                let revoked = try await connection.query(
                    "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = \(family) AND revoked_at IS NULL")
                // A family revoked already (logout, an earlier reuse) is no new security event.
                return (revoked.affectedRows ?? 0) > 0 ? .reuseDetected(userID: userID, familyID: family) : .refused
            }
            guard try !row.decode("revoked", as: Bool.self), try !row.decode("expired", as: Bool.self) else { return .refused }
            guard let user = try await connection.query("SELECT \(unescaped: Self.userColumns) FROM users WHERE id = \(userID)").rows.first.map(decodeUser),
                !user.isDisabled
            else { return .refused }
            try await connection.query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = \(tokenHash)")
            try await connection.query(
                """
                INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
                VALUES (\(newTokenHash), \(family), \(userID), now() + make_interval(secs => \(lifetimeSeconds)::float8))
                """)
            return .rotated(user: user, familyID: family)
        }
    }

    /// Revokes the family of the token with hash `tokenHash`, if it belongs to `userID`; returns
    /// how many tokens were revoked.
    @discardableResult
    public func revokeRefreshFamily(tokenHash: String, userID: UUID) async throws -> Int {
        try await client.query(
            """
            UPDATE refresh_tokens SET revoked_at = now()
            WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = \(tokenHash) AND user_id = \(userID))
              AND revoked_at IS NULL
            """
        ).affectedRows ?? 0
    }

    /// Deletes at most `limit` refresh tokens that expired at least `graceSeconds` ago; returns
    /// how many. An expired token is refused whether its row exists or not, but while the row of
    /// a used one exists, presenting it again still revokes its family: a stolen token replayed
    /// late is still caught. Callers keep tokens one refresh lifetime past their expiry.
    public func purgeExpiredRefreshTokens(limit: Int, graceSeconds: Int64) async throws -> Int {
        try await client.query(
            """
            WITH expired AS (
                SELECT token_hash FROM refresh_tokens
                WHERE expires_at <= now() - make_interval(secs => \(graceSeconds)::float8)
                ORDER BY expires_at LIMIT \(limit)
            )
            DELETE FROM refresh_tokens AS t USING expired WHERE t.token_hash = expired.token_hash
            RETURNING 1
            """
        ).rows.count
    }

    /// Revokes every refresh token of the user (logout everywhere).
    @discardableResult
    public func revokeRefreshTokens(userID: UUID) async throws -> Int {
        try await client.query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = \(userID) AND revoked_at IS NULL").affectedRows ?? 0
    }
}
