public import DataProtection
import Foundation
public import Logging
public import Postgres

/// The real servers scripts/test.sh started, and ways to control them.
public enum TestEnvironment {
    /// The value of an environment variable scripts/test.sh sets; stops the test run with a
    /// clear message when the tests were started some other way.
    public static func required(_ name: String) -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            fatalError("\(name) is not set: run the tests with scripts/test.sh, which starts PostgreSQL, Redis and journald")
        }
        return value
    }

    public static var databaseURL: String { required("CLAIMS_TEST_DATABASE_URL") }
    public static var redisURL: String { required("CLAIMS_TEST_REDIS_URL") }
    /// A PostgreSQL the recovery tests may stop and restart.
    public static var chaosDatabaseURL: String { required("CLAIMS_TEST_CHAOS_DATABASE_URL") }
    /// A Redis the recovery tests may stop and restart.
    public static var chaosRedisURL: String { required("CLAIMS_TEST_CHAOS_REDIS_URL") }
    /// A Redis only the circuit-breaker tests use; they pause it (SIGSTOP) to make it hang.
    public static var pausedRedisURL: String { required("CLAIMS_TEST_PAUSED_REDIS_URL") }

    /// Sends `signal` to the paused-test Redis (SIGSTOP, SIGCONT) without starting a process.
    public static func signalPausedRedis(_ signal: Int32) throws {
        let path = required("CLAIMS_TEST_PAUSED_REDIS_PID_FILE")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            kill(pid, signal) == 0
        else { throw TestEnvironmentError.commandFailed("cannot signal the Redis whose PID is in \(path)") }
    }

    /// A PostgreSQL and a Redis that the readiness tests may stop and restart.
    public static var readinessDatabaseURL: String { required("CLAIMS_TEST_READINESS_DATABASE_URL") }
    /// A PostgreSQL that serves TLS with a certificate from the test authority in ``tlsCA``.
    public static var tlsDatabaseURL: String { required("CLAIMS_TEST_TLS_DATABASE_URL") }
    /// The test certificate authority's certificate (PEM).
    public static var tlsCA: String { required("CLAIMS_TEST_TLS_CA") }
    public static var readinessRedisURL: String { required("CLAIMS_TEST_READINESS_REDIS_URL") }

    /// A logger that discards everything, for clients under test.
    public static let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// The data keys of the test run: the keyring file `CLAIMS_DATA_KEYS` names, made by
    /// scripts/test.sh and inherited by every claimsd a test starts.
    public static let dataKeyring: DataKeyring = {
        let path = required("CLAIMS_DATA_KEYS")
        do {
            return try DataKeyring(text: try String(contentsOfFile: path, encoding: .utf8))
        } catch {
            fatalError("CLAIMS_DATA_KEYS (\(path)) is not a usable keyring: \(error); scripts/test.sh makes one")
        }
    }()
    /// The cipher of ``dataKeyring``, for repositories and stores the tests build.
    public static let cipher = FieldCipher(keyring: dataKeyring)

    /// Runs `scripts/services.sh` with `arguments`, e.g. `["stop", "postgres", "chaos"]`.
    public static func services(_ arguments: String...) async throws {
        try await run("/bin/bash", [required("CLAIMS_TEST_SERVICES")] + arguments)
    }

    /// Runs a program to completion; throws when it exits non-zero. Returns its standard output.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(120)) async throws -> String {
        let child = try ChildProcess(executable, arguments)
        let status = try await child.waitForExit(timeout: timeout)
        guard status == 0 else {
            throw TestEnvironmentError.commandFailed(
                "\(executable) \(arguments.joined(separator: " ")) exited \(status): \(child.standardError)")
        }
        return child.standardOutput
    }

    /// A short random suffix for names that must not collide between parallel tests.
    public static func uniqueSuffix() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }
}

public enum TestEnvironmentError: Error, CustomStringConvertible {
    case commandFailed(String)
    public var description: String {
        switch self {
        case .commandFailed(let message): return message
        }
    }
}

/// A database created for one test and dropped afterwards, so tests never see each other's rows.
public struct ScratchDatabase: Sendable {
    public let name: String
    /// The database's URL; it carries a connect timeout of ``connectTimeoutSeconds``, which every
    /// claimsd a test starts on it inherits.
    public let url: String

    /// How long a connection to a scratch database may take to open. claimsd's default of 5 s is
    /// too short on a two-core CI machine while dozens of tests start at once: a fresh-clone run
    /// once failed with "timeout expired" while the server was only busy.
    public static let connectTimeoutSeconds = 30

    /// Creates an empty database on the test PostgreSQL, runs `body` with a client for it, then
    /// drops it.
    public static func with<Result: Sendable>(
        maxConnections: Int = 4, _ body: (PostgresClient, ScratchDatabase) async throws -> Result
    ) async throws -> Result {
        let admin = try PostgresClient(
            configuration: .init(conninfo: TestEnvironment.databaseURL, maxConnections: 1, connectTimeoutSeconds: connectTimeoutSeconds),
            logger: TestEnvironment.quietLogger)
        let name = "scratch_" + TestEnvironment.uniqueSuffix()
        try await admin.query(PostgresQuery(sql: "CREATE DATABASE \(name)"))
        let base = TestEnvironment.databaseURL
        let url = String(base[..<(base.lastIndex(of: "/") ?? base.endIndex)]) + "/" + name + "?connect_timeout=\(connectTimeoutSeconds)"
        let database = ScratchDatabase(name: name, url: url)
        let client = try PostgresClient(configuration: .init(conninfo: url, maxConnections: maxConnections), logger: TestEnvironment.quietLogger)
        do {
            let result = try await body(client, database)
            await client.shutdown()
            try await drop(name, using: admin)
            await admin.shutdown()
            return result
        } catch {
            await client.shutdown()
            _ = try? await drop(name, using: admin)
            await admin.shutdown()
            throw error
        }
    }

    /// Drops the database, retrying while an autovacuum worker is in it: after a bulk load,
    /// autovacuum may be analysing the new tables, and `WITH (FORCE)` may not end a superuser's
    /// process for the unprivileged test role (SQLSTATE 42501). The worker is gone within moments.
    static func drop(_ name: String, using admin: PostgresClient) async throws {
        var attempt = 0
        while true {
            do {
                try await admin.query(PostgresQuery(sql: "DROP DATABASE \(name) WITH (FORCE)"))
                return
            } catch let error as PostgresError where error.sqlState == "42501" && attempt < 50 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}

/// Polls `condition` every 20 ms until it holds; throws when `timeout` passes first.
public func waitUntil(
    timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(20), _ condition: @escaping @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    // Once more after the deadline: on a loaded machine this task may first wake past it, and
    // the condition may have come true while it slept.
    if try await condition() { return }
    throw TestEnvironmentError.commandFailed("condition not met within \(timeout)")
}

/// Runs CPU-heavy test work on a thread of its own. Swift Testing runs suites side by side on
/// the two cooperative threads; a long synchronous body there starves timing-sensitive tests.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    let result: Result<T, any Error> = await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: Result { try work() }) }
    }
    return try result.get()
}

/// A rejected claim as `rejected_claims` keeps it, its input decrypted with the test keyring.
public struct KeptRejection: Sendable {
    public let source: String
    public let externalClaimNumber: String?
    /// The input as stored: JSON text.
    public let raw: String
    public let violationCount: Int

    /// ``raw`` parsed.
    public var json: Any? { try? JSONSerialization.jsonObject(with: Data(raw.utf8), options: [.fragmentsAllowed]) }

    /// The value at `path` in ``json`` (object keys and array indexes).
    public func value(at path: Any...) -> Any? {
        var current = json
        for step in path {
            if let key = step as? String { current = (current as? [String: Any])?[key] }
            else if let index = step as? Int, let array = current as? [Any], array.indices.contains(index) { current = array[index] }
            else { return nil }
        }
        return current
    }

    /// The rejected claims kept in `client`'s database, in the order they were stored.
    public static func all(in client: PostgresClient) async throws -> [KeptRejection] {
        try await client.query(
            "SELECT id::text AS id, source, external_claim_number, raw_sealed, jsonb_array_length(violations) AS v FROM rejected_claims ORDER BY created_at, id"
        ).rows.map { row in
            let id: String = try row.decode("id")
            let sealed: PostgresBytes = try row.decode("raw_sealed")
            return KeptRejection(
                source: try row.decode("source"), externalClaimNumber: try row.decodeIfPresent("external_claim_number"),
                raw: try TestEnvironment.cipher.openString(sealed.bytes, context: ProtectedColumn.rejectedClaimRaw.context(id)),
                violationCount: try row.decode("v"))
        }
    }
}
