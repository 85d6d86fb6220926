import App
import ArgumentParser
import DataProtection
import EncryptedColumns
import Foundation
import Postgres
import Synchronization

struct DataKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Make, inspect and rotate the keys that encrypt member identifiers and names (CLAIMS_DATA_KEYS).",
        subcommands: [DataKeysGenerate.self, DataKeysNew.self, DataKeysStatus.self, DataKeysRotate.self])
}

struct DataKeysGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Print a new keyring: one data key and one index key.",
        discussion: "Write it to a file only claimsd can read and back it up apart from the database: without it the data cannot be read.")

    @Option(help: "The data key's id (default: today's date and a random suffix).")
    var dataKeyID: String?

    @Option(help: "The index key's id.")
    var indexKeyID = "index-1"

    func run() throws {
        let keyring = DataKeyring.generate(dataKeyID: dataKeyID ?? JWTKeysGenerate.defaultKID(), indexKeyID: indexKeyID)
        do {
            // Parsed back, so a bad id is refused here rather than at start-up.
            print(try DataKeyring(text: keyring.text).text, terminator: "")
        } catch {
            throw ValidationError(error.description)
        }
    }
}

struct DataKeysNew: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new", abstract: "Print the keyring with a new data key first, which encrypts from then on.",
        discussion: """
            Reads the keyring CLAIMS_DATA_KEYS (or --data-keys) names. Put the output in its place on every instance, restart them, \
            then run 'claimsd keys rotate' to re-encrypt what the older keys encrypted.
            """)

    @Option(help: "The new key's id (default: today's date and a random suffix).")
    var id: String?

    func run() throws {
        let configuration = try loadConfiguration(requiringDataKeys: true)
        do {
            print(try configuration.requiredDataKeyring.addingDataKey(id: id ?? JWTKeysGenerate.defaultKID()).text, terminator: "")
        } catch let error as DataKeyringError {
            throw ValidationError(error.description)
        }
    }
}

struct DataKeysStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "List the data keys the database has seen, and the values not yet under the encrypting key.")

    func run() async throws {
        let configuration = try loadConfiguration(requiringDataKeys: true)
        let cipher = FieldCipher(keyring: try configuration.requiredDataKeyring)
        try await withDatabase(configuration) { client in
            let registry = DataKeyRegistry(cipher: cipher)
            print("key            added                 retired               in keyring  encrypts")
            for key in try await registry.status(client: client) {
                print(
                    key.id.padding(toLength: 14, withPad: " ", startingAt: 0), key.addedAt.padding(toLength: 21, withPad: " ", startingAt: 0),
                    (key.retiredAt ?? "-").padding(toLength: 21, withPad: " ", startingAt: 0), (key.inKeyring ? "yes" : "no").padding(toLength: 11, withPad: " ", startingAt: 0),
                    key.encrypts ? "yes" : "")
            }
            let pending = try await DataKeyRotation(cipher: cipher).pending(client: client)
            let total = pending.values.reduce(0, +)
            print("values under older keys: \(total)")
            for column in ProtectedColumn.all where pending[column, default: 0] > 0 {
                print("  \(column.table).\(column.field): \(pending[column, default: 0])")
            }
        }
    }
}

struct DataKeysRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate", abstract: "Re-encrypt every value under the keyring's first data key, then retire the keys nothing uses.",
        discussion: """
            Safe to stop and run again: each batch commits alone and finished values are not visited again. Run it once every \
            instance has the new keyring. A retired key may leave the keyring; 'claimsd keys status' shows which.
            """)

    @Option(help: "Values re-encrypted per transaction.")
    var batchSize = 500

    @Flag(help: "No progress bar.")
    var quiet = false

    func run() async throws {
        let configuration = try loadConfiguration(requiringDataKeys: true)
        let cipher = FieldCipher(keyring: try configuration.requiredDataKeyring)
        let quiet = quiet
        try await withDatabase(configuration) { client in
            let bar = Mutex<ProgressBar?>(nil)
            let report = try await DataKeyRotation(cipher: cipher, batchSize: batchSize).run(client: client) { done, total in
                bar.withLock { bar in
                    if bar == nil { bar = ProgressBar(total: total, enabled: !quiet, verb: "re-encrypting", unit: "values") }
                    bar?.show(done: done)
                }
            }
            bar.withLock { $0?.finish() }
            print("claimsd: \(report.reencrypted) values re-encrypted under data key '\(cipher.encryptingKeyID)'")
            if !report.retired.isEmpty {
                print("claimsd: retired \(report.retired.map { "'\($0)'" }.joined(separator: ", ")): no value uses them, so they may leave the keyring")
            }
        }
    }
}

/// Runs `body` with a PostgreSQL client for `configuration`'s database, migrated first unless
/// migrations are off, and the keyring checked against it.
func withDatabase(_ configuration: ServiceConfiguration, _ body: (PostgresClient) async throws -> Void) async throws {
    var quiet = configuration
    quiet.logLevel = .error
    let logger = bootstrapLogging(quiet)
    let dependencies = try AppDependencies(configuration: configuration, logger: logger)
    var failure: (any Error)?
    do {
        try await dependencies.prepareDatabase(
            migrating: configuration.migrateOnStart, timeout: .seconds(configuration.startupTimeoutSeconds), logger: logger)
        try await body(dependencies.postgres)
    } catch {
        failure = error
    }
    await dependencies.shutdown()
    if let failure { throw failure }
}
