#!/usr/bin/env bash
# Shared set-up of the benchmark scripts: their own PostgreSQL/Redis instance ("bench", ports
# 15436/16383) under .local/bench, a release build of claimsd, wrk, psql, and helpers.
# Source it; it is not run on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$REPO"

CONNECTIONS="${BENCH_CONNECTIONS:-16}"
PG_PORT="${BENCH_PG_PORT:-15436}"
REDIS_PORT="${BENCH_REDIS_PORT:-16383}"
# Below the ephemeral range (32768+): polling a port there while nothing listens can connect
# curl to itself (a TCP simultaneous open) and leave the port busy for a minute.
HTTP_PORT="${BENCH_HTTP_PORT:-28080}"
WARMUP_SECONDS="${BENCH_WARMUP_SECONDS:-5}"
WORK="$REPO/.local/bench/work"
mkdir -p "$WORK"

bash "$SERVICES" install
command -v wrk >/dev/null || { echo "bench: installing wrk" >&2; if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi; }
bash "$SERVICES" start postgres bench "$PG_PORT"
bash "$SERVICES" start redis bench "$REDIS_PORT"

# BENCH_BINARY runs a claimsd built before (say, a copy of the last commit's) instead of building.
if [ -n "${BENCH_BINARY:-}" ]; then
  BINARY="$BENCH_BINARY"
else
  swift build -c release --product claimsd >&2
  BINARY="$(swift build -c release --show-bin-path)/claimsd"
fi
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
export CLAIMS_DATABASE_URL="postgresql://claimsd@127.0.0.1:$PG_PORT/claimsd"
export CLAIMS_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export CLAIMS_LOG_TARGET=stdout CLAIMS_DATABASE_POOL_SIZE="$CONNECTIONS"
# The built-in time-series store of the benchmarked claimsd (scripts may point it elsewhere).
export CLAIMS_TSDB_PATH="$WORK/tsdb"
# The benchmark database's data keys, made once.
if [ ! -s "$REPO/.local/bench/data-keys" ]; then
  (umask 077; "$BINARY" keys generate --data-key-id bench-1 >"$REPO/.local/bench/data-keys")
fi
export CLAIMS_DATA_KEYS="$REPO/.local/bench/data-keys"
export PGHOST=127.0.0.1 PGPORT="$PG_PORT" PGUSER=claimsd PGDATABASE=claimsd
psql() { "$PG_BIN/psql" -v ON_ERROR_STOP=1 -qtA "$@"; }
redis() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
# Empty tables, then a checkpoint: right after a TRUNCATE the fsync rate on this disk drops
# for seconds while the old files are written back, which would skew whichever phase is next.
reset_tables() {
  psql -c "TRUNCATE claims, claim_lines, claim_provider_shares, outbox_events, rejected_claims, idempotency_keys, payment_results" >/dev/null
  psql -c "VACUUM ANALYZE claims, claim_lines, claim_provider_shares, outbox_events, rejected_claims" >/dev/null
  psql -U postgres -c "CHECKPOINT" >/dev/null
  redis FLUSHALL >/dev/null
  sync
  sleep 2
}
# Seals every audit event written so far (no load is running): a mark, then rounds until the
# sealer has passed it.
seal_audit_trail() {
  local drawn
  drawn=$(psql -c "SELECT audit_mark()")
  until [ "$(psql -c "SELECT audit_seal(100000)" -c "SELECT sealed_through >= $drawn FROM audit_chain_head" | tail -1)" = t ]; do
    sleep 0.1
  done
}
# With claimsd running: a short POST load, then the series claimsd's self-scrape stores (its
# exposition, in $WORK/template-self.txt) and the job and instance labels it gives them (JOB,
# INSTANCE), for `tsdb-bench day` to make a day of history from. INTERVAL_SECONDS is the
# self-scrape interval.
capture_self_scrape() {
  wrk -t2 -c"$CONNECTIONS" -d10s -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
  curl -fsS -H "$AUTH" "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/template-self.txt"
  sleep "$INTERVAL_SECONDS"
  read -r JOB INSTANCE < <(curl -fsS -H "$AUTH" "http://127.0.0.1:$HTTP_PORT/api/v1/query?query=up" \
    | python3 -c 'import json, sys; m = json.load(sys.stdin)["data"]["result"][0]["metric"]; print(m["job"], m["instance"])')
}
now_ns() { date +%s%N; }
# What PostgreSQL did in the background so far: "checkpoints vacuums analyzes wal-bytes"
# (checkpoints of the server, autovacuum and autoanalyze runs of claimsd's tables, WAL written).
# pg_activity_since MARK prints what happened after MARK was taken, as "N checkpoints, N
# autovacuums, N autoanalyzes, X MiB of WAL".
pg_activity_mark() {
  psql -F ' ' -c "SELECT (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter),
      (SELECT sum(autovacuum_count) FROM pg_stat_user_tables), (SELECT sum(autoanalyze_count) FROM pg_stat_user_tables),
      pg_current_wal_lsn() - '0/0'"
}
pg_activity_since() {
  # Statistics reach the views within a second of a run ending.
  sleep 1
  local before=($1) after
  read -ra after < <(pg_activity_mark)
  awk -v c=$((after[0] - before[0])) -v v=$((after[1] - before[1])) -v a=$((after[2] - before[2])) -v w="${after[3]}" -v w0="${before[3]}" \
    'BEGIN { printf "%d checkpoints, %d autovacuums, %d autoanalyzes, %.0f MiB of WAL", c, v, a, (w - w0) / 1048576 }'
}
# p50 and p99 of the transactions in pgbench's per-transaction logs PREFIX.* (the third field
# is the latency in µs), as "p50 X ms, p99 Y ms".
pgbench_percentiles() {
  cat "$1".* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END {
    median = int(NR * 0.50); if (median < 1) median = 1
    tail = int(NR * 0.99); if (tail < 1) tail = 1
    printf "p50 %.2f ms, p99 %.2f ms", v[median] / 1000, v[tail] / 1000 }'
  rm -f "$1".*
}
# CPU time the whole machine spent busy (user, nice, system, irq, softirq, steal) so far, in
# clock ticks of /proc/stat. The difference over a phase divided by its requests is the CPU cost
# of one request (claimsd, PostgreSQL, Redis and wrk together), which a shared VM's drift
# disturbs far less than throughput.
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
TICKS_PER_SECOND="$(getconf CLK_TCK)"
# CPU time (user and system, in clock ticks) process $1 has used so far; 0 when it is gone.
process_ticks() { { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null || echo; } | awk '{ print $12 + $13 }'; }
# CPU ticks used so far by every process of the benchmarks' PostgreSQL (the postmaster
# services.sh recorded, and its children; backends that ended during a phase are not counted,
# which claimsd's long-lived connections make rare).
postgres_ticks() {
  local postmaster total=0 pid
  postmaster="$(cat "${CLAIMS_STATE_DIR:-$REPO/.local}/bench/postgres.pid" 2>/dev/null)" || { echo 0; return; }
  for pid in "$postmaster" $(cat "/proc/$postmaster/task/$postmaster/children" 2>/dev/null); do
    total=$((total + $(process_ticks "$pid")))
  done
  echo "$total"
}
# Bytes process $1 has sent towards the disk so far (/proc/PID/io write_bytes: pages it dirtied,
# through mmap too, counted when dirtied, not when the kernel writes them back); 0 if unreadable.
process_write_bytes() { awk '$1 == "write_bytes:" { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/io" 2>/dev/null || echo 0; }
# Bytes written to the machine's disks so far (/proc/diskstats; whole disks, not partitions or
# device-mapper volumes, so nothing counts twice).
disk_written_bytes() {
  awk 'FNR == NR { disk[$1]; next } ($3 in disk) { sectors += $10 } END { printf "%.0f\n", sectors * 512 }' \
    <(ls /sys/block | grep -vE '^(loop|ram|zram|dm-|sr)') /proc/diskstats
}
rate() { awk -v n="$1" -v ns="$2" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }

"$BINARY" migrate >/dev/null
# Authentication is required, as in production: every request the benchmarks send to claimsd
# carries an admin API key (wrk through post-claim.lua or -H, curl through -H).
BENCH_BEARER="$("$BINARY" api-keys create --role admin --name benchmarks)"
export BENCH_BEARER
AUTH="Authorization: Bearer $BENCH_BEARER"

# What a script also stops when it ends, however it ends (exporters, a Prometheus): scripts add
# shell commands to BENCH_CLEANUP; the EXIT trap runs them, whoever installs it.
BENCH_CLEANUP=""
trap 'eval "$BENCH_CLEANUP"' EXIT

# Starts claimsd in the background and waits for /ready; stops the run if it does not come up.
start_claimsd() {
  "$BINARY" serve --port "$HTTP_PORT" >>"$WORK/claimsd.out" 2>&1 &
  CLAIMSD=$!
  trap 'kill $CLAIMSD 2>/dev/null || true; eval "$BENCH_CLEANUP"' EXIT
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null 2>&1 && return 0
    kill -0 $CLAIMSD 2>/dev/null || break
    sleep 0.2
  done
  tail -n 5 "$WORK/claimsd.out" >&2
  echo "bench: claimsd did not become ready on port $HTTP_PORT" >&2
  exit 1
}

stop_claimsd() {
  kill $CLAIMSD; wait $CLAIMSD 2>/dev/null || true
  trap 'eval "$BENCH_CLEANUP"' EXIT
}
: >"$WORK/claimsd.out"

# One measured phase with one setting changed: $1 the variable, $2 its value, $3 the wrk script,
# $4 the phase's seconds. claimsd starts with it, is warmed up, and runs the phase with wrk;
# prints "requests/s p50 p99 cpu-µs-per-request" (the machine's busy CPU time per request, which
# the VM's drift disturbs less than throughput). Stops the run when a request failed.
measure_phase() {
  declare -x "$1=$2"
  start_claimsd
  wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" -s "$3" "http://127.0.0.1:$HTTP_PORT" >/dev/null
  echo "bench: $(basename "$3" .lua), $1=$2, $CONNECTIONS connections, ${4}s" >&2
  local busy_before busy_after
  busy_before=$(busy_ticks)
  wrk -t2 -c"$CONNECTIONS" -d"${4}s" --latency -s "$3" "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk-phase.txt"
  # What the phase left to write in the background (audit events, their seal) counts too.
  sleep 1.5
  busy_after=$(busy_ticks)
  stop_claimsd
  if grep -q "Non-2xx" "$WORK/wrk-phase.txt"; then cat "$WORK/wrk-phase.txt" >&2; echo "bench: some requests failed" >&2; exit 1; fi
  awk -v busy=$((busy_after - busy_before)) -v hz="$TICKS_PER_SECOND" \
    '/requests in/ { n = $1 } /^Requests\/sec/ { r = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
     END { printf "%.0f %s %s %.0f\n", r, p50, p99, busy / hz * 1e6 / n }' "$WORK/wrk-phase.txt"
}
