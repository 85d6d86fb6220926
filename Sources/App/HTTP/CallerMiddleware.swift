public import Hummingbird
import HTTPTypes

/// Works out who a request speaks for, once, for every handler and middleware after it: the
/// authenticated principal when there is one, else the client's address (through trusted
/// proxies, see ``ClientAddress``).
public struct CallerMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    let clients: ClientAddress

    public init(clients: ClientAddress) {
        self.clients = clients
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.clientAddress = clients.client(peer: context.peerAddress, forwardedFor: request.headers[values: .xForwardedFor])
        // With authentication off every request is the same stand-in principal: clients are
        // then told apart by address, as the principal would otherwise tell them apart.
        if let principal = context.principal, principal.kind != .unauthenticated {
            context.caller = "principal:" + principal.id
        } else {
            context.caller = context.clientAddress
        }
        return try await next(request, context)
    }
}
