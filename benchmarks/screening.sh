#!/usr/bin/env bash
# What screening costs at intake: POST /api/v1/claims throughput with every screening rule on
# (the default: one lookup of claimed lines per claim, the averages in memory, a flags column)
# beside CLAIMS_SCREENING=off, in one run, phases alternating (on off off on on off) so the VM's
# drift weighs on both alike. By default post-claim.lua sends the same subscriber, procedures
# and 2018 service date every time (BENCH_CLAIMS=flagged): from the second claim on, every claim
# is flagged (duplicate_line and future_or_stale_service_date), the most screening ever writes.
# BENCH_CLAIMS=fresh sends claims screening lets through, as most of a real stream. Prints a
# Markdown table for docs/performance.md.
#
#   benchmarks/screening.sh                 20 s per phase, every claim flagged
#   BENCH_CLAIMS=fresh benchmarks/screening.sh
#   BENCH_SECONDS=30 BENCH_ORDER="on off" benchmarks/screening.sh
#
# Set-up (own PostgreSQL/Redis, release build, wrk, an admin API key) is in benchmarks/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_PHASE="${BENCH_SECONDS:-20}"
ORDER="${BENCH_ORDER:-on off off on on off}"
export CLAIMS_RATE_LIMITS=off CLAIMS_AUTH=required BENCH_CLAIMS="${BENCH_CLAIMS:-flagged}"

reset_tables
declare -A total=([on]=0 [off]=0) phases=([on]=0 [off]=0) cpu=([on]=0 [off]=0)
rows=""
for mode in $ORDER; do
  setting="$mode"
  [[ "$mode" == on ]] && setting="net_fee_over_average,duplicate_line,future_or_stale_service_date"
  read -r rate p50 p99 us < <(measure_phase CLAIMS_SCREENING "$setting" benchmarks/post-claim.lua "$SECONDS_PER_PHASE")
  rows+="| $mode | $rate | $p50 | $p99 | $us |"$'\n'
  total[$mode]=$((total[$mode] + rate)); phases[$mode]=$((phases[$mode] + 1)); cpu[$mode]=$((cpu[$mode] + us))
done
flagged=$(psql -c "SELECT count(*) FILTER (WHERE flags <> '[]') || ' of ' || count(*) FROM claims")
mean() { echo $((total[$1] / phases[$1])); }
cpu_mean() { echo $((cpu[$1] / phases[$1])); }

cat <<TABLE

Screening cost, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), release build, ${SECONDS_PER_PHASE} s phases, $CONNECTIONS connections, BENCH_CLAIMS=$BENCH_CLAIMS

| screening | requests/s | p50 | p99 | CPU µs per request |
| --- | --- | --- | --- | --- |
${rows}
POST claims/s on $(mean on), off $(mean off) (cost $(awk -v on="$(mean on)" -v off="$(mean off)" 'BEGIN { printf "%.1f %%", 100 * (1 - on / off) }')); CPU per request on $(cpu_mean on) µs, off $(cpu_mean off) µs (cost $(awk -v on="$(cpu_mean on)" -v off="$(cpu_mean off)" 'BEGIN { printf "%.1f %%", 100 * (1 - off / on) }')).
Claims flagged: ${flagged}.
TABLE
