import Access
public import AuditTrail
public import ClaimStore
public import Claims
import Foundation
public import Hummingbird
import HTTPTypes
import Logging
import Digests
import JSONText
public import CoreMetrics

/// The claims API: intake (JSON and CSV), reads, lists, re-pricing and voiding.
///
/// Generic over the repository so the HTTP behaviour does not depend on how claims are stored.
public struct ClaimsController<Repository: ClaimRepository>: Sendable {
    let repository: Repository
    let validator: ClaimValidator
    let limits: IntakeLimits
    let metrics: ClaimMetrics
    /// Reads, denials and imports; creations, updates and voids are audited in their transaction.
    let audit: AuditRecorder
    /// Screens accepted claims for review after pricing (see ``ClaimScreening``); nil: none.
    let screening: ClaimScreening?
    let ids = UUIDv7Generator()

    public init(
        repository: Repository, validator: ClaimValidator, limits: IntakeLimits, metrics: ClaimMetrics = ClaimMetrics(),
        audit: AuditRecorder = AuditRecorder(metrics: NOOPMetricsHandler.instance), screening: ClaimScreening? = nil
    ) {
        self.screening = screening
        self.repository = repository
        self.validator = validator
        self.limits = limits
        self.metrics = metrics
        self.audit = audit
    }

    public func register(on router: SecuredRoutes) {
        let claims = router.group("api/v1/claims")
        claims.post(requires: .permission(.submitClaims)) { request, context in try await create(request, context: context) }
        claims.post("import", requires: .permission(.submitClaims)) { request, context in try await importClaims(request, context: context) }
        claims.get(requires: .permission(.readClaims)) { request, context in try await list(request, context: context) }
        claims.get(":id", requires: .permission(.readClaims)) { request, context in
            try await show(id: try RouteSupport.claimID(context), request: request, context: context)
        }
        claims.get(":id/status", requires: .permission(.readClaims)) { request, context in
            try await status(id: try RouteSupport.claimID(context), request: request, context: context)
        }
        claims.put(":id", requires: .permission(.changeClaims)) { request, context in
            try await replace(id: try RouteSupport.claimID(context), request: request, context: context)
        }
        claims.delete(":id", requires: .permission(.changeClaims)) { request, context in
            try await void(id: try RouteSupport.claimID(context), request: request, context: context)
        }
        // Aliases with the original services' shapes (see RouteAliases).
        router.post("claims", requires: .permission(.submitClaims)) { request, context in try await create(request, context: context) }
        claims.get("status/:id", requires: .permission(.readClaims)) { request, context in
            try await status(id: try RouteSupport.claimID(context), request: request, context: context)
        }
    }

    // MARK: - Scope

    /// The claims the request's principal may see and change.
    static func visibility(_ context: ClaimsRequestContext) -> ClaimVisibility {
        context.principal.map(AccessPolicy.claimVisibility(for:)) ?? .nothing
    }

    /// The stored claim `id`, or 404 when it does not exist or lies outside the principal's
    /// scope: the answer does not tell the two apart, so a claim's existence does not leak.
    ///
    /// Both refusals are audited as `action`: a claim outside the scope as denied, a missing one
    /// as an error.
    func visibleClaim(_ id: UUID, request: Request, context: ClaimsRequestContext, action: AuditAction) async throws -> StoredClaim {
        guard let claim = try await repository.find(id: id) else {
            audit.record(Self.auditEvent(action, id: id, request: request, context: context, outcome: .error, detail: #"{"reason":"not_found"}"#))
            throw RouteSupport.notFound(id)
        }
        guard Self.visibility(context).allows(providerNPIs: claim.providerShares.map(\.providerNPI), subscriberIDs: claim.lines.map(\.subscriberID)) else {
            audit.record(Self.auditEvent(action, id: id, request: request, context: context, outcome: .denied, detail: #"{"reason":"out_of_scope"}"#))
            throw RouteSupport.notFound(id)
        }
        return claim
    }

    /// An audit event about claim `id` by the request's principal.
    static func auditEvent(
        _ action: AuditAction, id: UUID?, request: Request, context: ClaimsRequestContext, outcome: AuditOutcome = .allowed, detail: String? = nil
    ) -> AuditEvent {
        AuditEvent(
            actor: AuditActor(request: request, context: context), action: action, resourceType: "claim", resourceID: id?.postgresText,
            outcome: outcome, detail: detail)
    }

    /// Why the principal may not submit `claim` (a provider naming another provider's NPI), or
    /// `nil` when it may.
    static func scopeViolation(_ claim: ValidatedClaim, visibility: ClaimVisibility) -> Violation? {
        let npis = claim.providerShares.map(\.providerNPI)
        guard !visibility.allows(providerNPIs: npis, subscriberIDs: claim.lines.map(\.subscriberID)) else { return nil }
        let allowed: String
        if case .providers(let own) = visibility { allowed = own.sorted().joined(separator: ", ") } else { allowed = "none" }
        return Violation(
            line: nil, field: "provider_npi", rule: "provider_scope", severity: .reject,
            message: "this credential submits claims only for the NPIs \(allowed); the claim names \(npis.joined(separator: ", "))")
    }

    /// A 403 unless the principal may submit `claim`; a refusal is audited as `action` denied.
    func requireInScope(_ claim: ValidatedClaim, id: UUID?, action: AuditAction, request: Request, context: ClaimsRequestContext) throws {
        guard let violation = Self.scopeViolation(claim, visibility: Self.visibility(context)) else { return }
        audit.record(Self.auditEvent(action, id: id, request: request, context: context, outcome: .denied, detail: #"{"reason":"provider_scope"}"#))
        var problem = Problem(status: .forbidden, detail: violation.message, type: ProblemType.outOfScope, title: "Claim outside your scope")
        problem.errors = [violation]
        throw problem
    }

    // MARK: - Handlers

    func create(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let key = try idempotencyKey(request)
        let (body, kind) = try await readBody(request, limit: limits.maxClaimBytes)
        if let key, let stored = try await repository.idempotencyRecord(scope: context.caller, key: key) {
            return try replay(stored, body: body, kind: kind.rawValue)
        }

        let claim = try validated(try decode(body, kind: kind), context: context)
        try requireInScope(claim, id: nil, action: .claimCreate, request: request, context: context)
        var stored = StoredClaim(id: ids.next(), claim: claim, at: rfc3339Now())
        let auditEvent = audit.inTransaction(Self.auditEvent(.claimCreate, id: stored.id, request: request, context: context))
        let responseBody: [UInt8]
        if let key {
            // Screened first (its own lookup of claimed lines): the response stored under the
            // key must say how.
            if let screening { stored = try await screening.screen(stored, lookingUpIn: repository) }
            responseBody = claimJSON(stored)
            // Only a request with a key needs its body's digest: a retry under the key is told
            // from a different request by it.
            let record = IdempotencyRecord(
                scope: context.caller, key: key, requestHash: Self.fingerprint(body, kind: kind.rawValue), status: 201,
                body: String(decoding: responseBody, as: UTF8.self))
            if let earlier = try await repository.create(stored, idempotency: record, audit: auditEvent) {
                // A concurrent request with the same key stored its claim first.
                return try replay(earlier, body: body, kind: kind.rawValue)
            }
        } else {
            // Screened by the writer with the other claims of its statement: one lookup of
            // claimed lines for all of them.
            if let screening {
                stored = try await repository.createScreened(stored, audit: auditEvent, screening: screening)
            } else {
                _ = try await repository.create(stored, idempotency: nil, audit: auditEvent)
            }
            responseBody = claimJSON(stored)
        }
        Self.accepted(stored, channel: "api", metrics: metrics, screening: screening, context: context)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.location] = "/api/v1/claims/\(stored.id.uuidString.lowercased())"
        return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: responseBody)))
    }

    func importClaims(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let format = try importFormat(request)
        let key = try idempotencyKey(request)
        let body = try await RouteSupport.collect(
            request, limit: limits.maxImportBytes, tooLarge: "the import is larger than \(limits.maxImportBytes) bytes; split it into several imports")
        let items: [ImportItem]
        do {
            items = try ClaimDecoding.importItems(from: body, format: format)
        } catch {
            throw Problem(status: .badRequest, detail: error.description, type: ProblemType.unreadableBody, title: "Unreadable import")
        }
        guard !items.isEmpty else {
            throw Problem(status: .badRequest, detail: "the import holds no claims", type: ProblemType.unreadableBody, title: "Unreadable import")
        }
        // An import is stored in several transactions, so its key is reserved first and its
        // response recorded at the end; a retry meanwhile is told the import is still running.
        let kind = "import-" + format.rawValue
        var reservation: IdempotencyRecord?
        if let key {
            let record = IdempotencyRecord(scope: context.caller, key: key, requestHash: Self.fingerprint(body, kind: kind), status: 0, body: "")
            if let earlier = try await repository.reserve(record) { return try replay(earlier, body: body, kind: kind) }
            reservation = record
        }
        do {
            let report = try await runImport(items, format: format, request: request, context: context)
            let response = importReportJSON(report)
            if var record = reservation {
                record.status = 200
                record.body = String(decoding: response, as: UTF8.self)
                try await repository.complete(record)
            }
            return RouteSupport.json(bytes: response)
        } catch let error as ImportError {
            let problem = Problem(status: .serviceUnavailable, detail: error.description, type: ProblemType.importInterrupted, title: "Import interrupted")
            // Part of the file may be stored: the retry advice is kept under the key, so a retry
            // with it cannot store those claims twice. With nothing stored the key is free again.
            if var record = reservation {
                if error.storedItems > 0 {
                    record.status = problem.status
                    record.body = String(decoding: Problem.encoded(problem), as: UTF8.self)
                    try? await repository.complete(record)
                } else {
                    try? await repository.release(record)
                }
            }
            throw problem
        } catch {
            if let record = reservation { try? await repository.release(record) }
            throw error
        }
    }

    /// Validates and stores an import's claims, then counts and logs the outcome.
    func runImport(_ items: [ImportItem], format: ImportFormat, request: Request, context: ClaimsRequestContext) async throws(ImportError) -> ImportReport {
        let importID = ids.next()
        let visibility = Self.visibility(context)
        let importer = ClaimImporter(
            repository: repository, validator: validator, auditActor: audit.isEnabled ? AuditActor(request: request, context: context) : nil,
            screening: screening
        ) {
            Self.scopeViolation($0, visibility: visibility)
        }
        let report: ImportReport
        do {
            report = try await importer.run(items, importID: importID, today: utcToday())
        } catch {
            context.logger.error("import interrupted", metadata: ["event": "import_interrupted", "import_id": "\(importID.uuidString.lowercased())", "error": "\(error)"])
            throw error
        }
        metrics.accepted(
            channel: "import", claims: report.accepted.count, lines: report.acceptedLines, netFees: report.accepted.map(\.netFee))
        metrics.rejected(channel: "import", claims: report.rejected.count)
        metrics.flagged(rules: report.accepted.map(\.flags), held: report.accepted.filter(\.held).count)
        metrics.violations(report.rejected.flatMap(\.errors))
        context.logger.info(
            "import completed",
            metadata: [
                "event": "import_completed", "import_id": "\(importID.uuidString.lowercased())", "format": "\(format.rawValue)",
                "accepted": .stringConvertible(report.accepted.count), "rejected": .stringConvertible(report.rejected.count),
                "lines": .stringConvertible(report.acceptedLines),
            ])
        return report
    }

    /// What follows storing a new claim on every channel (`api`, `review`): its fees join the
    /// screening averages, it is counted, and `claim_accepted` is logged (with `metadata` too).
    static func accepted(
        _ stored: StoredClaim, channel: String, metrics: ClaimMetrics, screening: ClaimScreening?, context: ClaimsRequestContext,
        metadata extra: Logger.Metadata = [:]
    ) {
        screening?.stored([stored])
        metrics.accepted(channel: channel, claims: 1, lines: stored.lines.count, netFees: [stored.netFee])
        metrics.violations(stored.warnings)
        metrics.flagged([stored])
        var metadata: Logger.Metadata = [
            "claim_id": "\(stored.id.postgresText)", "lines": .stringConvertible(stored.lines.count),
            "warnings": .array(stored.warnings.map { .string($0.rule) }),
        ]
        for (key, value) in extra { metadata[key] = value }
        context.facts.domainEvent("claim_accepted", "claim accepted", metadata: metadata, logger: context.logger)
    }

    /// The import format from `Content-Type`.
    func importFormat(_ request: Request) throws -> ImportFormat {
        let mediaType = try RouteSupport.mediaType(of: request)
        switch mediaType {
        case "text/csv", "application/csv": return .csv
        case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines": return .ndjson
        default:
            throw Problem(
                status: .unsupportedMediaType,
                detail: "send an import as text/csv (claims grouped by claim number) or application/x-ndjson (one claim per line); "
                    + "got \(mediaType.map { "\"\($0)\"" } ?? "no Content-Type")")
        }
    }

    func show(id: UUID, request: Request, context: ClaimsRequestContext) async throws -> Response {
        let claim = try await visibleClaim(id, request: request, context: context, action: .claimRead)
        audit.record(Self.auditEvent(.claimRead, id: id, request: request, context: context))
        return RouteSupport.json(bytes: claimJSON(claim, maskedIdentifiers: context.principal?.role.seesIdentifiersMasked ?? false))
    }

    func status(id: UUID, request: Request, context: ClaimsRequestContext) async throws -> Response {
        let claim = try await visibleClaim(id, request: request, context: context, action: .claimRead)
        audit.record(Self.auditEvent(.claimRead, id: id, request: request, context: context, detail: #"{"view":"status"}"#))
        return try jsonResponse(ClaimStatusBody(id: claim.id.uuidString.lowercased(), status: claim.status.rawValue, updatedAt: claim.updatedAt))
    }

    func list(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        var query = try ClaimListParameters.parse(request.uri.queryParameters)
        switch Self.visibility(context) {
        case .all: break
        case .nothing: return try jsonResponse(ClaimPageBody(items: [], nextCursor: nil))
        case .providers(let npis): query.onlyProviders = npis.sorted()
        case .subscriber(let id): query.onlySubscriber = id
        }
        let page = try await repository.list(query)
        audit.record(Self.auditEvent(.claimList, id: nil, request: request, context: context, detail: Self.listDetail(page, request: request)))
        return try jsonResponse(ClaimPageBody(items: page.items.map(ClaimSummaryBody.init), nextCursor: page.nextAfter.map(ClaimListParameters.cursor)))
    }

    /// Most claim ids an audit event of a list names.
    static var auditedIDs: Int { 100 }

    /// A list's audit detail: how many claims it returned, the first ids, and its query.
    static func listDetail(_ page: ClaimPage, request: Request) -> String {
        var detail = JSONWriter(capacity: 128 + 40 * min(page.items.count, auditedIDs))
        detail.open("{")
        detail.member("count", page.items.count)
        detail.key("ids")
        detail.strings(page.items.prefix(auditedIDs).map(\.id.postgresText))
        detail.member("query", String((request.uri.query ?? "").prefix(512)))
        detail.close("}")
        return detail.text
    }

    func replace(id: UUID, request: Request, context: ClaimsRequestContext) async throws -> Response {
        let (body, kind) = try await readBody(request, limit: limits.maxClaimBytes)
        let claim = try validated(try decode(body, kind: kind), context: context)
        _ = try await visibleClaim(id, request: request, context: context, action: .claimUpdate)
        try requireInScope(claim, id: id, action: .claimUpdate, request: request, context: context)
        do {
            let updated = try await repository.replace(
                id: id, with: claim, at: rfc3339Now(), audit: audit.inTransaction(Self.auditEvent(.claimUpdate, id: id, request: request, context: context)))
            context.facts.domainEvent("claim_updated", "claim updated", metadata: ["claim_id": "\(id.uuidString.lowercased())"], logger: context.logger)
            return RouteSupport.json(bytes: claimJSON(updated))
        } catch let error as ClaimStoreError {
            throw RouteSupport.problem(error)
        }
    }

    func void(id: UUID, request: Request, context: ClaimsRequestContext) async throws -> Response {
        _ = try await visibleClaim(id, request: request, context: context, action: .claimVoid)
        do {
            let voided = try await repository.void(
                id: id, at: rfc3339Now(), audit: audit.inTransaction(Self.auditEvent(.claimVoid, id: id, request: request, context: context)))
            context.facts.domainEvent("claim_voided", "claim voided", metadata: ["claim_id": "\(id.uuidString.lowercased())"], logger: context.logger)
            return RouteSupport.json(bytes: claimJSON(voided))
        } catch let error as ClaimStoreError {
            throw RouteSupport.problem(error)
        }
    }

    // MARK: - Intake steps

    /// The kinds of body the intake reads.
    enum BodyKind: String {
        case json
        case csv
    }

    /// The body within `limit` bytes, and its kind from `Content-Type`.
    func readBody(_ request: Request, limit: Int) async throws -> ([UInt8], BodyKind) {
        let mediaType = try RouteSupport.mediaType(of: request)
        let kind: BodyKind
        switch mediaType {
        case "application/json", "application/problem+json": kind = .json
        case "text/csv", "application/csv": kind = .csv
        default:
            throw Problem(
                status: .unsupportedMediaType,
                detail: "send claims as application/json or text/csv (got \(mediaType.map { "\"\($0)\"" } ?? "no Content-Type"))")
        }
        return (try await RouteSupport.collect(request, limit: limit, tooLarge: "the body is larger than \(limit) bytes; split it or use /api/v1/claims/import"), kind)
    }

    func decode(_ body: [UInt8], kind: BodyKind) throws -> RawClaim {
        do {
            switch kind {
            case .json: return try ClaimDecoding.claim(fromJSON: Data(body))
            case .csv: return try ClaimDecoding.claim(fromCSV: body)
            }
        } catch {
            throw Problem(status: .badRequest, detail: error.description, type: ProblemType.unreadableBody, title: "Unreadable claim")
        }
    }

    /// The validated claim, or a 422 problem listing every violation.
    func validated(_ raw: RawClaim, context: ClaimsRequestContext) throws -> ValidatedClaim {
        switch validator.validate(raw, today: utcToday()) {
        case .accepted(let claim):
            return claim
        case .rejected(let violations, let ignored):
            metrics.rejected(channel: "api", claims: 1)
            metrics.violations(violations)
            context.facts.domainEvent(
                "claim_rejected", "claim rejected", level: .warning,
                metadata: ["rules": .array(Array(Set(violations.map(\.rule))).sorted().map { .string($0) })], logger: context.logger)
            var problem = Problem(
                status: .unprocessableContent,
                detail: "the claim breaks \(violations.filter { $0.severity == .reject }.count) rule(s); see errors",
                type: ProblemType.validation, title: "Invalid claim")
            problem.errors = violations
            problem.ignoredFields = ignored
            throw problem
        }
    }

    func idempotencyKey(_ request: Request) throws -> String? {
        let keys = request.headers[values: .idempotencyKey]
        guard let key = keys.first else { return nil }
        guard keys.count == 1 else {
            throw Problem(status: .badRequest, detail: "send one Idempotency-Key header, not \(keys.count): a request has exactly one key")
        }
        guard (1...255).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0.value < 127 }) else {
            throw Problem(status: .badRequest, detail: "Idempotency-Key must be 1–255 visible ASCII characters")
        }
        return key
    }

    /// The stored response of an earlier request under the same key: 409 when that request had
    /// a different body or has not finished yet.
    func replay(_ record: IdempotencyRecord, body: [UInt8], kind: String) throws -> Response {
        guard Self.fingerprint(body, kind: kind, like: record.requestHash) == record.requestHash else {
            throw Problem(status: .conflict, detail: ClaimStoreError.idempotencyKeyReused(record.key).description, type: ProblemType.idempotencyConflict)
        }
        guard record.isComplete else {
            var problem = Problem(
                status: .conflict,
                detail: "the request first sent with this Idempotency-Key\(record.createdAt.map { " at \($0)" } ?? "") has not finished; retry when it has",
                type: ProblemType.idempotencyInProgress, title: "Request in progress")
            problem.headers[.retryAfter] = "5"
            throw problem
        }
        var headers = HTTPFields()
        headers[.contentType] = record.status >= 400 ? "application/problem+json" : "application/json"
        headers[.idempotentReplayed] = "true"
        if record.status == 201, let id = (try? JSONSerialization.jsonObject(with: Data(record.body.utf8)) as? [String: Any])?["id"] as? String {
            headers[.location] = "/api/v1/claims/\(id)"
        }
        return Response(status: HTTPResponse.Status(code: record.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: record.body)))
    }

    /// A SHA-256 digest of the body and its kind, to tell a retry from a different request under
    /// the same Idempotency-Key.
    static func fingerprint(_ body: [UInt8], kind: String) -> String {
        var hasher = SHA256.Hasher()
        hasher.update(Array(kind.utf8) + [0])
        hasher.update(body)
        return "sha256:" + hasher.finalizeHex()
    }

    /// The fingerprint in the form `stored` has: keys stored before SHA-256 carry the body's
    /// length and FNV-1a hash, and a retry under them must still be recognised.
    static func fingerprint(_ body: [UInt8], kind: String, like stored: String) -> String {
        stored.hasPrefix("sha256:") ? fingerprint(body, kind: kind) : "\(body.count):" + fnv1a64Hex(Array(kind.utf8) + [0] + body)
    }

    func jsonResponse(_ value: some Encodable) throws -> Response {
        RouteSupport.json(bytes: Array(try encodeJSON(value)))
    }
}

/// Size limits of the intake endpoints.
public struct IntakeLimits: Sendable {
    /// Largest body accepted by POST and PUT /api/v1/claims.
    public var maxClaimBytes: Int
    /// Largest body accepted by POST /api/v1/claims/import.
    public var maxImportBytes: Int
    /// How new claims are grouped into statements and commits.
    public var insert: ClaimInsertQueue.Limits
    /// How long an `Idempotency-Key` is remembered.
    public var idempotencyRetention: Duration

    public init(
        maxClaimBytes: Int = 1 << 20, maxImportBytes: Int = 256 << 20, insert: ClaimInsertQueue.Limits = .init(),
        idempotencyRetention: Duration = .seconds(86_400)
    ) {
        self.maxClaimBytes = maxClaimBytes
        self.maxImportBytes = maxImportBytes
        self.insert = insert
        self.idempotencyRetention = idempotencyRetention
    }
}

/// Problem type URIs, so clients can branch on the kind of problem.
enum ProblemType {
    static let validation = "https://claimsd.dev/problems/validation"
    static let unreadableBody = "https://claimsd.dev/problems/unreadable-body"
    static let invalidTransition = "https://claimsd.dev/problems/invalid-transition"
    static let idempotencyConflict = "https://claimsd.dev/problems/idempotency-key-reused"
    static let idempotencyInProgress = "https://claimsd.dev/problems/idempotency-key-in-progress"
    static let invalidQuery = "https://claimsd.dev/problems/invalid-query"
    static let importInterrupted = "https://claimsd.dev/problems/import-interrupted"
    static let paymentConflict = "https://claimsd.dev/problems/payment-already-reported"
    static let rateLimited = "https://claimsd.dev/problems/rate-limited"
    static let rateLimiterUnavailable = "https://claimsd.dev/problems/rate-limiter-unavailable"
    static let injectedFault = "https://claimsd.dev/problems/injected-fault"
    static let invalidFaultRequest = "https://claimsd.dev/problems/invalid-fault-request"
    static let unauthenticated = "https://claimsd.dev/problems/unauthenticated"
    static let forbidden = "https://claimsd.dev/problems/forbidden"
    static let outOfScope = "https://claimsd.dev/problems/out-of-scope"
    static let invalidAccount = "https://claimsd.dev/problems/invalid-account-request"
    static let loginFailed = "https://claimsd.dev/problems/login-failed"
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}
