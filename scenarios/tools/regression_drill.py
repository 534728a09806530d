#!/usr/bin/env python3
"""Measures rigor's regression verdicts on this machine.

Saves a baseline of scenarios/regression-drill.yaml, then
- repeats identical runs against it and counts WARN and FAIL checks (false alarms);
- injects slowdowns into the spin target (SPIN_TIME) and counts how often each is caught (FAIL).

Usage: scenarios/tools/regression_drill.py [--mode default|full] [--repeats N] [--slowdowns 5,10,12,15,20] [--trials N]
       scenarios/tools/regression_drill.py --paired [--runs 20] [--cases 0:10,2:10,5:2]

--paired --b-policy FILE compares scenarios/policies/rbac.rego (regorus VM) with
FILE instead of two spins (a case's change only labels it; 0 compares rbac.rego
with itself).

--paired drills the paired method instead (compare: { paired: true }): spin
50us against spin 50us x (1 + change%), both in one run alternating in
rounds, measuring SECONDS in all, `regression.threshold: 1%`; each case runs
--runs times with a different seed and counts FAILs (caught, or false alarms
at 0%).

--trials N runs a copy of the scenario with N trials (3 is what many CI jobs
afford: there the rank test cannot reach 5% and Welch's t decides).
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RIGOR = os.path.join(ROOT, "target", "release", "rigor")
SCENARIO = os.path.join(ROOT, "scenarios", "regression-drill.yaml")


def with_trials(trials, work):
    """A copy of the drill scenario with `trials` trials, its paths made absolute."""
    with open(SCENARIO) as f:
        text = f.read()
    scenarios = os.path.dirname(SCENARIO)
    for folder in ("policies/", "data/", "inputs/"):
        text = text.replace(f" {folder}", f" {scenarios}/{folder}").replace(f"[{folder}", f"[{scenarios}/{folder}")
    text = text.replace("trials: 6", f"trials: {trials}")
    path = os.path.join(work, "regression-drill.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def run(mode, reports, out, spin_us=50.0, baseline=None, save=None):
    env = dict(os.environ, SPIN_TIME=f"{spin_us}us")
    cmd = [RIGOR, "run", SCENARIO, "--mode", mode, "--reports", reports, "--out", out, "--color", "never"]
    if baseline:
        cmd += ["--baseline", baseline]
    if save:
        cmd += ["--save-baseline", save]
    code = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    with open(os.path.join(out, "results.json")) as f:
        return code, json.load(f)


PAIRED = """name: paired-drill
workload: {{concurrency: 1, warmup: 200ms, duration: {seconds}s, round: {round}, seed: {seed}}}
targets:
  - {{id: a, kind: spin, service_time: 50us}}
  - {{id: b, kind: spin, service_time: {b_us}us}}
compare: {{baseline: a, paired: true}}
regression: {{threshold: 1%}}
"""


PAIRED_POLICY = """name: paired-drill-policy
policy: {{files: [{root}/scenarios/policies/rbac.rego], data: [{root}/scenarios/data/rbac.json], query: data.rbac.allow}}
inputs: [{root}/scenarios/inputs/rbac.jsonl]
workload: {{concurrency: 1, warmup: 200ms, duration: {seconds}s, round: {round}, seed: {seed}}}
targets:
  - {{id: a, kind: regorus, engine: vm}}
  - {{id: b, kind: regorus, engine: vm, policy: {{files: [{b_policy}], data: [{root}/scenarios/data/rbac.json], query: data.rbac.allow}}}}
compare: {{baseline: a, paired: true}}
regression: {{threshold: 1%}}
"""


def paired(runs, cases, round_, b_policy=None):
    work = tempfile.mkdtemp(prefix="rigor-paired-drill-")
    print(f"| change | measured | round | FAIL | WARN | PASS | median estimate | median interval width | median detectable |")
    print(f"|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for change, seconds in cases:
        verdicts = collections.Counter()
        estimates, widths, detectable = [], [], []
        for seed in range(1, runs + 1):
            path = os.path.join(work, "s.yaml")
            with open(path, "w") as f:
                if b_policy:
                    # A policy case: `change` names the case only (the slowdown is the file's).
                    f.write(PAIRED_POLICY.format(seconds=seconds, seed=seed, round=round_, root=ROOT,
                                                 b_policy=b_policy if change else f"{ROOT}/scenarios/policies/rbac.rego"))
                else:
                    f.write(PAIRED.format(seconds=seconds, seed=seed, round=round_, b_us=50 * (1 + change / 100)))
            out = os.path.join(work, f"out-{change}-{seconds}-{seed}")
            subprocess.run([RIGOR, "run", path, "--out", out, "--color", "never"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(os.path.join(out, "results.json")) as f:
                res = json.load(f)
            check = res["paired"]["checks"][0]
            verdicts[check["verdict"]] += 1
            estimates.append(check["change"])
            if check.get("interval"):
                widths.append(check["interval"]["high"] - check["interval"]["low"])
            if check.get("detectable") is not None:
                detectable.append(check["detectable"])
        med = lambda v: sorted(v)[len(v) // 2] if v else float("nan")
        print(f"| +{change}% | {seconds}s | {round_} | {verdicts['fail']}/{runs} | {verdicts['warn']}/{runs} | {verdicts['pass']}/{runs} "
              f"| {med(estimates) * 100:+.2f}% | {med(widths) * 100:.2f}% | {med(detectable) * 100:.2f}% |", flush=True)


def main():
    if "--paired" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--paired", action="store_true")
        ap.add_argument("--runs", type=int, default=20)
        ap.add_argument("--cases", default="0:10,2:10,5:2")
        ap.add_argument("--round", default="10ms")
        ap.add_argument("--b-policy", default=None,
                        help="compare rbac.rego with this Rego file (a change of 0 compares rbac.rego with itself)")
        args = ap.parse_args()
        cases = [(float(c.split(":")[0]), float(c.split(":")[1])) for c in args.cases.split(",")]
        cases = [(int(c) if c == int(c) else c, int(s) if s == int(s) else s) for c, s in cases]
        paired(args.runs, cases, args.round, args.b_policy)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="default")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--slowdowns", default="5,10,12,15,20")
    ap.add_argument("--trials", type=int, default=None)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rigor-drill-")
    if args.trials:
        global SCENARIO
        SCENARIO = with_trials(args.trials, work)
    reports = os.path.join(work, "reports")
    run(args.mode, reports, os.path.join(work, "base"), save="drill")
    print(f"mode {args.mode}{f', {args.trials} trials' if args.trials else ''}; baseline saved; {args.repeats} identical runs")
    verdicts = collections.Counter()
    runs_with = collections.Counter()
    detectable = collections.defaultdict(list)
    for i in range(args.repeats):
        code, res = run(args.mode, reports, os.path.join(work, f"same{i}"), baseline="drill")
        checks = res["regression"]["checks"]
        seen = set()
        for c in checks:
            verdicts[c["verdict"]] += 1
            seen.add(c["verdict"])
            if c.get("detectable") is not None:
                detectable[(c["target"], c["metric"])].append(c["detectable"])
            if c["verdict"] != "pass":
                print(f"  run {i}: {c['verdict'].upper()} {c['target']} {c['metric']}: {c['reason']}")
        for v in seen:
            runs_with[v] += 1
        print(f"  run {i}: exit {code}, checks {dict(collections.Counter(c['verdict'] for c in checks))}")
    total = sum(verdicts.values())
    print(f"identical runs: {total} checks: {verdicts['pass']} PASS, {verdicts['warn']} WARN, {verdicts['fail']} FAIL; "
          f"runs with a WARN: {runs_with['warn']}/{args.repeats}, with a FAIL: {runs_with['fail']}/{args.repeats}")
    for (t, m), v in sorted(detectable.items()):
        print(f"  detectable change {t} {m}: median {sorted(v)[len(v)//2]*100:.1f}%")
    for pct in [float(p) for p in args.slowdowns.split(",")]:
        caught = 0
        for i in range(args.repeats):
            code, res = run(args.mode, reports, os.path.join(work, f"slow{pct}-{i}"), spin_us=50.0 * (1 + pct / 100), baseline="drill")
            p50 = next(c for c in res["regression"]["checks"] if c["target"] == "spin" and c["metric"] == "latency.p50")
            caught += p50["verdict"] == "fail"
            test = p50.get("test", "")
        print(f"spin +{pct:g}%: latency.p50 FAIL in {caught}/{args.repeats} runs (test: {test})")


if __name__ == "__main__":
    sys.exit(main())
