public import AuditTrail
public import DataProtection
public import Postgres
import Synchronization

/// Stores new claims with group commit: claims that arrive while earlier ones are being written
/// wait together and go to PostgreSQL in one statement and one commit.
///
/// Under load, PostgreSQL then pays its per-transaction costs (the statement, the outbox
/// ordering lock, the commit's WAL flush) once per batch instead of once per claim, and the
/// ordering lock, which every claim must pass, is taken once per batch. An idle queue writes a
/// claim at once, so a lone request waits for nothing. Every caller returns only after the
/// commit that holds its claim: an answered claim is stored.
public final class ClaimInsertQueue: Sendable {
    /// How large a batch may grow and how many batches may be in flight at once.
    public struct Limits: Sendable {
        /// Most claims in one statement.
        public var maxClaims: Int
        /// Most lines in one statement; a single claim with more is still written, alone.
        public var maxLines: Int
        /// Most statements in flight at once, each on its own pooled connection.
        public var maxWriters: Int

        public init(maxClaims: Int = 64, maxLines: Int = 4_000, maxWriters: Int = 2) {
            self.maxClaims = max(1, maxClaims)
            self.maxLines = max(1, maxLines)
            self.maxWriters = max(1, maxWriters)
        }
    }

    private struct Waiting {
        let claim: StoredClaim
        let audit: AuditEvent?
        let screening: (any BatchScreening)?
        let continuation: CheckedContinuation<StoredClaim, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var writers = 0
        /// Batches still to be screened with a lookup before their insert: set after a batch
        /// held a claimed line, so a stream of duplicates does not pay for a refused insert each.
        var lookupFirst = 0
        /// Lookups of claimed lines made before an insert (see ``lookupsBeforeInsert``).
        var lookups = 0
    }

    /// How many batches after one that held a claimed line are looked up before their insert.
    static let lookupFirstAfterAClaimedLine = 16

    /// What the sessions of the queue's own client should set, over the service's settings.
    ///
    /// claimsd's sessions plan each statement at every execution (`force_custom_plan`,
    /// docs/claims.md), and the insert statement's plan was then most of what PostgreSQL still
    /// spent planning on `POST /api/v1/claims`. Its generic plan is the same as any custom one:
    /// it inserts rows expanded from array parameters and reads no table, whatever their sizes.
    /// So the writers' sessions plan each statement of theirs once and keep the plan. What else
    /// they run keeps its plans safe on its own: the lines' foreign-key checks through
    /// ``PostgresClaimRepository``'s plan step, the claimed-line lookup inside its function
    /// (migration 14).
    public static let sessionSettings = ["plan_cache_mode": "force_generic_plan"]

    private let client: PostgresClient
    private let cipher: FieldCipher
    private let limits: Limits
    private let state = Mutex(State())

    /// `cipher` encrypts the lines' member identifiers.
    public init(client: PostgresClient, cipher: FieldCipher, limits: Limits = .init()) {
        self.client = client
        self.cipher = cipher
        self.limits = limits
    }

    /// Stores `claim`, its lines, its creation event and `audit`; returns once they are committed.
    ///
    /// With `screening`, the claim is screened in its batch before it is stored, the batch's
    /// claimed lines checked by the insert statement itself (looked up apart only when one is
    /// claimed); the claim is returned as stored (flags, status).
    @discardableResult
    public func insert(_ claim: StoredClaim, audit: AuditEvent? = nil, screening: (any BatchScreening)? = nil) async throws -> StoredClaim {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<StoredClaim, any Error>) in
            let startsWriter = state.withLock { state in
                state.waiting.append(Waiting(claim: claim, audit: audit, screening: screening, continuation: continuation))
                guard state.writers < limits.maxWriters else { return false }
                state.writers += 1
                return true
            }
            if startsWriter { Task { await self.writeUntilEmpty() } }
        }
    }

    /// Claims waiting for a writer (not those being written).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Lookups of claimed lines made in a statement of their own, before an insert: none while
    /// the screened claims' lines are new.
    var lookupsBeforeInsert: Int { state.withLock { $0.lookups } }

    /// One writer: stores batches until nothing waits, then ends.
    private func writeUntilEmpty() async {
        while let batch = nextBatch() {
            await write(batch)
        }
    }

    /// The oldest waiting claims, within the limits; `nil` (and one writer fewer) when none wait.
    private func nextBatch() -> [Waiting]? {
        state.withLock { state in
            guard !state.waiting.isEmpty else {
                state.writers -= 1
                return nil
            }
            var count = 0
            var lines = 0
            for waiting in state.waiting {
                let claimLines = waiting.claim.lines.count
                if count > 0 && (count == limits.maxClaims || lines + claimLines > limits.maxLines) { break }
                count += 1
                lines += claimLines
            }
            let batch = Array(state.waiting.prefix(count))
            state.waiting.removeFirst(count)
            return batch
        }
    }

    /// Stores `batch`. When it is screened for claimed lines, it is first screened as if none
    /// were claimed and stored by one statement that checks that (one round trip); if a line is
    /// claimed after all, that statement stores nothing and the batch is looked up and stored
    /// as below.
    private func write(_ batch: [Waiting]) async {
        if let screening = batch.lazy.compactMap(\.screening).first, screening.needsClaimedLines, !takeLookupFirst() {
            let (claims, screened) = Self.screen(batch, with: screening, claimed: nil)
            let statement = PostgresClaimRepository.insertStatement(
                for: claims, audit: batch.compactMap(\.audit), cipher: cipher, unclaimed: ClaimedLineKey.lines(of: screened).keys)
            do {
                try await client.query(statement)
                for (waiting, claim) in zip(batch, claims) { waiting.continuation.resume(returning: claim) }
                return
            } catch let error as PostgresError where error.sqlState == PostgresClaimRepository.claimedLineFoundState {
                state.withLock { $0.lookupFirst = Self.lookupFirstAfterAClaimedLine }
            } catch let error as PostgresError where error.code == .server {
                // Refused for another reason: the path below finds which claim, if one is at fault.
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
                return
            }
        }
        await writeLookingUp(batch)
    }

    /// Whether this batch is to be looked up before its insert (counting it off if so).
    private func takeLookupFirst() -> Bool {
        state.withLock { state in
            guard state.lookupFirst > 0 else { return false }
            state.lookupFirst -= 1
            return true
        }
    }

    /// Stores `batch` after looking up its claimed lines in a statement of their own.
    private func writeLookingUp(_ batch: [Waiting]) async {
        let claims: [StoredClaim]
        do {
            claims = try await screen(batch)
        } catch {
            for waiting in batch { waiting.continuation.resume(throwing: error) }
            return
        }
        do {
            try await client.query(PostgresClaimRepository.insertStatement(for: claims, audit: batch.compactMap(\.audit), cipher: cipher))
            for (waiting, claim) in zip(batch, claims) { waiting.continuation.resume(returning: claim) }
        } catch let error as PostgresError where error.code == .server && batch.count > 1 {
            // The server refused the statement, so nothing of it was stored. One claim it cannot
            // take must not fail the others: each is written again on its own, with its own answer.
            for (waiting, claim) in zip(batch, claims) {
                do {
                    try await client.query(PostgresClaimRepository.insertStatement(for: [claim], audit: waiting.audit.map { [$0] } ?? [], cipher: cipher))
                    waiting.continuation.resume(returning: claim)
                } catch {
                    waiting.continuation.resume(throwing: error)
                }
            }
        } catch {
            // No connection, or it broke: every claim of the batch shares the outcome.
            for waiting in batch { waiting.continuation.resume(throwing: error) }
        }
    }

    /// The batch's claims, those that asked for screening screened together, in order: one
    /// lookup of claimed lines for all of them.
    private func screen(_ batch: [Waiting]) async throws -> [StoredClaim] {
        guard let screening = batch.lazy.compactMap(\.screening).first else { return batch.map(\.claim) }
        guard screening.needsClaimedLines else { return Self.screen(batch, with: screening, claimed: nil).claims }
        let screened = batch.compactMap { $0.screening == nil ? nil : $0.claim }
        state.withLock { $0.lookups += 1 }
        let claimed = try await PostgresClaimRepository.claimedLines(of: screened, client: client, cipher: cipher)
        return Self.screen(batch, with: screening, claimed: claimed).claims
    }

    /// The batch's claims with those that asked for screening screened together, in order, and
    /// those screened alone; `claimed` gives which lines of each screened claim are stored
    /// already (`nil`: none).
    private static func screen(_ batch: [Waiting], with screening: any BatchScreening, claimed: [Set<Int>]?) -> (claims: [StoredClaim], screened: [StoredClaim]) {
        var claims = batch.map(\.claim)
        let indices = batch.indices.filter { batch[$0].screening != nil }
        var screened = indices.map { claims[$0] }
        screening.apply(to: &screened, claimed: claimed ?? Array(repeating: [], count: screened.count))
        for (position, index) in indices.enumerated() { claims[index] = screened[position] }
        return (claims, screened)
    }
}

/// Screening the writer of new claims runs on each batch before storing it (see
/// ``ClaimInsertQueue/insert(_:audit:screening:)``).
public protocol BatchScreening: Sendable {
    /// Whether it needs to know which lines are claimed already.
    var needsClaimedLines: Bool { get }
    /// Sets the flags and status of `claims`, screened one after another as one submission;
    /// `claimed[i]` holds the numbers of claim `i`'s lines a stored claim holds already.
    func apply(to claims: inout [StoredClaim], claimed: [Set<Int>])
}
