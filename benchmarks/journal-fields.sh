#!/usr/bin/env bash
# journald's CPU per entry by the fields an entry carries (benchmarks/journal-fields.py): the
# fields claimsd's access record sends, and the same record with fewer. Needs journald: the
# system's, or one scripts/services.sh starts (as root). About a minute.
#
#   benchmarks/journal-fields.sh              3 rounds of 20,000 entries per variant
#   BENCH_ENTRIES=50000 BENCH_ROUNDS=5 benchmarks/journal-fields.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
bash "$SERVICES" start journald bench
trap 'bash "$SERVICES" stop journald bench' EXIT
pid="$(bash "$SERVICES" journald-pid)"
echo "bench: journald pid $pid" >&2
python3 "$REPO/benchmarks/journal-fields.py" "$pid" "${BENCH_ENTRIES:-20000}" "${BENCH_ROUNDS:-3}"
