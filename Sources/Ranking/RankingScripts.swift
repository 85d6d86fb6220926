import Redis

/// The Lua scripts behind the ranking; each runs atomically inside Redis.
enum RankingScripts {
    /// Applies a batch of outbox events exactly once.
    ///
    /// KEYS: applied-sequence marker, ranking, claim counts, payments stream.
    /// ARGV: stream length cap (0 = none), then per event: sequence, NPI, net-fee delta in cents,
    /// claim-count delta, claim id, event type, net fee, net-fee delta, status (decimal strings).
    ///
    /// Events at or below the marker were applied before (a retry, or a second relay that has
    /// not noticed it lost the lock) and are skipped; the marker moves in the same atomic step
    /// as the changes. Sequences may have holes — a transaction that rolled back after drawing
    /// its number leaves one for good — so the next event is any sequence above the marker.
    /// Returns {applied count, marker}, or {-1, 0} when the marker is missing, meaning Redis
    /// lost its data and the ranking must be rebuilt.
    static let apply = RedisScript(
        """
        local applied = redis.call('GET', KEYS[1])
        if not applied then return {-1, 0} end
        applied = tonumber(applied)
        local cap = tonumber(ARGV[1])
        local count = 0
        for i = 2, #ARGV, 9 do
          local sequence = tonumber(ARGV[i])
          if sequence > applied then
            local npi = ARGV[i + 1]
            local claims = redis.call('HINCRBY', KEYS[3], npi, ARGV[i + 3])
            if claims <= 0 then
              redis.call('HDEL', KEYS[3], npi)
              redis.call('ZREM', KEYS[2], npi)
            else
              redis.call('ZINCRBY', KEYS[2], -tonumber(ARGV[i + 2]), npi)
            end
            local fields = {'sequence', ARGV[i], 'claim_id', ARGV[i + 4], 'event_type', ARGV[i + 5], 'provider_npi', npi,
                            'net_fee', ARGV[i + 6], 'net_fee_delta', ARGV[i + 7], 'status', ARGV[i + 8]}
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
        return {count, applied}
        """, name: "ranking_apply")

    /// Reads the top of the ranking and the marker it reflects, in one atomic step.
    ///
    /// KEYS: marker, ranking, claim counts. ARGV: how many.
    /// Returns {marker or false, {npi, score, …}, {claim count, …}}.
    static let top = RedisScript(
        """
        local applied = redis.call('GET', KEYS[1])
        if not applied then return {false, {}, {}} end
        local entries = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
        local members = {}
        for i = 1, #entries, 2 do members[#members + 1] = entries[i] end
        local counts = {}
        if #members > 0 then counts = redis.call('HMGET', KEYS[3], unpack(members)) end
        return {applied, entries, counts}
        """, name: "ranking_top")

    /// Swaps rebuilt keys in, unless the ranking has already moved past the snapshot.
    ///
    /// KEYS: marker, ranking, claim counts, staged ranking, staged counts. ARGV: snapshot sequence.
    /// Returns 1 when swapped, 0 when the staged keys were discarded.
    static let install = RedisScript(
        """
        local applied = redis.call('GET', KEYS[1])
        if applied and tonumber(applied) >= tonumber(ARGV[1]) then
          redis.call('DEL', KEYS[4], KEYS[5])
          return 0
        end
        redis.call('DEL', KEYS[2], KEYS[3])
        if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[2]) end
        if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('RENAME', KEYS[5], KEYS[3]) end
        redis.call('SET', KEYS[1], ARGV[1])
        return 1
        """, name: "ranking_install")
}
