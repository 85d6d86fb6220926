public import ClaimStore
import Claims
public import CoreMetrics
import HTTPTypes
public import Hummingbird
import JSONText
import Logging
public import Ranking
import Redis
public import CircuitBreaking

/// `GET /api/v1/providers/top` (and `/top-providers` for clients of the original service): the
/// providers with the largest total net fee, from the Redis sorted set the relay maintains, or
/// from PostgreSQL when Redis cannot answer within the guard's budget (or its breaker is open).
///
/// An answer read from Redis is kept, encoded, in the ranking cache's ``TopProvidersMemo`` and
/// served from memory until the ranking changes, so a read of an unchanged ranking costs no
/// Redis round trip.
public struct ProvidersController<Repository: ClaimRepository>: Sendable {
    let repository: Repository
    let cache: RankingCache
    let redisGuard: CallGuard
    /// `claimsd_ranking_reads_total{source}`: answers served from memory, Redis and PostgreSQL.
    let readsFromMemory: Counter
    let readsFromRedis: Counter
    let readsFromPostgres: Counter

    static var defaultCount: Int { 10 }
    static var maxCount: Int { 100 }

    public init(
        repository: Repository, cache: RankingCache, redisGuard: CallGuard = CallGuard(dependency: "redis", budget: .milliseconds(50)),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.repository = repository
        self.cache = cache
        self.redisGuard = redisGuard
        self.readsFromMemory = Counter(label: "claimsd_ranking_reads_total", dimensions: [("source", "memory")], factory: metrics)
        self.readsFromRedis = Counter(label: "claimsd_ranking_reads_total", dimensions: [("source", "redis")], factory: metrics)
        self.readsFromPostgres = Counter(label: "claimsd_ranking_reads_total", dimensions: [("source", "postgresql")], factory: metrics)
    }

    public func register(on router: SecuredRoutes) {
        router.get("api/v1/providers/top", requires: .permission(.readRanking)) { request, context in try await top(request, context: context) }
        // Aliases (see RouteAliases); a trailing slash is the same path to the router.
        router.get("top-providers", requires: .permission(.readRanking)) { request, context in try await top(request, context: context) }
        router.get("top-provider", requires: .permission(.readRanking)) { request, context in try await top(request, context: context) }
    }

    func top(_ request: Request, context: ClaimsRequestContext) async throws -> Response {
        let count = try Self.count(request.uri.queryParameters.get("n"))
        if let kept = cache.memo?.answer(top: count) {
            readsFromMemory.increment()
            return Self.response(body: kept.body, source: "redis", sequence: kept.sequence)
        }
        // Taken before Redis is read: an answer read across a change is not kept.
        let ticket = cache.memo?.ticket()
        if let fromRedis = await rankingFromRedis(count, context: context) {
            readsFromRedis.increment()
            let body = Self.body(fromRedis, source: "redis")
            if let ticket { cache.memo?.keep(.init(sequence: fromRedis.sequence, body: body), top: count, ticket: ticket) }
            return Self.response(body: body, source: "redis", sequence: fromRedis.sequence)
        }
        readsFromPostgres.increment()
        let answer = RankedProviders(sequence: -1, totals: try await repository.topProviders(limit: count))
        return Self.response(body: Self.body(answer, source: "postgresql"), source: "postgresql", sequence: nil)
    }

    static func response(body: [UInt8], source: String, sequence: Int64?) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.rankingSource] = source
        if let sequence { headers[.rankingSequence] = String(sequence) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The top of the Redis ranking, or nil (logged) when Redis cannot answer or is rebuilding.
    func rankingFromRedis(_ count: Int, context: ClaimsRequestContext) async -> RankedProviders? {
        do {
            let cache = self.cache
            let ranked = try await redisGuard.run { try await cache.top(count) }
            if ranked == nil {
                context.logger.debug("ranking not built yet; answering from PostgreSQL", metadata: ["event": "ranking_fallback", "reason": "rebuilding"])
            }
            return ranked
        } catch {
            context.logger.warning(
                "Redis unavailable; answering the ranking from PostgreSQL",
                metadata: ["event": "ranking_fallback", "dependency": "redis", "error": "\(error)"])
            return nil
        }
    }

    /// `n`: how many providers, 1–100, default 10.
    static func count(_ text: String?) throws -> Int {
        guard let text else { return defaultCount }
        guard let number = Int(text), (1...maxCount).contains(number) else {
            throw Problem(status: .badRequest, detail: "n must be a whole number from 1 to \(maxCount)", type: ProblemType.invalidQuery, title: "Invalid query")
        }
        return number
    }

    /// `{"as_of_sequence":…,"providers":[{"claims":…,"net_fee":"…","provider_npi":"…","rank":1}],"source":"redis"}`.
    static func body(_ ranked: RankedProviders, source: String) -> [UInt8] {
        var writer = JSONWriter(capacity: 128 + 96 * ranked.totals.count)
        writer.open("{")
        // PostgreSQL's answer is the committed truth at the query, not a relay position: null.
        if ranked.sequence >= 0 { writer.member("as_of_sequence", ranked.sequence) } else { writer.key("as_of_sequence"); writer.raw("null") }
        writer.key("providers")
        writer.open("[")
        for (index, total) in ranked.totals.enumerated() {
            writer.open("{")
            writer.member("claims", total.claims)
            writer.member("net_fee", total.netFee.description)
            writer.member("provider_npi", total.providerNPI)
            writer.member("rank", index + 1)
            writer.close("}")
        }
        writer.close("]")
        writer.member("source", source)
        writer.close("}")
        return writer.bytes
    }
}

extension HTTPField.Name {
    /// Where a ranking answer came from: `redis` or `postgresql`.
    static let rankingSource = Self("X-Ranking-Source")!
    /// The outbox sequence a Redis answer reflects.
    static let rankingSequence = Self("X-Ranking-Sequence")!
}
