#!/usr/bin/env bash
# Starts and stops the real servers claimsd needs, from Debian's packages, with all data under
# .local/<instance>/ in the repository (git-ignored). Used by run.sh, test.sh and the tests.
#
#   scripts/services.sh install                      install missing Debian packages
#   scripts/services.sh install-test                 the same, plus what only the tests need (promtool, Alertmanager,
#                                                    exporters, docker-compose, chromium; kubernetes-validate,
#                                                    openapi-spec-validator, PyYAML and schemathesis from PyPI)
#   scripts/services.sh start  postgres INSTANCE [PORT]   (PORT defaults to the last one used)
#   scripts/services.sh start  redis    INSTANCE [PORT]
#   scripts/services.sh start  journald INSTANCE     (only when no journal socket exists)
#   scripts/services.sh start  node-exporter|redis-exporter|postgres-exporter INSTANCE [PORT]
#                              (the redis and postgres exporters watch that instance's servers)
#   scripts/services.sh start  prometheus INSTANCE PORT [DATA_DIR]   (scrapes nothing; serves DATA_DIR)
#   scripts/services.sh stop   postgres|redis|journald|<kind>-exporter|prometheus|all INSTANCE
#   scripts/services.sh pause|resume redis INSTANCE   (SIGSTOP / SIGCONT: a Redis that hangs rather than refuses)
#   scripts/services.sh status INSTANCE
#   scripts/services.sh journald-pid                 the pid of the systemd-journald that runs
#   scripts/services.sh empty-journal                empties the journal of a journald these scripts started
#
# Works as root (PostgreSQL then runs as the unprivileged 'postgres' user) and as a normal
# user (root-only steps go through sudo). Stopping only ever stops what this script started,
# identified by the PID it recorded.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${CLAIMS_STATE_DIR:-$REPO/.local}"
PACKAGES=(postgresql redis-server redis-tools libpq-dev libhiredis-dev libsystemd-dev systemd pkg-config curl)
# Only the test suite and benchmarks need these: promtool (in Debian's prometheus package)
# checks /metrics; the exporters are real scrape targets for the built-in scraper.
# Headless chromium lays out the /docs page in a real browser.
TEST_PACKAGES=(prometheus prometheus-alertmanager prometheus-node-exporter prometheus-redis-exporter prometheus-postgres-exporter
  docker-compose python3-venv openssl chromium)
# Validators from PyPI (none is packaged by Debian), pinned, in a virtual environment of the
# repository's own (.local/tools/venv): kubernetes-validate checks deploy/k8s offline,
# openapi-spec-validator the OpenAPI document, PyYAML reads it beside claimsd's own reading, and
# schemathesis tests a live claimsd against it.
PYPI_TEST_TOOLS=(kubernetes-validate==1.37.0 openapi-spec-validator==0.9.0 PyYAML==6.0.3 schemathesis==4.32.5)

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "'$*' needs root and sudo is not installed; run this script as root once"
  fi
}

install_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  # Another apt run (or unattended upgrades) may hold the dpkg lock: wait and retry.
  local attempt
  for attempt in $(seq 1 20); do
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      return 0
    fi
    log "apt-get failed (attempt $attempt), retrying in 5 s"
    sleep 5
  done
  die "could not install ${missing[*]}"
}

# The PyPI validators, in .local/tools/venv; reinstalled only when the pinned list changes.
install_pypi_tools() {
  local venv="$REPO/.local/tools/venv" wanted="${PYPI_TEST_TOOLS[*]}"
  if [ -x "$venv/bin/pip" ] && [ "$(cat "$venv/installed" 2>/dev/null)" = "$wanted" ]; then return 0; fi
  log "installing ${wanted} into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (is python3-venv installed?)"
  local attempt
  for attempt in 1 2 3; do
    if "$venv/bin/pip" install -q --disable-pip-version-check "${PYPI_TEST_TOOLS[@]}"; then
      echo "$wanted" >"$venv/installed"
      return 0
    fi
    log "pip failed (attempt $attempt), retrying in 5 s"
    sleep 5
  done
  die "could not install ${wanted} from PyPI"
}

pg_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] || die "PostgreSQL server binaries not found; run 'scripts/services.sh install'"
  echo "$dir"
}

# PostgreSQL refuses to run as root: as root, run its tools as the 'postgres' user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The directory holding an instance's PostgreSQL cluster. As root it must be reachable by the
# 'postgres' user; when the repository is not (e.g. under /root), the cluster lives in
# /var/tmp and .local/<instance>/postgres links to it.
pg_base() {
  local instance="$1"
  local base="$STATE/$instance/postgres"
  if [ "$(id -u)" -eq 0 ] && [ ! -L "$base" ] && ! runuser -u postgres -- test -x "$STATE/$instance" 2>/dev/null; then
    local outside="/var/tmp/claimsd-$(printf '%s' "$STATE/$instance" | md5sum | cut -c1-12)"
    mkdir -p "$outside"
    ln -sfn "$outside" "$base"
  fi
  mkdir -p "$base"
  echo "$base"
}

# A certificate authority and a server certificate for 127.0.0.1 and localhost in $1 (made once),
# for a PostgreSQL that serves TLS: clients check it with sslmode=verify-full and sslrootcert=$1/ca.crt.
make_tls_files() {
  local dir="$1"
  mkdir -p "$dir"
  [ -f "$dir/server.crt" ] && return 0
  log "making a test certificate authority and server certificate in $dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=claimsd test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 3650 \
    -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  chmod 600 "$dir/server.key" "$dir/ca.key"
}

start_postgres() {
  local instance="$1" port="$2" bin base data tls_options=""
  bin="$(pg_bindir)"
  mkdir -p "$STATE/$instance"
  chmod 755 "$STATE" "$STATE/$instance" 2>/dev/null || true
  base="$(pg_base "$instance")"
  data="$base/data"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$base"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initdb $data"
    as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
      || { cat "$base/initdb.log" >&2; die "initdb failed"; }
  fi
  mkdir -p "$base/socket"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$base/socket"
  # CLAIMS_PG_TLS_DIR: serve TLS with the certificate made there (the server needs its own copy
  # of the key, owned by the user it runs as).
  if [ -n "${CLAIMS_PG_TLS_DIR:-}" ]; then
    make_tls_files "$CLAIMS_PG_TLS_DIR"
    cp "$CLAIMS_PG_TLS_DIR/server.crt" "$CLAIMS_PG_TLS_DIR/server.key" "$base/"
    chmod 600 "$base/server.key"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$base/server.crt" "$base/server.key"
    tls_options=" -c ssl=on -c ssl_cert_file=$base/server.crt -c ssl_key_file=$base/server.key"
  fi
  if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "postgres ($instance) already running"
  else
    log "starting postgres ($instance) on 127.0.0.1:$port"
    # The suite runs its tests concurrently, each with a scratch database and pools of its own:
    # at its peak it holds over 150 connections.
    as_pg "$bin/pg_ctl" -D "$data" -l "$base/postgres.log" -w -t 60 \
      -o "-p $port -k $base/socket -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=${CLAIMS_PG_FSYNC:-on}$tls_options" start >/dev/null \
      || { tail -n 20 "$base/postgres.log" >&2; die "postgres ($instance) did not start"; }
  fi
  head -n 1 "$data/postmaster.pid" >"$STATE/$instance/postgres.pid"
  echo "$port" >"$STATE/$instance/postgres.port"
  # The service's own role and database, created once.
  local psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'claimsd'")" != "1" ]; then
    "${psql[@]}" -c "CREATE ROLE claimsd LOGIN CREATEDB" >/dev/null
  fi
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'claimsd'")" != "1" ]; then
    "${psql[@]}" -c "CREATE DATABASE claimsd OWNER claimsd" >/dev/null
  fi
}

stop_postgres() {
  local instance="$1" base data pid
  base="$STATE/$instance/postgres"
  data="$base/data"
  [ -f "$STATE/$instance/postgres.pid" ] || return 0
  pid="$(cat "$STATE/$instance/postgres.pid")"
  if [ -f "$data/postmaster.pid" ] && [ "$(head -n 1 "$data/postmaster.pid")" = "$pid" ]; then
    log "stopping postgres ($instance, pid $pid)"
    if ! as_pg "$(pg_bindir)/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null; then
      log "postgres ($instance) ignored a fast stop; stopping it immediately"
      as_pg "$(pg_bindir)/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null || as_root kill -KILL "$pid" || true
    fi
  fi
  rm -f "$STATE/$instance/postgres.pid"
}

start_redis() {
  local instance="$1" port="$2"
  local dir="$STATE/$instance/redis"
  mkdir -p "$dir"
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    log "redis ($instance) already running"
  else
    log "starting redis ($instance) on 127.0.0.1:$port"
    if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
      die "port $port already has a Redis this script did not start; stop it or choose another port"
    fi
    rm -f "$dir/redis.pid"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  fi
  local attempt
  for attempt in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && break
    [ "$attempt" -eq 100 ] && { tail -n 20 "$dir/redis.log" >&2; die "redis ($instance) did not answer"; }
    sleep 0.1
  done
  for attempt in $(seq 1 50); do [ -s "$dir/redis.pid" ] && break; sleep 0.1; done
  [ -s "$dir/redis.pid" ] || { tail -n 5 "$dir/redis.log" >&2; die "redis ($instance) wrote no pid file"; }
  cp "$dir/redis.pid" "$STATE/$instance/redis.pid"
  echo "$port" >"$STATE/$instance/redis.port"
}

stop_redis() {
  local instance="$1" pid
  [ -f "$STATE/$instance/redis.pid" ] || return 0
  pid="$(cat "$STATE/$instance/redis.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping redis ($instance, pid $pid)"
    kill "$pid"
    local attempt
    for attempt in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "redis ($instance) ignored SIGTERM; asking it to shut down, then killing it"
      redis-cli -p "$(cat "$STATE/$instance/redis.port")" shutdown nosave >/dev/null 2>&1 || true
      sleep 0.5
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/$instance/redis.pid" "$STATE/$instance/redis/redis.pid"
}

# An exporter from Debian's packages on 127.0.0.1:PORT, in the background, its PID recorded so
# only it is ever stopped: node (the host), redis and postgres (this instance's servers).
start_exporter() {
  local kind="$1" instance="$2" port="$3" pidfile="$STATE/$2/$1-exporter.pid" binary="prometheus-$1-exporter"
  mkdir -p "$STATE/$instance"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "$kind exporter ($instance) already running"
  else
    command -v "$binary" >/dev/null || die "$binary not found; run 'scripts/services.sh install-test'"
    log "starting $kind exporter ($instance) on 127.0.0.1:$port"
    case "$kind" in
      node) nohup "$binary" --web.listen-address="127.0.0.1:$port" >"$STATE/$instance/$kind-exporter.log" 2>&1 & ;;
      redis)
        [ -f "$STATE/$instance/redis.port" ] || die "no redis ($instance) started; start it first"
        nohup "$binary" --redis.addr="redis://127.0.0.1:$(cat "$STATE/$instance/redis.port")" --web.listen-address="127.0.0.1:$port" \
          >"$STATE/$instance/$kind-exporter.log" 2>&1 & ;;
      postgres)
        [ -f "$STATE/$instance/postgres.port" ] || die "no postgres ($instance) started; start it first"
        DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$(cat "$STATE/$instance/postgres.port")/postgres?sslmode=disable" \
          nohup "$binary" --web.listen-address="127.0.0.1:$port" >"$STATE/$instance/$kind-exporter.log" 2>&1 & ;;
    esac
    echo $! >"$pidfile"
  fi
  local attempt
  for attempt in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null && { echo "$port" >"$STATE/$instance/$kind-exporter.port"; return 0; }
    sleep 0.1
  done
  tail -n 20 "$STATE/$instance/$kind-exporter.log" >&2
  die "$kind exporter ($instance) did not answer on port $port"
}

stop_exporter() {
  local kind="$1" instance="$2" pid
  [ -f "$STATE/$instance/$kind-exporter.pid" ] || return 0
  pid="$(cat "$STATE/$instance/$kind-exporter.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $kind exporter ($instance, pid $pid)"
    kill "$pid" 2>/dev/null || true
    local attempt
    for attempt in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$STATE/$instance/$kind-exporter.pid"
}

# Debian's Prometheus on 127.0.0.1:PORT over the data directory DATA (blocks made with promtool),
# scraping nothing: the reference the PromQL differential tests query.
start_prometheus() {
  local instance="$1" port="$2" data="$3" pidfile="$STATE/$1/prometheus.pid"
  mkdir -p "$STATE/$instance" "$data"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "prometheus ($instance) already running"
  else
    command -v prometheus >/dev/null || die "prometheus not found; run 'scripts/services.sh install-test'"
    printf 'global:\n  evaluation_interval: 1m\nscrape_configs: []\n' >"$STATE/$instance/prometheus.yml"
    log "starting prometheus ($instance) on 127.0.0.1:$port over $data"
    nohup prometheus --config.file="$STATE/$instance/prometheus.yml" --storage.tsdb.path="$data" \
      --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$port" >"$STATE/$instance/prometheus.log" 2>&1 &
    echo $! >"$pidfile"
  fi
  wait_ready prometheus "$instance" "$port"
}

stop_prometheus() { stop_server prometheus "$1"; }

# Waits for the server KIND (instance INSTANCE, pid in KIND.pid, log in KIND.log) to answer
# /-/ready on PORT; records the port, or shows the log and stops the script.
wait_ready() {
  local kind="$1" instance="$2" port="$3" attempt
  for attempt in $(seq 1 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/-/ready" 2>/dev/null && { echo "$port" >"$STATE/$instance/$kind.port"; return 0; }
    kill -0 "$(cat "$STATE/$instance/$kind.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$STATE/$instance/$kind.log" >&2
  die "$kind ($instance) did not become ready on port $port"
}

# Stops the server KIND of INSTANCE started with a pid file: TERM, ten seconds, then KILL.
stop_server() {
  local kind="$1" instance="$2" pid
  [ -f "$STATE/$instance/$kind.pid" ] || return 0
  pid="$(cat "$STATE/$instance/$kind.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $kind ($instance, pid $pid)"
    kill "$pid" 2>/dev/null || true
    local attempt
    for attempt in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/$instance/$kind.pid"
}

# Alertmanager 0.25 alone (no cluster), grouping nothing away: every alert goes at once
# (group_wait 0s, group_interval 1s) to the webhook at RECEIVER_URL, resolved ones too.
start_alertmanager() {
  local instance="$1" port="$2" receiver="$3" pidfile="$STATE/$1/alertmanager.pid"
  mkdir -p "$STATE/$instance/alertmanager-data"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "alertmanager ($instance) already running"
  else
    command -v prometheus-alertmanager >/dev/null || die "prometheus-alertmanager not found; run 'scripts/services.sh install-test'"
    cat >"$STATE/$instance/alertmanager.yml" <<CONFIG
route:
  receiver: capture
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: capture
    webhook_configs:
      - url: $receiver
        send_resolved: true
CONFIG
    log "starting alertmanager ($instance) on 127.0.0.1:$port, notifying $receiver"
    nohup prometheus-alertmanager --config.file="$STATE/$instance/alertmanager.yml" --storage.path="$STATE/$instance/alertmanager-data" \
      --web.listen-address="127.0.0.1:$port" --cluster.listen-address= >"$STATE/$instance/alertmanager.log" 2>&1 &
    echo $! >"$pidfile"
  fi
  wait_ready alertmanager "$instance" "$port"
}

stop_alertmanager() { stop_server alertmanager "$1"; }

JOURNAL_SOCKET=/run/systemd/journal/socket

# The pid of the systemd-journald that runs, if one does (its comm is truncated to 15
# characters, so `pgrep journald` finds nothing).
journald_pid() {
  local comm
  for comm in /proc/[0-9]*/comm; do
    if [ "$(cat "$comm" 2>/dev/null)" = "systemd-journal" ]; then
      basename "$(dirname "$comm")"
      return 0
    fi
  done
  return 1
}

journald_running() { journald_pid >/dev/null; }

# Empties the journal of the journald these scripts started (its archived files removed, the
# active ones rotated first), so a benchmark starts from the same journal each time. A journald
# these scripts did not start (a system's) is left alone.
empty_journal() {
  local pid recorded
  pid="$(journald_pid)" || die "no systemd-journald runs"
  for recorded in "$STATE"/*/journald.pid; do
    [ -f "$recorded" ] && [ "$(cat "$recorded")" = "$pid" ] || continue
    log "emptying the journal of systemd-journald (pid $pid, $(as_root du -sh /run/log/journal 2>/dev/null | cut -f1))"
    as_root journalctl --rotate >/dev/null 2>&1 || die "journalctl --rotate failed"
    as_root journalctl --vacuum-size=1 >/dev/null 2>&1 || die "journalctl --vacuum-size failed"
    return 0
  done
  log "journald (pid $pid) was not started by these scripts: its journal is left alone"
}

# journald runs standalone (no systemd as PID 1 needed) and is started only when no journal
# socket exists; its journal lives in /run/log/journal, where journalctl reads it.
start_journald() {
  local instance="$1"
  mkdir -p "$STATE/$instance"
  if [ -S "$JOURNAL_SOCKET" ] && journald_running; then
    log "journald already running"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    die "no systemd-journald runs and starting one needs root: run 'scripts/services.sh start journald system' as root once (or use a machine where journald runs)"
  fi
  # A socket left behind by a journald that was killed accepts nothing: replace it.
  [ -e "$JOURNAL_SOCKET" ] && as_root rm -f "$JOURNAL_SOCKET"
  log "starting systemd-journald"
  local binary=/lib/systemd/systemd-journald
  [ -x "$binary" ] || binary=/usr/lib/systemd/systemd-journald
  [ -x "$binary" ] || die "systemd-journald not found; run 'scripts/services.sh install'"
  # What systemd's tmpfiles.d would do: journal files readable by the systemd-journal group, so
  # members can run journalctl without root.
  as_root bash -c "mkdir -p /run/log/journal && chgrp -R systemd-journal /run/log/journal 2>/dev/null && chmod -R g+rxs /run/log/journal 2>/dev/null; true"
  # journald's default rate limit (10,000 records per 30 s per service) would drop access
  # records under load. The journald started here gets the budget deploy/claimsd.service gives
  # claimsd (LogRateLimitIntervalSec/LogRateLimitBurst); a system journald is never touched.
  # Its journal in /run is capped at 1 GiB: /run is not a tmpfs everywhere (it is on the root
  # disk of the VM the benchmarks ran on), and journald's default cap there is 10 % of the disk.
  as_root bash -c "mkdir -p /run/systemd/journald.conf.d && printf '%s\\n' '# Written by claimsd scripts/services.sh for the journald it starts.' '[Journal]' 'RateLimitIntervalSec=10s' 'RateLimitBurst=300000' 'RuntimeMaxUse=1G' >/run/systemd/journald.conf.d/claimsd.conf"
  as_root bash -c "nohup '$binary' >/dev/null 2>&1 & echo \$! >'$STATE/$instance/journald.pid'"
  local attempt
  for attempt in $(seq 1 100); do
    [ -S "$JOURNAL_SOCKET" ] && return 0
    sleep 0.1
  done
  die "systemd-journald did not create $JOURNAL_SOCKET"
}

stop_journald() {
  local instance="$1" pid
  [ -f "$STATE/$instance/journald.pid" ] || return 0
  pid="$(cat "$STATE/$instance/journald.pid")"
  if as_root kill -0 "$pid" 2>/dev/null; then
    log "stopping systemd-journald (pid $pid)"
    as_root kill "$pid" || true
    local attempt
    for attempt in $(seq 1 50); do as_root kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$STATE/$instance/journald.pid"
}

status() {
  local instance="$1" name pid
  for name in postgres redis journald node-exporter redis-exporter postgres-exporter prometheus claimsd; do
    if [ -f "$STATE/$instance/$name.pid" ]; then
      pid="$(cat "$STATE/$instance/$name.pid")"
      if kill -0 "$pid" 2>/dev/null || as_root kill -0 "$pid" 2>/dev/null; then echo "$name: running (pid $pid)"; else echo "$name: not running (stale pid $pid)"; fi
    else
      echo "$name: not started by this instance"
    fi
  done
}

# The port given, or the one recorded when the instance last started (for restarts).
port_for() {
  local service="$1" instance="$2" port="$3"
  if [ -z "$port" ] && [ -f "$STATE/$instance/$service.port" ]; then port="$(cat "$STATE/$instance/$service.port")"; fi
  [ -n "$port" ] || die "no port given for $service ($instance) and none recorded"
  echo "$port"
}

command="${1:-}"; shift || true
case "$command" in
  install) install_packages "${PACKAGES[@]}" ;;
  install-test)
    install_packages "${PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    install_pypi_tools ;;
  start)
    case "${1:-}" in
      postgres) start_postgres "$2" "$(port_for postgres "$2" "${3:-}")" ;;
      redis) start_redis "$2" "$(port_for redis "$2" "${3:-}")" ;;
      journald) start_journald "$2" ;;
      node-exporter|redis-exporter|postgres-exporter)
        start_exporter "${1%-exporter}" "$2" "$(port_for "$1" "$2" "${3:-}")" ;;
      prometheus) start_prometheus "$2" "$(port_for prometheus "$2" "${3:-}")" "${4:-$STATE/$2/prometheus-data}" ;;
      alertmanager) start_alertmanager "$2" "$(port_for alertmanager "$2" "${3:-}")" "${4:?usage: services.sh start alertmanager INSTANCE PORT RECEIVER_URL}" ;;
      *) die "usage: services.sh start postgres|redis|node-exporter|redis-exporter|postgres-exporter|prometheus INSTANCE PORT | alertmanager INSTANCE PORT RECEIVER_URL | journald INSTANCE" ;;
    esac ;;
  stop)
    case "${1:-}" in
      postgres) stop_postgres "$2" ;;
      redis) stop_redis "$2" ;;
      journald) stop_journald "$2" ;;
      node-exporter|redis-exporter|postgres-exporter) stop_exporter "${1%-exporter}" "$2" ;;
      prometheus) stop_prometheus "$2" ;;
      alertmanager) stop_alertmanager "$2" ;;
      all)
        for kind in node redis postgres; do stop_exporter "$kind" "$2"; done
        stop_prometheus "$2"
        stop_alertmanager "$2"
        stop_redis "$2"; stop_postgres "$2"; stop_journald "$2" ;;
      *) die "usage: services.sh stop postgres|redis|journald|node-exporter|redis-exporter|postgres-exporter|prometheus|alertmanager|all INSTANCE" ;;
    esac ;;
  pause|resume)
    [ "${1:-}" = redis ] || die "usage: services.sh pause|resume redis INSTANCE"
    [ -f "$STATE/${2:?usage: services.sh pause|resume redis INSTANCE}/redis.pid" ] || die "redis ($2) is not running"
    signal=STOP; [ "$command" = resume ] && signal=CONT
    log "${command/%e/}ing redis ($2, pid $(cat "$STATE/$2/redis.pid"))"
    kill -"$signal" "$(cat "$STATE/$2/redis.pid")" ;;
  status) status "${1:?usage: services.sh status INSTANCE}" ;;
  journald-pid) journald_pid || die "no systemd-journald runs" ;;
  empty-journal) empty_journal ;;
  pg-bindir) pg_bindir ;;
  *) die "usage: services.sh install | start … | stop … | status INSTANCE | pg-bindir" ;;
esac
