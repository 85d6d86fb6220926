#!/usr/bin/env bash
# PromQL query latency, claimsd beside Prometheus 2.42 on the same data in one run: 24 hours of
# claimsd-shaped history (request counters, a 16-bucket latency histogram for 10 routes) and a
# 1,000-series counter over the last two hours, generated once, loaded into claimsd with
# 'claimsd tsdb import' and into Prometheus with 'promtool tsdb create-blocks-from openmetrics'.
# Each query is asked BENCH_RUNS times of each server, alternating; prints median and p99 (the
# slowest of the runs when fewer than 100) and the ratio, as Markdown for docs/performance.md.
#
#   benchmarks/query.sh
#   BENCH_RUNS=50 benchmarks/query.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${BENCH_RUNS:-30}"
PROM_PORT="${BENCH_PROMETHEUS_PORT:-29091}"
END=1700000000
bash "$SERVICES" install-test
swift build -c release --product tsdb-bench >&2
BENCH="$(swift build -c release --show-bin-path)/tsdb-bench"

rm -rf "$WORK/query-tsdb" "$WORK/query-prom" "$WORK/query.om"
echo "bench: generating history" >&2
"$BENCH" generate "$WORK/query.om" --hours 24 --wide 1000 --end "$END"
echo "bench: loading it into claimsd and into Prometheus" >&2
CLAIMS_TSDB_PATH="$WORK/query-tsdb" CLAIMS_TSDB_RETENTION=30d "$BINARY" tsdb import "$WORK/query.om" >&2
mkdir -p "$WORK/query-prom"
promtool tsdb create-blocks-from openmetrics "$WORK/query.om" "$WORK/query-prom" >/dev/null
printf 'global: {}\nscrape_configs: []\n' >"$WORK/query-prometheus.yml"
prometheus --config.file="$WORK/query-prometheus.yml" --storage.tsdb.path="$WORK/query-prom" --storage.tsdb.retention.time=100y \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/query-prometheus.log" 2>&1 &
PROMETHEUS=$!
BENCH_CLEANUP='kill $PROMETHEUS 2>/dev/null || true'
CLAIMS_TSDB_PATH="$WORK/query-tsdb" CLAIMS_TSDB_RETENTION=30d CLAIMS_SCRAPE_INTERVAL=off CLAIMS_RULE_FILES= start_claimsd
for _ in $(seq 1 300); do curl -fsS -o /dev/null "http://127.0.0.1:$PROM_PORT/-/ready" 2>/dev/null && break; sleep 0.1; done
kill -0 $PROMETHEUS 2>/dev/null || { tail -n 5 "$WORK/query-prometheus.log" >&2; echo "bench: prometheus did not start" >&2; exit 1; }

# Seconds of one query_range call to the server on PORT.
ask() {
  # The same header to both; Prometheus ignores it.
  curl -s -H "$AUTH" -o "$WORK/answer-$1.json" -w '%{time_total}' "http://127.0.0.1:$1/api/v1/query_range" \
    --data-urlencode "query=$2" --data-urlencode "start=$3" --data-urlencode "end=$END" --data-urlencode "step=$4"
}
stats() { sort -n | awk '{ v[NR] = $1 } END { m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.99 + 0.999)]; if (p == "") p = v[NR]; printf "%.1f %.1f\n", m * 1000, p * 1000 }'; }

rows=""
measure() {
  local name="$1" query="$2" range="$3" step="$4" start=$((END - $3))
  ask "$HTTP_PORT" "$query" "$start" "$step" >/dev/null; ask "$PROM_PORT" "$query" "$start" "$step" >/dev/null
  # Same answer from both, or the figures mean nothing.
  python3 - "$WORK/answer-$HTTP_PORT.json" "$WORK/answer-$PROM_PORT.json" <<'PY' || { echo "bench: answers differ for $name" >&2; exit 1; }
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda r: json.dumps(r["metric"], sort_keys=True)
ra = {key(r): r["values"] for r in a["data"]["result"]}; rb = {key(r): r["values"] for r in b["data"]["result"]}
assert ra.keys() == rb.keys(), "series differ"
for k in ra:
    assert len(ra[k]) == len(rb[k]), k
    for (ta, va), (tb, vb) in zip(ra[k], rb[k]):
        x, y = float(va), float(vb)
        assert ta == tb and (x == y or abs(x - y) <= 1e-6 * max(abs(x), abs(y)) or (x != x and y != y)), (k, ta, va, vb)
PY
  local ours="" theirs=""
  for _ in $(seq 1 "$RUNS"); do
    ours+="$(ask "$HTTP_PORT" "$query" "$start" "$step")"$'\n'
    theirs+="$(ask "$PROM_PORT" "$query" "$start" "$step")"$'\n'
  done
  read -r om op < <(printf '%s' "$ours" | stats)
  read -r pm pp < <(printf '%s' "$theirs" | stats)
  rows+="| $name | $om ms / $op ms | $pm ms / $pp ms | $(awk -v a="$om" -v b="$pm" 'BEGIN { printf "%.2f", a / b }') |"$'\n'
}
REQUESTS='sum by (route) (rate(claimsd_http_requests_total[5m]))'
P99='histogram_quantile(0.99, sum by (le, route) (rate(claimsd_http_request_duration_seconds_bucket[5m])))'
measure "requests by route, 1 h, step 15 s" "$REQUESTS" 3600 15
measure "requests by route, 24 h, step 90 s" "$REQUESTS" 86400 90
measure "p99 latency by route, 1 h, step 15 s" "$P99" 3600 15
measure "p99 latency by route, 24 h, step 90 s" "$P99" 86400 90
measure "rate of 1,000 series, 1 h, step 15 s" 'rate(bench_wide_total[5m])' 3600 15

# A query that asks for too much: refused cleanly under a small sample limit.
stop_claimsd
CLAIMS_TSDB_PATH="$WORK/query-tsdb" CLAIMS_TSDB_RETENTION=30d CLAIMS_SCRAPE_INTERVAL=off CLAIMS_RULE_FILES= CLAIMS_QUERY_MAX_SAMPLES=500000 start_claimsd
before_kb="$(awk '/VmRSS/ { print $2 }' "/proc/$CLAIMSD/status")"
limited="$(curl -s -H "$AUTH" -w ' %{http_code} %{time_total}' "http://127.0.0.1:$HTTP_PORT/api/v1/query_range" \
  --data-urlencode "query=rate(claimsd_http_request_duration_seconds_bucket[1h])" --data-urlencode "start=$((END - 86400))" \
  --data-urlencode "end=$END" --data-urlencode "step=15")"
after_kb="$(awk '/VmRSS/ { print $2 }' "/proc/$CLAIMSD/status")"
stop_claimsd

cat <<TABLE

PromQL range queries, $(date -u +%Y-%m-%d), $(nproc) cores, release build; claimsd and Prometheus 2.42 on the same data, $RUNS runs each, alternating

| query | claimsd median / p99 | Prometheus median / p99 | ratio (median) |
| --- | --- | --- | --- |
${rows}
Sample limit 500,000, a 24 h range of rate() over 160 bucket series at 15 s: answered \`$(echo "$limited" | awk '{ print $(NF-1) }')\` in $(echo "$limited" | awk '{ printf "%.0f ms", $NF * 1000 }') with \`$(echo "$limited" | grep -o '"error":"[^"]*"' | head -1)\`; resident memory $((before_kb / 1024)) MiB before, $((after_kb / 1024)) MiB after.
TABLE
