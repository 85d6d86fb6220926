public import AuditTrail
public import CoreMetrics
public import ClaimStore
import Claims
import Foundation
import HTTPTypes
public import Hummingbird
import HummingbirdCore
import JSONText
import Logging

/// The payments service's side of claimsd: the durable event feed it consumes net fees from, and
/// the endpoint it reports each payment's result to.
public struct PaymentsController<Repository: ClaimRepository>: Sendable {
    let repository: Repository
    /// Feed reads that return events; results are audited in their transaction.
    let audit: AuditRecorder

    static var defaultLimit: Int { 100 }
    static var maxLimit: Int { 1000 }
    static var maxWaitSeconds: Int { 30 }
    static var maxBodyBytes: Int { 16 * 1024 }

    public init(repository: Repository, audit: AuditRecorder = AuditRecorder(metrics: NOOPMetricsHandler.instance)) {
        self.repository = repository
        self.audit = audit
    }

    public func register(on router: SecuredRoutes) {
        router.get("api/v1/payments/events", requires: .permission(.readPaymentsFeed)) { request, context in try await events(request, context: context) }
        router.post("api/v1/claims/:id/payment", requires: .permission(.reportPayments)) { request, context in
            try await report(id: try RouteSupport.claimID(context), request: request, context: context)
        }
    }

    // MARK: - GET /api/v1/payments/events

    /// Events after `after`, oldest first; with `wait`, holds the request up to that many
    /// seconds until at least one event exists (long poll).
    ///
    /// A read that returns events is audited (`payments.read`, with the sequence range); an
    /// empty poll carries no data and is not.
    func events(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let query = try FeedQuery(request.uri.queryParameters)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(query.waitSeconds))
        var events = try await repository.events(after: query.after, limit: query.limit)
        while events.isEmpty, clock.now < deadline, !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(200))
            events = try await repository.events(after: query.after, limit: query.limit)
        }
        if let first = events.first, let last = events.last {
            audit.record(
                AuditEvent(
                    actor: AuditActor(request: request, context: context), action: .paymentsRead, resourceType: "payments_feed", resourceID: nil,
                    detail: #"{"first_sequence":\#(first.sequence),"last_sequence":\#(last.sequence),"count":\#(events.count)}"#))
        }
        return RouteSupport.json(bytes: Self.feedBody(events, after: query.after))
    }

    struct FeedQuery {
        var after: Int64 = 0
        var limit = PaymentsController.defaultLimit
        var waitSeconds = 0

        init(_ parameters: FlatDictionary<Substring, Substring>) throws {
            var problems: [String] = []
            if let text = parameters.get("after") {
                if let value = Int64(text), value >= 0 { after = value } else { problems.append("after must be a sequence number, 0 or more") }
            }
            if let text = parameters.get("limit") {
                if let value = Int(text), (1...PaymentsController.maxLimit).contains(value) { limit = value } else {
                    problems.append("limit must be 1–\(PaymentsController.maxLimit)")
                }
            }
            if let text = parameters.get("wait") {
                if let value = Int(text), (0...PaymentsController.maxWaitSeconds).contains(value) { waitSeconds = value } else {
                    problems.append("wait must be 0–\(PaymentsController.maxWaitSeconds) seconds")
                }
            }
            guard problems.isEmpty else {
                throw Problem(status: .badRequest, detail: problems.joined(separator: "; "), type: ProblemType.invalidQuery, title: "Invalid query")
            }
        }
    }

    /// `{"events":[…],"next_after":N}`; `next_after` is the value to pass as `after` next time.
    static func feedBody(_ events: [OutboxEvent], after: Int64) -> [UInt8] {
        var writer = JSONWriter(capacity: 64 + 300 * events.count)
        writer.open("{")
        writer.key("events")
        writer.open("[")
        for event in events {
            writer.open("{")
            writer.member("claim_id", event.claimID.uuidString.lowercased())
            writer.member("created_at", event.createdAt)
            writer.member("event_type", event.eventType)
            writer.member("net_fee", event.netFee.description)
            writer.member("net_fee_delta", event.netFeeDelta.description)
            writer.member("provider_net_fee", (event.providerNetFee ?? event.netFee).description)
            writer.member("provider_npi", event.providerNPI)
            writer.member("sequence", event.sequence)
            writer.member("status", event.status.rawValue)
            writer.close("}")
        }
        writer.close("]")
        writer.member("next_after", events.last?.sequence ?? after)
        writer.close("}")
        return writer.bytes
    }

    // MARK: - POST /api/v1/claims/{id}/payment

    func report(id: UUID, request: Request, context: ClaimsRequestContext) async throws -> Response {
        guard try RouteSupport.mediaType(of: request) == "application/json" else {
            throw Problem(status: .unsupportedMediaType, detail: "send the payment result as application/json")
        }
        let body = try await RouteSupport.collect(request, limit: Self.maxBodyBytes, tooLarge: "a payment result is at most \(Self.maxBodyBytes) bytes")
        let report = try Self.paymentReport(from: body)
        let record: PaymentRecord
        do {
            record = try await repository.recordPayment(
                id: id, report: report, at: rfc3339Now(),
                audit: audit.inTransaction(
                    AuditEvent(
                        actor: AuditActor(request: request, context: context), action: .paymentReport, resourceType: "claim", resourceID: id.postgresText,
                        detail: #"{"outcome":"\#(report.outcome.rawValue)"}"#)))
        } catch let error as ClaimStoreError {
            throw RouteSupport.problem(error)
        }
        if !record.isReplay {
            context.facts.domainEvent(
                "payment_recorded", "payment result recorded",
                metadata: [
                    "claim_id": "\(id.uuidString.lowercased())", "outcome": "\(report.outcome.rawValue)", "sequence": .stringConvertible(record.sequence),
                ], logger: context.logger)
        }
        var headers = HTTPFields()
        if record.isReplay { headers[.idempotentReplayed] = "true" }
        return RouteSupport.json(bytes: Self.recordBody(record), headers: headers)
    }

    /// The report in `body`, or a 400 (not JSON) or 422 problem naming every bad field.
    static func paymentReport(from body: [UInt8]) throws -> PaymentReport {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw Problem(
                status: .badRequest, detail: "the body must be a JSON object like {\"outcome\":\"failed\",\"reason\":\"account closed\"}",
                type: ProblemType.unreadableBody, title: "Unreadable payment result")
        }
        var violations: [Violation] = []
        func violation(_ field: String, _ rule: String, _ message: String) {
            violations.append(Violation(line: nil, field: field, rule: rule, severity: .reject, message: message))
        }
        let outcomeText = object["outcome"] as? String
        let outcome = outcomeText.flatMap { PaymentOutcome(rawValue: $0.lowercased()) }
        if outcome == nil {
            violation("outcome", outcomeText == nil ? "required" : "payment_outcome", "outcome must be \"paid\" or \"failed\"")
        }
        func text(_ key: String, max: Int) -> String? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let string = value as? String else {
                violation(key, "text", "\(key) must be a string")
                return nil
            }
            if string.containsNUL {
                violations.append(ClaimValidator.nulViolation(line: nil, field: key))
                return nil
            }
            // The limit is on the text as sent, in code points, as the OpenAPI document states it.
            if string.unicodeScalars.count > max { violation(key, "max_length", "\(key) must be at most \(max) characters") }
            let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty ? nil : trimmed
        }
        let reason = text("reason", max: 500)
        let paymentID = text("payment_id", max: 200)
        if outcome == .failed, reason == nil {
            violation("reason", "required", "a failed payment needs a reason")
        }
        guard let outcome, violations.isEmpty else {
            var problem = Problem(
                status: .unprocessableContent, detail: "the payment result has \(violations.count) problem(s)", type: ProblemType.validation,
                title: "Invalid payment result")
            problem.errors = violations
            throw problem
        }
        return PaymentReport(outcome: outcome, reason: reason, paymentID: paymentID)
    }

    static func recordBody(_ record: PaymentRecord) -> [UInt8] {
        var writer = JSONWriter(capacity: 320)
        writer.open("{")
        writer.member("claim_id", record.claimID.uuidString.lowercased())
        writer.member("outcome", record.report.outcome.rawValue)
        writer.member("payment_id", orNull: record.report.paymentID)
        writer.member("reason", orNull: record.report.reason)
        writer.member("recorded_at", record.recordedAt)
        writer.member("sequence", record.sequence)
        writer.member("status", record.status.rawValue)
        writer.close("}")
        return writer.bytes
    }
}
