import Access
import AccountStore
import App
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Postgres
import Schema
import TestSupport

/// Access control as the tests use it: authentication required, as in production, with a fresh
/// signing key, a cheap bcrypt cost, and API keys made in the test database.
enum TestAccess {
    /// Required authentication, a new keyring, bcrypt cost 4 (the matrix test logs in often).
    static func settings(openRegistration: Bool = false, loginLimits: LoginLimits = LoginLimits(), cacheLifetime: Duration = .seconds(5)) async throws -> AccessSettings {
        let tokens = await AccessTokens(keyring: try TokenKeyring.generate(kid: "test-" + String(UUID().uuidString.prefix(6)).lowercased()))
        return AccessSettings(
            mode: .required, tokens: tokens, passwordHasher: PasswordHasher(cost: 4), openRegistration: openRegistration, loginLimits: loginLimits,
            cacheLifetime: cacheLifetime)
    }

    /// Authentication off, for tests of routes over an in-memory store whose PostgreSQL is
    /// deliberately unreachable: no credential can be checked there. What they test is the
    /// routes' behaviour, not access; ``AccessMatrixTests`` tests access.
    static func withoutDatabase() async throws -> AccessSettings {
        var settings = try await settings()
        settings.mode = .off
        return settings
    }

    /// A new API key with `role` (and `scope`) in `postgres`'s database (migrated first), as
    /// `claimsd api-keys create` makes one.
    static func apiKey(_ postgres: PostgresClient, role: Role = .admin, scope: Scope = .none, name: String = "test") async throws -> String {
        _ = try await Migrator(client: postgres, logger: TestEnvironment.quietLogger).migrate()
        let (id, secret, key) = APIKey.generate()
        _ = try await PostgresAccountStore(client: postgres, cipher: TestEnvironment.cipher).createAPIKey(
            NewAPIKey(id: id, name: name, secretHash: APIKey.hash(secret: secret), role: role, scope: scope, createdBy: "test"))
        return key
    }
}

/// A test client that sends `key` with every request, as an integration would.
struct AuthorizedClient: TestClientProtocol {
    let client: any TestClientProtocol
    let key: String

    init(_ client: any TestClientProtocol, key: String) {
        self.client = client
        self.key = key
    }

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        if headers[.authorization] == nil { headers[.authorization] = "Bearer \(key)" }
        return try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }

    var port: Int? { client.port }
}
