/// A kind of action a route performs. Each route declares the one it needs (see ``Requirement``).
public enum Permission: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Submit new claims, one at a time or by import.
    case submitClaims = "claims.submit"
    /// Read claims, their status and lists of them (within the principal's scope).
    case readClaims = "claims.read"
    /// Re-price or void a claim (within the principal's scope).
    case changeClaims = "claims.change"
    /// Read the payments feed.
    case readPaymentsFeed = "payments.read"
    /// Report a payment's result for a claim.
    case reportPayments = "payments.report"
    /// Read the provider ranking.
    case readRanking = "ranking.read"
    /// Read `/metrics`, the Prometheus query API, rules, alerts and targets.
    case readMonitoring = "monitoring.read"
    /// Change the time-series store or the rules: import, delete series, snapshot, reload.
    case administerMonitoring = "monitoring.admin"
    /// Read users and API keys.
    case readAccounts = "accounts.read"
    /// Create, change, disable and revoke users and API keys.
    case manageAccounts = "accounts.manage"
    /// Read the audit trail.
    case readAudit = "audit.read"
    /// Use the operations console (`/ops`).
    case operateConsole = "operations.console"

    public var description: String { rawValue }
}

/// What a route needs from a request before its handler runs.
public enum Requirement: Sendable, Hashable, CustomStringConvertible {
    /// Anyone, with or without a credential (health, readiness, login, the JWKS).
    case open
    /// Any authenticated principal, whatever its role (`/api/v1/me`, logout).
    case authenticated
    /// A principal whose role has this permission.
    case permission(Permission)

    public var description: String {
        switch self {
        case .open: "open"
        case .authenticated: "authenticated"
        case .permission(let permission): permission.rawValue
        }
    }
}

/// Which claims a principal may see, worked out from its role and scope.
public enum ClaimVisibility: Sendable, Hashable {
    /// Every claim.
    case all
    /// Claims whose providers are all among these NPIs.
    case providers(Set<String>)
    /// Claims of this subscriber id.
    case subscriber(String)
    /// No claim at all (a provider or member bound to nothing).
    case nothing

    /// Whether a claim with these providers and these lines' subscriber ids is visible.
    ///
    /// A claim with several providers (when `single_provider` is relaxed) belongs to a provider
    /// only when every one of its NPIs is in the scope: its other lines are someone else's. In
    /// the same way a member sees a claim only when every line is its own.
    public func allows(providerNPIs: some Sequence<String>, subscriberIDs: some Sequence<String>) -> Bool {
        switch self {
        case .all: return true
        case .nothing: return false
        case .subscriber(let id):
            var any = false
            for subscriber in subscriberIDs {
                guard subscriber == id else { return false }
                any = true
            }
            return any
        case .providers(let npis):
            var any = false
            for npi in providerNPIs {
                guard npis.contains(npi) else { return false }
                any = true
            }
            return any
        }
    }
}

/// The one place that decides who may do what. Routes only declare a ``Requirement``;
/// handlers only ask for a principal's ``ClaimVisibility``.
public enum AccessPolicy {
    /// The roles that hold `permission`: the whole matrix, in one switch.
    public static func roles(holding permission: Permission) -> Set<Role> {
        switch permission {
        case .submitClaims: [.admin, .provider]
        case .readClaims: [.admin, .provider, .payer, .member, .auditor]
        case .changeClaims: [.admin, .provider]
        case .readPaymentsFeed: [.admin, .payer, .auditor]
        case .reportPayments: [.admin, .payer]
        case .readRanking: [.admin, .payer, .auditor]
        case .readMonitoring: [.admin, .auditor, .metrics]
        case .administerMonitoring: [.admin]
        case .readAccounts: [.admin, .auditor]
        case .manageAccounts: [.admin]
        case .readAudit: [.admin, .auditor]
        case .operateConsole: [.admin]
        }
    }

    /// Whether `role` holds `permission`.
    public static func allows(_ role: Role, _ permission: Permission) -> Bool {
        roles(holding: permission).contains(role)
    }

    /// The answer for a request that needs `requirement`, from `principal` (`nil`: no valid
    /// credential was sent).
    public static func decide(_ requirement: Requirement, for principal: Principal?) -> Decision {
        switch requirement {
        case .open: return .allowed
        case .authenticated: return principal == nil ? .unauthenticated : .allowed
        case .permission(let permission):
            guard let principal else { return .unauthenticated }
            return allows(principal.role, permission) ? .allowed : .forbidden(role: principal.role, permission: permission)
        }
    }

    /// The outcome of ``decide(_:for:)``.
    public enum Decision: Sendable, Equatable {
        case allowed
        /// No valid credential: 401 with `WWW-Authenticate: Bearer`.
        case unauthenticated
        /// A known principal whose role lacks the permission: 403.
        case forbidden(role: Role, permission: Permission)
    }

    /// The claims `principal` may see. Roles that read everything see all; a provider sees its
    /// NPIs' claims, a member its subscriber id's; roles without claim access see nothing.
    public static func claimVisibility(for principal: Principal) -> ClaimVisibility {
        guard allows(principal.role, .readClaims) || allows(principal.role, .submitClaims) else { return .nothing }
        switch principal.role {
        case .provider: return principal.scope.npis.isEmpty ? .nothing : .providers(Set(principal.scope.npis))
        case .member: return principal.scope.subscriberID.map(ClaimVisibility.subscriber) ?? .nothing
        default: return .all
        }
    }
}
