#!/usr/bin/env bash
# What rigor itself adds to rate-mode latency: `noop` (truth ~0.1us) and
# `spin 20us` (truth 20us) at fixed rates, 1 and 8 in flight, 2s each.
# Usage: scenarios/tools/rate_overhead.sh [path/to/rigor]
set -euo pipefail
bin=${1:-target/release/rigor}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for spec in "noop 1 1000/s" "noop 8 1000/s" "noop 1 20k/s" "noop 8 20k/s" "spin 1 1000/s" "spin 8 5000/s"; do
    set -- $spec
    kind=$1 c=$2 rate=$3
    if [ "$kind" = spin ]; then t="{id: t, kind: spin, service_time: 20us}"; else t="{id: t, kind: noop}"; fi
    printf "name: rate-overhead\nworkload: {rate: $rate, concurrency: $c, warmup: 300ms, duration: 2s}\ntargets: [$t]\n" > "$dir/s.yaml"
    "$bin" run "$dir/s.yaml" --out "$dir/out" --color never > /dev/null 2>&1 || true
    python3 - "$spec" "$dir/out/results.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[2]))["cases"][0]["targets"][0]["metrics"]
print("%-14s latency p50 %8.2fus p99 %8.2fus  service p50 %6.2fus  lag p99 %7.1fus  achieved %.0f/s" % (
    sys.argv[1], m["latency.p50"] / 1e3, m["latency.p99"] / 1e3, m["service.p50"] / 1e3,
    m.get("schedule.lag.p99", 0) / 1e3, m["rate.achieved"]))
PY
done
