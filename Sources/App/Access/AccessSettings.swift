public import Access
import Foundation
public import RateLimiting
import TimeSeries

/// Whether requests must authenticate (`CLAIMS_AUTH`).
public enum AuthMode: String, Sendable, CaseIterable {
    /// Every route but the open ones needs a credential; the default.
    case required
    /// Every request acts as an admin. For local experiments only: warned at every start and
    /// reported by `/ready`.
    case off
}

/// How many login attempts are allowed per account and per client address (`CLAIMS_LOGIN_LIMITS`).
public struct LoginLimits: Sendable, Equatable {
    public var perAccount: RateLimitPolicy
    public var perAddress: RateLimitPolicy

    public init(perAccount: RateLimitPolicy = .init(limit: 10, window: .seconds(300)), perAddress: RateLimitPolicy = .init(limit: 100, window: .seconds(300))) {
        self.perAccount = perAccount
        self.perAddress = perAddress
    }

    /// Reads `account=10/5m,address=100/5m` (either part may be left out to keep its default).
    public static func parse(_ text: String) throws(LoginLimitsError) -> LoginLimits {
        var limits = LoginLimits()
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { throw LoginLimitsError(item: String(item)) }
            let policy = pair[1].split(separator: "/", maxSplits: 1)
            guard policy.count == 2, let limit = Int(policy[0]), limit > 0, let window = PrometheusDuration.milliseconds(String(policy[1])),
                window >= 1000
            else { throw LoginLimitsError(item: String(item)) }
            let parsed = RateLimitPolicy(limit: limit, window: .milliseconds(window))
            switch pair[0] {
            case "account": limits.perAccount = parsed
            case "address": limits.perAddress = parsed
            default: throw LoginLimitsError(item: String(item))
            }
        }
        return limits
    }
}

/// A `CLAIMS_LOGIN_LIMITS` item that could not be read.
public struct LoginLimitsError: Error, Sendable, CustomStringConvertible {
    public var item: String
    public var description: String { "\"\(item)\" is not account=LIMIT/WINDOW or address=LIMIT/WINDOW (e.g. account=10/5m)" }
}

/// Everything access control needs to run: the mode, token keys and lifetimes, password cost,
/// registration and login limits.
public struct AccessSettings: Sendable {
    public var mode: AuthMode
    public var tokens: AccessTokens
    public var refreshTokenLifetime: Int64
    public var passwordHasher: PasswordHasher
    public var openRegistration: Bool
    public var loginLimits: LoginLimits
    /// How long a looked-up API key or user state is trusted before it is read again; changes
    /// made through this instance take effect at once, through another within this time.
    public var cacheLifetime: Duration
    /// Whether the keyring was made at start (no `CLAIMS_JWT_KEYS`).
    public var ephemeralKeys: Bool

    public init(
        mode: AuthMode = .required, tokens: AccessTokens, refreshTokenLifetime: Int64 = 14 * 86_400, passwordHasher: PasswordHasher = PasswordHasher(),
        openRegistration: Bool = false, loginLimits: LoginLimits = LoginLimits(), cacheLifetime: Duration = .seconds(5), ephemeralKeys: Bool = false
    ) {
        self.mode = mode
        self.tokens = tokens
        self.refreshTokenLifetime = refreshTokenLifetime
        self.passwordHasher = passwordHasher
        self.openRegistration = openRegistration
        self.loginLimits = loginLimits
        self.cacheLifetime = cacheLifetime
        self.ephemeralKeys = ephemeralKeys
    }

    /// The settings `configuration` asks for; a keyring is made when none is configured.
    public static func from(_ configuration: ServiceConfiguration) async throws -> AccessSettings {
        let keyring = try configuration.tokenKeyring ?? TokenKeyring.generate(kid: "ephemeral-" + String(UUID().uuidString.prefix(8)).lowercased())
        let tokens = await AccessTokens(keyring: keyring, settings: TokenSettings(lifetimeSeconds: configuration.accessTokenLifetime))
        return AccessSettings(
            mode: configuration.authMode, tokens: tokens, refreshTokenLifetime: configuration.refreshTokenLifetime,
            passwordHasher: PasswordHasher(cost: configuration.passwordCost), openRegistration: configuration.openRegistration,
            loginLimits: configuration.loginLimits, ephemeralKeys: configuration.tokenKeyring == nil)
    }
}
