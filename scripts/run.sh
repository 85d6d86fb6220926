#!/usr/bin/env bash
# Runs claimsd with everything it needs: installs missing Debian packages, starts PostgreSQL,
# Redis and (when no journal socket exists) journald with data under .local/run, builds
# claimsd (release unless CLAIMS_BUILD=debug) and runs it; migrations apply on start.
# A second run reuses what is there. Stop the servers it started with scripts/stop.sh.
#
#   scripts/run.sh               run in the foreground (Ctrl-C stops claimsd)
#   scripts/run.sh --background  start in the background, wait until /ready answers 200
#
# Settings: any CLAIMS_* variable (see README.md); ports via CLAIMS_RUN_PG_PORT and
# CLAIMS_RUN_REDIS_PORT.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

PG_PORT="${CLAIMS_RUN_PG_PORT:-15432}"
REDIS_PORT="${CLAIMS_RUN_REDIS_PORT:-16379}"
BUILD="${CLAIMS_BUILD:-release}"
STATE="$REPO/.local/run"

# Already running? Say so before installing, starting or building anything.
if [ -f "$STATE/claimsd.pid" ] && kill -0 "$(cat "$STATE/claimsd.pid")" 2>/dev/null \
  && grep -q claimsd "/proc/$(cat "$STATE/claimsd.pid")/cmdline" 2>/dev/null; then
  echo "claimsd already running (pid $(cat "$STATE/claimsd.pid")); stop it with scripts/stop.sh"
  exit 0
fi

bash "$SERVICES" install
bash "$SERVICES" start postgres run "$PG_PORT"
bash "$SERVICES" start redis run "$REDIS_PORT"
bash "$SERVICES" start journald run

swift build -c "$BUILD" --product claimsd
BINARY="$(swift build -c "$BUILD" --show-bin-path)/claimsd"

export CLAIMS_DATABASE_URL="${CLAIMS_DATABASE_URL:-postgresql://claimsd@127.0.0.1:$PG_PORT/claimsd}"
export CLAIMS_REDIS_URL="${CLAIMS_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}"
# The built-in time-series store keeps its WAL and checkpoints with the other local data.
export CLAIMS_TSDB_PATH="${CLAIMS_TSDB_PATH:-$REPO/.local/run/tsdb}"
export CLAIMSD_REVISION="${CLAIMSD_REVISION:-$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
HOST="${CLAIMS_HOST:-127.0.0.1}"
PORT="${CLAIMS_PORT:-8000}"

# Authentication is required: keep a local signing keyring and an admin API key (git-ignored
# under .local/run), made once, so tokens survive restarts and the API can be used.
if [ -z "${CLAIMS_JWT_KEYS:-}" ]; then
  if [ ! -s "$STATE/jwt-keys" ]; then
    (umask 077; "$BINARY" jwt-keys generate --kid local-1 >"$STATE/jwt-keys")
  fi
  export CLAIMS_JWT_KEYS="$STATE/jwt-keys"
fi
# Member identifiers and names are stored encrypted: a local keyring, made once. Elsewhere, keep
# the keyring secret and back it up apart from the database (docs/security.md).
if [ -z "${CLAIMS_DATA_KEYS:-}" ]; then
  if [ ! -s "$STATE/data-keys" ]; then
    (umask 077; "$BINARY" keys generate --data-key-id local-1 >"$STATE/data-keys")
  fi
  export CLAIMS_DATA_KEYS="$STATE/data-keys"
fi
if [ ! -s "$STATE/admin-key" ]; then
  (umask 077; "$BINARY" api-keys create --role admin --name "local admin (scripts/run.sh)" >"$STATE/admin-key.new") \
    && mv "$STATE/admin-key.new" "$STATE/admin-key"
  echo "claimsd: a local admin API key is in $STATE/admin-key (send it as: Authorization: Bearer \$(cat $STATE/admin-key))"
fi

if [ "${1:-}" = "--background" ]; then
  nohup "$BINARY" serve >>"$STATE/claimsd.out" 2>&1 &
  echo $! >"$STATE/claimsd.pid"
  for attempt in $(seq 1 300); do
    if curl -fsS "http://$HOST:$PORT/ready" >/dev/null 2>&1; then
      echo "claimsd is up on http://$HOST:$PORT (pid $(cat "$STATE/claimsd.pid")); logs: journalctl -t claimsd -f, or $STATE/claimsd.out"
      exit 0
    fi
    kill -0 "$(cat "$STATE/claimsd.pid")" 2>/dev/null || { tail -n 20 "$STATE/claimsd.out" >&2; echo "claimsd exited" >&2; exit 1; }
    sleep 0.2
  done
  echo "claimsd did not become ready within 60 s; see $STATE/claimsd.out" >&2
  exit 1
fi

echo "$$" >"$STATE/claimsd.pid"
exec "$BINARY" serve
