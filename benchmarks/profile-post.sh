#!/usr/bin/env bash
# Where claimsd spends its CPU under the POST /api/v1/claims load: `perf record -g` of the
# claimsd process for 20 s of a wrk run (16 connections, 4-line claims), then the symbols with
# the largest inclusive share of its samples. Needs `perf` (Debian's linux-perf) and a kernel
# that lets this user profile its own processes (root, or kernel.perf_event_paranoid <= 1).
#
#   benchmarks/profile-post.sh                 authenticated with the admin API key
#   PROFILE_AUTH=off benchmarks/profile-post.sh
#   PROFILE_MATCH='Authenticat|Credential' benchmarks/profile-post.sh   only matching symbols
#   PROFILE_AUDIT=off benchmarks/profile-post.sh         without the audit trail
#   PROFILE_SCOPE=system benchmarks/profile-post.sh      the whole machine (perf -a): the CPU share
#                                                        of each process, then PostgreSQL's symbols
#
# Set-up (own PostgreSQL/Redis, release build, wrk, an admin API key) is in benchmarks/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v perf >/dev/null || { echo "bench: perf is missing (apt-get install linux-perf)" >&2; exit 1; }

AUTH_MODE="${PROFILE_AUTH:-required}"
SCOPE="${PROFILE_SCOPE:-claimsd}"
export CLAIMS_RATE_LIMITS=off CLAIMS_AUTH="$AUTH_MODE" CLAIMS_AUDIT="${PROFILE_AUDIT:-on}"
bearer="$BENCH_BEARER"
[ "$AUTH_MODE" = off ] && bearer=""
reset_tables
start_claimsd
BENCH_BEARER="$bearer" wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
BENCH_BEARER="$bearer" wrk -t2 -c"$CONNECTIONS" -d25s --latency -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk-profile.txt" &
WRK=$!
sleep 2
if [ "$SCOPE" = system ]; then
  perf record -F 999 -g -a -o "$WORK/perf-post.data" -- sleep 20 >/dev/null 2>&1
else
  perf record -F 999 -g -p "$CLAIMSD" -o "$WORK/perf-post.data" -- sleep 20 >/dev/null 2>&1
fi
wait $WRK
stop_claimsd
echo "POST /api/v1/claims, authentication $AUTH_MODE, audit $CLAIMS_AUDIT: $(awk '/^Requests\/sec/ { print $2 " claims/s" }' "$WORK/wrk-profile.txt")"
if [ "$SCOPE" = system ]; then
  echo "share of the machine's samples by process (perf data: $WORK/perf-post.data):"
  perf report -i "$WORK/perf-post.data" --no-children --sort comm -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 12
  echo "inclusive share of the postgres processes' samples:"
  perf report -i "$WORK/perf-post.data" --comms postgres --children --sort symbol -g none 2>/dev/null \
    | grep -E '^ +[0-9]' | grep -E "${PROFILE_MATCH:-.}" | head -n "${PROFILE_TOP:-40}" | cut -c1-200
else
  echo "inclusive share of claimsd's samples (perf data: $WORK/perf-post.data):"
  perf report -i "$WORK/perf-post.data" --children --sort symbol -g none 2>/dev/null \
    | grep -E '^ +[0-9]' | grep -E "${PROFILE_MATCH:-.}" | head -n "${PROFILE_TOP:-40}" | cut -c1-200
fi
