#!/usr/bin/env bash
# Every benchmark in sequence, then one table of the figures that have targets (issues 17 and
# 20): figure, target, met or not. Run it on a quiet machine: each benchmark measures claimsd
# beside its reference in the same run, but a busy neighbour still moves every figure.
#
#   benchmarks/all.sh                          all of them, about an hour
#   BENCH_ONLY="observability intake top-providers memory" benchmarks/all.sh
#                                              the four of issue 20, about 25 minutes
#
# Each benchmark's own Markdown goes to .local/bench/all/<name>.md (its log to <name>.err); the
# summary is printed last and written to .local/bench/all/summary.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=.local/bench/all
mkdir -p "$OUT"
ALL="observability intake top-providers memory audit screening auth journal query alerting tsdb ops"
ONLY="${BENCH_ONLY:-$ALL}"
failed=()
for name in $ONLY; do
  [ -f "benchmarks/$name.sh" ] || { echo "all: no benchmark named $name (benchmarks/$name.sh)" >&2; exit 64; }
  echo "all: $name ($(date -u +%H:%M:%S))" >&2
  if ! bash "benchmarks/$name.sh" >"$OUT/$name.md" 2>"$OUT/$name.err"; then
    echo "all: $name failed; see $OUT/$name.err" >&2
    failed+=("$name")
  fi
done

# Milliseconds from a wrk latency ("850.00us", "4.77ms", "1.20s").
ms() { awk -v t="$1" 'BEGIN { v = t + 0; if (t ~ /us$/) v /= 1000; else if (t ~ /[0-9]s$/ && t !~ /ms$/) v *= 1000; printf "%.2f", v }'; }
met() { if awk "BEGIN { exit !($1) }"; then echo yes; else echo no; fi; }
ran() { [[ " $ONLY " == *" $1 "* ]] && [ -s "$OUT/$1.md" ]; }
rows=()
if ran observability; then
  overhead=$(grep -o 'overhead [-0-9.]* %' "$OUT/observability.md" | awk '{ print $2 }')
  rows+=("| observability overhead on POST /api/v1/claims, everything on against all off | $overhead % | < 10 % | $(met "$overhead < 10") |")
  cpu=$(grep -o 'overhead in CPU [-0-9.]* %' "$OUT/observability.md" | awk '{ print $4 }')
  rows+=("| the same in machine CPU per claim | $cpu % | reported | — |")
fi
if ran intake; then
  line=$(grep '^| POST /api/v1/claims,' "$OUT/intake.md")
  p99=$(sed -E 's/.*p99 ([0-9.]+[a-z]+);.*/\1/' <<<"$line")
  ratio=$(awk -F'|' '{ gsub(/[ %]/, "", $5); print $5 }' <<<"$line")
  raw_p99=$(sed -E 's/.*INSERT\+COMMIT .*p99 ([0-9.]+ ms)\).*/\1/' <<<"$line")
  rows+=("| POST /api/v1/claims p99, 16 connections, $(sed -E 's/.*connections, ([0-9]+ s).*/\1/' <<<"$line") phase (raw INSERT+COMMIT p99 in the same run) | $p99 ($raw_p99) | < 20 ms | $(met "$(ms "$p99") < 20") |")
  rows+=("| POST /api/v1/claims rate against raw PostgreSQL INSERT+COMMIT of the same rows | $ratio % | ≥ 70 % | $(met "$ratio >= 70") |")
fi
if ran top-providers; then
  while IFS='|' read -r _ data off on static _; do
    rate=$(awk '{ print $1 }' <<<"$off"); p99=$(sed -E 's/.*p99 ([0-9.]+[a-z]+)\).*/\1/' <<<"$off")
    rows+=("| GET /api/v1/providers/top, limiter off,$data | $rate req/s, p99 $p99 | ≥ 20,000 req/s, p99 < 2 ms | $(met "$rate >= 20000 && $(ms "$p99") < 2") |")
    rows+=("| the same with a rate limit (one Redis call per request) | $(sed -E 's/^ *//; s/ *$//' <<<"$on") | reported | — |")
    rows+=("| GET /health on the same server (static answer, the reference) | $(sed -E 's/^ *//; s/ *$//' <<<"$static") | reference | — |")
  done < <(grep -E '^\| [0-9]+ lines' "$OUT/top-providers.md")
  rows+=("| GET /health on a bare Hummingbird server (http-reference: the HTTP stack alone) | $(sed -E 's/.*[0-9] s: (.*)\.$/\1/' <<<"$(grep '^Bare HTTP stack' "$OUT/top-providers.md")") | reference | — |")
fi
if ran memory; then
  line=$(grep '^| 24 h' "$OUT/memory.md")
  after=$(awk -F'|' '{ print $5 + 0 }' <<<"$line"); peak=$(awk -F'|' '{ print $6 + 0 }' <<<"$line")
  rows+=("| resident memory with 24 h of self-scrape history, after the POST load (peak) | $after MiB ($peak MiB) | < 150 MiB | $(met "$peak < 150") |")
fi
if ran audit; then
  for request in POST GET; do
    cost=$(grep "^$request on" "$OUT/audit.md" | sed -E 's/.*\(cost ([-0-9.]+) %\);.*/\1/')
    [ -n "$cost" ] && rows+=("| audit trail's cost on $request /api/v1/claims (throughput; encryption is on in both) | $cost % | < 10 % with encryption | $(met "$cost < 10") |")
  done
fi

summary=$(cat <<TABLE
Benchmarks, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), $(nproc) cores, $(free -g | awk '/^Mem/ { print $2 }') GiB, release build: $ONLY

| figure | measured | target | met |
| --- | --- | --- | --- |
$(printf '%s\n' "${rows[@]}")
TABLE
)
echo "$summary" | tee "$OUT/summary.md"
if [ ${#failed[@]} -gt 0 ]; then
  echo "all: failed: ${failed[*]}" >&2
  exit 1
fi
