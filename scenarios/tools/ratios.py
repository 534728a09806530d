#!/usr/bin/env python3
"""Ratios of every target to any baseline target, from a results file alone.

rigor's report compares against the scenario's `compare.baseline`; this
recomputes the same paired ratios (trials paired by index, a Student t
interval on the log ratios, as crates/rigor-engine/src/compare.rs does)
against another target, without rerunning anything.

Usage: scenarios/tools/ratios.py RESULTS.json BASELINE [METRIC ...]
"""
import json
import math
import sys

T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042]
DEFAULT = ["throughput", "latency.mean", "latency.p50", "latency.p99", "memory.bytes_per_op", "memory.allocs_per_op"]


def interval(pairs):
    logs = [math.log(a / b) for a, b in pairs if a > 0 and b > 0]
    if not logs:
        return None
    n = len(logs)
    mean = sum(logs) / n
    if n < 2:
        return math.exp(mean), None, None
    var = sum((x - mean) ** 2 for x in logs) / (n - 1)
    half = (T975[n - 2] if n - 1 <= len(T975) else 1.96) * math.sqrt(var / n)
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    res = json.load(open(sys.argv[1]))
    base_id, metrics = sys.argv[2], sys.argv[3:] or DEFAULT
    print(f"| case | target | metric | ratio to {base_id} | 95% interval |")
    print("|---|---|---|---|---|")
    for case in res["cases"]:
        by_id = {t["id"]: t for t in case["targets"]}
        if base_id not in by_id:
            print(f"no target {base_id} in {case['name']}", file=sys.stderr)
            return 2
        base = {t["trial"]: t["metrics"] for t in by_id[base_id]["trials"] if not t["interrupted"]}
        for t in case["targets"]:
            if t["id"] == base_id:
                continue
            for m in metrics:
                pairs = [(tr["metrics"][m], base[tr["trial"]][m]) for tr in t["trials"]
                         if not tr["interrupted"] and m in tr["metrics"] and m in base.get(tr["trial"], {})]
                r = interval(pairs)
                if r is None:
                    continue
                ratio, lo, hi = r
                ci = f"[{lo:.3g}x, {hi:.3g}x]" if lo is not None else "-"
                print(f"| {case['name']} | {t['id']} | {m} | {ratio:.3g}x | {ci} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
