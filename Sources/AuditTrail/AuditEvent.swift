/// Whether the audited action happened.
public enum AuditOutcome: String, Sendable, CaseIterable {
    /// The action was allowed and done.
    case allowed
    /// The caller lacked a credential, the role or the scope.
    case denied
    /// The action was allowed but failed.
    case error
}

/// What was done, as `resource.verb`: the action column of the audit trail.
public struct AuditAction: RawRepresentable, Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let claimCreate: Self = "claim.create"
    public static let claimRead: Self = "claim.read"
    public static let claimList: Self = "claim.list"
    public static let claimUpdate: Self = "claim.update"
    public static let claimVoid: Self = "claim.void"
    public static let claimImport: Self = "claim.import"
    public static let paymentReport: Self = "payment.report"
    public static let paymentsRead: Self = "payments.read"
    public static let userCreate: Self = "user.create"
    public static let userUpdate: Self = "user.update"
    public static let userRead: Self = "user.read"
    public static let apiKeyCreate: Self = "api_key.create"
    public static let apiKeyRevoke: Self = "api_key.revoke"
    public static let login: Self = "auth.login"
    public static let loginFailed: Self = "auth.login_failed"
    public static let refreshReuse: Self = "auth.refresh_reuse"
    public static let logout: Self = "auth.logout"
    public static let auditRead: Self = "audit.read"
    /// The review queue of rejected claims was shown (their ids in the detail).
    public static let rejectedClaimList: Self = "rejected_claim.list"
    /// A rejected claim was dismissed from the review queue (the reason in the detail).
    public static let rejectedClaimDismiss: Self = "rejected_claim.dismiss"
    /// A rejected claim was corrected and stored as a new claim (its id in the detail).
    public static let rejectedClaimResubmit: Self = "rejected_claim.resubmit"
    /// A claim screening flagged was reviewed (the reason in the detail); a held one was
    /// released to payments.
    public static let claimReview: Self = "claim.review"
    /// A request refused before its handler ran (401 or 403): the route is in the detail.
    public static let accessDenied: Self = "access.denied"
}

/// Who did it, from where: the same for every event of one request.
public struct AuditActor: Sendable, Equatable {
    /// `user:<uuid>`, `api_key:<id>`, `anonymous`, or `cli`.
    public var principal: String
    public var role: String?
    public var requestID: String?
    public var clientAddress: String?
    public var userAgent: String?

    public init(principal: String, role: String? = nil, requestID: String? = nil, clientAddress: String? = nil, userAgent: String? = nil) {
        self.principal = principal
        self.role = role
        self.requestID = requestID
        self.clientAddress = clientAddress
        self.userAgent = userAgent
    }

    /// The command line (`claimsd users create`, …).
    public static let commandLine = AuditActor(principal: "cli")
}

/// One row of the audit trail, as written.
public struct AuditEvent: Sendable, Equatable {
    /// When it happened (RFC 3339); `nil` is the writing transaction's time.
    public var at: String?
    public var actor: AuditActor
    public var action: AuditAction
    public var resourceType: String?
    public var resourceID: String?
    public var outcome: AuditOutcome
    /// A JSON object with what else tells the event apart (ids a list returned, a reason).
    public var detail: String?

    public init(
        at: String? = nil, actor: AuditActor, action: AuditAction, resourceType: String? = nil, resourceID: String? = nil,
        outcome: AuditOutcome = .allowed, detail: String? = nil
    ) {
        self.at = at
        self.actor = actor
        self.action = action
        self.resourceType = resourceType
        self.resourceID = resourceID
        self.outcome = outcome
        self.detail = detail
    }

    /// The columns ``row`` fills, for an `INSERT INTO audit_events (…) SELECT … FROM unnest(…)`.
    public static let columns = "at, principal, role, action, resource_type, resource_id, outcome, request_id, client_address, user_agent, detail"
    /// The PostgreSQL types of ``columns``, in order.
    public static let types = ["timestamptz", "text", "text", "text", "text", "text", "text", "text", "text", "text", "jsonb"]
    /// What to select from the unnested rows for ``columns``: a missing time becomes `now()`.
    public static func selectList(from alias: String) -> String {
        "coalesce(\(alias).at, now()), \(alias).principal, \(alias).role, \(alias).action, \(alias).resource_type, \(alias).resource_id, "
            + "\(alias).outcome, \(alias).request_id, \(alias).client_address, \(alias).user_agent, \(alias).detail"
    }

    /// An alias list naming the unnested columns as ``columns``: `alias(at, principal, …)`.
    public static func alias(_ name: String) -> String { "\(name)(\(columns))" }

    /// The column values in ``columns`` order, as PostgreSQL text.
    public var row: [String?] {
        [at, actor.principal, actor.role, action.rawValue, resourceType, resourceID, outcome.rawValue, actor.requestID, actor.clientAddress, actor.userAgent, detail]
    }
}
