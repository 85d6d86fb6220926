#!/usr/bin/env bash
# Where claimsd spends its CPU under load: `perf record -g` of the claimsd process for 20 s of a
# wrk run (16 connections) of POST /api/v1/claims (4-line claims) or GET /api/v1/claims/{id}
# (reads of claims a POST run stored first), then the symbols with the largest inclusive share
# of its samples. Needs `perf` (Debian's linux-perf) and a kernel
# that lets this user profile its own processes (root, or kernel.perf_event_paranoid <= 1).
#
#   benchmarks/profile.sh                 POST, authenticated with the admin API key
#   PROFILE_REQUEST=get benchmarks/profile.sh       GET of stored claims instead
#   PROFILE_REQUEST=top benchmarks/profile.sh       GET /api/v1/providers/top (claims a POST run stored)
#   PROFILE_AUTH=off benchmarks/profile.sh
#   PROFILE_MATCH='Authenticat|Credential' benchmarks/profile.sh   only matching symbols
#   PROFILE_AUDIT=off benchmarks/profile.sh         without the audit trail
#   PROFILE_SCOPE=system benchmarks/profile.sh      the whole machine (perf -a): the CPU share
#                                                   of each process, then PostgreSQL's symbols
#
# Set-up (own PostgreSQL/Redis, release build, wrk, an admin API key) is in benchmarks/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v perf >/dev/null || { echo "bench: perf is missing (apt-get install linux-perf)" >&2; exit 1; }

AUTH_MODE="${PROFILE_AUTH:-required}"
SCOPE="${PROFILE_SCOPE:-claimsd}"
REQUEST="${PROFILE_REQUEST:-post}"
case "$REQUEST" in
  post) SCRIPT=benchmarks/post-claim.lua LABEL="POST /api/v1/claims" UNIT="claims/s" ;;
  get) SCRIPT=benchmarks/get-claim.lua LABEL="GET /api/v1/claims/{id}" UNIT="reads/s" ;;
  top) SCRIPT="" LABEL="GET /api/v1/providers/top" UNIT="req/s" ;;
  *) echo "bench: PROFILE_REQUEST must be post, get or top, not '$REQUEST'" >&2; exit 64 ;;
esac
export CLAIMS_RATE_LIMITS=off CLAIMS_AUTH="$AUTH_MODE" CLAIMS_AUDIT="${PROFILE_AUDIT:-on}"
bearer="$BENCH_BEARER"
[ "$AUTH_MODE" = off ] && bearer=""
reset_tables
start_claimsd
# wrk's arguments for the profiled load.
LOAD=(-s "$SCRIPT" "http://127.0.0.1:$HTTP_PORT")
if [ "$REQUEST" = top ]; then
  # A ranking to read: the claims of a short POST run, applied by the relay.
  BENCH_BEARER="$bearer" wrk -t2 -c"$CONNECTIONS" -d5s -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
  sleep 2
  LOAD=(-H "Authorization: Bearer $bearer" "http://127.0.0.1:$HTTP_PORT/api/v1/providers/top")
fi
if [ "$REQUEST" = get ]; then
  # Claims to read, stored by a POST run; their audit rows sealed, so the reads do not pay for them.
  BENCH_BEARER="$bearer" wrk -t2 -c"$CONNECTIONS" -d20s -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
  seal_audit_trail
  psql -c "SELECT id FROM claims TABLESAMPLE SYSTEM (5) LIMIT 10000" >"$WORK/claim-ids.txt"
  export BENCH_IDS_FILE="$WORK/claim-ids.txt"
fi
[ "$REQUEST" = get ] && LOAD=(-s "$SCRIPT" "http://127.0.0.1:$HTTP_PORT")
BENCH_BEARER="$bearer" wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" "${LOAD[@]}" >/dev/null
BENCH_BEARER="$bearer" wrk -t2 -c"$CONNECTIONS" -d25s --latency "${LOAD[@]}" >"$WORK/wrk-profile.txt" &
WRK=$!
sleep 2
if [ "$SCOPE" = system ]; then
  perf record -F 999 -g -a -o "$WORK/perf-$REQUEST.data" -- sleep 20 >/dev/null 2>&1
else
  perf record -F 999 -g -p "$CLAIMSD" -o "$WORK/perf-$REQUEST.data" -- sleep 20 >/dev/null 2>&1
fi
wait $WRK
stop_claimsd
echo "$LABEL, authentication $AUTH_MODE, audit $CLAIMS_AUDIT: $(awk -v unit="$UNIT" '/^Requests\/sec/ { print $2 " " unit }' "$WORK/wrk-profile.txt")"
if [ "$SCOPE" = system ]; then
  echo "share of the machine's samples by process (perf data: $WORK/perf-$REQUEST.data):"
  perf report -i "$WORK/perf-$REQUEST.data" --no-children --sort comm -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 12
  echo "inclusive share of the postgres processes' samples:"
  perf report -i "$WORK/perf-$REQUEST.data" --comms postgres --children --sort symbol -g none 2>/dev/null \
    | grep -E '^ +[0-9]' | grep -E "${PROFILE_MATCH:-.}" | head -n "${PROFILE_TOP:-40}" | cut -c1-200
else
  echo "inclusive share of claimsd's samples (perf data: $WORK/perf-$REQUEST.data):"
  perf report -i "$WORK/perf-$REQUEST.data" --children --sort symbol -g none 2>/dev/null \
    | grep -E '^ +[0-9]' | grep -E "${PROFILE_MATCH:-.}" | head -n "${PROFILE_TOP:-40}" | cut -c1-200
fi
