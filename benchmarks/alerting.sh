#!/usr/bin/env bash
# Rule evaluation time, claimsd beside Prometheus 2.42 on the same data and the same rules in
# one run. Two workloads:
#   shipped: alerts/*.yml over 24 hours of claimsd-shaped history (benchmarks/query.sh's data);
#   wide:    200 rules (recording and alerting, 4 per metric) over 10,000 counter series, 1 hour.
# The history ends now and is loaded into claimsd ('claimsd tsdb import') and into Prometheus
# ('promtool tsdb create-blocks-from openmetrics'); both then evaluate the rules every second and
# report each group's evaluationTime in /api/v1/rules, which this script samples BENCH_CYCLES
# times. Prints median and slowest cycle (see cycle below) as Markdown for docs/performance.md.
#
#   benchmarks/alerting.sh
#   BENCH_CYCLES=60 benchmarks/alerting.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CYCLES="${BENCH_CYCLES:-30}"
PROM_PORT="${BENCH_PROMETHEUS_PORT:-29092}"
bash "$SERVICES" install-test
swift build -c release --product tsdb-bench >&2
BENCH="$(swift build -c release --show-bin-path)/tsdb-bench"
NOW="$(date +%s)"

rm -rf "$WORK"/alerting-*
echo "bench: generating history" >&2
"$BENCH" generate "$WORK/alerting-shipped.om" --hours 24 --wide 0 --end "$NOW"
"$BENCH" rules-data "$WORK/alerting-wide.om" "$WORK/alerting-wide.yml" --series 10000 --metrics 50 --minutes 60 --end "$NOW"

# One cycle's evaluation time (seconds) from an /api/v1/rules answer of PORT: the sum of the
# groups' last evaluationTime, a group with an interval longer than the production default
# (15s) counted in proportion (claimsd-slo-long runs once a minute: a quarter per 15 s cycle).
cycle() {
  curl -fsS -H "$AUTH" "http://127.0.0.1:$1/api/v1/rules" | python3 -c 'import json,sys; print(sum(g["evaluationTime"] * min(1, 15 / max(g["interval"], 15)) for g in json.load(sys.stdin)["data"]["groups"]))'
}

# median and maximum of the numbers on stdin, in milliseconds
summary() { sort -g | awk '{ v[NR] = $1 * 1000 } END { printf "%.2f %.2f\n", v[int((NR + 1) / 2)], v[NR] }'; }

echo "| Workload | Rules | claimsd median / slowest (ms) | Prometheus 2.42 median / slowest (ms) | ratio (medians) |"
echo "|---|---|---|---|---|"
for workload in shipped wide; do
  if [ "$workload" = shipped ]; then rules="$REPO/alerts/*.yml"; count=$(cat "$REPO"/alerts/*.yml | grep -cE '^\s+- (alert|record):'); else rules="$WORK/alerting-wide.yml"; count=200; fi
  echo "bench: $workload: loading" >&2
  CLAIMS_TSDB_PATH="$WORK/alerting-$workload-tsdb" CLAIMS_TSDB_RETENTION=30d "$BINARY" tsdb import "$WORK/alerting-$workload.om" >&2
  mkdir -p "$WORK/alerting-$workload-prom"
  promtool tsdb create-blocks-from openmetrics "$WORK/alerting-$workload.om" "$WORK/alerting-$workload-prom" >/dev/null
  printf 'global:\n  evaluation_interval: 1s\nrule_files:\n' >"$WORK/alerting-$workload-prometheus.yml"
  for file in $rules; do printf '  - %s\n' "$file" >>"$WORK/alerting-$workload-prometheus.yml"; done
  printf 'scrape_configs: []\n' >>"$WORK/alerting-$workload-prometheus.yml"
  prometheus --config.file="$WORK/alerting-$workload-prometheus.yml" --storage.tsdb.path="$WORK/alerting-$workload-prom" \
    --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/alerting-prometheus.log" 2>&1 &
  PROMETHEUS=$!
  BENCH_CLEANUP='kill $PROMETHEUS 2>/dev/null || true'
  CLAIMS_TSDB_PATH="$WORK/alerting-$workload-tsdb" CLAIMS_TSDB_RETENTION=30d CLAIMS_SCRAPE_INTERVAL=off CLAIMS_RULE_FILES="$(echo $rules | tr ' ' ',')" \
    CLAIMS_RULE_EVALUATION_INTERVAL=1s start_claimsd
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "http://127.0.0.1:$PROM_PORT/-/ready" 2>/dev/null && break; sleep 0.1; done
  kill -0 $PROMETHEUS 2>/dev/null || { tail -n 5 "$WORK/alerting-prometheus.log" >&2; echo "bench: prometheus did not start" >&2; exit 1; }
  sleep 5
  : >"$WORK/alerting-claimsd.times"; : >"$WORK/alerting-prometheus.times"
  for _ in $(seq 1 "$CYCLES"); do
    cycle "$HTTP_PORT" >>"$WORK/alerting-claimsd.times"
    cycle "$PROM_PORT" >>"$WORK/alerting-prometheus.times"
    sleep 1
  done
  read -r ours_median ours_max < <(summary <"$WORK/alerting-claimsd.times")
  read -r prom_median prom_max < <(summary <"$WORK/alerting-prometheus.times")
  ratio=$(awk -v a="$ours_median" -v b="$prom_median" 'BEGIN { printf "%.2f", a / b }')
  echo "| $workload | $count | $ours_median / $ours_max | $prom_median / $prom_max | ${ratio}× |"
  stop_claimsd
  kill $PROMETHEUS; wait $PROMETHEUS 2>/dev/null || true
  BENCH_CLEANUP=""
done
