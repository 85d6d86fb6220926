import ClaimStore
import Foundation
import Hummingbird
import HTTPTypes

/// Small pieces every claims-related route shares.
enum RouteSupport {
    /// The `{id}` path parameter as a claim id, or a 400 problem.
    static func claimID(_ context: ClaimsRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw Problem(status: .badRequest, detail: "a claim id is a UUID, like 0190c3d2-7a4e-7b1c-9d2e-3f4a5b6c7d8e")
        }
        return id
    }

    /// A JSON response with a body already written.
    static func json(bytes: [UInt8], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func notFound(_ id: UUID) -> Problem {
        Problem(status: .notFound, detail: ClaimStoreError.notFound(id).description)
    }

    /// The problem response for a store refusal: 404 or 409.
    static func problem(_ error: ClaimStoreError) -> Problem {
        switch error {
        case .notFound(let id): return notFound(id)
        case .invalidTransition: return Problem(status: .conflict, detail: error.description, type: ProblemType.invalidTransition)
        case .idempotencyKeyReused: return Problem(status: .conflict, detail: error.description, type: ProblemType.idempotencyConflict)
        case .paymentAlreadyReported: return Problem(status: .conflict, detail: error.description, type: ProblemType.paymentConflict)
        }
    }

    /// `Content-Type` without parameters, lower-cased; a 415 problem when its `charset` is
    /// anything but UTF-8 (or its subset US-ASCII), which every body is read as.
    static func mediaType(of request: Request) throws(Problem) -> String? {
        guard let header = request.headers[.contentType] else { return nil }
        let parts = header.split(separator: ";")
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, trimming(pair[0], where: isOptionalWhitespace).lowercased() == "charset" else { continue }
            let charset = trimming(trimming(pair[1], where: isOptionalWhitespace), where: { $0 == "\"" }).lowercased()
            guard ["utf-8", "utf8", "us-ascii"].contains(charset) else {
                throw Problem(
                    status: .unsupportedMediaType,
                    detail: "bodies are read as UTF-8; got charset \"\(charset)\" (convert the body to UTF-8, or leave the charset parameter out)")
            }
        }
        return parts.first.map { trimming($0, where: isOptionalWhitespace).lowercased() }
    }

    /// HTTP's optional whitespace in header values: spaces and tabs (RFC 9110, section 5.6.3).
    private static func isOptionalWhitespace(_ character: Character) -> Bool { character == " " || character == "\t" }

    /// `text` without the characters at either end that `drop` selects. Done here rather than
    /// with Foundation's `trimmingCharacters(in:)`, which cost about 1 % of claimsd's CPU on
    /// `POST /api/v1/claims`, where every body's `Content-Type` passes through it.
    private static func trimming(_ text: Substring, where drop: (Character) -> Bool) -> Substring {
        guard let first = text.firstIndex(where: { !drop($0) }), let last = text.lastIndex(where: { !drop($0) }) else { return "" }
        return text[first...last]
    }

    /// The whole body, or a 413 problem saying `tooLarge` once it passes `limit` bytes.
    static func collect(_ request: Request, limit: Int, tooLarge: String) async throws -> [UInt8] {
        var request = request
        do {
            return Array(try await request.collectBody(upTo: limit).readableBytesView)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw Problem(status: .contentTooLarge, detail: tooLarge)
        }
    }
}
