//! The first screen: each case's targets at a glance, with their verdicts.

use super::*;

/// One case on the first screen.
#[derive(Debug, Serialize)]
pub struct GlanceCase {
    /// Case name (`concurrency=1`).
    pub name: String,
    /// One row per target.
    pub rows: Vec<GlanceRow>,
    /// Throughput (achieved rate in rate mode) per target, with intervals.
    pub throughput: Option<crate::chart::BarChart>,
    /// p99 latency per target, with intervals.
    pub p99: Option<crate::chart::BarChart>,
}

/// A target's headline numbers in one case.
#[derive(Debug, Serialize)]
pub struct GlanceRow {
    /// Target id.
    pub target: String,
    /// Operations per second (achieved, in rate mode), with its interval.
    pub ops: String,
    /// Latency p50.
    pub p50: String,
    /// Latency p99, with its interval.
    pub p99: String,
    /// Bytes allocated per operation.
    pub bytes: String,
    /// Failed operations' share.
    pub errors: String,
    /// The target's worst grade (FAIL if it failed).
    pub verdict: String,
    /// CSS class of the verdict.
    pub verdict_class: String,
}

pub(super) fn glance(results: &Results) -> Vec<GlanceCase> {
    results
        .cases
        .iter()
        .map(|case| {
            let rate = case.rate.is_some();
            let ops_metric = if rate { "rate.achieved" } else { "throughput" };
            let with_interval = |t: &rigor_results::TargetResult, m: &str| {
                let v = format_metric(m, t.metrics.get(m).copied());
                match t.stats.get(m).and_then(|s| s.spread()) {
                    Some(i) => format!(
                        "{v} [{}, {}]",
                        format_metric(m, Some(i.low)),
                        format_metric(m, Some(i.high))
                    ),
                    None => v,
                }
            };
            let rows = case
                .targets
                .iter()
                .map(|t| {
                    let verdict = if t.error.is_some() {
                        Verdict::Fail
                    } else {
                        t.grades
                            .iter()
                            .map(|g| g.verdict)
                            .max()
                            .unwrap_or(Verdict::Skip)
                    };
                    GlanceRow {
                        target: t.id.clone(),
                        ops: with_interval(t, ops_metric),
                        p50: format_metric("latency.p50", t.metrics.get("latency.p50").copied()),
                        p99: with_interval(t, "latency.p99"),
                        bytes: format_metric(
                            "memory.bytes_per_op",
                            t.metrics.get("memory.bytes_per_op").copied(),
                        ),
                        errors: format_metric("errors.rate", t.metrics.get("errors.rate").copied()),
                        verdict: verdict.label().into(),
                        verdict_class: class(verdict).into(),
                    }
                })
                .collect();
            GlanceCase {
                name: case.name.clone(),
                rows,
                throughput: crate::chart::bar_chart(
                    case,
                    ops_metric,
                    if rate {
                        "achieved rate"
                    } else {
                        "throughput (higher is better)"
                    },
                    560.0,
                ),
                p99: crate::chart::bar_chart(
                    case,
                    "latency.p99",
                    "latency p99 (lower is better)",
                    560.0,
                ),
            }
        })
        .collect()
}
