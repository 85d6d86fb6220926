#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL, Redis and journald, which it installs and
# starts itself on its own ports and data (.local/test, .local/chaos), so it can run beside a
# service started by scripts/run.sh. Extra arguments go to 'swift test' (e.g. --filter Redis).
# Exits non-zero on any failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

PG_PORT="${CLAIMS_TEST_PG_PORT:-15433}"
REDIS_PORT="${CLAIMS_TEST_REDIS_PORT:-16380}"
CHAOS_PG_PORT="${CLAIMS_TEST_CHAOS_PG_PORT:-15434}"
CHAOS_REDIS_PORT="${CLAIMS_TEST_CHAOS_REDIS_PORT:-16381}"
READINESS_PG_PORT="${CLAIMS_TEST_READINESS_PG_PORT:-15435}"
READINESS_REDIS_PORT="${CLAIMS_TEST_READINESS_REDIS_PORT:-16382}"
TLS_PG_PORT="${CLAIMS_TEST_TLS_PG_PORT:-15437}"
PAUSED_REDIS_PORT="${CLAIMS_TEST_PAUSED_REDIS_PORT:-16384}"
NODE_EXPORTER_PORT="${CLAIMS_TEST_NODE_EXPORTER_PORT:-19100}"
PROMETHEUS_PORT="${CLAIMS_TEST_PROMETHEUS_PORT:-19090}"
ALERTMANAGER_PORT="${CLAIMS_TEST_ALERTMANAGER_PORT:-19093}"
DRILL_5XX_ALERTMANAGER_PORT="${CLAIMS_TEST_DRILL_5XX_ALERTMANAGER_PORT:-19094}"
DRILL_4XX_ALERTMANAGER_PORT="${CLAIMS_TEST_DRILL_4XX_ALERTMANAGER_PORT:-19095}"
INSTANCES=(test chaos readiness paused scrape promql alerting drill5xx drill4xx tls)

bash "$SERVICES" install-test

cleanup() {
  for instance in "${INSTANCES[@]}"; do bash "$SERVICES" stop all "$instance" || true; done
}
trap cleanup EXIT

# Start from empty stores each run: results never depend on an earlier run's leftovers.
for instance in "${INSTANCES[@]}"; do
  bash "$SERVICES" stop all "$instance"
  for store in postgres redis; do
    target="$REPO/.local/$instance/$store"
    [ -L "$target" ] && rm -rf "$(readlink -f "$target")"
    rm -rf "$target"
  done
done

bash "$SERVICES" start postgres test "$PG_PORT"
bash "$SERVICES" start redis test "$REDIS_PORT"
# Servers the recovery tests stop and restart: 'chaos' for the client wrappers, 'readiness'
# for /ready, so the two never see each other's outages (Swift Testing runs suites in parallel).
bash "$SERVICES" start postgres chaos "$CHAOS_PG_PORT"
bash "$SERVICES" start redis chaos "$CHAOS_REDIS_PORT"
bash "$SERVICES" start postgres readiness "$READINESS_PG_PORT"
bash "$SERVICES" start redis readiness "$READINESS_REDIS_PORT"
# A Redis the circuit-breaker tests pause (SIGSTOP), so it hangs instead of refusing.
bash "$SERVICES" start redis paused "$PAUSED_REDIS_PORT"
bash "$SERVICES" start journald test
# A PostgreSQL serving TLS with a certificate from a test authority, for sslmode=verify-full.
TLS_DIR="${CLAIMS_STATE_DIR:-$REPO/.local}/tls/certificates"
rm -rf "$TLS_DIR"
CLAIMS_PG_TLS_DIR="$TLS_DIR" bash "$SERVICES" start postgres tls "$TLS_PG_PORT"
export CLAIMS_TEST_TLS_DATABASE_URL="postgresql://claimsd@127.0.0.1:$TLS_PG_PORT/claimsd"
export CLAIMS_TEST_TLS_CA="$TLS_DIR/ca.crt"
# The keys that encrypt member identifiers at rest, for the tests and every claimsd they start:
# made once (openssl), so the databases of an earlier run still open with them.
DATA_KEYS_FILE="${CLAIMS_STATE_DIR:-$REPO/.local}/test-data-keys"
if [ ! -s "$DATA_KEYS_FILE" ]; then
  random_key() { openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n'; }
  (umask 077; printf 'data test-data-1 %s\nindex test-index-1 %s\n' "$(random_key)" "$(random_key)" >"$DATA_KEYS_FILE")
fi
export CLAIMS_DATA_KEYS="$DATA_KEYS_FILE"
# pg_dump of the PostgreSQL in use: the encryption test scans a dump for plain values.
export CLAIMS_TEST_PG_DUMP="$(bash "$SERVICES" pg-bindir)/pg_dump"

export CLAIMS_TEST_DATABASE_URL="postgresql://claimsd@127.0.0.1:$PG_PORT/claimsd"
export CLAIMS_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export CLAIMS_TEST_CHAOS_DATABASE_URL="postgresql://claimsd@127.0.0.1:$CHAOS_PG_PORT/claimsd"
export CLAIMS_TEST_CHAOS_REDIS_URL="redis://127.0.0.1:$CHAOS_REDIS_PORT/0"
export CLAIMS_TEST_READINESS_DATABASE_URL="postgresql://claimsd@127.0.0.1:$READINESS_PG_PORT/claimsd"
export CLAIMS_TEST_READINESS_REDIS_URL="redis://127.0.0.1:$READINESS_REDIS_PORT/0"
export CLAIMS_TEST_PAUSED_REDIS_URL="redis://127.0.0.1:$PAUSED_REDIS_PORT/0"
export CLAIMS_TEST_PAUSED_REDIS_PID_FILE="${CLAIMS_STATE_DIR:-$REPO/.local}/paused/redis.pid"
export CLAIMS_TEST_SERVICES="$SERVICES"
# Every claimsd the tests start waits up to 3 s for Redis (production: 50 ms): on two cores busy
# with the other suites, a tight budget would send rate-limit decisions to the per-instance
# fallback and make limits the tests count drift. RedisBudgetTests sets its own.
export CLAIMS_REDIS_BUDGET=3s
# The scraper tests start and stop their own node exporter (instance 'scrape') on this port.
export CLAIMS_TEST_NODE_EXPORTER_PORT="$NODE_EXPORTER_PORT"
# The PromQL differential tests load their data into a Prometheus (instance 'promql') on this port.
export CLAIMS_TEST_PROMETHEUS_PORT="$PROMETHEUS_PORT"
# The alerting integration tests start an Alertmanager (instance 'alerting') on this port.
export CLAIMS_TEST_ALERTMANAGER_PORT="$ALERTMANAGER_PORT"
# The alert drills start one Alertmanager each (instances 'drill5xx' and 'drill4xx').
export CLAIMS_TEST_DRILL_5XX_ALERTMANAGER_PORT="$DRILL_5XX_ALERTMANAGER_PORT"
export CLAIMS_TEST_DRILL_4XX_ALERTMANAGER_PORT="$DRILL_4XX_ALERTMANAGER_PORT"
# The journal tests read entries back with journalctl; a normal user needs the systemd-journal
# (or adm) group for that, or sudo.
if [ "$(id -u)" -ne 0 ] && ! id -nG | grep -qwE 'systemd-journal|adm'; then
  if command -v sudo >/dev/null; then
    export CLAIMS_TEST_JOURNALCTL="sudo journalctl"
  else
    echo "warning: $(id -un) cannot read the system journal (not in systemd-journal, no sudo); the journal tests will fail" >&2
  fi
fi

swift build --build-tests
if [ $# -gt 0 ]; then
  swift test --skip-build "$@"
else
  # The suites of the time-series store, the scraper and PromQL run in a second pass: the PromQL
  # differential test (11,000 queries against a real Prometheus) and the store's integration
  # tests (claimsd started, killed, restarted and dumped) keep both cores busy, and the first
  # pass's timing-sensitive tests (pool bounds, rate-limit windows of a few seconds, relay
  # take-over) must not share the machine with them. The alert drills, the dashboard queries,
  # the deploy validators and the flood tools start processes of their own and go there too.
  # The connection guard's raw-TCP tests run last and alone: they watch the server close
  # connections, and NIO accepts sockets without close-on-exec, so any process another suite
  # starts meanwhile inherits the server's end and the client never sees the close. The Redis
  # budget test joins them (it starts no process: it signals the paused Redis itself), because
  # it measures how long requests wait, which a machine busy with the other passes would blur.
  heavy="TimeSeriesTests|ScrapingTests|PromQLTests|PromQLDifferentialTests|TimeSeriesIntegrationTests|TimeSeriesAdminTests|GrafanaConversationTests|APIJSONTests|AlertingTests|AlertingIntegrationTests|RulesCommandTests|AlertDrillTests|DashboardQueryTests|DeployConfigTests|SystemdNotifyTests|FloodingTests"
  alone="ConnectionGuardTests|RedisBudgetTests"
  swift test --skip-build --skip "$heavy|$alone"
  swift test --skip-build --filter "$heavy"
  swift test --skip-build --filter "$alone"
fi
