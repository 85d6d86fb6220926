#!/usr/bin/env bash
# Top-providers benchmark: GET /api/v1/providers/top at several claim-line counts — with the
# rate limit off, with a limit (one Redis script call per request, as every user's request
# makes), beside GET /health (a static answer: the same server, no ranking) in the same run —,
# GET /health on http-reference (a bare Hummingbird server: what the HTTP stack alone serves here),
# the PostgreSQL GROUP BY the sorted set replaces, the relay's rebuild time, and the relay's
# steady throughput in events/s. Prints a Markdown table for docs/performance.md.
#
#   benchmarks/top-providers.sh                        10,000 and 1,000,000 lines, 30 s of load each
#   BENCH_TOP_LINES="10000 1000000 10000000" benchmarks/top-providers.sh
#   BENCH_SECONDS=10 BENCH_TOP_LINES=10000 benchmarks/top-providers.sh   a quick look
#
# Set-up (own PostgreSQL/Redis, release build, wrk) is in benchmarks/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_PHASE="${BENCH_SECONDS:-30}"
LINE_COUNTS="${BENCH_TOP_LINES:-10000 1000000}"
PROVIDERS="${BENCH_PROVIDERS:-5000}"
RELAY_EVENTS="${BENCH_RELAY_EVENTS:-100000}"
export CLAIMS_RATE_LIMITS=off
# The limit of the "limiter on" phase: the default rule's route with a limit no run reaches, so
# every request pays for the decision and none is refused.
LIMITED="GET /api/v1/providers/top=1000000000/60s"
# The bare HTTP stack: http-reference, a Hummingbird server with one static route and nothing
# else (Sources/http-reference), measured in the same run as the ceiling of any route here.
REFERENCE_PORT="${BENCH_REFERENCE_PORT:-28090}"
REFERENCE_BINARY="${BENCH_REFERENCE_BINARY:-$(swift build -c release --show-bin-path)/http-reference}"
[ -n "${BENCH_REFERENCE_BINARY:-}" ] || swift build -c release --product http-reference >&2
# One phase of wrk against $1 (extra wrk arguments after it) on $port (claimsd's unless set);
# sets rate, p50 and p99.
port="$HTTP_PORT"
load_phase() {
  local path="$1"; shift
  wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" "$@" "http://127.0.0.1:$port$path" >/dev/null
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_PHASE}s" --latency "$@" "http://127.0.0.1:$port$path" >"$WORK/wrk-top.txt"
  if grep -q "Non-2xx" "$WORK/wrk-top.txt"; then cat "$WORK/wrk-top.txt" >&2; echo "bench: some requests to $path failed" >&2; exit 1; fi
  phase="$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$WORK/wrk-top.txt") req/s (p50 $(awk '$1 == "50%" { print $2 }' "$WORK/wrk-top.txt"), p99 $(awk '$1 == "99%" { print $2 }' "$WORK/wrk-top.txt"))"
}

# Claims with 4 lines each over $PROVIDERS providers, and their creation events, written
# straight into PostgreSQL (the intake benchmark measures how fast claimsd stores them). The
# ranking never reads subscriber ids: their sealed form and index are bytes of the right sizes.
load_claims() {
  local claims=$(( $1 / 4 ))
  psql <<SQL >/dev/null
INSERT INTO claims (id, status, provider_npi, net_fee, line_count, service_date_from, service_date_to)
SELECT md5(n::text)::uuid, 'submitted', lpad((1000000000 + n % $PROVIDERS)::text, 10, '0'), (n % 997) * 1.25, 4, '2018-03-28', '2018-03-28'
FROM generate_series(1, $claims) AS n;
INSERT INTO claim_lines (claim_id, line_number, service_date, submitted_procedure, group_id, subscriber_id_sealed, subscriber_id_index, provider_npi,
                         provider_fees, allowed_fees, member_coinsurance, member_copay, net_fee)
SELECT c.id, l, '2018-03-28', 'D0180', 'GRP-1000', decode(repeat('5a', 47), 'hex'), sha256('3730189502'), c.provider_npi, c.net_fee / 4 + 10, 10, 0, 0, c.net_fee / 4
FROM claims c, generate_series(1, 4) AS l;
INSERT INTO claim_provider_shares (claim_id, provider_npi, net_fee, counts)
SELECT claim_id, provider_npi, sum(net_fee), true FROM claim_lines GROUP BY claim_id, provider_npi;
INSERT INTO outbox_events (claim_id, event_type, provider_npi, net_fee_delta, provider_claims_delta, net_fee, status)
SELECT id, 'claim.created', provider_npi, net_fee, 1, net_fee, 'submitted' FROM claims ORDER BY id;
VACUUM ANALYZE claims, claim_lines, claim_provider_shares, outbox_events;
SQL
}

# Waits until the relay's applied-sequence marker reaches $1; prints the nanoseconds it took.
wait_for_marker() {
  local target="$1" start; start=$(now_ns)
  until [ "$(redis GET claimsd:relay:applied_sequence)" = "$target" ]; do
    if [ $(( $(now_ns) - start )) -gt 600000000000 ]; then
      tail -n 5 "$WORK/claimsd.out" >&2
      echo "bench: the relay did not reach sequence $target within 10 minutes" >&2
      exit 1
    fi
    sleep 0.05
  done
  echo $(( $(now_ns) - start ))
}

echo "bench: GET /health on http-reference, $CONNECTIONS connections, ${SECONDS_PER_PHASE}s" >&2
"$REFERENCE_BINARY" "$REFERENCE_PORT" >"$WORK/http-reference.out" 2>&1 &
REFERENCE=$!
until curl -fsS -o /dev/null "http://127.0.0.1:$REFERENCE_PORT/health" 2>/dev/null; do sleep 0.1; done
port="$REFERENCE_PORT" load_phase /health; reference="$phase"
kill "$REFERENCE"; wait "$REFERENCE" 2>/dev/null || true

rows=()
for lines in $LINE_COUNTS; do
  reset_tables
  echo "bench: loading $lines lines" >&2
  load_claims "$lines"
  max=$(psql -c "SELECT coalesce(max(sequence), 0) FROM outbox_events")
  start_claimsd
  wait_for_marker "$max" >/dev/null
  [ "$(curl -fsS -H "$AUTH" -o /dev/null -D - "http://127.0.0.1:$HTTP_PORT/api/v1/providers/top" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-ranking-source" { print $2 }')" = redis ] \
    || { echo "bench: the ranking is not served from Redis" >&2; exit 1; }
  echo "bench: GET /api/v1/providers/top and /health, $lines lines, $CONNECTIONS connections, ${SECONDS_PER_PHASE}s each" >&2
  load_phase /api/v1/providers/top -H "$AUTH"; top_off="$phase"
  load_phase /health; static="$phase"
  stop_claimsd
  CLAIMS_RATE_LIMITS="$LIMITED" start_claimsd
  load_phase /api/v1/providers/top -H "$AUTH"; top_on="$phase"
  stop_claimsd
  # The query the sorted set replaces, as the PostgreSQL fallback runs it: best of three.
  sql_ms=$(for _ in 1 2 3; do
    psql -c "EXPLAIN (ANALYZE, FORMAT JSON) SELECT provider_npi, sum(net_fee), count(*) FROM claim_provider_shares WHERE counts
             GROUP BY provider_npi ORDER BY sum(net_fee) DESC, provider_npi LIMIT 10" | awk -F': ' '/"Execution Time"/ { print $2 + 0 }'
  done | sort -n | head -n 1)
  providers=$(redis ZCARD claimsd:ranking:net_fee)
  # The relay logs how long the rebuild took (snapshot in PostgreSQL, staging and swap in Redis).
  rebuild_ms=$({ grep '"event":"relay_rebuilt"' "$WORK/claimsd.out" || echo '"duration_ms":"?",'; } | tail -n 1 | sed -E 's/.*"duration_ms":"?([0-9?]+)"?[,}].*/\1/')
  rows+=("| $lines lines, $((lines / 4)) claims, $providers providers | $top_off | $top_on | $static | $sql_ms ms per query | $rebuild_ms ms |")
done

# --- relay throughput: a backlog of events applied to a caught-up ranking -----------------------
reset_tables
start_claimsd
wait_for_marker 0 >/dev/null
echo "bench: relay backlog of $RELAY_EVENTS events" >&2
psql <<SQL >/dev/null
BEGIN;
SELECT pg_advisory_xact_lock(7164208212675097972);
INSERT INTO outbox_events (claim_id, event_type, provider_npi, net_fee_delta, provider_claims_delta, net_fee, status)
SELECT md5(n::text)::uuid, 'claim.created', lpad((1000000000 + n % $PROVIDERS)::text, 10, '0'), (n % 997) * 1.25, 1, (n % 997) * 1.25, 'submitted'
FROM generate_series(1, $RELAY_EVENTS) AS n;
COMMIT;
SQL
max=$(psql -c "SELECT max(sequence) FROM outbox_events")
relay_ns=$(wait_for_marker "$max")
stream=$(redis XLEN claimsd:payments:events)
stop_claimsd
[ "$stream" = "$RELAY_EVENTS" ] || { echo "bench: the payments stream has $stream entries, expected $RELAY_EVENTS" >&2; exit 1; }
relay_rate=$(rate "$RELAY_EVENTS" "$relay_ns")

cat <<TABLE

Top-providers benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/^Mem/ { print $2 }') GiB, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), Redis $(redis-server --version | awk '{ print $3 }' | cut -d= -f2), release build

| data | GET /api/v1/providers/top, limiter off, $CONNECTIONS connections, ${SECONDS_PER_PHASE} s | the same, limiter on | GET /health (static answer), the same | same answer by GROUP BY in PostgreSQL | relay rebuild from PostgreSQL |
| --- | --- | --- | --- | --- | --- |
$(printf '%s\n' "${rows[@]}")

Bare HTTP stack (http-reference, Hummingbird with one static route, no middleware), GET /health, $CONNECTIONS connections, ${SECONDS_PER_PHASE} s: $reference.

Relay: $RELAY_EVENTS events applied to Redis (ranking + payments stream) in $(awk -v ns="$relay_ns" 'BEGIN { printf "%.2f s", ns / 1e9 }'): $relay_rate events/s, batches of ${CLAIMS_RELAY_BATCH_SIZE:-500}.
TABLE
