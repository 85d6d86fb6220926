public import Access
public import Hummingbird
import Logging
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
    private struct State {
        var principal: String?
        /// Whether an access record will be written for the request (``ObservabilityMiddleware``).
        var accessRecorded = false
        /// The domain event the access record carries, and its fields.
        var domainEvent: Logger.Metadata?
    }

    private let state = Mutex(State())

    public init() {}

    /// The authenticated principal's id, once known.
    public var principalID: String? {
        get { state.withLock { $0.principal } }
        set { state.withLock { $0.principal = newValue } }
    }

    /// Says the request's access record will be written, so domain events go into it.
    func willRecordAccess() {
        state.withLock { $0.accessRecorded = true }
    }

    /// Reports what the request did (`claim_accepted` and its claim id, …): one line per request.
    /// When the request gets an access record, the event's name goes into it as `domain_event`
    /// with its fields, so the journal holds one record where it would hold two. Without an
    /// access record (`CLAIMS_TELEMETRY=off`) it is logged on its own as `event`, with `message`
    /// at `level`.
    func domainEvent(_ name: String, _ message: @autoclosure () -> Logger.Message, level: Logger.Level = .info, metadata: Logger.Metadata, logger: Logger) {
        let folded = state.withLock { state -> Bool in
            guard state.accessRecorded else { return false }
            var fields = metadata
            fields["domain_event"] = .string(name)
            state.domainEvent = fields
            return true
        }
        if !folded {
            var fields = metadata
            fields["event"] = .string(name)
            logger.log(level: level, message(), metadata: fields)
        }
    }

    /// The fields of the domain event reported for the access record, if any.
    var domainEventFields: Logger.Metadata? {
        state.withLock { $0.domainEvent }
    }
}
