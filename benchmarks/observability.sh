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
# Every run starts from an empty journal (when the journald is one the scripts started): a
# journal grown by earlier runs makes journald's writes, and so the phases, differ from run to run.
bash "$SERVICES" empty-journal
JOURNALD_PID="$(bash "$SERVICES" journald-pid)"
export CLAIMS_LOG_TARGET=journal CLAIMS_RATE_LIMITS=off

# Runs one phase with CLAIMS_TELEMETRY=$1 and prints "claims/s p50 p99 cpu-µs-per-claim
# claimsd-cpu-µs-per-claim postgres-cpu-µs-per-claim journald-cpu-µs-per-claim
# journald-bytes-per-claim disk-bytes-per-claim". With
# telemetry on, claimsd also scrapes itself into its built-in store every 15 s and evaluates the
# shipped rules; off, it does neither. The CPU per claim is the whole machine's busy time over
# the phase (claimsd, PostgreSQL, journald, wrk) divided by the claims: throughput here is bound
# by PostgreSQL's commits as much as by CPU, and it swings with this VM's disk, while the CPU
# each claim costs does not. claimsd's, PostgreSQL's (all its processes) and journald's shares
# are their own CPU time. journald's bytes are the pages it dirtied (its journal files are
# written through mmap); the disk's are every byte written to the machine's disks, with the
# kernel's dirty pages written out (sync) before and after the phase, so what the phase dirtied
# counts in it and nothing from the phase before does.
phase() {
  local scrape=off rules=""
  [ "$1" = on ] && scrape=15s rules="alerts/*.yml"
  CLAIMS_TELEMETRY="$1" CLAIMS_SCRAPE_INTERVAL="$scrape" CLAIMS_RULE_FILES="$rules" start_claimsd
  wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
  echo "bench: POST /api/v1/claims, telemetry $1, $CONNECTIONS connections, ${SECONDS_PER_PHASE}s" >&2
  sync
  local busy_before busy_after claimsd_ticks postgres_ticks journald_ticks journald_bytes disk_bytes
  busy_before=$(busy_ticks)
  claimsd_ticks=$(process_ticks "$CLAIMSD"); postgres_ticks=$(postgres_ticks)
  journald_ticks=$(process_ticks "$JOURNALD_PID"); journald_bytes=$(process_write_bytes "$JOURNALD_PID"); disk_bytes=$(disk_written_bytes)
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_PHASE}s" --latency -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk-$1.txt"
  busy_after=$(busy_ticks)
  claimsd_ticks=$(($(process_ticks "$CLAIMSD") - claimsd_ticks)); postgres_ticks=$(($(postgres_ticks) - postgres_ticks))
  journald_ticks=$(($(process_ticks "$JOURNALD_PID") - journald_ticks)); journald_bytes=$(($(process_write_bytes "$JOURNALD_PID") - journald_bytes))
  stop_claimsd
  sync
  disk_bytes=$(($(disk_written_bytes) - disk_bytes))
  if grep -q "Non-2xx" "$WORK/wrk-$1.txt"; then cat "$WORK/wrk-$1.txt" >&2; echo "bench: some POSTs failed" >&2; exit 1; fi
  awk -v busy=$((busy_after - busy_before)) -v hz="$TICKS_PER_SECOND" -v ct="$claimsd_ticks" -v pt="$postgres_ticks" -v jt="$journald_ticks" -v jb="$journald_bytes" -v db="$disk_bytes" \
    '/requests in/ { n = $1 } /^Requests\/sec/ { r = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
     END { printf "%.0f %s %s %.0f %.0f %.0f %.0f %.0f %.0f\n", r, p50, p99, busy / hz * 1e6 / n, ct / hz * 1e6 / n, pt / hz * 1e6 / n, jt / hz * 1e6 / n, jb / n, db / n }' "$WORK/wrk-$1.txt"
}

reset_tables
rows=""
on_total=0; off_total=0; on_cpu=0; off_cpu=0
on_journald=0; on_journald_bytes=0; on_disk=0; off_disk=0
on_claimsd=0; off_claimsd=0; on_postgres=0; off_postgres=0
# Each round's own overhead (its on phase against its off phase), to show the spread.
rounds=""; round_on=0; round_off=0
modes=()
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then modes+=(on off); else modes+=(off on); fi
done
for mode in "${modes[@]}"; do
  read -r rate p50 p99 cpu claimsd postgres journald journald_bytes disk < <(phase "$mode")
  rows+="| $mode | $rate claims/s | $p50 | $p99 | $cpu µs | $claimsd µs | $postgres µs | $journald µs | $journald_bytes B | $disk B |"$'\n'
  if [ "$mode" = on ]; then
    on_total=$((on_total + rate)); on_cpu=$((on_cpu + cpu)); round_on=$rate
    on_claimsd=$((on_claimsd + claimsd)); on_postgres=$((on_postgres + postgres))
    on_journald=$((on_journald + journald)); on_journald_bytes=$((on_journald_bytes + journald_bytes)); on_disk=$((on_disk + disk))
  else
    off_total=$((off_total + rate)); off_cpu=$((off_cpu + cpu)); round_off=$rate
    off_claimsd=$((off_claimsd + claimsd)); off_postgres=$((off_postgres + postgres)); off_disk=$((off_disk + disk))
  fi
  if [ "$round_on" -gt 0 ] && [ "$round_off" -gt 0 ]; then
    rounds+="${rounds:+, }$(awk -v on="$round_on" -v off="$round_off" 'BEGIN { printf "%.1f %%", 100 * (1 - on / off) }')"
    round_on=0; round_off=0
  fi
done

cat <<TABLE

Observability overhead, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), release build, logs to journald

| telemetry | POST /api/v1/claims, 4-line claims, $CONNECTIONS connections, ${SECONDS_PER_PHASE} s | p50 | p99 | machine CPU per claim | claimsd CPU | PostgreSQL CPU | journald CPU | journald bytes dirtied per claim | disk bytes written per claim |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows}
On: mean $((on_total / ROUNDS)) claims/s; off: mean $((off_total / ROUNDS)) claims/s; overhead $(awk -v on="$on_total" -v off="$off_total" 'BEGIN { printf "%.1f %%", 100 * (1 - on / off) }'). CPU per claim: on $((on_cpu / ROUNDS)) µs, off $((off_cpu / ROUNDS)) µs; overhead in CPU $(awk -v on="$on_cpu" -v off="$off_cpu" 'BEGIN { printf "%.1f %%", 100 * (1 - off / on) }') (the throughput a CPU-bound machine would lose). Overhead of each round: $rounds. CPU per claim by process, on against off: claimsd $((on_claimsd / ROUNDS)) against $((off_claimsd / ROUNDS)) µs, PostgreSQL $((on_postgres / ROUNDS)) against $((off_postgres / ROUNDS)) µs. journald with telemetry on: $((on_journald / ROUNDS)) µs of CPU and $((on_journald_bytes / ROUNDS)) bytes dirtied per claim; disk bytes written per claim: on $((on_disk / ROUNDS)), off $((off_disk / ROUNDS)).
TABLE
