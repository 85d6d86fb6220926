public import AuditTrail
public import ClaimStore
public import Claims
public import Foundation
import Postgres

/// Bulk import: validates claims and stores them in batches (one COPY transaction each); every
/// rejected claim is stored too, with its input and every violation, so nothing is lost.
///
/// When PostgreSQL refuses a batch because of its data (SQLSTATE class 22, 23 or 54: a value,
/// constraint or size it will not take), the batch is split in halves until the claims it
/// refuses stand alone; each of those is kept as a rejection (`storable`), and every other claim
/// is stored. Only an outage (connection lost, server shutting down) stops an import.
public struct ClaimImporter<Repository: ClaimRepository>: Sendable {
    let repository: Repository
    let validator: ClaimValidator
    /// Claims per transaction.
    let batchSize: Int
    let ids = UUIDv7Generator()
    /// Whether the caller may submit a valid claim: `nil` when it may, else the violation that
    /// rejects it (a provider's key importing another provider's claim).
    let admission: @Sendable (ValidatedClaim) -> Violation?
    /// Who imports: each stored batch is audited as `claim.import` in its transaction.
    let auditActor: AuditActor?
    /// Screens each batch's accepted claims before it is stored; nil: no screening.
    let screening: ClaimScreening?

    public init(
        repository: Repository, validator: ClaimValidator, batchSize: Int = 1000, auditActor: AuditActor? = nil, screening: ClaimScreening? = nil,
        admission: @escaping @Sendable (ValidatedClaim) -> Violation? = { _ in nil }
    ) {
        self.screening = screening
        self.repository = repository
        self.validator = validator
        self.batchSize = max(1, batchSize)
        self.auditActor = auditActor
        self.admission = admission
    }

    /// Validates and stores `items` in order. Validation of one batch overlaps with storing the
    /// previous one. `progress` is called after each stored batch with the items done so far.
    public func run(
        _ items: [ImportItem], importID: UUID, today: CalendarDate, progress: @Sendable (Int) -> Void = { _ in }
    ) async throws(ImportError) -> ImportReport {
        var report = ImportReport(importID: importID, items: items.count)
        var storing: (task: Task<[RefusalIsolatingStorer<Repository>.Refusal], any Error>, through: Committed)?
        var committed = Committed()
        for start in stride(from: 0, to: items.count, by: batchSize) {
            let slice = items[start..<min(start + batchSize, items.count)]
            let acceptedBefore = report.accepted.count
            var validated = await self.batch(slice, importID: importID, today: today, report: &report)
            if let screening {
                do {
                    var claims = validated.accepted
                    try await screening.screen(&claims, lookingUpIn: repository)
                    validated.replaceAccepted(claims)
                } catch {
                    throw .interrupted(
                        importID: importID, storedItems: committed.items, storedAccepted: committed.accepted, storedRejected: committed.rejected,
                        reason: "screening could not look up claimed lines: \(error)")
                }
                let screened = Dictionary(uniqueKeysWithValues: validated.accepted.map { ($0.id, $0) })
                for index in report.accepted.indices.dropFirst(acceptedBefore) {
                    guard let claim = screened[report.accepted[index].id], !claim.flags.isEmpty else { continue }
                    report.accepted[index].flags = Array(Set(claim.flags.map(\.rule))).sorted()
                    report.accepted[index].held = claim.status == .held
                }
            }
            // Encoded (and encrypted) while the previous batch is being stored.
            let batch = repository.prepared(validated)
            if let previous = storing {
                committed = try await finish(previous, committed: committed, importID: importID, report: &report, progress: progress)
            }
            let storer = RefusalIsolatingStorer(
                repository: repository, importID: importID, ids: ids, items: slice, accepted: report.accepted[acceptedBefore...])
            let screening = screening
            storing = (Task {
                let refused = try await storer.store(batch)
                // Only what was stored joins the screening averages.
                let refusedIDs = Set(refused.map(\.claimID))
                screening?.stored(batch.accepted.filter { !refusedIDs.contains($0.id) })
                return refused
            }, Committed(items: start + slice.count, accepted: report.accepted.count, rejected: report.rejected.count))
        }
        if let previous = storing {
            _ = try await finish(previous, committed: committed, importID: importID, report: &report, progress: progress)
        }
        return report
    }

    /// How much of an import is stored.
    struct Committed {
        var items = 0
        var accepted = 0
        var rejected = 0
    }

    /// Waits for a batch's transactions; moves the claims PostgreSQL refused from accepted to
    /// rejected in `report`; returns the new committed position.
    private func finish(
        _ storing: (task: Task<[RefusalIsolatingStorer<Repository>.Refusal], any Error>, through: Committed), committed: Committed, importID: UUID,
        report: inout ImportReport, progress: @Sendable (Int) -> Void
    ) async throws(ImportError) -> Committed {
        let refused: [RefusalIsolatingStorer<Repository>.Refusal]
        do {
            refused = try await storing.task.value
        } catch {
            throw .interrupted(
                importID: importID, storedItems: committed.items, storedAccepted: committed.accepted, storedRejected: committed.rejected,
                reason: "\(error)")
        }
        var through = storing.through
        if !refused.isEmpty {
            // This batch's claims start where the committed ones end: look only there.
            let rejections = Dictionary(uniqueKeysWithValues: refused.map { ($0.claimID, $0.rejection) })
            for claim in report.accepted[committed.accepted...] {
                guard let rejection = rejections[claim.id] else { continue }
                report.rejected.append(
                    ImportReport.Rejected(source: claim.source, claimNumber: claim.claimNumber, id: rejection.id, errors: rejection.violations, sourceLines: []))
            }
            report.accepted[committed.accepted...].removeAll { rejections[$0.id] != nil }
            through.accepted -= refused.count
            through.rejected += refused.count
        }
        progress(through.items)
        return through
    }

    /// Validates one slice of items into a batch, spread over the machine's cores, and records
    /// each outcome in `report` in input order.
    func batch(_ items: ArraySlice<ImportItem>, importID: UUID, today: CalendarDate, report: inout ImportReport) async -> ImportBatch {
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, items.count / 64))
        let chunkSize = (items.count + workers - 1) / workers
        let parts = await withTaskGroup(of: (Int, ValidatedChunk).self) { group in
            for (number, start) in stride(from: items.startIndex, to: items.endIndex, by: max(1, chunkSize)).enumerated() {
                let chunk = items[start..<min(start + chunkSize, items.endIndex)]
                group.addTask { (number, self.validate(chunk, importID: importID, today: today)) }
            }
            var parts: [(Int, ValidatedChunk)] = []
            for await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.map(\.1)
        }
        var batch = ImportBatch(audit: auditActor.map { ImportAudit(actor: $0, importID: importID) })
        for part in parts {
            batch.append(contentsOf: part.batch)
            report.accepted += part.accepted
            report.rejected += part.rejected
        }
        return batch
    }

    /// One chunk's claims to store and its outcomes for the report.
    struct ValidatedChunk: Sendable {
        var batch = ImportBatch()
        var accepted: [ImportReport.Accepted] = []
        var rejected: [ImportReport.Rejected] = []
    }

    func validate(_ items: ArraySlice<ImportItem>, importID: UUID, today: CalendarDate) -> ValidatedChunk {
        var result = ValidatedChunk()
        let timestamp = rfc3339Now()
        for item in items {
            let violations: [Violation]
            let number: String?
            var sourceLines: [Int] = []
            switch item.claim {
            case .failure(let error):
                number = nil
                violations = [Violation(line: nil, field: "claim", rule: "readable", severity: .reject, message: error.description)]
            case .success(let raw):
                number = raw.externalClaimNumber
                sourceLines = raw.sourceLines
                switch validator.validate(raw, today: today) {
                case .accepted(let claim):
                    if let refusal = admission(claim) {
                        violations = [refusal]
                        break
                    }
                    let stored = StoredClaim(id: ids.next(), claim: claim, at: timestamp)
                    result.batch.accept(stored)
                    result.accepted.append(
                        ImportReport.Accepted(source: item.source, claimNumber: number, id: stored.id, lines: stored.lines.count, netFee: stored.netFee,
                            warnings: stored.warnings.map(\.rule)))
                    continue
                case .rejected(let found, _):
                    violations = found
                }
            }
            let rejected = RejectedClaim(
                id: ids.next(), importID: importID, externalClaimNumber: number?.replacingNUL, source: item.source, originalJSON: item.original.json,
                violations: violations.map { var kept = $0; kept.message = kept.message.replacingNUL; return kept })
            result.batch.reject(rejected)
            result.rejected.append(
                ImportReport.Rejected(source: item.source, claimNumber: number, id: rejected.id, errors: violations, sourceLines: sourceLines))
        }
        return result
    }
}

/// Stores an import batch; when PostgreSQL refuses it for its data, stores its halves instead,
/// down to single claims, and keeps each claim it still refuses as a rejection.
struct RefusalIsolatingStorer<Repository: ClaimRepository>: Sendable {
    let repository: Repository
    let importID: UUID
    let ids: UUIDv7Generator
    /// The batch's items and the report of its accepted claims: a refused claim's source and
    /// input are found there (only when one is refused).
    let items: ArraySlice<ImportItem>
    let accepted: ArraySlice<ImportReport.Accepted>

    /// A claim PostgreSQL refused, and the rejection stored in its place.
    struct Refusal: Sendable {
        var claimID: UUID
        var rejection: RejectedClaim
    }

    /// Stores `batch`; returns the claims PostgreSQL refused, with the rejections stored for them.
    func store(_ batch: ImportBatch) async throws -> [Refusal] {
        do {
            try await repository.store(batch)
            return []
        } catch let error as PostgresError where Self.isRefusal(error) {
            guard batch.accepted.count > 1 else {
                guard let claim = batch.accepted.first else { throw error }  // a refused rejection: nothing smaller to try
                let rejection = refusal(of: claim, error: error)
                try await repository.store(ImportBatch(rejected: batch.rejected + [rejection], audit: batch.audit))
                return [Refusal(claimID: claim.id, rejection: rejection)]
            }
            let middle = batch.accepted.count / 2
            let first = try await store(ImportBatch(accepted: Array(batch.accepted[..<middle]), rejected: batch.rejected, audit: batch.audit))
            let second = try await store(ImportBatch(accepted: Array(batch.accepted[middle...]), audit: batch.audit))
            return first + second
        }
    }

    /// A data exception (22), an integrity constraint (23) or a program limit (54): this data
    /// will never be stored, unlike a lost connection or a server shutting down.
    static func isRefusal(_ error: PostgresError) -> Bool {
        ["22", "23", "54"].contains(error.sqlStateClass ?? "")
    }

    func refusal(of claim: StoredClaim, error: PostgresError) -> RejectedClaim {
        let violation = Violation(
            line: nil, field: "claim", rule: "storable", severity: .reject,
            message: "PostgreSQL refused to store this claim (SQLSTATE \(error.sqlState ?? "?")); it passed validation, so report it to the operators")
        let source = accepted.first { $0.id == claim.id }?.source ?? ""
        let original = items.first { $0.source == source }?.original.json ?? "null"
        return RejectedClaim(
            id: ids.next(), importID: importID, externalClaimNumber: claim.externalClaimNumber?.replacingNUL, source: source, originalJSON: original,
            violations: [violation])
    }
}

/// What a bulk import did with each claim, in input order.
public struct ImportReport: Sendable, Equatable {
    public struct Accepted: Sendable, Equatable {
        public var source: String
        public var claimNumber: String?
        public var id: UUID
        public var lines: Int
        public var netFee: Money
        /// Names of the warning rules recorded on the claim.
        public var warnings: [String]
        /// Names of the screening rules that flagged it, and whether it is held for review.
        public var flags: [String] = []
        public var held = false
    }

    public struct Rejected: Sendable, Equatable {
        public var source: String
        public var claimNumber: String?
        /// The id of the kept input in `rejected_claims`.
        public var id: UUID
        public var errors: [Violation]
        /// The input line of each claim line, to point at the row a violation is on.
        public var sourceLines: [Int]

        /// The input line a violation is on, when it is about one claim line.
        public func sourceLine(of violation: Violation) -> Int? {
            guard let line = violation.line, sourceLines.indices.contains(line - 1) else { return nil }
            return sourceLines[line - 1]
        }
    }

    public var importID: UUID
    /// Claims (and unreadable pieces) found in the input.
    public var items: Int
    public var accepted: [Accepted] = []
    public var rejected: [Rejected] = []

    public init(importID: UUID, items: Int) {
        self.importID = importID
        self.items = items
    }

    /// Lines of the accepted claims.
    public var acceptedLines: Int { accepted.reduce(0) { $0 + $1.lines } }
}

/// Why an import stopped before the end.
public enum ImportError: Error, Sendable, CustomStringConvertible {
    /// Storing a batch failed. The first `storedItems` items are committed (accepted and
    /// rejected ones alike); nothing after them is.
    case interrupted(importID: UUID, storedItems: Int, storedAccepted: Int, storedRejected: Int, reason: String)

    /// How many of the import's items were committed before it stopped.
    public var storedItems: Int {
        switch self {
        case .interrupted(_, let items, _, _, _): return items
        }
    }

    public var description: String {
        switch self {
        case .interrupted(let importID, let items, let accepted, let rejected, let reason):
            return "import \(importID.uuidString.lowercased()) stopped after storing the first \(items) claims (\(accepted) accepted, "
                + "\(rejected) rejected); retry from the next one: \(reason)"
        }
    }
}
