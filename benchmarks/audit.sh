#!/usr/bin/env bash
# What the audit trail costs: POST /api/v1/claims throughput (each claim's audit row in its
# transaction) and GET /api/v1/claims/{id} throughput (each read queued and written in batches),
# with CLAIMS_AUDIT=on beside CLAIMS_AUDIT=off, in one run. Six POST phases and six GET phases,
# on and off alternating (on off off on on off), so checkpoints and the VM's drift weigh on both
# alike. Prints a Markdown table for docs/performance.md.
#
#   benchmarks/audit.sh                 20 s per phase
#   BENCH_SECONDS=30 benchmarks/audit.sh
#
# Set-up (own PostgreSQL/Redis, release build, wrk, an admin API key) is in benchmarks/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_PHASE="${BENCH_SECONDS:-20}"
ORDER="${BENCH_ORDER:-on off off on on off}"
export CLAIMS_RATE_LIMITS=off CLAIMS_AUTH=required

# Runs one phase: $1 on/off, $2 the wrk script; prints "requests/s p50 p99".
phase() {
  CLAIMS_AUDIT="$1" start_claimsd
  wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" -s "$2" "http://127.0.0.1:$HTTP_PORT" >/dev/null
  echo "bench: $(basename "$2" .lua), audit $1, $CONNECTIONS connections, ${SECONDS_PER_PHASE}s" >&2
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_PHASE}s" --latency -s "$2" "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk-audit.txt"
  stop_claimsd
  if grep -q "Non-2xx" "$WORK/wrk-audit.txt"; then cat "$WORK/wrk-audit.txt" >&2; echo "bench: some requests failed" >&2; exit 1; fi
  awk '/^Requests\/sec/ { r = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 } END { printf "%.0f %s %s\n", r, p50, p99 }' "$WORK/wrk-audit.txt"
}

reset_tables
# The trail is append-only even for its owner: the benchmark database lifts the guard to empty it.
psql -c "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate" -c "ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_no_truncate" \
  -c "TRUNCATE audit_events, audit_chain, audit_pending" -c "UPDATE audit_chain_head SET last_seq = 0, last_hash = ''" \
  -c "ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_truncate" -c "ALTER TABLE audit_chain ENABLE TRIGGER audit_chain_no_truncate" >/dev/null
declare -A total=([post-on]=0 [post-off]=0 [get-on]=0 [get-off]=0) phases=([post-on]=0 [post-off]=0 [get-on]=0 [get-off]=0)
rows=""
for mode in $ORDER; do
  read -r rate p50 p99 < <(phase "$mode" benchmarks/post-claim.lua)
  rows+="| POST /api/v1/claims | $mode | $rate | $p50 | $p99 |"$'\n'
  total[post-$mode]=$((total[post-$mode] + rate)); phases[post-$mode]=$((phases[post-$mode] + 1))
done
# The POST phases leave events waiting for the sealer; seal them now, so the GET phases with
# auditing on do not pay for the POSTs' backlog (the off phases seal nothing).
psql -c "SELECT audit_seal(10000000)" >/dev/null
# Reads of the claims the POST phases stored, 10,000 of them spread over the table.
psql -c "SELECT id FROM claims TABLESAMPLE SYSTEM (5) LIMIT 10000" >"$WORK/claim-ids.txt"
export BENCH_IDS_FILE="$WORK/claim-ids.txt"
for mode in $ORDER; do
  read -r rate p50 p99 < <(phase "$mode" benchmarks/get-claim.lua)
  rows+="| GET /api/v1/claims/{id} | $mode | $rate | $p50 | $p99 |"$'\n'
  total[get-$mode]=$((total[get-$mode] + rate)); phases[get-$mode]=$((phases[get-$mode] + 1))
done
audited=$(psql -c "SELECT count(*) FROM audit_events")
mean() { echo $((total[$1] / (phases[$1] > 0 ? phases[$1] : 1))); }
cost() { awk -v on="$(mean "$1-on")" -v off="$(mean "$1-off")" 'BEGIN { printf "%.1f %%", 100 * (1 - on / off) }'; }

cat <<TABLE

Audit cost, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), release build, ${SECONDS_PER_PHASE} s phases, $CONNECTIONS connections

| request | audit | requests/s | p50 | p99 |
| --- | --- | --- | --- | --- |
${rows}
Means: POST on $(mean post-on), off $(mean post-off) claims/s (cost $(cost post)); GET on $(mean get-on), off $(mean get-off) reads/s (cost $(cost get)). Audit rows written: ${audited}.
TABLE
