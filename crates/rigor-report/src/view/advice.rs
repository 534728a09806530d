//! "What to look at": short items built from measured facts only, each
//! citing its numbers. A rule that lacks its measurement says nothing:
//! no advice without a number behind it.

use rigor_results::{CaseResult, Results, TargetResult};
use rigor_scenario::units::{format_bytes, format_nanos, significant};

/// Every item that fires, in a fixed order.
pub(crate) fn advice(results: &Results) -> Vec<String> {
    let mut out = Vec::new();
    for case in &results.cases {
        engines(results, case, &mut out);
        decisions(results, case, &mut out);
        concentration(results, case, &mut out);
        cache_savings(case, &mut out);
        gc(results, case, &mut out);
    }
    hottest_line(results, &mut out);
    alloc_site(results, &mut out);
    out
}

/// `in concurrency=1` when the run has several cases, else nothing.
fn in_case(results: &Results, case: &CaseResult) -> String {
    if results.cases.len() > 1 {
        format!(" in {}", case.name)
    } else {
        String::new()
    }
}

fn mean(t: &TargetResult) -> Option<f64> {
    (t.error.is_none())
        .then(|| t.metrics.get("latency.mean").copied())
        .flatten()
        .filter(|m| *m > 0.0)
}

/// A target's `engine:` as configured (regorus), if any.
fn engine<'a>(results: &'a Results, id: &str) -> Option<&'a str> {
    results
        .targets
        .iter()
        .find(|t| t.id == id && t.kind == "regorus")
        .and_then(|t| t.config.get("engine"))
        .and_then(|e| e.as_str())
}

/// regorus' VM against its interpreter on the same policy (uncached).
fn engines(results: &Results, case: &CaseResult, out: &mut Vec<String>) {
    let uncached = |t: &&TargetResult| !t.metrics.contains_key("cache.hit_ratio");
    let find = |which: &str| {
        case.targets
            .iter()
            .filter(uncached)
            .find(|t| engine(results, &t.id) == Some(which))
    };
    let (Some(vm), Some(interp)) = (find("vm"), find("interpreter")) else {
        return;
    };
    let (Some(v), Some(i)) = (mean(vm), mean(interp)) else {
        return;
    };
    let ratio = i / v;
    let verdict = if ratio >= 1.0 {
        format!("{}x faster than", significant(ratio))
    } else {
        format!("{}x slower than", significant(1.0 / ratio))
    };
    let mut item = format!(
        "regorus' VM ({}) is {verdict} its interpreter ({}) on this policy{}: mean {} vs {} per evaluation.",
        vm.id,
        interp.id,
        in_case(results, case),
        format_nanos(v),
        format_nanos(i)
    );
    // Not the same on every kind of input: by decision, where the two
    // differ in direction or by half as much again.
    if let (Some(cv), Some(ci)) = (&vm.input_costs, &interp.input_costs) {
        let parts: Vec<(String, f64, f64, f64)> = cv
            .by_decision
            .iter()
            .filter_map(|dv| {
                ci.by_decision
                    .iter()
                    .find(|di| di.decision == dv.decision)
                    .map(|di| {
                        (
                            dv.decision.clone(),
                            di.mean_ns / dv.mean_ns,
                            dv.mean_ns,
                            di.mean_ns,
                        )
                    })
            })
            .collect();
        let differs = parts
            .iter()
            .any(|p| (p.1 >= 1.0) != (ratio >= 1.0) || (p.1 / ratio).max(ratio / p.1) >= 1.5);
        if parts.len() >= 2 && differs {
            let said: Vec<String> = parts
                .iter()
                .map(|(d, r, v, i)| {
                    format!(
                        "on inputs answered {d} the VM takes {} against {} ({})",
                        format_nanos(*v),
                        format_nanos(*i),
                        if *r >= 1.0 {
                            format!("{}x faster", significant(*r))
                        } else {
                            format!("{}x slower", significant(1.0 / r))
                        }
                    )
                })
                .collect();
            item.push_str(&format!(" Not on every input: {}.", said.join("; ")));
        }
    }
    out.push(item);
}

/// Inputs of one decision costing several times the others'.
fn decisions(results: &Results, case: &CaseResult, out: &mut Vec<String>) {
    for t in &case.targets {
        let Some(c) = &t.input_costs else { continue };
        if c.by_decision.len() < 2 {
            continue;
        }
        let (hi, lo) = (&c.by_decision[0], &c.by_decision[c.by_decision.len() - 1]);
        let ratio = hi.mean_ns / lo.mean_ns.max(f64::MIN_POSITIVE);
        if ratio < DECISION_SPREAD {
            continue;
        }
        out.push(format!(
            "On {}{}, inputs answered {} cost {}x those answered {} (mean {} over {} input(s) vs {} over {}); they are {}% of the time. Benchmark and optimise the expensive path, and check your traffic's mix of decisions.",
            t.id,
            in_case(results, case),
            hi.decision,
            significant(ratio),
            lo.decision,
            format_nanos(hi.mean_ns),
            hi.inputs,
            format_nanos(lo.mean_ns),
            lo.inputs,
            significant(hi.share * 100.0)
        ));
    }
}

/// A decision's inputs must cost this many times another's to be named.
const DECISION_SPREAD: f64 = 2.0;

/// A few inputs taking much of the time.
fn concentration(results: &Results, case: &CaseResult, out: &mut Vec<String>) {
    for t in &case.targets {
        let Some(c) = &t.input_costs else { continue };
        // With 1% of the inputs, an even spread gives them about 1% of the
        // time; 10% is ten times their due.
        if c.seen < 100 || c.top_share < CONCENTRATED {
            continue;
        }
        let Some(first) = c.slowest.first() else {
            continue;
        };
        out.push(format!(
            "On {}{}, the slowest 1% of the inputs ({}) took {}% of the time; the slowest, {}, {} per evaluation: see the slowest inputs.",
            t.id,
            in_case(results, case),
            c.top_inputs,
            significant(c.top_share * 100.0),
            first.origin,
            format_nanos(first.mean_ns)
        ));
    }
}

/// The share of the time the slowest 1% of inputs must take to be named.
const CONCENTRATED: f64 = 0.10;

/// What a decision cache saved, where a cached and an uncached target of
/// the same kind were measured side by side.
fn cache_savings(case: &CaseResult, out: &mut Vec<String>) {
    for cached in case
        .targets
        .iter()
        .filter(|t| t.metrics.contains_key("cache.hit_ratio"))
    {
        let Some(plain) = case.targets.iter().find(|t| {
            t.kind == cached.kind && !t.metrics.contains_key("cache.hit_ratio") && mean(t).is_some()
        }) else {
            continue;
        };
        let (Some(c), Some(p), Some(hit)) = (
            mean(cached),
            mean(plain),
            cached.metrics.get("cache.hit_ratio").copied(),
        ) else {
            continue;
        };
        let saved = 1.0 - c / p;
        out.push(format!(
            "A decision cache with the measured hit ratio of {}% {} {}% of the mean time per decision ({} {} vs {} {}); the saving holds for traffic that repeats as much as these inputs do.",
            significant(hit * 100.0),
            if saved >= 0.0 { "saves" } else { "costs" },
            significant(saved.abs() * 100.0),
            cached.id,
            format_nanos(c),
            plain.id,
            format_nanos(p)
        ));
    }
}

/// Go's garbage collector in a managed OPA.
fn gc(results: &Results, case: &CaseResult, out: &mut Vec<String>) {
    for t in &case.targets {
        let Some(&per_1k) = t.metrics.get("server.gc_per_1k") else {
            continue;
        };
        // Low is not worth an item.
        if per_1k < GC_LOW {
            continue;
        }
        let level = if per_1k <= GC_HIGH { "Medium" } else { "High" };
        out.push(format!(
            "OPA's Go garbage collector ran {} times per 1,000 requests on {}{}: {level} (Low < {GC_LOW}, Medium {GC_LOW}-{GC_HIGH}, High > {GC_HIGH}). Fewer allocations per request (the server.memory.allocs_per_op metric) or a larger GOGC lower it.",
            significant(per_1k),
            t.id,
            in_case(results, case)
        ));
    }
}

/// GC cycles per 1,000 requests below this are Low.
const GC_LOW: f64 = 1.0;
/// Above this they are High.
const GC_HIGH: f64 = 10.0;

/// The hottest line of each profiled policy, when one line dominates.
fn hottest_line(results: &Results, out: &mut Vec<String>) {
    for t in &results.targets {
        let Some(p) = &t.profile else { continue };
        // Expressions, as OPA's profiler gives them; regorus' figures are
        // whole rules, of which one may well take everything.
        if p.engine != "opa" {
            continue;
        }
        let Some(top) = p.lines.iter().max_by(|a, b| a.share.total_cmp(&b.share)) else {
            continue;
        };
        if top.share < HOT_LINE {
            continue;
        }
        out.push(format!(
            "One expression takes {}% of {}'s evaluation time on {} ({} profiled input(s)): {}:{} \"{}\" ({} evaluation(s), {} redo(s)). Narrow what it iterates over, or index it (a lookup by key instead of a scan).",
            significant(top.share * 100.0),
            p.engine,
            t.id,
            p.inputs.len(),
            top.file,
            top.row,
            top.source.trim(),
            top.evals,
            top.redos
        ));
    }
}

/// One expression's share of a profile to be named.
const HOT_LINE: f64 = 0.25;

/// Where most allocated bytes come from (`--mode profile`).
fn alloc_site(results: &Results, out: &mut Vec<String>) {
    let Some(profile) = &results.alloc_profile else {
        return;
    };
    for t in &profile.targets {
        let Some(top) = t.by_bytes.first() else {
            continue;
        };
        let share = top.bytes / t.bytes.max(f64::MIN_POSITIVE);
        if share < ALLOC_SITE {
            continue;
        }
        out.push(format!(
            "On {}, {}% of the sampled bytes ({} of {}) are allocated at {}.",
            t.id,
            significant(share * 100.0),
            format_bytes(top.bytes),
            format_bytes(t.bytes),
            top.site
        ));
    }
}

/// One allocation site's share of the bytes to be named.
const ALLOC_SITE: f64 = 0.25;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A run of one case with the given targets (`(id, kind, config,
    /// metrics)`), through the results file's own format.
    fn run(targets: &[(&str, &str, serde_json::Value, serde_json::Value)]) -> Results {
        let infos: Vec<_> = targets
            .iter()
            .map(|(id, kind, config, _)| {
                json!({"id": id, "kind": kind, "config": config, "setup": {"parse_ns": [], "compile_ns": []}})
            })
            .collect();
        let results: Vec<_> = targets
            .iter()
            .map(|(id, kind, _, metrics)| {
                json!({"id": id, "kind": kind, "trials": [], "metrics": metrics, "histogram": "",
                       "grades": [], "error": null, "ratios": [], "noisy": false})
            })
            .collect();
        serde_json::from_value(json!({
            "format_version": 1, "rigor_version": "0",
            "scenario": {"name": "s", "path": "s.yaml", "source": "", "mode": "default",
                "workload": {"concurrency": [1], "warmup": {"secs": 0, "nanos": 0},
                             "stop": {"duration": {"secs": 1, "nanos": 0}}, "trials": 3},
                "inputs": 1},
            "environment": {"cpu_model": "x", "cores": 2, "os": "linux", "hostname": "h",
                            "rustc": "r", "rigor_version": "0"},
            "harness": {"timer_cost_ns": 20.0, "timer_resolution_ns": 1, "memory_accounting": true, "timing": "t"},
            "started_at": "", "finished_at": "", "status": "complete",
            "targets": infos,
            "cases": [{"name": "concurrency=1", "concurrency": 1, "rate": null, "targets": results}],
            "verdict": "pass", "errors": []
        }))
        .unwrap()
    }

    fn costs(by_decision: &[(&str, f64)], top_share: f64) -> rigor_results::cost::InputCosts {
        rigor_results::cost::InputCosts {
            inputs: 200,
            seen: 200,
            operations: 2000,
            total_ns: 1e6,
            slowest: vec![rigor_results::cost::InputCost {
                index: 7,
                origin: "inputs/x.jsonl:8".into(),
                input: "{}".into(),
                decision: Some("false".into()),
                operations: 10,
                mean_ns: 9000.0,
            }],
            by_decision: by_decision
                .iter()
                .map(|(d, m)| rigor_results::cost::DecisionCost {
                    decision: d.to_string(),
                    inputs: 100,
                    operations: 1000,
                    mean_ns: *m,
                    share: 0.5,
                })
                .collect(),
            top_inputs: 2,
            top_share,
        }
    }

    #[test]
    fn vm_against_interpreter_fires_with_both_and_only_then() {
        let both = run(&[
            (
                "vm",
                "regorus",
                json!({"engine": "vm"}),
                json!({"latency.mean": 1000.0}),
            ),
            (
                "int",
                "regorus",
                json!({"engine": "interpreter"}),
                json!({"latency.mean": 4000.0}),
            ),
        ]);
        let items = advice(&both);
        assert!(
            items
                .iter()
                .any(|i| i.contains("4x faster than") && i.contains("1us vs 4us")),
            "{items:?}"
        );
        let one = run(&[(
            "vm",
            "regorus",
            json!({"engine": "vm"}),
            json!({"latency.mean": 1000.0}),
        )]);
        assert!(advice(&one).is_empty());
    }

    #[test]
    fn decision_spread_fires_from_twice_and_stays_silent_below() {
        let mut r = run(&[(
            "vm",
            "regorus",
            json!({"engine": "vm"}),
            json!({"latency.mean": 1000.0}),
        )]);
        r.cases[0].targets[0].input_costs =
            Some(costs(&[("false", 8000.0), ("true", 1000.0)], 0.02));
        let items = advice(&r);
        assert!(
            items
                .iter()
                .any(|i| i.contains("answered false cost 8x those answered true")),
            "{items:?}"
        );
        r.cases[0].targets[0].input_costs =
            Some(costs(&[("false", 1500.0), ("true", 1000.0)], 0.02));
        assert!(advice(&r).is_empty(), "{:?}", advice(&r));
    }

    #[test]
    fn concentration_fires_when_a_few_inputs_dominate() {
        let mut r = run(&[("vm", "regorus", json!({}), json!({"latency.mean": 1000.0}))]);
        r.cases[0].targets[0].input_costs = Some(costs(&[], 0.4));
        let items = advice(&r);
        assert!(
            items
                .iter()
                .any(|i| i.contains("slowest 1% of the inputs (2) took 40% of the time")),
            "{items:?}"
        );
        r.cases[0].targets[0].input_costs = Some(costs(&[], 0.015));
        assert!(advice(&r).is_empty());
    }

    #[test]
    fn cache_savings_fire_with_a_cached_and_an_uncached_target() {
        let r = run(&[
            (
                "plain",
                "regorus",
                json!({}),
                json!({"latency.mean": 10000.0}),
            ),
            (
                "cached",
                "regorus",
                json!({}),
                json!({"latency.mean": 2500.0, "cache.hit_ratio": 0.8}),
            ),
        ]);
        let items = advice(&r);
        assert!(
            items
                .iter()
                .any(|i| i.contains("hit ratio of 80% saves 75%")),
            "{items:?}"
        );
        let alone = run(&[(
            "cached",
            "regorus",
            json!({}),
            json!({"latency.mean": 2500.0, "cache.hit_ratio": 0.8}),
        )]);
        assert!(advice(&alone).is_empty());
    }

    #[test]
    fn gc_fires_above_low_with_its_bounds() {
        let r = run(&[(
            "opa",
            "opa-http",
            json!({}),
            json!({"latency.mean": 1e5, "server.gc_per_1k": 12.0}),
        )]);
        let items = advice(&r);
        assert!(
            items
                .iter()
                .any(|i| i.contains("12 times per 1,000 requests") && i.contains("High (Low < 1")),
            "{items:?}"
        );
        let low = run(&[(
            "opa",
            "opa-http",
            json!({}),
            json!({"latency.mean": 1e5, "server.gc_per_1k": 0.5}),
        )]);
        assert!(advice(&low).is_empty());
    }

    #[test]
    fn hottest_line_fires_when_one_expression_dominates() {
        let mut r = run(&[("opa", "opa-http", json!({}), json!({"latency.mean": 1e5}))]);
        let line = |share: f64| rigor_results::cost::LineCost {
            file: "p.rego".into(),
            row: 12,
            col: 3,
            total_ns: 1000.0,
            share,
            evals: 100,
            redos: 99,
            source: "  some t in data.tokens".into(),
        };
        let profile = |share| rigor_results::cost::PolicyProfile {
            engine: "opa".into(),
            method: "m".into(),
            inputs: vec![1, 2],
            lines: vec![line(share)],
            sources: vec![],
            rules: vec![],
            notes: vec![],
        };
        r.targets[0].profile = Some(profile(0.6));
        let items = advice(&r);
        assert!(
            items
                .iter()
                .any(|i| i.contains("60% of opa's evaluation time")
                    && i.contains("p.rego:12 \"some t in data.tokens\"")),
            "{items:?}"
        );
        r.targets[0].profile = Some(profile(0.1));
        assert!(advice(&r).is_empty());
    }

    #[test]
    fn alloc_site_fires_when_one_site_dominates() {
        let mut r = run(&[("vm", "regorus", json!({}), json!({"latency.mean": 1000.0}))]);
        let site = |bytes: f64| rigor_results::Hotspot {
            site: "regorus::value::Value::from".into(),
            bytes,
            count: 10.0,
            samples: 10,
        };
        let profile = |top: f64| rigor_results::AllocProfile {
            sample_bytes: 1.0,
            samples: 100,
            dropped: 0,
            targets: vec![rigor_results::AllocTarget {
                id: "vm".into(),
                bytes: 1000.0,
                count: 100.0,
                samples: 100,
                by_bytes: vec![site(top)],
                by_count: vec![],
            }],
        };
        r.alloc_profile = Some(profile(600.0));
        let items = advice(&r);
        assert!(
            items
                .iter()
                .any(|i| i.contains("60% of the sampled bytes") && i.contains("Value::from")),
            "{items:?}"
        );
        r.alloc_profile = Some(profile(100.0));
        assert!(advice(&r).is_empty());
    }
}
