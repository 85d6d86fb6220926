public import Access
public import AccountStore
public import Foundation
import Logging
import Synchronization

/// Turns a presented credential into a ``Access/Principal``: API keys are looked up (and kept a
/// few seconds), access tokens are verified and their user's current state checked (kept the same
/// few seconds), so a revoked key or a disabled user stops working at once on this instance and
/// within ``AccessSettings/cacheLifetime`` on others. A key or user in use is read again by one
/// lookup before it expires (``Access/CredentialCache``), not by every request in flight at once.
public final class Authenticator: Sendable {
    let store: PostgresAccountStore
    let tokens: AccessTokens
    private let keys: CredentialCache<String, APIKeyRecord?>
    private let users: CredentialCache<UUID, UserAccount?>
    /// When each key's use was last recorded.
    private let touched = Mutex<[String: ContinuousClock.Instant]>([:])
    /// Access tokens whose signature verified, until they expire: a client sends the same token
    /// with every request for its lifetime, and an Ed25519 check per request is the largest part
    /// of authentication's cost. Keyed by the whole token, so only that exact token is let in.
    private let verifiedTokens = Mutex<[String: KnownToken]>([:])

    /// A verified access token and its user's id, parsed once.
    struct KnownToken {
        var token: VerifiedAccessToken
        var userID: UUID?
    }

    public init(store: PostgresAccountStore, tokens: AccessTokens, cacheLifetime: Duration) {
        self.store = store
        self.tokens = tokens
        self.keys = CredentialCache(lifetime: cacheLifetime, staleDuringOutage: Self.staleDuringOutage)
        self.users = CredentialCache(lifetime: cacheLifetime, staleDuringOutage: Self.staleDuringOutage)
    }

    /// The principal `credential` proves, or why it proves none.
    public func authenticate(_ credential: Credential, now: Int64) async throws -> Result<Principal, AuthenticationFailure> {
        switch credential {
        case .apiKey(let id, let secret):
            guard let record = try await apiKey(id: id) else { return .failure(.unknownAPIKey) }
            guard constantTimeEquals(record.secretHash, APIKey.hash(secret: secret)) else { return .failure(.unknownAPIKey) }
            if let revoked = record.revokedAt { return .failure(.revokedAPIKey(since: revoked)) }
            guard record.isUsable else { return .failure(.expiredAPIKey) }
            touch(id: id)
            return .success(record.principal)
        case .accessToken(let token):
            let known: KnownToken
            if let cached = verifiedTokens.withLock({ $0[token] }), now <= cached.token.expiresAt + tokens.settings.leewaySeconds {
                known = cached
            } else {
                do {
                    let verified = try await tokens.verify(token, now: now)
                    known = KnownToken(token: verified, userID: verified.principal.userID.flatMap(UUID.init(uuidString:)))
                } catch {
                    return .failure(.token(error))
                }
                verifiedTokens.withLock { cache in
                    if cache.count >= 10_000 { cache = cache.filter { now <= $0.value.token.expiresAt + tokens.settings.leewaySeconds } }
                    if cache.count >= 10_000 { cache.removeAll(keepingCapacity: true) }
                    cache[token] = known
                }
            }
            let verified = known.token
            guard let userID = known.userID, let user = try await user(id: userID) else {
                return .failure(.unknownUser)
            }
            guard !user.isDisabled else { return .failure(.disabledUser) }
            // A role or scope changed since the token was issued: the token's grant is stale.
            guard user.role == verified.principal.role, user.scope == verified.principal.scope else { return .failure(.staleToken) }
            return .success(verified.principal)
        }
    }

    /// Forgets what is kept about a key, so a revocation through this instance holds at once.
    public func forgetAPIKey(id: String) {
        keys.remove(id)
    }

    /// Forgets what is kept about a user (after a change through this instance).
    public func forgetUser(id: UUID) {
        users.remove(id)
    }

    /// How long a key or user read before PostgreSQL became unreachable is still trusted: while
    /// the database is down nothing can be revoked or disabled anyway, and Prometheus, Grafana
    /// and integrations keep working through the outage. New credentials get a 503.
    static let staleDuringOutage: Duration = .seconds(3600)

    func apiKey(id: String) async throws -> APIKeyRecord? {
        let store = self.store
        return try await keys.value(for: id, now: .now, isOutage: Self.isOutage) { try await store.apiKey(id: id) }
    }

    func user(id: UUID) async throws -> UserAccount? {
        let store = self.store
        return try await users.value(for: id, now: .now, isOutage: Self.isOutage) { try await store.user(id: id) }
    }

    /// Whether `error` means PostgreSQL is unreachable (so kept credentials stay trusted).
    @Sendable private static func isOutage(_ error: any Error) -> Bool {
        ProblemMiddleware.outageDetail(error) != nil
    }

    /// Records the key's use, at most once a minute per key and never on the request's time.
    func touch(id: String) {
        let now = ContinuousClock.now
        let due = touched.withLock { touched -> Bool in
            if let last = touched[id], now - last < .seconds(60) { return false }
            if touched.count >= 10_000 { touched.removeAll(keepingCapacity: true) }
            touched[id] = now
            return true
        }
        guard due else { return }
        let store = self.store
        Task.detached { try? await store.touchAPIKey(id: id) }
    }
}

/// Why a credential proves no principal; each is a 401 whose message says which.
public enum AuthenticationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(CredentialError)
    case unknownAPIKey
    case revokedAPIKey(since: String)
    case expiredAPIKey
    case token(TokenError)
    case unknownUser
    case disabledUser
    case staleToken

    public var description: String {
        switch self {
        case .malformed(let error): error.description
        case .unknownAPIKey: "the API key is not known (check it was copied whole)"
        case .revokedAPIKey(let since): "the API key was revoked at \(since)"
        case .expiredAPIKey: "the API key has expired"
        case .token(let error): error.description
        case .unknownUser: "the access token's user no longer exists"
        case .disabledUser: "the access token's user is disabled"
        case .staleToken: "the user's role or scope changed since this access token was issued; log in again"
        }
    }

    /// A short code for logs and metrics.
    public var reason: String {
        switch self {
        case .malformed: "malformed"
        case .unknownAPIKey: "unknown_api_key"
        case .revokedAPIKey: "revoked_api_key"
        case .expiredAPIKey: "expired_api_key"
        case .token(.expired): "expired_token"
        case .token: "invalid_token"
        case .unknownUser: "unknown_user"
        case .disabledUser: "disabled_user"
        case .staleToken: "stale_token"
        }
    }
}
