import Foundation
public import Hummingbird
public import HTTPTypes

/// Gives every request an id: the client's `X-Request-Id` when it is well formed, a new random
/// one otherwise. The id goes into the context, the request's logger metadata (`request_id`,
/// in place of Hummingbird's `hb.request.id`) and the response's `X-Request-Id` header.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = ClaimsRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[.requestID].flatMap { Self.isWellFormed($0) ? $0 : nil } ?? Self.generate()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        // Hummingbird's own id for the request: `request_id` names the request in every record,
        // and the extra 50 bytes took the access record of a claim past 512, the size above
        // which journald compresses a field (docs/performance.md, journald's cost by field).
        context.logger[metadataKey: "hb.request.id"] = nil
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

    /// A new random id: a version-4 UUID in lowercase. Built from the system generator
    /// (`getrandom`), because Foundation's `UUID()` opens `/dev/urandom` on every call here,
    /// which showed in the profile of every request.
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = (generator.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version 4
        let low = (generator.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    buffer[index] = UInt8(ascii: "-")
                    index += 1
                }
                let word = nibble < 16 ? high : low
                let value = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * (nibble % 16))) & 0xF
                buffer[index] = value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
                index += 1
            }
            return index
        }
    }
}

extension HTTPField.Name {
    /// `X-Request-Id`: the id correlating a request with its logs.
    public static let requestID = Self("X-Request-Id")!
}
