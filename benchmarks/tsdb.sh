#!/usr/bin/env bash
# The built-in time-series store, measured beside references in one run:
#  1. append rate to existing series (in memory, with WAL) beside a plain Swift array;
#  2. a day of scrapes of the series real targets expose (claimsd under load, node, PostgreSQL
#     and Redis exporters): bytes per sample, resident memory, WAL replay, checkpoint load;
#  3. the CPU cost of one self-scrape of claimsd's registry;
#  4. real data: claimsd scraping itself and the three exporters every second under POST load,
#     beside a real Prometheus (Debian's 2.42) scraping the same four targets at the same rate;
#     bytes per sample of both stores (Prometheus: a snapshot's block, chunks ÷ samples).
# Prints Markdown for docs/performance.md.
#
#   benchmarks/tsdb.sh                     10 minutes of real data
#   BENCH_REAL_SECONDS=120 benchmarks/tsdb.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REAL_SECONDS="${BENCH_REAL_SECONDS:-600}"
PROM_PORT="${BENCH_PROMETHEUS_PORT:-29090}"
bash "$SERVICES" install-test
swift build -c release --product tsdb-bench >&2
BENCH="$(swift build -c release --show-bin-path)/tsdb-bench"
bash "$SERVICES" start node-exporter bench 29100
bash "$SERVICES" start postgres-exporter bench 29187
bash "$SERVICES" start redis-exporter bench 29121
BENCH_CLEANUP='for kind in node postgres redis; do bash "$SERVICES" stop $kind-exporter bench; done; kill ${PROMETHEUS:-} 2>/dev/null || true'


export CLAIMS_RATE_LIMITS=off CLAIMS_RELAY=on
rm -rf "$WORK/tsdb" "$WORK/prometheus"
cat >"$WORK/scrape.yml" <<YAML
scrape_configs:
  - job_name: node
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs: [{targets: ["127.0.0.1:29100"]}]
  - job_name: postgres
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs: [{targets: ["127.0.0.1:29187"]}]
  - job_name: redis
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs: [{targets: ["127.0.0.1:29121"]}]
YAML
cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: claimsd
    static_configs: [{targets: ["127.0.0.1:$HTTP_PORT"]}]
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:29100"]}]
  - job_name: postgres
    static_configs: [{targets: ["127.0.0.1:29187"]}]
  - job_name: redis
    static_configs: [{targets: ["127.0.0.1:29121"]}]
YAML

reset_tables
CLAIMS_TSDB_PATH="$WORK/tsdb" CLAIMS_SCRAPE_INTERVAL=1s CLAIMS_SCRAPE_CONFIG="$WORK/scrape.yml" start_claimsd
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" --web.listen-address="127.0.0.1:$PROM_PORT" \
  --web.enable-admin-api >"$WORK/prometheus.log" 2>&1 &
PROMETHEUS=$!
echo "bench: real data for ${REAL_SECONDS}s: claimsd and Prometheus scrape claimsd + 3 exporters every second under POST load" >&2
wrk -t1 -c4 -d"${REAL_SECONDS}s" -s benchmarks/post-claim.lua "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk-tsdb.txt"
metrics="$(curl -fsS -H "$AUTH" "http://127.0.0.1:$HTTP_PORT/metrics")"
value() { awk -v name="$1" '$1 == name { print $2 }' <<<"$metrics"; }
sealed_bytes="$(value claimsd_tsdb_sealed_chunk_bytes)"; sealed_samples="$(value claimsd_tsdb_sealed_chunk_samples)"
chunk_bytes="$(value claimsd_tsdb_chunk_bytes)"; head_samples="$(value claimsd_tsdb_head_samples)"; head_series="$(value claimsd_tsdb_head_series)"
# Templates for the day run: what each target exposes now.
curl -fsS -H "$AUTH" "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/template-claimsd.txt"
for port in 29100 29187 29121; do curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/template-$port.txt"; done
snapshot="$(curl -fsS -XPOST "http://127.0.0.1:$PROM_PORT/api/v1/admin/tsdb/snapshot" | sed -E 's/.*"name":"([^"]+)".*/\1/')"
stop_claimsd
kill $PROMETHEUS; wait $PROMETHEUS 2>/dev/null || true
read -r prom_bytes prom_samples < <(python3 - "$WORK/prometheus/snapshots/$snapshot" <<'PY'
import json, os, sys
total_bytes = total_samples = 0
for block in os.listdir(sys.argv[1]):
    path = os.path.join(sys.argv[1], block)
    total_samples += json.load(open(os.path.join(path, "meta.json")))["stats"]["numSamples"]
    total_bytes += sum(os.path.getsize(os.path.join(path, "chunks", f)) for f in os.listdir(os.path.join(path, "chunks")))
print(total_bytes, total_samples)
PY
)

echo
echo "Time-series store, $(date -u +%Y-%m-%d), $(nproc) cores, release build"
echo
echo "| measure | figure |"
echo "| --- | --- |"
"$BENCH" append
"$BENCH" day "$WORK/template-claimsd.txt" "$WORK/template-29100.txt" "$WORK/template-29187.txt" "$WORK/template-29121.txt"
"$BENCH" scrape-cost "$WORK/template-claimsd.txt"
echo
echo "Real data, ${REAL_SECONDS} s at 1 s, claimsd + node + postgres + redis exporters, $head_series series:"
echo
echo "| store | bytes per sample |"
echo "| --- | --- |"
awk -v b="$sealed_bytes" -v s="$sealed_samples" 'BEGIN { printf "| claimsd, sealed chunks | %.3f B (%d samples) |\n", b / s, s }'
awk -v b="$chunk_bytes" -v s="$head_samples" 'BEGIN { printf "| claimsd, all chunks (open ones too) | %.3f B (%d samples) |\n", b / s, s }'
awk -v b="$prom_bytes" -v s="$prom_samples" 'BEGIN { printf "| Prometheus 2.42 on the same targets, snapshot block chunks | %.3f B (%d samples) |\n", b / s, s }'
