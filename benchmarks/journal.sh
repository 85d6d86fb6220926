#!/usr/bin/env bash
# Journal benchmark: how many access records per second reach journald, and whether any are
# lost. claimsd (release) logs to the journal while wrk drives GET /health as fast as it can;
# afterwards the records in the journal are counted against claimsd's own request counter.
# Prints a Markdown table for docs/performance.md.
#
#   benchmarks/journal.sh                  30 s at 16 connections
#   BENCH_SECONDS=10 benchmarks/journal.sh
#
# Set-up (own PostgreSQL/Redis, release build, wrk) is in benchmarks/lib.sh; journald is the
# system's, or one started by scripts/services.sh with the rate limit deploy/claimsd.service sets.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_PHASE="${BENCH_SECONDS:-30}"
bash "$SERVICES" start journald bench
JOURNALCTL=(journalctl)
[ "$(id -u)" -eq 0 ] || id -nG | grep -qwE 'systemd-journal|adm' || JOURNALCTL=(sudo journalctl)

export CLAIMS_LOG_TARGET=journal CLAIMS_RATE_LIMITS=off
since=$(date +%s)
start_claimsd
echo "bench: GET /health with the access log in journald, $CONNECTIONS connections, ${SECONDS_PER_PHASE}s" >&2
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_PHASE}s" "http://127.0.0.1:$HTTP_PORT/health" >"$WORK/wrk-journal.txt"
answered=$(curl -fsS -H "$AUTH" "http://127.0.0.1:$HTTP_PORT/metrics" | awk -F' ' '/^claimsd_http_requests_total\{method="GET",route="\/health",status="200"\}/ { print $2 }')
pid=$CLAIMSD
stop_claimsd

# journald writes what it has received before journalctl sees it: wait until the count settles.
count_records() { "${JOURNALCTL[@]}" --since="@$since" "_PID=$pid" EVENT=request_completed HTTP_ROUTE=/health -o cat --no-pager | wc -l; }
stored=0
for _ in $(seq 1 60); do
  now=$(count_records)
  [ "$now" -eq "$stored" ] && [ "$now" -gt 0 ] && break
  stored=$now
  sleep 1
done
suppressed=$("${JOURNALCTL[@]}" --since="@$since" -t systemd-journald -o cat --no-pager | grep -c "Suppressed" || true)
rate=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$WORK/wrk-journal.txt")
answered=${answered%.*}
lost=$((answered - stored))

cat <<TABLE

Journal benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(systemd-journald --version 2>/dev/null | head -n 1 || "${JOURNALCTL[@]}" --version | head -n 1), release build

| what | figure |
| --- | --- |
| GET /health answered in ${SECONDS_PER_PHASE} s, $CONNECTIONS connections | $answered ($rate req/s) |
| access records found in the journal | $stored |
| records lost | $lost |
| records per second reaching journald | $(rate "$stored" "$((SECONDS_PER_PHASE * 1000000000))") |
| journald "Suppressed" notices in the run | $suppressed |
TABLE
[ "$lost" -eq 0 ] || { echo "bench: $lost access records did not reach the journal" >&2; exit 1; }
