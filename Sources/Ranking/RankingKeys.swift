public import Redis

/// The Redis keys claimsd keeps, all under one prefix so several deployments (or tests) can
/// share a Redis without touching each other's data.
public struct RankingKeys: Sendable, Equatable {
    public let prefix: String

    public init(prefix: String = "claimsd:") {
        self.prefix = prefix
    }

    /// Sorted set: member = provider NPI, score = minus the provider's total net fee in cents.
    /// Negated so that ZRANGE (ascending) lists the largest totals first and breaks ties by
    /// member ascending, which for ten-digit NPIs is NPI order. Scores are doubles: exact below
    /// 2^53 cents; ``totals`` holds the exact figure.
    public var ranking: RedisArgument { RedisArgument(prefix + "ranking:net_fee") }
    /// Hash: provider NPI → its exact total net fee in cents (a 64-bit integer).
    public var totals: RedisArgument { RedisArgument(prefix + "ranking:total_cents") }
    /// Hash: provider NPI → how many of its claims make up its total.
    public var claimCounts: RedisArgument { RedisArgument(prefix + "ranking:claims") }
    /// String: the outbox sequence of the last event applied to the ranking and the stream.
    public var appliedSequence: RedisArgument { RedisArgument(prefix + "relay:applied_sequence") }
    /// Stream: one entry per outbox event, with id `<sequence>-0`, for the payments service.
    public var paymentsStream: RedisArgument { RedisArgument(prefix + "payments:events") }

    /// Pub/sub channel: the relay publishes the new applied sequence on it whenever the ranking
    /// changes (a batch applied, a rebuild installed), so every instance can forget answers it
    /// kept (``TopProvidersMemo``).
    public var changes: String { prefix + "ranking:changes" }

    /// A fresh key for building a replacement of `key` during a rebuild.
    func staging(_ name: String, id: String) -> RedisArgument { RedisArgument(prefix + "rebuild:\(id):\(name)") }

    /// The sliding-window key of one client on one route.
    public func rateLimit(route: String, client: String) -> RedisArgument {
        RedisArgument(prefix + "ratelimit:\(route):\(client)")
    }
}
