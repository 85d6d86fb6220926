#!/usr/bin/env bash
# Intake benchmark: POST /api/v1/claims and bulk import through claimsd, beside the raw
# PostgreSQL rate for the same rows (pgbench INSERT+COMMIT, psql COPY), in one run on this
# machine. Prints a Markdown table for docs/performance.md.
#
#   benchmarks/intake.sh                 60 s per HTTP/pgbench phase, 25,000-claim import
#   BENCH_SECONDS=10 BENCH_IMPORT_CLAIMS=5000 benchmarks/intake.sh   a quick look
#
# Set-up (own PostgreSQL/Redis, release build, wrk) is in benchmarks/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_PHASE="${BENCH_SECONDS:-60}"
IMPORT_CLAIMS="${BENCH_IMPORT_CLAIMS:-25000}"
# The relay's Redis work is part of what a claim costs; it runs as in production.

# --- POST /api/v1/claims through claimsd ------------------------------------------------------
reset_tables
start_claimsd
wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
before=$(psql -c "SELECT count(*) FROM claims")
echo "bench: POST /api/v1/claims, $CONNECTIONS connections, ${SECONDS_PER_PHASE}s" >&2
mark=$(pg_activity_mark)
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_PHASE}s" --latency -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk.txt"
post_background=$(pg_activity_since "$mark")
stop_claimsd
if grep -q "Non-2xx" "$WORK/wrk.txt"; then cat "$WORK/wrk.txt" >&2; echo "bench: some POSTs failed" >&2; exit 1; fi
post_rate=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$WORK/wrk.txt")
post_p50=$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.txt")
post_p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")
stored=$(( $(psql -c "SELECT count(*) FROM claims") - before ))

# --- the same transaction straight into PostgreSQL --------------------------------------------
reset_tables
echo "bench: pgbench INSERT+COMMIT, $CONNECTIONS clients, ${SECONDS_PER_PHASE}s" >&2
"$PG_BIN/pgbench" -n -M prepared -c "$CONNECTIONS" -j 2 -T "$WARMUP_SECONDS" -f benchmarks/raw-insert.sql >/dev/null 2>&1
mark=$(pg_activity_mark)
"$PG_BIN/pgbench" -n -M prepared -c "$CONNECTIONS" -j 2 -T "$SECONDS_PER_PHASE" -l --log-prefix="$WORK/pgbench-log" \
  -f benchmarks/raw-insert.sql >"$WORK/pgbench.txt" 2>&1
raw_background=$(pg_activity_since "$mark")
raw_rate=$(awk '/^tps = / { printf "%.0f", $3 }' "$WORK/pgbench.txt")
raw_latency=$(awk '/^latency average/ { print $4 " " $5 }' "$WORK/pgbench.txt")
raw_percentiles=$(pgbench_percentiles "$WORK/pgbench-log")

# --- bulk import -------------------------------------------------------------------------------
reset_tables
# Claims screening lets through, as most of a real file (each its own subscriber, served
# yesterday; benchmarks/screening.sh measures the flagged worst case).
awk -v claims="$IMPORT_CLAIMS" -v served="$(date -u -d yesterday +%-m/%-d/%y)" 'BEGIN {
  print "\"claim number\",\"service date\",\"submitted procedure\",\"quadrant\",\"Plan/Group #\",\"Subscriber#\",\"Provider NPI\",\"provider fees\",\"Allowed fees\",\"member coinsurance\",\"member copay\""
  for (c = 1; c <= claims; c++) for (l = 1; l <= 4; l++)
    printf "I%d,%s 0:00,D%04d,UR,GRP-1000,37%08d,1%09d,\"$%d.%02d \",$50.00 ,$16.25 ,$0.00 \r\n", c, served, 4340 + l, c, c % 300, 100 + c % 50, l
}' >"$WORK/import.csv"
lines=$((IMPORT_CLAIMS * 4))
echo "bench: claimsd import of $IMPORT_CLAIMS claims ($lines lines)" >&2
start=$(now_ns)
"$BINARY" import "$WORK/import.csv" --quiet >/dev/null
cli_ns=$(( $(now_ns) - start ))
[ "$(psql -c "SELECT count(*) FROM claim_lines")" = "$lines" ] || { echo "bench: import stored the wrong number of lines" >&2; exit 1; }

# The rows the import wrote, copied back in raw.
psql -c "\\copy claims TO '$WORK/claims.copy'" -c "\\copy claim_lines TO '$WORK/lines.copy'" \
     -c "\\copy claim_provider_shares TO '$WORK/shares.copy'" \
     -c "\\copy (SELECT claim_id, event_type, provider_npi, net_fee_delta, provider_claims_delta, net_fee, status, provider_net_fee FROM outbox_events) TO '$WORK/outbox.copy'"
reset_tables
echo "bench: raw COPY of the same rows" >&2
start=$(now_ns)
psql -1 -c "\\copy claims FROM '$WORK/claims.copy'" -c "\\copy claim_lines FROM '$WORK/lines.copy'" \
     -c "\\copy claim_provider_shares FROM '$WORK/shares.copy'" \
     -c "\\copy outbox_events (claim_id, event_type, provider_npi, net_fee_delta, provider_claims_delta, net_fee, status, provider_net_fee) FROM '$WORK/outbox.copy'"
copy_ns=$(( $(now_ns) - start ))

reset_tables
start_claimsd
echo "bench: POST /api/v1/claims/import of the same file" >&2
start=$(now_ns)
# No "Expect: 100-continue": curl would wait a second for an interim response first.
curl -fsS -o "$WORK/import-report.json" -H "$AUTH" -H 'Content-Type: text/csv' -H 'Expect:' --data-binary @"$WORK/import.csv" "http://127.0.0.1:$HTTP_PORT/api/v1/claims/import"
http_ns=$(( $(now_ns) - start ))
stop_claimsd

cli_rate=$(rate "$lines" "$cli_ns"); http_rate=$(rate "$lines" "$http_ns"); copy_rate=$(rate "$lines" "$copy_ns")
cat <<TABLE

Intake benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/^Mem/ { print $2 }') GiB, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), release build

| what | claimsd | raw PostgreSQL, same rows | claimsd / raw |
| --- | --- | --- | --- |
| POST /api/v1/claims, 4-line claims, $CONNECTIONS connections, ${SECONDS_PER_PHASE} s | $post_rate claims/s (p50 $post_p50, p99 $post_p99; $stored stored) | $raw_rate tx/s INSERT+COMMIT (avg $raw_latency; $raw_percentiles) | $(pct "$post_rate" "$raw_rate") |
| PostgreSQL in the background of those two phases | $post_background | $raw_background | |
| claimsd import FILE, $IMPORT_CLAIMS claims / $lines lines | $cli_rate lines/s | $copy_rate lines/s COPY | $(pct "$cli_rate" "$copy_rate") |
| POST /api/v1/claims/import, same file | $http_rate lines/s | $copy_rate lines/s COPY | $(pct "$http_rate" "$copy_rate") |
TABLE
