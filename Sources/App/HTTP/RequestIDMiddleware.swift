import Foundation
public import Hummingbird
public import HTTPTypes

/// Gives every request an id: the client's `X-Request-Id` when it is well formed, a new random
/// one otherwise. The id goes into the context, the request's logger metadata (`request_id`)
/// and the response's `X-Request-Id` header.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[.requestID].flatMap { Self.isWellFormed($0) ? $0 : nil } ?? Self.generate()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        var response = try await next(request, context)
        response.headers[.requestID] = id
        return response
    }

    /// Accepts 1–128 characters of letters, digits and `-_.:` — enough for UUIDs, ULIDs and
    /// trace ids, nothing that could break a log line or a header.
    static func isWellFormed(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"):
                return true
            default:
                return false
            }
        }
    }

    /// A new random id (UUID, lowercase).
    static func generate() -> String {
        UUID().uuidString.lowercased()
    }
}

extension HTTPField.Name {
    /// `X-Request-Id`: the id correlating a request with its logs.
    public static var requestID: Self { Self("X-Request-Id")! }
}
