public import Hummingbird

/// Per-request state shared by claimsd's middleware and handlers.
public struct ClaimsRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id echoed in `X-Request-Id` and attached to every log record of the request.
    public var requestID: String = ""

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
