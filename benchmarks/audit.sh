#!/usr/bin/env bash
# What the audit trail costs: POST /api/v1/claims throughput (each claim's audit row in its
# transaction) and GET /api/v1/claims/{id} throughput (each read queued and written in batches),
# with CLAIMS_AUDIT=on beside CLAIMS_AUDIT=off, in one run. Six POST phases and six GET phases,
# on and off alternating (on off off on on off), so checkpoints and the VM's drift weigh on both
# alike. Beside throughput, each phase reports the machine's busy CPU time per request, which the
# VM's drift disturbs less. Prints a Markdown table for docs/performance.md.
#
#   benchmarks/audit.sh                 20 s per phase
#   BENCH_SECONDS=30 benchmarks/audit.sh
#   BENCH_REQUESTS=get BENCH_ORDER="on off off on on off off on" benchmarks/audit.sh
#                                       only the GET phases (claims to read are stored first)
#
# Set-up (own PostgreSQL/Redis, release build, wrk, an admin API key) is in benchmarks/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_PHASE="${BENCH_SECONDS:-20}"
ORDER="${BENCH_ORDER:-on off off on on off}"
REQUESTS="${BENCH_REQUESTS:-post get}"
export CLAIMS_RATE_LIMITS=off CLAIMS_AUTH=required

# Runs one phase: $1 on/off, $2 the wrk script; prints "requests/s p50 p99 cpu-µs-per-request".
phase() { measure_phase CLAIMS_AUDIT "$1" "$2" "$SECONDS_PER_PHASE"; }

reset_tables
# The trail is append-only even for its owner: the benchmark database lifts the guard to empty it.
psql -c "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate" -c "ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_no_truncate" \
  -c "TRUNCATE audit_events, audit_chain, audit_seal_marks" -c "UPDATE audit_chain_head SET last_seq = 0, last_hash = ''" \
  -c "ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_truncate" -c "ALTER TABLE audit_chain ENABLE TRIGGER audit_chain_no_truncate" >/dev/null
declare -A total=([post-on]=0 [post-off]=0 [get-on]=0 [get-off]=0) phases=([post-on]=0 [post-off]=0 [get-on]=0 [get-off]=0)
declare -A cpu=([post-on]=0 [post-off]=0 [get-on]=0 [get-off]=0)
rows=""
post_order="$ORDER"
if [[ " $REQUESTS " != *" post "* ]]; then
  # Only GET: one POST phase stores the claims to read, and is not reported.
  post_order=""
  CLAIMS_AUDIT=on start_claimsd
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_PHASE}s" -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
  stop_claimsd
  psql -c "VACUUM ANALYZE claims, claim_lines, claim_provider_shares" >/dev/null
fi
for mode in $post_order; do
  read -r rate p50 p99 us < <(phase "$mode" benchmarks/post-claim.lua)
  rows+="| POST /api/v1/claims | $mode | $rate | $p50 | $p99 | $us |"$'\n'
  total[post-$mode]=$((total[post-$mode] + rate)); phases[post-$mode]=$((phases[post-$mode] + 1))
  cpu[post-$mode]=$((cpu[post-$mode] + us))
done
# The POST phases leave events waiting for the sealer; seal them now, so the GET phases with
# auditing on do not pay for the POSTs' backlog (the off phases seal nothing).
seal_audit_trail
# Vacuum and analyze what the POSTs wrote now, or autovacuum does it during the first GET phase
# and charges it to whichever mode that is.
psql -c "VACUUM ANALYZE audit_events, audit_chain" >/dev/null
# Reads of the claims the POST phases stored, 10,000 of them spread over the table.
psql -c "SELECT id FROM claims TABLESAMPLE SYSTEM (5) LIMIT 10000" >"$WORK/claim-ids.txt"
export BENCH_IDS_FILE="$WORK/claim-ids.txt"
get_order="$ORDER"
[[ " $REQUESTS " == *" get "* ]] || get_order=""
for mode in $get_order; do
  read -r rate p50 p99 us < <(phase "$mode" benchmarks/get-claim.lua)
  rows+="| GET /api/v1/claims/{id} | $mode | $rate | $p50 | $p99 | $us |"$'\n'
  total[get-$mode]=$((total[get-$mode] + rate)); phases[get-$mode]=$((phases[get-$mode] + 1))
  cpu[get-$mode]=$((cpu[get-$mode] + us))
done
audited=$(psql -c "SELECT count(*) FROM audit_events")
mean() { echo $((total[$1] / (phases[$1] > 0 ? phases[$1] : 1))); }
cost() { awk -v on="$(mean "$1-on")" -v off="$(mean "$1-off")" 'BEGIN { printf "%.1f %%", 100 * (1 - on / off) }'; }
cpu_mean() { echo $((cpu[$1] / (phases[$1] > 0 ? phases[$1] : 1))); }
# At saturation throughput is the machine's CPU divided by the CPU per request.
cpu_cost() { awk -v on="$(cpu_mean "$1-on")" -v off="$(cpu_mean "$1-off")" 'BEGIN { printf "%.1f %%", (on > 0 ? 100 * (1 - off / on) : 0) }'; }
summary() {
  echo "$2 on $(mean "$1-on"), off $(mean "$1-off") $3 (cost $(cost "$1")); CPU per request on $(cpu_mean "$1-on") µs, off $(cpu_mean "$1-off") µs (cost $(cpu_cost "$1"))."
}

cat <<TABLE

Audit cost, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), release build, ${SECONDS_PER_PHASE} s phases, $CONNECTIONS connections

| request | audit | requests/s | p50 | p99 | CPU µs per request |
| --- | --- | --- | --- | --- | --- |
${rows}
$([[ -n "$post_order" ]] && summary post POST claims/s)
$([[ -n "$get_order" ]] && summary get GET reads/s)
Audit rows written: ${audited}.
TABLE
