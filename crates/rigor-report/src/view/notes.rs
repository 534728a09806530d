//! The run's notes: how latency was timed, memory accounting, noise,
//! grading, each target's method, which method produced each verdict.

use super::*;

/// The run's notes (how latency was timed, memory accounting, noise, how
/// grading works, each target's method, the server's view, partial runs)
/// and the targets' methods on their own.
pub(super) fn run_notes(results: &Results) -> (Vec<String>, Vec<String>) {
    let h = &results.harness;
    let mut notes = vec![format!(
        "Latency: {}. Timer cost {} per read{}.",
        h.timing,
        format_nanos(h.timer_cost_ns),
        h.loop_cost_ns
            .map(|c| format!(
                "; the closed loop's own cost, inside each per-operation latency: {} per operation",
                format_nanos(c)
            ))
            .unwrap_or_default()
    )];
    if !h.memory_accounting {
        notes.push("Memory accounting was off (jemalloc not the global allocator): memory metrics are absent.".into());
    }
    let noisy_cv = results.regression_config.noisy_cv * 100.0;
    notes.push(format!(
        "ops/s cv is the coefficient of variation of throughput across trials; above {}% the case is marked noisy: differences smaller than a few times the cv are not resolved.",
        significant(noisy_cv)
    ));
    notes.push("Thresholds are graded on the trials' 95% interval of the median (order statistics; with 5 trials or fewer the range, at lower confidence): PASS when the whole interval meets the target, FAIL when even its best end misses the critical level, WARN in between. See docs/STATISTICS.md.".into());
    notes.push("memory.peak_resident is jemalloc's process-wide resident bytes, sampled every 10ms while all workers measure.".into());
    let methods: Vec<String> = results
        .targets
        .iter()
        .filter_map(|t| t.method.as_ref().map(|m| format!("{} measures: {m}", t.id)))
        .collect();
    notes.extend(methods.iter().cloned());
    notes.extend(method_notes(results));
    if results
        .cases
        .iter()
        .flat_map(|c| &c.targets)
        .any(|t| t.metrics.contains_key("server.eval.mean"))
    {
        notes.push("The server's view: OPA's own timers for each measured request (?metrics=true): eval = timer_rego_query_eval_ns, the policy evaluation; handler = timer_server_handler_ns, the whole request inside OPA (input parse, evaluation, answer). client mean - handler mean is network, HTTP and the client; eval share = eval mean / client mean. Server B/op, allocs/op and GC are Go's heap counters from OPA's /metrics, read before and after each trial, per request OPA counted (warm-up included; scope: server, not comparable with in-process bytes/op).".into());
    }
    if let Some(reason) = &results.stop_reason {
        notes.push(format!(
            "The run stopped: {reason}. {}",
            if results.cases.is_empty() {
                "Nothing was measured."
            } else {
                "The numbers cover only what was measured before."
            }
        ));
    } else if results.status != RunStatus::Complete {
        notes.push(format!(
            "The run is {}: the numbers cover only what was measured.",
            status(results.status)
        ));
    }
    (notes, methods)
}

/// Which method produced each comparison's verdict, in words.
pub(crate) fn method_notes(results: &Results) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(p) = &results.paired {
        notes.push(format!(
            "Verdicts against `{}` come from paired rounds within this run (per-round ratios, drift cancelled){}; the ratios of trial medians are shown for reference only.",
            p.baseline,
            if results.regression_config.paired_by_default {
                ": paired by default, since the comparison has a regression threshold and every target takes rounds (`compare: { paired: false }` compares trial medians instead)"
            } else {
                ""
            }
        ));
    } else if let Some(base) = &results.baseline {
        notes.push(format!(
            "Targets are compared with `{base}` by the ratio of trial medians (unpaired): nothing is graded on it; `regression.threshold` with `compare` grades the change in paired rounds."
        ));
    }
    if let Some(r) = &results.regression {
        notes.push(format!(
            "Verdicts against the saved baseline `{}` compare this run's trials with that run's (two runs apart: machine drift is part of the change).",
            r.baseline
        ));
    }
    notes
}

/// The A/A control's outcome in one line, with its first non-PASS check.
pub(super) fn aa_control_line(a: &RegressionReport) -> String {
    let worst = a
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| format!("{} {}: {}", c.case, c.metric, c.reason))
        .next();
    format!(
        "A/A control ({}): {}{}",
        a.baseline,
        a.verdict.label(),
        worst.map(|w| format!(" — e.g. {w}")).unwrap_or_default()
    )
}
