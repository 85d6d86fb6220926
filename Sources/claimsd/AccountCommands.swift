import Access
import AccountStore
import App
import DataProtection
import ArgumentParser
import AuditTrail
import Claims
import Foundation
import Schema

/// `claimsd users …`: accounts for people, for bootstrapping and scripts.
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create users.", subcommands: [UsersCreate.self])
}

struct UsersCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a user; the password is read from standard input.",
        discussion: "Prints the new user's id. Example: echo \"$PASSWORD\" | claimsd users create --email ops@example.org --role admin --password-stdin")

    @Option(help: "The user's email (unique, whatever its case).")
    var email: String

    @Option(help: "admin, provider, payer, member, auditor or metrics.")
    var role: String

    @Option(name: .customLong("npi"), help: "An NPI a provider acts for (repeat for several).")
    var npis: [String] = []

    @Option(help: "The subscriber id a member is.")
    var subscriberID: String?

    @Option(help: "The user's display name.")
    var fullName: String = ""

    @Flag(help: "Read the password from standard input (its first line).")
    var passwordStdin = false

    func run() async throws {
        guard passwordStdin else { throw ValidationError("pass --password-stdin and write the password to standard input (never on the command line)") }
        let scope = try scopeFor(role: role, npis: npis, subscriberID: subscriberID)
        let password = readLine(strippingNewline: true) ?? ""
        let problems = PasswordRules.problems(password)
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
        let configuration = try loadConfiguration(requiringDataKeys: true)
        let hash = PasswordHasher(cost: configuration.passwordCost).hash(password)
        try await withAccountStore(configuration) { store, audit in
            do {
                let user = try await store.createUser(
                    NewUser(email: email, fullName: fullName, passwordHash: hash, role: scope.role, scope: scope.scope),
                    audit: AuditEvent(actor: .commandLine, action: .userCreate, resourceType: "user", detail: #"{"role":"\#(scope.role.rawValue)"}"#))
                print(user.id.uuidString.lowercased())
            } catch let error as AccountError {
                throw ValidationError(error.description)
            }
        }
    }
}

/// `claimsd api-keys …`: keys for integrations.
struct APIKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api-keys", abstract: "Create and revoke API keys.", subcommands: [APIKeysCreate.self, APIKeysRevoke.self])
}

struct APIKeysCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create an API key and print it, alone, on standard output (shown only this once).",
        discussion: "Example: KEY=$(claimsd api-keys create --role metrics --name prometheus)")

    @Option(help: "admin, provider, payer, member, auditor or metrics.")
    var role: String

    @Option(name: .customLong("npi"), help: "An NPI a provider key acts for (repeat for several).")
    var npis: [String] = []

    @Option(help: "The subscriber id a member key is.")
    var subscriberID: String?

    @Option(help: "What the key is for.")
    var name: String = ""

    @Option(help: "Seconds until the key stops working (default: never).")
    var expiresIn: Int64?

    func run() async throws {
        let scope = try scopeFor(role: role, npis: npis, subscriberID: subscriberID)
        if let expiresIn, expiresIn <= 0 { throw ValidationError("--expires-in must be above 0") }
        let configuration = try loadConfiguration(requiringDataKeys: true)
        let (id, secret, key) = APIKey.generate()
        try await withAccountStore(configuration) { store, audit in
            _ = try await store.createAPIKey(
                NewAPIKey(id: id, name: name, secretHash: APIKey.hash(secret: secret), role: scope.role, scope: scope.scope, createdBy: "cli", expiresInSeconds: expiresIn),
                audit: AuditEvent(actor: .commandLine, action: .apiKeyCreate, resourceType: "api_key", resourceID: id, detail: #"{"role":"\#(scope.role.rawValue)"}"#))
        }
        print(key)
    }
}

struct APIKeysRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke an API key by its id (the part after ck_).")

    @Argument(help: "The key's id.")
    var id: String

    func run() async throws {
        let configuration = try loadConfiguration(requiringDataKeys: true)
        let id = APIKey.parse(self.id)?.id ?? self.id
        try await withAccountStore(configuration) { store, audit in
            let event = AuditEvent(actor: .commandLine, action: .apiKeyRevoke, resourceType: "api_key", resourceID: id)
            guard try await store.revokeAPIKey(id: id, audit: event) else { throw ValidationError("no API key '\(id)' that is not revoked already") }
        }
        print("revoked \(id)")
    }
}

/// `claimsd jwt-keys generate`: a keyring line for `CLAIMS_JWT_KEYS`.
struct JWTKeys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jwt-keys", abstract: "Make access-token signing keys.", subcommands: [JWTKeysGenerate.self])
}

struct JWTKeysGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Print a new keyring line '<kid> <Ed25519 seed>' for CLAIMS_JWT_KEYS.",
        discussion: "To rotate keys, put the new line first in the keyring file and keep the old one below it for at least a token lifetime.")

    @Option(help: "The key id (default: today's date and a random suffix).")
    var kid: String?

    func run() throws {
        let kid = self.kid ?? Self.defaultKID()
        do {
            print(try TokenKeyring.generate(kid: kid).text, terminator: "")
        } catch {
            throw ValidationError(error.description)
        }
    }

    static func defaultKID() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date()) + "-" + String(UUID().uuidString.prefix(4)).lowercased()
    }
}

/// The role and scope the options name, checked as the HTTP routes check them.
func scopeFor(role text: String, npis: [String], subscriberID: String?) throws -> (role: Role, scope: Scope) {
    guard let role = Role(rawValue: text) else {
        throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
    }
    if !npis.isEmpty, role != .provider { throw ValidationError("--npi binds only the provider role") }
    if subscriberID != nil, role != .member { throw ValidationError("--subscriber-id binds only the member role") }
    for npi in npis where !(npi.count == 10 && npi.allSatisfy(\.isNumber) && isValidNPICheckDigit(npi)) {
        throw ValidationError("--npi \(npi) is not a valid NPI (10 digits with a correct check digit)")
    }
    return (role, Scope(npis: npis, subscriberID: subscriberID))
}

/// Runs `body` with the account store and the audit trail of `configuration`'s database,
/// migrated first unless migrations are off; account changes made on the command line are
/// audited as `cli`.
func withAccountStore(_ configuration: ServiceConfiguration, _ body: (PostgresAccountStore, PostgresAuditStore) async throws -> Void) async throws {
    let cipher = FieldCipher(keyring: try configuration.requiredDataKeyring)
    try await withDatabase(configuration) { client in
        try await body(PostgresAccountStore(client: client, cipher: cipher), PostgresAuditStore(client: client))
    }
}

/// `claimsd audit …`: the audit trail.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the audit trail.", subcommands: [AuditVerify.self])
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Seal what is written, then recompute the audit trail's hash chain and report any break.",
        discussion: "Exits 0 when the chain is intact, 1 when a row was changed or removed (each break is printed).")

    func run() async throws {
        let configuration = try loadConfiguration(requiringDataKeys: true)
        var intact = true
        try await withAccountStore(configuration) { _, audit in
            try await audit.sealEverything(within: .seconds(10))
            let report = try await audit.verify()
            let span = report.firstSequence.map { first in "\(report.links) links, positions \(first)–\(report.lastSequence ?? first)" } ?? "no links"
            print("audit trail: \(report.sealedRows) sealed rows (\(span)), \(report.unsealedRows) not sealed yet")
            for problem in report.problems { print("BROKEN: \(problem)") }
            intact = report.isIntact
            print(intact ? "the chain is intact" : "the chain is broken: \(report.problems.count) problem(s) shown (at most 100)")
        }
        if !intact { throw ExitCode(1) }
    }
}
