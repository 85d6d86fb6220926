import Access
public import AuditTrail
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import JSONText

/// `GET /api/v1/audit` for auditors and admins: the audit trail, newest first, filtered by
/// principal, action, resource id, outcome and time, a page at a time (keyset, like the claims
/// list). Reading the trail is itself audited.
public struct AuditRoutes: Sendable {
    let store: PostgresAuditStore
    let recorder: AuditRecorder

    static let maxLimit = 500

    public init(store: PostgresAuditStore, recorder: AuditRecorder) {
        self.store = store
        self.recorder = recorder
    }

    public func register(on router: SecuredRoutes) {
        router.get("api/v1/audit", requires: .permission(.readAudit)) { request, context in
            let query = try Self.query(request.uri.queryParameters)
            let page = try await store.list(query)
            var detail = JSONWriter(capacity: 128)
            detail.open("{")
            detail.member("count", page.records.count)
            detail.member("query", String((request.uri.query ?? "").prefix(512)))
            detail.close("}")
            recorder.record(AuditEvent(actor: AuditActor(request: request, context: context), action: .auditRead, resourceType: "audit", detail: detail.text))
            return RouteSupport.json(bytes: Self.body(page), headers: [.cacheControl: "no-store"])
        }
    }

    /// The query, or a 400 problem naming every bad parameter.
    static func query(_ parameters: FlatDictionary<Substring, Substring>) throws -> AuditQuery {
        var query = AuditQuery()
        var problems: [String] = []
        for (name, keyPath) in [("principal", \AuditQuery.principal), ("action", \AuditQuery.action), ("resource_id", \AuditQuery.resourceID)] {
            guard let value = parameters.get(name) else { continue }
            if (1...256).contains(value.utf8.count) { query[keyPath: keyPath] = value } else { problems.append("\(name) must be 1–256 characters") }
        }
        if let outcome = parameters.get("outcome") {
            if let parsed = AuditOutcome(rawValue: outcome) {
                query.outcome = parsed
            } else {
                problems.append("outcome must be one of \(AuditOutcome.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        for (name, keyPath) in [("since", \AuditQuery.since), ("until", \AuditQuery.until)] {
            guard let text = parameters.get(name) else { continue }
            if let time = APITime.date(rfc3339: text) { query[keyPath: keyPath] = time } else { problems.append("\(name) must be an RFC 3339 time like 2026-12-01T08:00:00Z") }
        }
        if let limit = parameters.get("limit") {
            if let number = Int(limit), (1...maxLimit).contains(number) { query.limit = number } else { problems.append("limit must be 1–\(maxLimit)") }
        }
        if let cursor = parameters.get("cursor") {
            if let id = Int64(cursor), id > 0 { query.beforeID = id } else { problems.append("cursor is not one this service returned") }
        }
        guard problems.isEmpty else {
            throw Problem(status: .badRequest, detail: problems.joined(separator: "; "), type: ProblemType.invalidQuery, title: "Invalid query")
        }
        return query
    }

    /// `{"items":[…],"next_cursor":…}`; each item's `detail` is the stored JSON object.
    static func body(_ page: AuditPage) -> [UInt8] {
        var writer = JSONWriter(capacity: 256 + 400 * page.records.count)
        writer.open("{")
        writer.key("items")
        writer.open("[")
        for record in page.records {
            let event = record.event
            writer.open("{")
            writer.member("id", record.id)
            writer.member("at", orNull: event.at)
            writer.member("principal", event.actor.principal)
            writer.member("role", orNull: event.actor.role)
            writer.member("action", event.action.rawValue)
            writer.member("resource_type", orNull: event.resourceType)
            writer.member("resource_id", orNull: event.resourceID)
            writer.member("outcome", event.outcome.rawValue)
            writer.member("request_id", orNull: event.actor.requestID)
            writer.member("client_address", orNull: event.actor.clientAddress)
            writer.member("user_agent", orNull: event.actor.userAgent)
            writer.key("detail")
            writer.raw(event.detail ?? "null")
            writer.close("}")
        }
        writer.close("]")
        writer.member("next_cursor", orNull: page.nextBeforeID.map(String.init))
        writer.close("}")
        return writer.bytes
    }
}
