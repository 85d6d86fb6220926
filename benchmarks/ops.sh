#!/usr/bin/env bash
# How fast the operations console answers (issue 21: under 50 ms of server time with 24 h of
# history and 10,000 claims waiting for review): GET /ops (five one-hour range queries over the
# built-in store, the shipped rules' alerts, readiness, the ranking, the feed) and GET
# /ops/review (a page of twenty rejected claims, decrypted, and a page of twenty flagged ones),
# one connection at a time so the latency is the server's, beside GET /health (a static answer)
# in the same run.
#
# The store holds a day of claimsd's own series at the self-scrape interval (`tsdb-bench day`,
# as benchmarks/memory.sh makes it); the queue holds 10,000 claims an import rejected and
# 10,000 accepted claims screening flagged (a 2018 service date is stale).
#
#   benchmarks/ops.sh                  15 s per route
#   BENCH_SECONDS=30 benchmarks/ops.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECONDS_PER_ROUTE="${BENCH_SECONDS:-15}"
INTERVAL_SECONDS=15
QUEUED="${BENCH_QUEUED:-10000}"
swift build -c release --product tsdb-bench >&2
TSDB_BENCH="$(swift build -c release --show-bin-path)/tsdb-bench"
export CLAIMS_RATE_LIMITS=off CLAIMS_SCRAPE_INTERVAL="${INTERVAL_SECONDS}s"

# claimsd's own series as its self-scrape stores them, from a claimsd that served some claims.
reset_tables
rm -rf "$WORK/tsdb"
start_claimsd
capture_self_scrape

# The review queue: one import whose every claim is rejected (a 9-digit NPI).
python3 - "$QUEUED" >"$WORK/rejected.csv" <<'PY'
import sys
print('"claim number","service date","submitted procedure","quadrant","Plan/Group #","Subscriber#","Provider NPI","provider fees","Allowed fees","member coinsurance","member copay"')
for n in range(int(sys.argv[1])):
    print(f"R{n},3/1/18 0:00,D0180,,GRP-1,SUB-{n},149777553,$100.00,$50.00,$10.00,$0.00")
PY
curl -fsS -o /dev/null -H "$AUTH" -H "Content-Type: text/csv" --data-binary "@$WORK/rejected.csv" "http://127.0.0.1:$HTTP_PORT/api/v1/claims/import"
# And as many accepted claims, each flagged for its stale service date.
sed -e 's/^R/F/' -e 's/,149777553,/,1497775530,/' "$WORK/rejected.csv" >"$WORK/flagged.csv"
curl -fsS -o /dev/null -H "$AUTH" -H "Content-Type: text/csv" --data-binary "@$WORK/flagged.csv" "http://127.0.0.1:$HTTP_PORT/api/v1/claims/import"
stop_claimsd
waiting=$(psql -c "SELECT count(*) FROM rejected_claims WHERE reviewed_at IS NULL")
flagged=$(psql -c "SELECT count(*) FROM claims WHERE flags <> '[]' AND flags_reviewed_at IS NULL")

"$TSDB_BENCH" day --hours 24 --interval "$INTERVAL_SECONDS" --end "$(date +%s)" --job "$JOB" --instance "$INSTANCE" --keep \
  --directory "$WORK/tsdb" "$WORK/template-self.txt" >"$WORK/day.txt"
start_claimsd
sleep 2

rows=()
# One route at one connection: requests/s, p50 and p99.
measure() {
  local label="$1" path="$2"
  curl -fsS -o /dev/null -H "$AUTH" "http://127.0.0.1:$HTTP_PORT$path"
  wrk -t1 -c1 -d"${SECONDS_PER_ROUTE}s" --latency -H "$AUTH" "http://127.0.0.1:$HTTP_PORT$path" >"$WORK/wrk-ops.txt"
  if grep -q "Non-2xx" "$WORK/wrk-ops.txt"; then cat "$WORK/wrk-ops.txt" >&2; echo "bench: $path failed" >&2; exit 1; fi
  rows+=("$(awk -v label="$label" '/^Requests\/sec/ { r = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    END { printf "| %s | %.0f | %s | %s |", label, r, p50, p99 }' "$WORK/wrk-ops.txt")")
}
measure "GET /health (static reference)" "/health"
measure "GET /ops" "/ops?refresh=off"
measure "GET /ops/review (newest 20 of each queue)" "/ops/review"
stop_claimsd
rm -rf "$WORK/tsdb"

cat <<TABLE

Operations console, $(date -u +%Y-%m-%d), $(nproc) cores, release build, one connection, ${SECONDS_PER_ROUTE} s per route;
store: a day of claimsd's series ($(awk -F'|' '/^\| samples/ { gsub(/ /, "", $3); split($3, n, "("); print n[1] }' "$WORK/day.txt") samples), review queue: $waiting rejected claims, $flagged flagged

| route | requests/s | p50 | p99 |
| --- | --- | --- | --- |
$(printf '%s\n' "${rows[@]}")
TABLE
