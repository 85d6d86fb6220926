/// What a principal is allowed to do, in broad strokes; ``AccessPolicy`` turns it into answers.
public enum Role: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// Everything, including users and API keys.
    case admin
    /// A provider's system: submits claims and sees, changes and voids only claims of its NPIs.
    case provider
    /// The payments service: reads claims and the payments feed, reports payment results.
    case payer
    /// A member: reads only the claims of its own subscriber id.
    case member
    /// Reads everything, the audit trail included; changes nothing.
    case auditor
    /// Prometheus and Grafana: `/metrics`, the query API, rules and alerts; no claim data.
    case metrics

    public var description: String { rawValue }

    /// Whether the role sees member identifiers and people's names masked to their last four
    /// characters: an auditor checks who did what, not whom a claim concerns.
    public var seesIdentifiersMasked: Bool { self == .auditor }
}

/// The part of the claim data a ``Role`` is bound to: a provider's NPIs, a member's subscriber id.
///
/// Only ``Role/provider`` and ``Role/member`` are bound; the other roles ignore their scope.
/// A provider or member bound to nothing sees nothing.
public struct Scope: Sendable, Hashable, Codable {
    /// The NPIs a provider acts for.
    public var npis: [String]
    /// The subscriber id a member is.
    public var subscriberID: String?

    public init(npis: [String] = [], subscriberID: String? = nil) {
        self.npis = Array(Set(npis)).sorted()
        self.subscriberID = subscriberID
    }

    /// Nothing: the scope of roles that are not bound, and of members nobody has linked yet.
    public static let none = Scope()

    /// The scope as an OAuth-style space-separated list (`npi:1234567893 subscriber:ABC`), as
    /// access tokens carry it.
    public var tokenValue: String {
        (npis.map { "npi:" + $0 } + (subscriberID.map { ["subscriber:" + $0] } ?? [])).joined(separator: " ")
    }

    /// Reads ``tokenValue``; `nil` for an item of another kind (a token this service did not write).
    public init?(tokenValue: String) {
        var npis: [String] = []
        var subscriber: String?
        for item in tokenValue.split(separator: " ") {
            if item.hasPrefix("npi:") {
                npis.append(String(item.dropFirst(4)))
            } else if item.hasPrefix("subscriber:"), subscriber == nil {
                subscriber = String(item.dropFirst(11))
            } else {
                return nil
            }
        }
        self.init(npis: npis, subscriberID: subscriber)
    }
}

/// Someone a request speaks for, once authenticated.
public struct Principal: Sendable, Hashable {
    /// How the principal proved who it is.
    public enum Kind: String, Sendable, Hashable {
        /// A user with an access token from `/api/v1/login`.
        case user
        /// An integration with an API key.
        case apiKey = "api_key"
        /// Nobody: authentication is off (`CLAIMS_AUTH=off`) and every request acts as admin.
        case unauthenticated
    }

    /// `user:<uuid>` or `api_key:<id>`: stable, not secret, safe to log.
    public let id: String
    public let kind: Kind
    public let role: Role
    public let scope: Scope

    public init(id: String, kind: Kind, role: Role, scope: Scope) {
        self.id = id
        self.kind = kind
        self.role = role
        self.scope = scope
    }

    /// The principal of every request while authentication is off.
    public static let authenticationOff = Principal(id: "anonymous", kind: .unauthenticated, role: .admin, scope: .none)

    /// The user's id, for principals that are users.
    public var userID: String? {
        kind == .user ? String(id.dropFirst("user:".count)) : nil
    }

    /// The key's id, for principals that are API keys.
    public var apiKeyID: String? {
        kind == .apiKey ? String(id.dropFirst("api_key:".count)) : nil
    }
}
