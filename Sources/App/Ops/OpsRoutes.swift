import Access
import AlertDelivery
import Alerting
import AuditTrail
import JSONText
public import ClaimStore
import CircuitBreaking
import Claims
import Foundation
import HTTPTypes
import Hummingbird
import OpsConsole
import PromQL
import Ranking
import TimeSeries

/// `GET /ops`: the operations console, one server-rendered page (see ``OpsPage``), and its
/// stylesheet. It needs the `operations.console` permission (admin); a browser without a
/// session is sent to the sign-in page (see ``ConsoleSessionRoutes``).
///
/// Every section is read on its own: a dependency that cannot answer leaves its section with
/// the reason and the rest of the page as it is, so the page is most useful exactly when
/// something is down.
struct OpsRoutes<Repository: ClaimRepository>: Sendable {
    let readiness: ReadinessChecker
    let repository: Repository
    /// The review queue of rejected claims, and where reading and acting on it is audited.
    let review: RejectedClaimReview
    let audit: AuditRecorder
    /// Validates and prices a corrected claim as intake does, and counts it.
    let validator: ClaimValidator
    let metrics: ClaimMetrics
    /// Screens a corrected claim as intake does; and the queue of flagged claims.
    let screening: ClaimScreening?
    let flagged: FlaggedClaimReview
    let ranking: RankingCache
    let redisGuard: CallGuard
    let timeSeries: TimeSeriesSettings?
    let alerting: AlertingRuntime?
    let authentication: AuthMode
    let started = Date()

    /// How far back the sparklines reach, and their step.
    static var window: Int64 { 3_600_000 }
    static var step: Int64 { 60_000 }

    func register(on router: SecuredRoutes) {
        router.get("ops", requires: .permission(.operateConsole), signIn: "/ops/login") { request, context in
            let parameters = request.uri.queryParameters
            let refresh = parameters.get("refresh") != "off"
            var page = await page(now: Self.milliseconds(Date()), refreshSeconds: refresh ? 30 : 0)
            // Signed in with the console's cookie rather than a header of its own: offer to sign out.
            if request.headers[.authorization] == nil, request.headers[.xAPIKey] == nil, ConsoleSession.token(in: request.headers) != nil,
                let principal = context.principal
            {
                page.viewer = "\(principal.id) (\(principal.role))"
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.html())))
        }
        router.get("ops/review", requires: .permission(.operateConsole), signIn: "/ops/login") { request, context in
            let parameters = request.uri.queryParameters
            var page = await reviewPage(cursor: parameters.get("queue"), notice: parameters.get("notice"), request: request, context: context)
            do {
                page.flagged = try await flaggedQueue(cursor: parameters.get("flagged"), request: request, context: context)
            } catch {
                page.problems.append("flagged claims: \(error)")
            }
            return Self.html(page.html(), status: .ok)
        }
        router.post("ops/review/:id/dismiss", requires: .permission(.operateConsole)) { request, context in
            try await dismiss(request, context: context)
        }
        router.get("ops/review/:id", requires: .permission(.operateConsole), signIn: "/ops/login") { request, context in
            try await correction(request, context: context)
        }
        router.post("ops/review/:id/resubmit", requires: .permission(.operateConsole)) { request, context in
            try await resubmit(request, context: context)
        }
        router.post("ops/flagged/:id/clear", requires: .permission(.operateConsole)) { request, context in
            try await clearFlagged(request, context: context)
        }
        router.get("ops/assets/ops.css", requires: .open) { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/css; charset=utf-8"
            headers[.cacheControl] = "max-age=3600"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: OpsAssets.stylesheet)))
        }
    }

    /// A page of the review queue (older than `cursor`); audits which rejected claims, whose
    /// input holds member data, were shown.
    func reviewPage(cursor: String?, notice: String?, request: Request, context: ClaimsRequestContext) async -> OpsReviewPage {
        do {
            let queue = try await review.queue(after: cursor, limit: 20)
            let page = OpsReviewPage(queue: OpsPage.ReviewQueue(
                claims: queue.claims.map(Self.shown),
                waiting: queue.waiting, olderPage: queue.nextCursor.map { "/ops/review?queue=\($0)" }, isLaterPage: cursor != nil,
                formToken: ConsoleSession.formToken(requiredBy: request.headers), notice: Self.notice(notice)))
            if !queue.claims.isEmpty {
                var detail = JSONWriter(capacity: 64 + 40 * queue.claims.count)
                detail.open("{")
                detail.member("count", queue.claims.count)
                detail.key("ids")
                detail.strings(queue.claims.map { $0.id.postgresText })
                detail.close("}")
                audit.record(
                    AuditEvent(
                        actor: AuditActor(request: request, context: context), action: .rejectedClaimList, resourceType: "rejected_claim", resourceID: nil,
                        detail: detail.text))
            }
            return page
        } catch {
            let empty = OpsPage.ReviewQueue(claims: [], waiting: 0, olderPage: nil, isLaterPage: false, formToken: nil)
            guard cursor != nil, error is RejectedClaimReviewError else { return OpsReviewPage(queue: empty, problems: ["review queue: \(error)"]) }
            // A cursor the queue did not give out: the newest page, saying so.
            var newest = await reviewPage(cursor: nil, notice: nil, request: request, context: context)
            newest.problems.append("review queue: \(error)")
            return newest
        }
    }

    /// `POST /ops/review/{id}/dismiss` (form: `reason`, and `csrf` with a session cookie): takes
    /// the claim out of the queue, audited, and sends the browser back to the queue.
    func dismiss(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let fields = try await AccountRoutes.fields(request, allowed: ["csrf", "reason"], acceptsForm: true)
        if let refusal = Self.refusedForm(fields, request: request) { return refusal }
        let (reason, problems) = Self.reason(in: fields, missing: "say why the claim needs no correction (reason)")
        guard problems.isEmpty else { return Self.message("Not dismissed", problems.joined(separator: "; "), status: .badRequest) }
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            return Self.message("Not found", RejectedClaimReviewError.notFound.description, status: .notFound)
        }
        var detail = JSONWriter(capacity: 64 + reason.utf8.count)
        detail.open("{")
        detail.member("reason", reason)
        detail.close("}")
        let reviewer = context.principal?.id ?? "anonymous"
        let event = audit.inTransaction(
            AuditEvent(
                actor: AuditActor(request: request, context: context), action: .rejectedClaimDismiss, resourceType: "rejected_claim", resourceID: id.postgresText,
                detail: detail.text))
        do {
            try await review.dismiss(id: id, reason: reason, reviewer: reviewer, audit: event)
        } catch let error as RejectedClaimReviewError {
            let status: HTTPResponse.Status = error == .notFound ? .notFound : .conflict
            return Self.message("Not dismissed", error.description, status: status)
        }
        context.logger.info("rejected claim dismissed", metadata: ["event": "rejected_claim_dismissed", "rejected_claim_id": "\(id.postgresText)"])
        return Response(status: .seeOther, headers: [.location: "/ops/review?notice=dismissed", .cacheControl: "no-store"])
    }

    /// The 403 page for a form posted with the console's session cookie but without the token
    /// the console put in it (another site's form); nil when the form may be acted on.
    static func refusedForm(_ fields: AccountRoutes.Fields, request: Request) -> Response? {
        guard let expected = ConsoleSession.formToken(requiredBy: request.headers), fields.string("csrf") != expected else { return nil }
        return message(
            "Form refused", "The form did not come from this console, or the session changed since it was shown: reload the console and try again.",
            status: .forbidden)
    }

    /// The form's `reason`, trimmed (kept as given when it is only white space), and what is
    /// wrong with the form: `missing` when there is no reason, or one over 500 characters.
    static func reason(in fields: AccountRoutes.Fields, missing: String) -> (String, [String]) {
        let given = fields.string("reason") ?? ""
        let trimmed = given.trimmingCharacters(in: .whitespacesAndNewlines)
        var problems = fields.problems
        if given.isEmpty { problems.append(missing) }
        if given.unicodeScalars.count > 500 { problems.append("the reason is at most 500 characters") }
        return (trimmed.isEmpty ? given : trimmed, problems)
    }

    /// A page of the flagged claims waiting for review (older than `cursor`); which claims
    /// were shown is audited.
    func flaggedQueue(cursor: String?, request: Request, context: ClaimsRequestContext) async throws -> OpsPage.FlaggedQueue {
        let page: FlaggedClaimPage
        do {
            page = try await flagged.queue(after: cursor, limit: 20)
        } catch RejectedClaimReviewError.invalidCursor where cursor != nil {
            page = try await flagged.queue(after: nil, limit: 20)
        }
        if !page.claims.isEmpty {
            var detail = JSONWriter(capacity: 64 + 40 * page.claims.count)
            detail.open("{")
            detail.member("view", "flagged")
            detail.member("count", page.claims.count)
            detail.key("ids")
            detail.strings(page.claims.map { $0.id.postgresText })
            detail.close("}")
            audit.record(
                AuditEvent(actor: AuditActor(request: request, context: context), action: .claimList, resourceType: "claim", resourceID: nil, detail: detail.text))
        }
        return OpsPage.FlaggedQueue(
            claims: page.claims.map { claim in
                OpsPage.FlaggedClaim(
                    id: claim.id.postgresText, createdAt: claim.createdAt, externalClaimNumber: claim.externalClaimNumber, providerNPI: claim.providerNPI,
                    netFee: claim.netFee.description, lineCount: claim.lineCount, held: claim.status == .held,
                    flags: claim.flags.map { ($0.rule, $0.line, $0.message) })
            },
            waiting: page.waiting, held: page.held, olderPage: page.nextCursor.map { "/ops/review?flagged=\($0)" }, isLaterPage: cursor != nil,
            formToken: ConsoleSession.formToken(requiredBy: request.headers))
    }

    /// `POST /ops/flagged/{id}/clear` (form: `reason`, and `csrf` with a session cookie): the
    /// flagged claim is reviewed and leaves the queue; a held one is released to the ranking
    /// and the payments feed in the same transaction, audited as `claim.review`.
    func clearFlagged(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let fields = try await AccountRoutes.fields(request, allowed: ["csrf", "reason"], acceptsForm: true)
        if let refusal = Self.refusedForm(fields, request: request) { return refusal }
        let (reason, problems) = Self.reason(in: fields, missing: "say what the review found (reason)")
        guard problems.isEmpty else { return Self.message("Not cleared", problems.joined(separator: "; "), status: .badRequest) }
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            return Self.message("Not found", "no flagged claim has this id", status: .notFound)
        }
        var detail = JSONWriter(capacity: 64 + reason.utf8.count)
        detail.open("{")
        detail.member("reason", reason)
        detail.close("}")
        let event = audit.inTransaction(
            AuditEvent(actor: AuditActor(request: request, context: context), action: .claimReview, resourceType: "claim", resourceID: id.postgresText, detail: detail.text))
        let released: Bool
        do {
            released = try await flagged.clear(id: id, reason: reason, reviewer: context.principal?.id ?? "anonymous", at: rfc3339Now(), audit: event)
        } catch let error as RejectedClaimReviewError {
            return error == .notFound
                ? Self.message("Not found", "no flagged claim has this id", status: .notFound)
                : Self.message("Not cleared", error.description, status: .conflict)
        }
        context.logger.info(
            "flagged claim cleared", metadata: ["event": "flagged_claim_cleared", "claim_id": "\(id.postgresText)", "released": .stringConvertible(released)])
        return Response(status: .seeOther, headers: [.location: "/ops/review?notice=\(released ? "released" : "cleared")", .cacheControl: "no-store"])
    }

    /// What the queue says above itself after an action (`notice` from its redirect).
    static func notice(_ notice: String?) -> String? {
        guard let notice else { return nil }
        if notice == "dismissed" { return "The claim was dismissed." }
        if notice == "cleared" { return "The flagged claim was cleared." }
        if notice == "released" { return "The flagged claim was cleared and released to payments." }
        if notice.hasPrefix("resubmitted:"), let id = UUID(uuidString: String(notice.dropFirst("resubmitted:".count))) {
            return "The corrected claim was accepted as \(id.postgresText)."
        }
        return nil
    }

    /// The rejected claim `:id` that still waits for review, or the page saying why it cannot
    /// be acted on (absent, or reviewed already).
    func waitingClaim(_ context: ClaimsRequestContext) async throws -> Waiting {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)), let claim = try await review.find(id: id) else {
            return .unavailable(Self.message("Not found", RejectedClaimReviewError.notFound.description, status: .notFound))
        }
        if let done = claim.review {
            let error = RejectedClaimReviewError.alreadyReviewed(by: done.reviewer, outcome: done.outcome)
            let became = done.resubmittedClaimID.map { " It became claim \($0.postgresText)." } ?? ""
            return .unavailable(Self.message("Already reviewed", error.description + "." + became, status: .conflict))
        }
        return .waiting(claim)
    }

    /// A rejected claim still in the queue, or the page that says why there is none to act on.
    enum Waiting {
        case waiting(StoredRejectedClaim)
        case unavailable(Response)
    }

    /// `GET /ops/review/{id}`: the correction form of a rejected claim (its input shown is
    /// audited, as in the queue).
    func correction(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let claim: StoredRejectedClaim
        switch try await waitingClaim(context) {
        case .waiting(let found): claim = found
        case .unavailable(let response): return response
        }
        audit.record(
            AuditEvent(
                actor: AuditActor(request: request, context: context), action: .rejectedClaimList, resourceType: "rejected_claim",
                resourceID: claim.id.postgresText, detail: #"{"view":"correction"}"#))
        let input = CorrectableInput(originalJSON: claim.raw, importFormat: claim.importFormat)
        let page = OpsCorrectionPage(
            claim: Self.shown(claim), violations: claim.violations.map { ($0.field, $0.rule, $0.message) }, isRetry: false, format: input.format.rawValue,
            text: input.text, formToken: ConsoleSession.formToken(requiredBy: request.headers))
        return Self.html(page.html(), status: .ok)
    }

    /// `POST /ops/review/{id}/resubmit` (form: `format`, `claim`, and `csrf` with a session
    /// cookie): reads the corrected claim as intake reads a new one, validates and prices it,
    /// and stores it with the rejected claim's review (see ``RejectedClaimReview/resubmit``).
    /// A correction that still breaks rules is shown again with its violations (422), the text
    /// as sent, and nothing stored.
    func resubmit(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let fields = try await AccountRoutes.fields(request, allowed: ["csrf", "format", "claim"], acceptsForm: true)
        let formToken = ConsoleSession.formToken(requiredBy: request.headers)
        if let refusal = Self.refusedForm(fields, request: request) { return refusal }
        var problems = fields.problems
        let format = fields.string("format").flatMap(CorrectableInput.Format.init(rawValue:))
        if format == nil { problems.append("format must be csv or json") }
        let text = fields.string("claim") ?? ""
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { problems.append("the corrected claim is empty (claim)") }
        if text.utf8.count > 1 << 20 { problems.append("the corrected claim is larger than 1 MiB") }
        guard problems.isEmpty, let format else { return Self.message("Not resubmitted", problems.joined(separator: "; "), status: .badRequest) }
        let original: StoredRejectedClaim
        switch try await waitingClaim(context) {
        case .waiting(let found): original = found
        case .unavailable(let response): return response
        }
        let input = CorrectableInput(format: format, text: text)
        func refused(_ violations: [Violation]) -> Response {
            metrics.rejected(channel: "review", claims: 1)
            metrics.violations(violations)
            let page = OpsCorrectionPage(
                claim: Self.shown(original), violations: violations.map { ($0.field, $0.rule, $0.message) }, isRetry: true, format: format.rawValue,
                text: text, formToken: formToken)
            return Self.html(page.html(), status: .unprocessableContent)
        }
        let validated: ValidatedClaim
        do {
            switch validator.validate(try input.claim(), today: utcToday()) {
            case .accepted(let claim): validated = claim
            case .rejected(let violations, _): return refused(violations)
            }
        } catch {
            return refused([Violation(line: nil, field: "claim", rule: "readable", severity: .reject, message: error.description)])
        }
        let visibility = context.principal.map(AccessPolicy.claimVisibility(for:)) ?? .nothing
        if let violation = ClaimsController<Repository>.scopeViolation(validated, visibility: visibility) { return refused([violation]) }
        var stored = StoredClaim(id: UUIDv7Generator().next(), claim: validated, at: rfc3339Now())
        if let screening { stored = try await screening.screen(stored, lookingUpIn: repository) }
        let actor = AuditActor(request: request, context: context)
        var events: [AuditEvent] = []
        if audit.isEnabled {
            events = [
                AuditEvent(
                    actor: actor, action: .claimCreate, resourceType: "claim", resourceID: stored.id.postgresText,
                    detail: #"{"resubmitted_from":"\#(original.id.postgresText)"}"#),
                AuditEvent(
                    actor: actor, action: .rejectedClaimResubmit, resourceType: "rejected_claim", resourceID: original.id.postgresText,
                    detail: #"{"claim_id":"\#(stored.id.postgresText)"}"#),
            ]
        }
        do {
            try await review.resubmit(id: original.id, as: stored, reviewer: context.principal?.id ?? "anonymous", audit: events)
        } catch let error as RejectedClaimReviewError {
            return Self.message("Not resubmitted", error.description, status: error == .notFound ? .notFound : .conflict)
        }
        ClaimsController<Repository>.accepted(
            stored, channel: "review", metrics: metrics, screening: screening, context: context,
            metadata: ["resubmitted_from": "\(original.id.postgresText)"])
        return Response(status: .seeOther, headers: [.location: "/ops/review?notice=resubmitted:\(stored.id.postgresText)", .cacheControl: "no-store"])
    }

    /// A rejected claim as the console pages show it.
    static func shown(_ claim: StoredRejectedClaim) -> OpsPage.RejectedClaim {
        OpsPage.RejectedClaim(
            id: claim.id.postgresText, receivedAt: claim.receivedAt, source: claim.source, importID: claim.importID.postgresText,
            externalClaimNumber: claim.externalClaimNumber, violations: claim.violations.map { ($0.field, $0.rule, $0.message) }, raw: claim.raw)
    }

    static func message(_ title: String, _ message: String, status: HTTPResponse.Status) -> Response {
        html(OpsMessagePage(title: title, message: message).html(), status: status)
    }

    /// An HTML answer that no cache keeps.
    static func html(_ document: String, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document)))
    }

    /// Gathers the page's facts as of `now` (milliseconds since the epoch).
    func page(now: Int64, refreshSeconds: Int = 30) async -> OpsPage {
        var problems: [String] = []
        async let checks = readiness.check()
        async let providers = topProviders()
        async let feed = feedHead()
        let (indicators, relay) = await monitoring(now: now)
        let (alerts, alertsNote) = alertRows()
        let (rows, source) = await providers
        let head: OpsPage.FeedHead?
        switch await feed {
        case .success(let value): head = value
        case .failure(let error):
            head = nil
            problems.append("payments feed: \(error)")
        }
        if rows.isEmpty, source.hasPrefix("unavailable") { problems.append("top providers: \(source)") }
        var reviewWaiting: Int?
        var flaggedWaiting: (waiting: Int, held: Int)?
        do {
            reviewWaiting = try await review.waiting()
            flaggedWaiting = try await flagged.waiting()
        } catch {
            problems.append("review queue: \(error)")
        }
        let dependencies = await checks.sorted { $0.key < $1.key }.map { name, status in
            OpsPage.Dependency(name: name, isUp: status.isUp, isRequired: status.required, latencyMs: status.latencyMs, error: status.error)
        }
        var opsPage = OpsPage(
            build: .init(
                version: ClaimsdBuild.version, revision: ClaimsdBuild.revision, instance: ProcessInfo.processInfo.hostName,
                startedAt: Self.milliseconds(started), now: now, authentication: authentication.rawValue),
            dependencies: dependencies, indicators: indicators, relay: relay, alerts: alerts, alertsNote: alertsNote, providers: rows,
            providersSource: source, feedHead: head, problems: problems, refreshSeconds: refreshSeconds, reviewWaiting: reviewWaiting)
        opsPage.flaggedWaiting = flaggedWaiting
        return opsPage
    }

    /// The indicators' last hour and the relay's state, from the built-in store.
    func monitoring(now: Int64) async -> ([OpsPage.Indicator], OpsPage.Relay) {
        let start = now - Self.window
        guard let timeSeries else {
            let off = OpsIndicator.all.map { indicator in
                OpsPage.Indicator(
                    id: indicator.id, title: indicator.title, current: nil, history: Sparkline(points: [], start: start, end: now, step: Self.step),
                    query: indicator.query, error: "the built-in time-series store is off (CLAIMS_TSDB=off)")
            }
            return (off, OpsPage.Relay(isLeader: nil, lagEvents: nil, lagSeconds: nil))
        }
        let (store, engine) = (timeSeries.store, timeSeries.engine)
        // Evaluation runs off the cooperative threads, like the query API's.
        return await timeSeries.executor.run {
            let indicators = OpsIndicator.all.map { indicator -> OpsPage.Indicator in
                var points: [Sparkline.Point] = []
                var failure: String?
                do {
                    if case .matrix(let series) = try engine.rangeQuery(indicator.query, start: start, end: now, step: Self.step, storage: store),
                        let first = series.first
                    {
                        points = first.samples.map { Sparkline.Point(time: $0.timestamp, value: $0.value) }
                    }
                } catch {
                    failure = "\(error)"
                }
                let latest = points.last { $0.value.isFinite && now - $0.time <= 5 * 60_000 }
                return OpsPage.Indicator(
                    id: indicator.id, title: indicator.title, current: latest.map { indicator.format($0.value) },
                    history: Sparkline(points: points, start: start, end: now, step: Self.step), query: indicator.query, error: failure)
            }
            func latest(_ query: String) -> Double? {
                guard case .vector(let samples) = try? engine.instantQuery(query, at: now, storage: store) else { return nil }
                return samples.first?.value
            }
            let relay = OpsPage.Relay(
                isLeader: latest("max(claimsd_relay_leader)").map { $0 >= 1 }, lagEvents: latest("max(claimsd_outbox_lag_events)"),
                lagSeconds: latest("max(claimsd_outbox_lag_seconds)"))
            return (indicators, relay)
        }
    }

    /// Pending and firing alerts with their last notification, or why there are none to show.
    func alertRows() -> ([OpsPage.Alert], String?) {
        guard let alerting else { return ([], "alerting is off: no rule files are loaded (CLAIMS_RULE_FILES)") }
        let deliveries = alerting.notifier.deliveries
        var rows: [OpsPage.Alert] = []
        for group in alerting.manager.groups {
            for rule in group.alertingRules {
                for alert in rule.alerts where alert.state != .inactive {
                    let delivery = deliveries.last(for: alert.labels).map { delivery in
                        "\(OpsPage.utc(delivery.time)) to \(delivery.receiver): " + (delivery.error.map { "failed (\($0))" } ?? "delivered")
                    }
                    rows.append(
                        OpsPage.Alert(
                            state: alert.state.rawValue, name: alert.labels["alertname"] ?? rule.definition.name,
                            labels: alert.labels.filter { $0.name != "alertname" }.map { (name: $0.name, value: $0.value) },
                            summary: alert.annotations["summary"], description: alert.annotations["description"], runbook: alert.annotations["runbook_url"],
                            activeSince: alert.activeAt, value: alert.valueText, lastDelivery: delivery))
                }
            }
        }
        return (rows, alerting.manager.groups.isEmpty ? "no rule groups are loaded" : nil)
    }

    /// The top ten from Redis (or memory), else from PostgreSQL, and where they came from.
    func topProviders() async -> ([OpsPage.Provider], String) {
        func rows(_ totals: [ProviderTotal]) -> [OpsPage.Provider] {
            totals.enumerated().map { OpsPage.Provider(rank: $0.offset + 1, npi: $0.element.providerNPI, netFee: "\($0.element.netFee)", claims: $0.element.claims) }
        }
        let cache = ranking
        let fallback: String
        do {
            if let ranked = try await redisGuard.run({ try await cache.top(10) }) { return (rows(ranked.totals), "redis") }
            fallback = "postgresql (the Redis ranking is being rebuilt)"
        } catch {
            fallback = "postgresql (Redis did not answer: \(error))"
        }
        do {
            return (rows(try await repository.topProviders(limit: 10)), fallback)
        } catch {
            return ([], "unavailable: \(error)")
        }
    }

    /// The payments feed's newest event.
    func feedHead() async -> Result<OpsPage.FeedHead?, any Error> {
        do {
            let latest = try await repository.outboxPosition(after: .max).latestSequence
            guard latest > 0, let event = try await repository.events(after: latest - 1, limit: 1).first else { return .success(nil) }
            return .success(OpsPage.FeedHead(sequence: event.sequence, writtenAt: event.createdAt))
        } catch {
            return .failure(error)
        }
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
}

/// A figure the console draws with an hour of history: its id, title, PromQL, and how a value
/// reads.
struct OpsIndicator: Sendable {
    let id: String
    let title: String
    let query: String
    let format: @Sendable (Double) -> String

    static let all: [OpsIndicator] = [
        OpsIndicator(id: "request_rate", title: "Requests", query: "sum(rate(claimsd_http_requests_total[5m]))") { OpsPage.decimal($0, digits: 1) + "/s" },
        OpsIndicator(
            id: "error_ratio", title: "Server errors",
            query: #"sum(rate(claimsd_http_requests_total{status=~"5.."}[5m])) / sum(rate(claimsd_http_requests_total[5m]))"#
        ) { OpsPage.decimal($0 * 100, digits: 2) + " %" },
        OpsIndicator(
            id: "latency_p99", title: "p99 latency", query: "histogram_quantile(0.99, sum by (le) (rate(claimsd_http_request_duration_seconds_bucket[5m])))"
        ) { OpsPage.decimal($0 * 1000, digits: 1) + " ms" },
        OpsIndicator(
            id: "claims_accepted", title: "Claims accepted", query: #"sum(rate(claimsd_claims_received_total{outcome="accepted"}[5m])) * 60"#
        ) { OpsPage.decimal($0, digits: 1) + "/min" },
        OpsIndicator(
            id: "claims_rejected", title: "Claims rejected", query: #"sum(rate(claimsd_claims_received_total{outcome="rejected"}[5m])) * 60"#
        ) { OpsPage.decimal($0, digits: 1) + "/min" },
    ]
}
