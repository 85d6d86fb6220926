#!/usr/bin/env bash
# What authentication costs: POST /api/v1/claims throughput with an API key and with an access
# token (JWT), beside authentication off, in one run. Nine phases, each mode once in each third
# of the run (off key token, key token off, token off key), so the growing tables, checkpoints and
# the VM's drift weigh on all three alike. Prints a Markdown table for docs/performance.md.
#
#   benchmarks/auth.sh                  20 s per phase
#   BENCH_SECONDS=30 benchmarks/auth.sh
#   BENCH_ORDER="token key off off key token" benchmarks/auth.sh
#
# Set-up (own PostgreSQL/Redis, release build, wrk, an admin API key) is in benchmarks/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_PHASE="${BENCH_SECONDS:-20}"
export CLAIMS_RATE_LIMITS=off CLAIMS_ACCESS_TOKEN_LIFETIME=1h
# One keyring for every phase, so an access token outlives a restart.
"$BINARY" jwt-keys generate --kid bench >"$WORK/jwt-keys"
export CLAIMS_JWT_KEYS="$WORK/jwt-keys"
API_KEY="$BENCH_BEARER"
EMAIL="bench-$(date +%s%N)@example.org"
PASSWORD="bench password $(date +%N)"
echo "$PASSWORD" | "$BINARY" users create --email "$EMAIL" --role admin --full-name "benchmark" --password-stdin >/dev/null

# Runs one phase ("off", "key" or "token") and prints "claims/s p50 p99".
phase() {
  local mode=off bearer=""
  case "$1" in
    off) mode=off ;;
    key) mode=required; bearer="$API_KEY" ;;
    token) mode=required ;;
  esac
  CLAIMS_AUTH="$mode" start_claimsd
  if [ "$1" = token ]; then
    bearer="$(curl -fsS "http://127.0.0.1:$HTTP_PORT/api/v1/login" --data-urlencode "username=$EMAIL" --data-urlencode "password=$PASSWORD" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
  fi
  BENCH_BEARER="$bearer" wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >/dev/null
  echo "bench: POST /api/v1/claims, authentication: $1, $CONNECTIONS connections, ${SECONDS_PER_PHASE}s" >&2
  BENCH_BEARER="$bearer" wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_PHASE}s" --latency -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk-auth-$1.txt"
  stop_claimsd
  if grep -q "Non-2xx" "$WORK/wrk-auth-$1.txt"; then cat "$WORK/wrk-auth-$1.txt" >&2; echo "bench: some POSTs failed" >&2; exit 1; fi
  awk '/^Requests\/sec/ { r = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 } END { printf "%.0f %s %s\n", r, p50, p99 }' "$WORK/wrk-auth-$1.txt"
}

# What one login costs at the default bcrypt cost (CLAIMS_PASSWORD_COST=11): ten logins, one at
# a time, on an idle claimsd; the median is what a user waits.
CLAIMS_AUTH=required start_claimsd
login_ms=""
for _ in $(seq 1 10); do
  login_ms+="$(curl -fsS -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$HTTP_PORT/api/v1/login" \
    --data-urlencode "username=$EMAIL" --data-urlencode "password=$PASSWORD")"$'\n'
done
stop_claimsd
login_median="$(printf '%s' "$login_ms" | sort -n | awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] * 1000 }')"

reset_tables
rows=""
declare -A total=([off]=0 [key]=0 [token]=0) phases=([off]=0 [key]=0 [token]=0)
# BENCH_ORDER changes the order, e.g. "token key off off key token", to see whether a mid-run
# checkpoint or autovacuum landed on one mode.
for mode in ${BENCH_ORDER:-off key token key token off token off key}; do
  read -r rate p50 p99 < <(phase "$mode")
  rows+="| $mode | $rate claims/s | $p50 | $p99 |"$'\n'
  total[$mode]=$((total[$mode] + rate))
  phases[$mode]=$((phases[$mode] + 1))
done
mean() { echo $((total[$1] / (phases[$1] > 0 ? phases[$1] : 1))); }
# The cost of a mode: how much lower its mean throughput is than with authentication off.
cost() { awk -v with="$(mean "$1")" -v off="$(mean off)" 'BEGIN { printf "%.1f %%", 100 * (1 - with / off) }'; }

cat <<TABLE

Authentication cost, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), release build

| authentication | POST /api/v1/claims, 4-line claims, $CONNECTIONS connections, ${SECONDS_PER_PHASE} s | p50 | p99 |
| --- | --- | --- | --- |
${rows}
Means: off $(mean off), API key $(mean key), access token $(mean token) claims/s. Cost: API key $(cost key), access token $(cost token) (negative: faster than off, within noise).
A login (bcrypt cost 11, one at a time): median ${login_median} ms of 10.
TABLE
