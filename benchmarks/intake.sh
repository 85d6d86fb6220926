#!/usr/bin/env bash
# Intake benchmark: POST /api/v1/claims and bulk import through claimsd, beside the raw
# PostgreSQL rate for the same rows (pgbench INSERT+COMMIT, psql COPY), in one run on this
# machine. Prints a Markdown table for docs/performance.md.
#
#   benchmarks/intake.sh                 60 s per HTTP/pgbench phase, 25,000-claim import
#   BENCH_SECONDS=10 BENCH_IMPORT_CLAIMS=5000 benchmarks/intake.sh   a quick look
#
# Uses its own PostgreSQL/Redis instance ("bench", ports 55436/56383) under .local/bench,
# a release build of claimsd, wrk (Debian package) for HTTP load, pgbench and psql.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$REPO"

SECONDS_PER_PHASE="${BENCH_SECONDS:-60}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
IMPORT_CLAIMS="${BENCH_IMPORT_CLAIMS:-25000}"
PG_PORT="${BENCH_PG_PORT:-55436}"
REDIS_PORT="${BENCH_REDIS_PORT:-56383}"
HTTP_PORT="${BENCH_HTTP_PORT:-58080}"
WORK="$REPO/.local/bench/work"
mkdir -p "$WORK"

bash "$SERVICES" install
command -v wrk >/dev/null || { echo "bench: installing wrk" >&2; if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi; }
bash "$SERVICES" start postgres bench "$PG_PORT"
bash "$SERVICES" start redis bench "$REDIS_PORT"

swift build -c release --product claimsd >&2
BINARY="$(swift build -c release --show-bin-path)/claimsd"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
export CLAIMS_DATABASE_URL="postgresql://claimsd@127.0.0.1:$PG_PORT/claimsd"
export CLAIMS_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export CLAIMS_LOG_TARGET=stdout CLAIMS_DATABASE_POOL_SIZE="$CONNECTIONS"
export PGHOST=127.0.0.1 PGPORT="$PG_PORT" PGUSER=claimsd PGDATABASE=claimsd
psql() { "$PG_BIN/psql" -v ON_ERROR_STOP=1 -qtA "$@"; }
# Empty tables, then a checkpoint: right after a TRUNCATE the fsync rate on this disk drops
# for seconds while the old files are written back, which would skew whichever phase is next.
reset_tables() {
  psql -c "TRUNCATE claims, claim_lines, outbox_events, rejected_claims, idempotency_keys" >/dev/null
  psql -c "VACUUM ANALYZE claims, claim_lines, outbox_events, rejected_claims" >/dev/null
  psql -U postgres -c "CHECKPOINT" >/dev/null
  sync
  sleep 2
}
WARMUP_SECONDS="${BENCH_WARMUP_SECONDS:-5}"
now_ns() { date +%s%N; }
rate() { awk -v n="$1" -v ns="$2" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'; }

"$BINARY" migrate >/dev/null

# Starts claimsd in the background and waits for /ready; stops the run if it does not come up.
start_claimsd() {
  "$BINARY" serve --port "$HTTP_PORT" >>"$WORK/claimsd.out" 2>&1 &
  CLAIMSD=$!
  trap 'kill $CLAIMSD 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null 2>&1 && return 0
    kill -0 $CLAIMSD 2>/dev/null || break
    sleep 0.2
  done
  tail -n 5 "$WORK/claimsd.out" >&2
  echo "bench: claimsd did not become ready on port $HTTP_PORT" >&2
  exit 1
}
: >"$WORK/claimsd.out"

# --- POST /api/v1/claims through claimsd ------------------------------------------------------
reset_tables
start_claimsd
wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
before=$(psql -c "SELECT count(*) FROM claims")
echo "bench: POST /api/v1/claims, $CONNECTIONS connections, ${SECONDS_PER_PHASE}s" >&2
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_PHASE}s" --latency -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk.txt"
kill $CLAIMSD; wait $CLAIMSD 2>/dev/null || true
trap - EXIT
if grep -q "Non-2xx" "$WORK/wrk.txt"; then cat "$WORK/wrk.txt" >&2; echo "bench: some POSTs failed" >&2; exit 1; fi
post_rate=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$WORK/wrk.txt")
post_p50=$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.txt")
post_p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")
stored=$(( $(psql -c "SELECT count(*) FROM claims") - before ))

# --- the same transaction straight into PostgreSQL --------------------------------------------
reset_tables
echo "bench: pgbench INSERT+COMMIT, $CONNECTIONS clients, ${SECONDS_PER_PHASE}s" >&2
"$PG_BIN/pgbench" -n -M prepared -c "$CONNECTIONS" -j 2 -T "$WARMUP_SECONDS" -f benchmarks/raw-insert.sql >/dev/null 2>&1
"$PG_BIN/pgbench" -n -M prepared -c "$CONNECTIONS" -j 2 -T "$SECONDS_PER_PHASE" -f benchmarks/raw-insert.sql >"$WORK/pgbench.txt" 2>&1
raw_rate=$(awk '/^tps = / { printf "%.0f", $3 }' "$WORK/pgbench.txt")
raw_latency=$(awk '/^latency average/ { print $4 " " $5 }' "$WORK/pgbench.txt")

# --- bulk import -------------------------------------------------------------------------------
reset_tables
awk -v claims="$IMPORT_CLAIMS" 'BEGIN {
  print "\"claim number\",\"service date\",\"submitted procedure\",\"quadrant\",\"Plan/Group #\",\"Subscriber#\",\"Provider NPI\",\"provider fees\",\"Allowed fees\",\"member coinsurance\",\"member copay\""
  for (c = 1; c <= claims; c++) for (l = 1; l <= 4; l++)
    printf "I%d,3/28/18 0:00,D%04d,UR,GRP-1000,3730189502,1%09d,\"$%d.%02d \",$50.00 ,$16.25 ,$0.00 \r\n", c, 4340 + l, c % 300, 100 + c % 50, l
}' >"$WORK/import.csv"
lines=$((IMPORT_CLAIMS * 4))
echo "bench: claimsd import of $IMPORT_CLAIMS claims ($lines lines)" >&2
start=$(now_ns)
"$BINARY" import "$WORK/import.csv" --quiet >/dev/null
cli_ns=$(( $(now_ns) - start ))
[ "$(psql -c "SELECT count(*) FROM claim_lines")" = "$lines" ] || { echo "bench: import stored the wrong number of lines" >&2; exit 1; }

# The rows the import wrote, copied back in raw.
psql -c "\\copy claims TO '$WORK/claims.copy'" -c "\\copy claim_lines TO '$WORK/lines.copy'" \
     -c "\\copy (SELECT claim_id, event_type, provider_npi, net_fee_delta, net_fee, status FROM outbox_events) TO '$WORK/outbox.copy'"
reset_tables
echo "bench: raw COPY of the same rows" >&2
start=$(now_ns)
psql -1 -c "\\copy claims FROM '$WORK/claims.copy'" -c "\\copy claim_lines FROM '$WORK/lines.copy'" \
     -c "\\copy outbox_events (claim_id, event_type, provider_npi, net_fee_delta, net_fee, status) FROM '$WORK/outbox.copy'"
copy_ns=$(( $(now_ns) - start ))

reset_tables
start_claimsd
echo "bench: POST /api/v1/claims/import of the same file" >&2
start=$(now_ns)
# No "Expect: 100-continue": curl would wait a second for an interim response first.
curl -fsS -o "$WORK/import-report.json" -H 'Content-Type: text/csv' -H 'Expect:' --data-binary @"$WORK/import.csv" "http://127.0.0.1:$HTTP_PORT/api/v1/claims/import"
http_ns=$(( $(now_ns) - start ))
kill $CLAIMSD; wait $CLAIMSD 2>/dev/null || true
trap - EXIT

cli_rate=$(rate "$lines" "$cli_ns"); http_rate=$(rate "$lines" "$http_ns"); copy_rate=$(rate "$lines" "$copy_ns")
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }
cat <<TABLE

Intake benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/^Mem/ { print $2 }') GiB, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), release build

| what | claimsd | raw PostgreSQL, same rows | claimsd / raw |
| --- | --- | --- | --- |
| POST /api/v1/claims, 4-line claims, $CONNECTIONS connections, ${SECONDS_PER_PHASE} s | $post_rate claims/s (p50 $post_p50, p99 $post_p99; $stored stored) | $raw_rate tx/s INSERT+COMMIT (avg $raw_latency) | $(pct "$post_rate" "$raw_rate") |
| claimsd import FILE, $IMPORT_CLAIMS claims / $lines lines | $cli_rate lines/s | $copy_rate lines/s COPY | $(pct "$cli_rate" "$copy_rate") |
| POST /api/v1/claims/import, same file | $http_rate lines/s | $copy_rate lines/s COPY | $(pct "$http_rate" "$copy_rate") |
TABLE
