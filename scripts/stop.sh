#!/usr/bin/env bash
# Stops what scripts/run.sh started — claimsd, PostgreSQL, Redis and journald — each by the PID
# it recorded; nothing else is touched. Data stays in .local/run for the next run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" 2>/dev/null || REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$REPO/.local/run"
if [ -f "$STATE/claimsd.pid" ]; then
  pid="$(cat "$STATE/claimsd.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    echo "stopping claimsd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$STATE/claimsd.pid"
fi
bash "$REPO/scripts/services.sh" stop all run
