public import ClaimStore
import Claims
public import Redis

/// The provider ranking kept in Redis: a sorted set of totals, the claim counts behind them, the
/// payments stream and the applied-sequence marker that makes every change exactly-once.
public struct RankingCache: Sendable {
    public let redis: RedisClient
    public let keys: RankingKeys
    /// Longest the payments stream may grow (approximately); 0 keeps every entry.
    public let streamLengthCap: Int
    /// This process's kept answers, told at once of every change made here; other instances
    /// hear of it on the change channel.
    public let memo: TopProvidersMemo?

    public init(redis: RedisClient, keys: RankingKeys = RankingKeys(), streamLengthCap: Int = 1_000_000, memo: TopProvidersMemo? = nil) {
        self.redis = redis
        self.keys = keys
        self.streamLengthCap = streamLengthCap
        self.memo = memo
    }

    /// What applying a batch did.
    public enum ApplyResult: Sendable, Equatable {
        /// Events were applied (or skipped as already applied); the marker is now `appliedSequence`.
        case applied(count: Int, appliedSequence: Int64)
        /// Redis has no marker: it lost its data, and the ranking must be rebuilt first.
        case needsRebuild
    }

    /// Applies `events` (in sequence order) atomically; events already applied are skipped.
    public func apply(_ events: [OutboxEvent]) async throws -> ApplyResult {
        var arguments: [RedisArgument] = [RedisArgument(streamLengthCap), RedisArgument(keys.changes)]
        arguments.reserveCapacity(2 + 10 * events.count)
        for event in events {
            arguments += [
                RedisArgument(event.sequence), RedisArgument(event.providerNPI), RedisArgument(event.netFeeDelta.cents),
                RedisArgument(event.providerClaimsDelta), RedisArgument(event.claimID.uuidString.lowercased()), RedisArgument(event.eventType),
                RedisArgument(event.netFee.description), RedisArgument(event.netFeeDelta.description), RedisArgument(event.status.rawValue),
                RedisArgument((event.providerNetFee ?? event.netFee).description),
            ]
        }
        let reply = try await redis.evaluate(
            RankingScripts.apply, keys: [keys.appliedSequence, keys.ranking, keys.claimCounts, keys.paymentsStream, keys.totals], arguments: arguments)
        guard let pair = reply.array, pair.count == 2, let count = pair[0].integer, let marker = pair[1].integer else {
            throw RedisError(code: .unexpectedReply, message: "ranking apply script returned \(reply)")
        }
        if count > 0 { memo?.rankingChanged() }
        return count < 0 ? .needsRebuild : .applied(count: Int(count), appliedSequence: marker)
    }

    /// The sequence of the last applied event, or nil when Redis has no marker.
    public func appliedSequence() async throws -> Int64? {
        try await redis.send("GET", keys.appliedSequence).integer
    }

    /// The first `limit` providers and the sequence they reflect; nil when Redis has no marker
    /// (lost data, rebuild pending) and so no trustworthy answer.
    public func top(_ limit: Int) async throws -> RankedProviders? {
        let reply = try await redis.evaluate(
            RankingScripts.top, keys: [keys.appliedSequence, keys.ranking, keys.claimCounts, keys.totals], arguments: [RedisArgument(limit)])
        guard let parts = reply.array, parts.count == 4 else {
            throw RedisError(code: .unexpectedReply, message: "ranking top script returned \(reply)")
        }
        guard let sequence = parts[0].integer else { return nil }
        let flat = parts[1].array ?? []
        let counts = parts[2].array ?? []
        let exact = parts[3].array ?? []
        var totals: [ProviderTotal] = []
        totals.reserveCapacity(flat.count / 2)
        var index = 0
        while index + 1 < flat.count {
            guard let npi = flat[index].string, let score = flat[index + 1].string.flatMap(Double.init) else {
                throw RedisError(code: .unexpectedReply, message: "ranking entry \(flat[index]) \(flat[index + 1]) is not NPI and score")
            }
            let member = index / 2
            let claims = member < counts.count ? counts[member].integer ?? 0 : 0
            // The exact total; a provider not applied since the hash appeared has only its score.
            let cents = member < exact.count ? exact[member].integer ?? -Int64(score) : -Int64(score)
            totals.append(ProviderTotal(providerNPI: npi, netFee: Money(cents: cents), claims: Int(claims)))
            index += 2
        }
        // Equal scores may hide different totals past 2^53 cents: order by the exact figures.
        totals.sort { ($0.netFee.cents, $1.providerNPI) > ($1.netFee.cents, $0.providerNPI) }
        return RankedProviders(sequence: sequence, totals: Array(totals.prefix(limit)))
    }

    /// Replaces the ranking with `snapshot`, unless events past the snapshot were applied in the
    /// meantime (by another relay). Returns whether the snapshot was installed.
    @discardableResult
    public func install(_ snapshot: RankingSnapshot) async throws -> Bool {
        let id = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let stagedRanking = keys.staging("ranking", id: id)
        let stagedCounts = keys.staging("claims", id: id)
        let stagedTotals = keys.staging("total_cents", id: id)
        // Staged keys expire on their own if this relay dies half-way.
        for chunk in snapshot.totals.chunked(into: 1000) {
            var scores: [RedisArgument] = ["ZADD", stagedRanking]
            var counts: [RedisArgument] = ["HSET", stagedCounts]
            var exact: [RedisArgument] = ["HSET", stagedTotals]
            for total in chunk {
                scores += [RedisArgument(-total.netFee.cents), RedisArgument(total.providerNPI)]
                counts += [RedisArgument(total.providerNPI), RedisArgument(total.claims)]
                exact += [RedisArgument(total.providerNPI), RedisArgument(total.netFee.cents)]
            }
            let replies = try await redis.pipeline([
                scores, counts, exact, ["EXPIRE", stagedRanking, 600], ["EXPIRE", stagedCounts, 600], ["EXPIRE", stagedTotals, 600],
            ])
            if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                throw RedisError(code: .server, message: "staging the rebuilt ranking failed: \(failure)")
            }
        }
        let swapped = try await redis.evaluate(
            RankingScripts.install,
            keys: [keys.appliedSequence, keys.ranking, keys.claimCounts, stagedRanking, stagedCounts, keys.totals, stagedTotals],
            arguments: [RedisArgument(snapshot.sequence), RedisArgument(keys.changes)])
        if swapped.integer == 1 { memo?.rankingChanged() }
        return swapped.integer == 1
    }
}

/// The top of the ranking as of one outbox sequence.
public struct RankedProviders: Sendable, Equatable {
    public var sequence: Int64
    public var totals: [ProviderTotal]

    public init(sequence: Int64, totals: [ProviderTotal]) {
        self.sequence = sequence
        self.totals = totals
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(into size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
