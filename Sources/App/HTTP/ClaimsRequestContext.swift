public import Access
public import Hummingbird
import Synchronization

/// Per-request state shared by claimsd's middleware and handlers.
public struct ClaimsRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id echoed in `X-Request-Id` and attached to every log record of the request.
    public var requestID: String = ""
    /// The address of the connection's peer (a client or a proxy), when known.
    public let peerAddress: String?
    /// The authenticated principal, once ``AuthenticationMiddleware`` has found one; rate limits
    /// and idempotency keys belong to it.
    public var principal: Principal?
    /// Why the credential the request presented proves nobody, when it does not.
    public var authenticationFailure: AuthenticationFailure?
    /// Who the request speaks for, as ``CallerMiddleware`` works it out: `principal:<id>` when
    /// authenticated, else the client's address. Rate limits and idempotency keys belong to it.
    public var caller: String = ""
    /// The client's address as ``CallerMiddleware`` works it out (through trusted proxies).
    public var clientAddress: String = ""
    /// Shared by every copy of this context: what inner middleware learns for outer middleware
    /// to report (the access record names the principal).
    public let facts = RequestFacts()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// What inner middleware learns about a request that outer middleware reports: contexts are
/// values, so the access log (outermost) cannot see what authentication (inner) set otherwise.
public final class RequestFacts: Sendable {
    private let principal = Mutex<String?>(nil)

    public init() {}

    /// The authenticated principal's id, once known.
    public var principalID: String? {
        get { principal.withLock { $0 } }
        set { principal.withLock { $0 = newValue } }
    }
}
