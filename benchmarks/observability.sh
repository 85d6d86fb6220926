#!/usr/bin/env bash
# Observability overhead: POST /api/v1/claims throughput with everything on (the access log
# and domain events in journald, every metric recorded, the self-scrape into the built-in store
# every 15 s, the shipped rules in alerts/*.yml evaluated, the notifier idle with nowhere to
# send) against all of it off (CLAIMS_TELEMETRY=off, no self-scrape, no rule files), in one
# run. Phases alternate on, off, off, on, on, off, … so that the table growing and the VM's drift
# weigh on both sides alike. Prints a Markdown table for docs/performance.md.
#
#   benchmarks/observability.sh                 6 rounds (an on and an off phase each), 30 s per phase
#   BENCH_SECONDS=10 benchmarks/observability.sh
#   BENCH_ROUNDS=3 benchmarks/observability.sh  fewer rounds: the phases of one run differ by ±15 %
#                                               on this VM, as much as the effect measured
#
# Set-up (own PostgreSQL/Redis, release build, wrk) is in benchmarks/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_PHASE="${BENCH_SECONDS:-30}"
ROUNDS="${BENCH_ROUNDS:-6}"
bash "$SERVICES" start journald bench
export CLAIMS_LOG_TARGET=journal CLAIMS_RATE_LIMITS=off

# Runs one phase with CLAIMS_TELEMETRY=$1 and prints "claims/s p50 p99 cpu-µs-per-claim". With
# telemetry on, claimsd also scrapes itself into its built-in store every 15 s and evaluates the
# shipped rules; off, it does neither. The CPU per claim is the whole machine's busy time over
# the phase (claimsd, PostgreSQL, journald, wrk) divided by the claims: throughput here is bound
# by PostgreSQL's commits as much as by CPU, and it swings with this VM's disk, while the CPU
# each claim costs does not.
phase() {
  local scrape=off rules=""
  [ "$1" = on ] && scrape=15s rules="alerts/*.yml"
  CLAIMS_TELEMETRY="$1" CLAIMS_SCRAPE_INTERVAL="$scrape" CLAIMS_RULE_FILES="$rules" start_claimsd
  wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
  echo "bench: POST /api/v1/claims, telemetry $1, $CONNECTIONS connections, ${SECONDS_PER_PHASE}s" >&2
  local busy_before busy_after
  busy_before=$(busy_ticks)
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_PHASE}s" --latency -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk-$1.txt"
  busy_after=$(busy_ticks)
  stop_claimsd
  if grep -q "Non-2xx" "$WORK/wrk-$1.txt"; then cat "$WORK/wrk-$1.txt" >&2; echo "bench: some POSTs failed" >&2; exit 1; fi
  awk -v busy=$((busy_after - busy_before)) -v hz="$TICKS_PER_SECOND" \
    '/requests in/ { n = $1 } /^Requests\/sec/ { r = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
     END { printf "%.0f %s %s %.0f\n", r, p50, p99, busy / hz * 1e6 / n }' "$WORK/wrk-$1.txt"
}

reset_tables
rows=""
on_total=0; off_total=0; on_cpu=0; off_cpu=0
# Each round's own overhead (its on phase against its off phase), to show the spread.
rounds=""; round_on=0; round_off=0
modes=()
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then modes+=(on off); else modes+=(off on); fi
done
for mode in "${modes[@]}"; do
  read -r rate p50 p99 cpu < <(phase "$mode")
  rows+="| $mode | $rate claims/s | $p50 | $p99 | $cpu µs |"$'\n'
  if [ "$mode" = on ]; then
    on_total=$((on_total + rate)); on_cpu=$((on_cpu + cpu)); round_on=$rate
  else
    off_total=$((off_total + rate)); off_cpu=$((off_cpu + cpu)); round_off=$rate
  fi
  if [ "$round_on" -gt 0 ] && [ "$round_off" -gt 0 ]; then
    rounds+="${rounds:+, }$(awk -v on="$round_on" -v off="$round_off" 'BEGIN { printf "%.1f %%", 100 * (1 - on / off) }')"
    round_on=0; round_off=0
  fi
done

cat <<TABLE

Observability overhead, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), release build, logs to journald

| telemetry | POST /api/v1/claims, 4-line claims, $CONNECTIONS connections, ${SECONDS_PER_PHASE} s | p50 | p99 | machine CPU per claim |
| --- | --- | --- | --- | --- |
${rows}
On: mean $((on_total / ROUNDS)) claims/s; off: mean $((off_total / ROUNDS)) claims/s; overhead $(awk -v on="$on_total" -v off="$off_total" 'BEGIN { printf "%.1f %%", 100 * (1 - on / off) }'). CPU per claim: on $((on_cpu / ROUNDS)) µs, off $((off_cpu / ROUNDS)) µs; overhead in CPU $(awk -v on="$on_cpu" -v off="$off_cpu" 'BEGIN { printf "%.1f %%", 100 * (1 - off / on) }') (the throughput a CPU-bound machine would lose). Overhead of each round: $rounds.
TABLE
