import HummingbirdBcrypt

/// Password hashes with bcrypt. The cost is stored in each hash, so raising it later only
/// affects new and changed passwords.
///
/// Hashing and verifying take tens to hundreds of milliseconds of CPU on purpose: callers run
/// them off the request threads.
public struct PasswordHasher: Sendable {
    /// bcrypt's cost factor (log2 of the rounds), 4…31.
    public let cost: UInt8

    /// The default: 11, about 150 ms a login on the project's machine (docs/security.md).
    public static let defaultCost: UInt8 = 11

    public init(cost: UInt8 = PasswordHasher.defaultCost) {
        self.cost = min(31, max(4, cost))
    }

    /// A new hash of `password` (checked with ``PasswordRules/problems(_:)`` first).
    public func hash(_ password: String) -> String {
        Bcrypt.hash(password, cost: cost)
    }

    /// Whether `password` matches `hash`. A hash that is not bcrypt's matches nothing.
    public func verify(_ password: String, hash: String) -> Bool {
        guard hash.hasPrefix("$2") else { return false }
        return Bcrypt.verify(password, hash: hash)
    }

    /// A hash of a password nobody knows, verified against when the account does not exist, so
    /// a login for an unknown email takes as long as one for a known email.
    public func decoyHash() -> String {
        hash(RefreshToken.generate())
    }
}

/// What a password must be.
public enum PasswordRules {
    /// Shorter passwords are refused.
    public static let minimumCharacters = 12
    /// bcrypt reads at most 72 bytes; longer passwords are refused rather than cut silently.
    public static let maximumBytes = 72

    /// Every way `password` breaks the rules, as sentences; empty when it is acceptable.
    public static func problems(_ password: String) -> [String] {
        var problems: [String] = []
        if password.count < minimumCharacters { problems.append("the password must have at least \(minimumCharacters) characters") }
        if password.utf8.count > maximumBytes { problems.append("the password must be at most \(maximumBytes) bytes in UTF-8 (bcrypt reads no more)") }
        if password.utf8.contains(0) { problems.append("the password must not contain NUL") }
        return problems
    }
}
