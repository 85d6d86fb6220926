public import Logging
public import Postgres

/// Applies ``Migration``s in version order, each in its own transaction, and records them in
/// `schema_migrations`.
///
/// Several instances may start at once: the migrator holds a PostgreSQL advisory lock for the
/// whole run, so exactly one applies each migration and the others then find it recorded.
public struct Migrator: Sendable {
    /// Work done before a migration's SQL, outside its transaction, holding the migration lock:
    /// a data change that needs claimsd (encrypting values with its keys, say), done in batches
    /// that each commit, so an interrupted run resumes where it stopped.
    public typealias Preparation = @Sendable (PostgresConnection) async throws -> Void

    public var migrations: [Migration]
    private let client: PostgresClient
    private let logger: Logger
    private let preparations: [Int: Preparation]

    /// The advisory lock key all claimsd instances agree on for migrations.
    static let lockKey: Int64 = 0x636C_6169_6D73_6D67  // "claimsmg"

    /// `preparations` run before the migration of their version, each time it is pending.
    public init(client: PostgresClient, migrations: [Migration] = Migration.bundled, preparations: [Int: Preparation] = [:], logger: Logger) {
        self.client = client
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.preparations = preparations
        self.logger = logger
    }

    /// Applies every migration not yet recorded and returns the ones applied by this call.
    @discardableResult
    public func migrate() async throws -> [Migration] {
        try await client.withConnection { connection in
            // Waiting for another instance's migrations, and a migration itself, may take longer
            // than the statement timeout the session has for requests, and a busy machine may
            // pause between a migration's statements longer than its idle-in-transaction
            // timeout; both are lifted for the run and put back after.
            let timeouts = ["statement_timeout", "idle_in_transaction_session_timeout"]
            var saved: [(name: String, value: String)] = []
            for name in timeouts {
                let value = try await connection.query("SELECT current_setting(\(name)) AS value").rows.first?.decode("value", as: String.self) ?? "0"
                saved.append((name, value))
                try await connection.query("SELECT set_config(\(name), '0', false)")
            }
            func restore() async throws {
                for (name, value) in saved { try await connection.query("SELECT set_config(\(name), \(value), false)") }
            }
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))")
            do {
                let applied = try await applyPending(on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))")
                try await restore()
                return applied
            } catch {
                // The lock is per session: if unlocking fails the connection is broken and the
                // server drops the lock with it.
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))")
                _ = try? await restore()
                throw error
            }
        }
    }

    /// Applies migrations, retrying while PostgreSQL cannot be reached yet (a database that
    /// starts after claimsd, as in docker compose) until `timeout` has passed.
    public func migrateWhenReachable(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            do {
                try await migrate()
                return
            } catch let error as PostgresError where error.code == .connectionFailed && clock.now < deadline {
                logger.warning("waiting for PostgreSQL", metadata: ["event": "dependency_waiting", "dependency": "postgresql", "error": "\(error.message)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The versions recorded as applied, with their checksums.
    public func appliedVersions() async throws -> [Int: String] {
        try await client.withConnection { try await recorded(on: $0) }
    }

    private func applyPending(on connection: PostgresConnection) async throws -> [Migration] {
        try await connection.execute(
            script: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    bigint PRIMARY KEY,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        let recorded = try await recorded(on: connection)
        for migration in migrations {
            if let checksum = recorded[migration.version], checksum != migration.checksum {
                throw MigrationError.checksumMismatch(version: migration.version, name: migration.name)
            }
        }
        if let newest = recorded.keys.max(), let known = migrations.last?.version, newest > known {
            logger.warning(
                "database schema is newer than this binary",
                metadata: ["event": "schema_newer_than_binary", "database_version": "\(newest)", "binary_version": "\(known)"])
        }

        var applied: [Migration] = []
        for migration in migrations where recorded[migration.version] == nil {
            if let prepare = preparations[migration.version] {
                do {
                    try await prepare(connection)
                } catch {
                    throw MigrationError.failed(version: migration.version, name: migration.name, underlying: "\(error)")
                }
            }
            try await connection.execute(script: "BEGIN")
            do {
                try await connection.execute(script: migration.sql)
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))")
                try await connection.execute(script: "COMMIT")
            } catch {
                try? await connection.execute(script: "ROLLBACK")
                throw MigrationError.failed(version: migration.version, name: migration.name, underlying: "\(error)")
            }
            logger.info("migration applied", metadata: ["event": "migration_applied", "version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration)
        }
        return applied
    }

    private func recorded(on connection: PostgresConnection) async throws -> [Int: String] {
        let exists = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        guard try exists.rows.first?.decode("present", as: Bool.self) == true else { return [:] }
        let result = try await connection.query("SELECT version, checksum FROM schema_migrations")
        var versions: [Int: String] = [:]
        for row in result.rows {
            versions[try row.decode("version")] = try row.decode("checksum", as: String.self)
        }
        return versions
    }
}

/// Why migrations could not be applied.
public enum MigrationError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A migration already applied was edited afterwards; add a new migration instead.
    case checksumMismatch(version: Int, name: String)
    /// A migration's SQL failed; it was rolled back and nothing of it remains.
    case failed(version: Int, name: String, underlying: String)

    public var description: String {
        switch self {
        case .checksumMismatch(let version, let name):
            return "migration \(version) (\(name)) was changed after it was applied; revert the edit and add a new migration instead"
        case .failed(let version, let name, let underlying):
            return "migration \(version) (\(name)) failed and was rolled back: \(underlying)"
        }
    }
}
