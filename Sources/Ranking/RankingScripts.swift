import Redis

/// The Lua scripts behind the ranking; each runs atomically inside Redis.
enum RankingScripts {
    /// Applies a batch of outbox events exactly once.
    ///
    /// KEYS: applied-sequence marker, ranking, claim counts, payments stream, exact totals.
    /// ARGV: stream length cap (0 = none), the change channel, then per event: sequence, NPI,
    /// net-fee delta in cents, claim-count delta, claim id, event type, net fee, net-fee delta,
    /// status, the provider's net fee (decimal strings).
    ///
    /// Events at or below the marker were applied before (a retry, or a second relay that has
    /// not noticed it lost the lock) and are skipped; the marker moves in the same atomic step
    /// as the changes. Sequences may have holes — a transaction that rolled back after drawing
    /// its number leaves one for good — so the next event is any sequence above the marker.
    /// Returns {applied count, marker}, or {-1, 0} when the marker is missing, meaning Redis
    /// lost its data and the ranking must be rebuilt. When anything was applied, the new marker
    /// is published on the change channel in the same atomic step.
    ///
    /// A provider's total is kept exactly, in cents, by HINCRBY on a hash (64-bit integers,
    /// never passing through a Lua number); the sorted set's score is that total as a double,
    /// which orders providers and is exact below 2^53 cents. A provider with no exact total yet
    /// (a ranking kept before the hash existed) starts from its score, exact for any total
    /// claimsd could have stored then.
    static let apply = RedisScript(
        """
        local applied = redis.call('GET', KEYS[1])
        if not applied then return {-1, 0} end
        applied = tonumber(applied)
        local cap = tonumber(ARGV[1])
        local count = 0
        for i = 3, #ARGV, 10 do
          local sequence = tonumber(ARGV[i])
          if sequence > applied then
            local npi = ARGV[i + 1]
            local claims = redis.call('HINCRBY', KEYS[3], npi, ARGV[i + 3])
            if claims <= 0 then
              redis.call('HDEL', KEYS[3], npi)
              redis.call('ZREM', KEYS[2], npi)
              redis.call('HDEL', KEYS[5], npi)
            else
              if redis.call('HEXISTS', KEYS[5], npi) == 0 then
                local score = redis.call('ZSCORE', KEYS[2], npi)
                local cents = score and -tonumber(score) or 0
                redis.call('HSET', KEYS[5], npi, cents == 0 and '0' or string.format('%.0f', cents))
              end
              local total = redis.call('HINCRBY', KEYS[5], npi, ARGV[i + 2])
              redis.call('ZADD', KEYS[2], -total, npi)
            end
            local fields = {'sequence', ARGV[i], 'claim_id', ARGV[i + 4], 'event_type', ARGV[i + 5], 'provider_npi', npi,
                            'net_fee', ARGV[i + 6], 'net_fee_delta', ARGV[i + 7], 'status', ARGV[i + 8],
                            'provider_net_fee', ARGV[i + 9]}
            -- Ids are the sequence, so an entry already in the stream is refused, not duplicated.
            if cap > 0 then
              redis.pcall('XADD', KEYS[4], 'MAXLEN', '~', cap, ARGV[i] .. '-0', unpack(fields))
            else
              redis.pcall('XADD', KEYS[4], ARGV[i] .. '-0', unpack(fields))
            end
            applied = sequence
            count = count + 1
          end
        end
        redis.call('SET', KEYS[1], applied)
        if count > 0 then redis.call('PUBLISH', ARGV[2], applied) end
        return {count, applied}
        """, name: "ranking_apply")

    /// Reads the top of the ranking and the marker it reflects, in one atomic step.
    ///
    /// KEYS: marker, ranking, claim counts, exact totals. ARGV: how many.
    /// Returns {marker or false, {npi, score, …}, {claim count, …}, {exact total or false, …}}.
    ///
    /// Scores at or beyond 2^53 cents can be equal for different totals, so when the last score
    /// taken is that large, every member with the same score is returned too and the caller
    /// orders them by their exact totals.
    static let top = RedisScript(
        """
        local applied = redis.call('GET', KEYS[1])
        if not applied then return {false, {}, {}, {}} end
        local entries = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
        local members = {}
        local seen = {}
        for i = 1, #entries, 2 do
          members[#members + 1] = entries[i]
          seen[entries[i]] = true
        end
        if #entries > 0 and math.abs(tonumber(entries[#entries])) >= 9007199254740992 then
          local last = entries[#entries]
          local tied = redis.call('ZRANGEBYSCORE', KEYS[2], last, last, 'WITHSCORES')
          for i = 1, #tied, 2 do
            if not seen[tied[i]] then
              entries[#entries + 1] = tied[i]
              entries[#entries + 1] = tied[i + 1]
              members[#members + 1] = tied[i]
            end
          end
        end
        local counts = {}
        local totals = {}
        if #members > 0 then
          counts = redis.call('HMGET', KEYS[3], unpack(members))
          totals = redis.call('HMGET', KEYS[4], unpack(members))
        end
        return {applied, entries, counts, totals}
        """, name: "ranking_top")

    /// Swaps rebuilt keys in, unless the ranking has already moved past the snapshot.
    ///
    /// KEYS: marker, ranking, claim counts, staged ranking, staged counts, exact totals, staged
    /// totals. ARGV: snapshot sequence, the change channel.
    /// Returns 1 when swapped (and publishes the snapshot's sequence on the change channel), 0
    /// when the staged keys were discarded.
    static let install = RedisScript(
        """
        local applied = redis.call('GET', KEYS[1])
        if applied and tonumber(applied) >= tonumber(ARGV[1]) then
          redis.call('DEL', KEYS[4], KEYS[5], KEYS[7])
          return 0
        end
        redis.call('DEL', KEYS[2], KEYS[3], KEYS[6])
        if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[2]) end
        if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('RENAME', KEYS[5], KEYS[3]) end
        if redis.call('EXISTS', KEYS[7]) == 1 then redis.call('RENAME', KEYS[7], KEYS[6]) end
        redis.call('SET', KEYS[1], ARGV[1])
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return 1
        """, name: "ranking_install")
}
