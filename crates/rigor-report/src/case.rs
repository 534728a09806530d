//! The view of one case: its summary table, threshold grades, cache and
//! server tables, notes on its targets, statistics over trials, ratios and
//! charts. Built from the results file alone, like every view.

use rigor_results::{CaseResult, TargetResult};
use rigor_scenario::units::significant;
use serde::Serialize;

use crate::chart::{self, ChartView};
use crate::escape::Styled;
use crate::format::{class, colored};
use crate::format::{compact, format_metric};

/// The cache table's columns.
const CACHE_SUMMARY: &[(&str, &str)] = &[
    ("cache.hit_ratio", "hit ratio"),
    ("latency.get.p50", "get p50"),
    ("latency.get.p99", "get p99"),
    ("latency.set.p99", "set p99"),
    ("latency.hit.p99", "hit p99"),
    ("latency.miss.p99", "miss p99"),
    ("cache.entries", "entries"),
    ("cache.entries_end", "at end"),
    ("cache.memory", "memory"),
    ("cache.bytes_per_entry", "bytes/entry"),
];

/// A table of `columns` for the targets with any metric under `prefix`:
/// header cells, rows, column widths (all empty when no target has one).
fn summary_table(
    case: &rigor_results::CaseResult,
    prefix: &str,
    first: &str,
    columns: &[(&str, &str)],
) -> (Vec<String>, Vec<Vec<String>>, Vec<usize>) {
    let rows: Vec<Vec<String>> = case
        .targets
        .iter()
        .filter(|t| t.metrics.keys().any(|k| k.starts_with(prefix)))
        .map(|t| {
            std::iter::once(t.id.clone())
                .chain(
                    columns
                        .iter()
                        .map(|(m, _)| format_metric(m, t.metrics.get(*m).copied())),
                )
                .collect()
        })
        .collect();
    let header: Vec<String> = if rows.is_empty() {
        Vec::new()
    } else {
        std::iter::once(first.to_string())
            .chain(columns.iter().map(|(_, h)| h.to_string()))
            .collect()
    };
    let widths = column_widths(
        std::iter::once(header.clone()).chain(rows.iter().cloned()),
        header.len(),
    );
    (header, rows, widths)
}

/// The server table's columns: the client's mean beside the server's own view.
const SERVER_SUMMARY: &[(&str, &str)] = &[
    ("latency.mean", "client mean"),
    ("server.handler.mean", "handler mean"),
    ("server.eval.mean", "eval mean"),
    ("server.eval.p50", "eval p50"),
    ("server.eval.p99", "eval p99"),
    ("server.eval_share", "eval share"),
    ("server.memory.bytes_per_op", "server B/op"),
    ("server.memory.allocs_per_op", "server allocs/op"),
    ("server.gc_per_1k", "GC per 1k req"),
    ("server.memory.heap_inuse", "heap in use"),
];

/// One case.
#[derive(Debug, Serialize)]
pub struct CaseView {
    /// Case label.
    pub name: String,
    /// The case ran in paired rounds: its ratios of trial medians are for
    /// reference only (the paired comparison grades), and no target is
    /// flagged noisy (the paired estimate does not suffer from it).
    pub paired: bool,
    /// Summary table: header cells.
    pub header: Vec<String>,
    /// Summary table: one row of cells per target.
    pub rows: Vec<Vec<String>>,
    /// Column widths for text output.
    pub widths: Vec<usize>,
    /// Threshold grades, target by target.
    pub grades: Vec<GradeRow>,
    /// Column widths of the grades table for text output.
    pub grade_widths: Vec<usize>,
    /// Per-target errors in this case.
    pub errors: Vec<String>,
    /// Percentile chart.
    pub chart: Option<ChartView>,
    /// Ratios to the baseline, with intervals.
    pub ratios: Vec<RatioRow>,
    /// Forest plot of the ratios.
    pub ratio_chart: Option<chart::RatioChart>,
    /// Rate mode: the requested rate.
    pub requested_rate: Option<String>,
    /// Cache table (hit ratio, per-kind latencies, entries, memory): header cells.
    pub cache_header: Vec<String>,
    /// Cache table rows, one per target with cache metrics.
    pub cache_rows: Vec<Vec<String>>,
    /// Cache table column widths for text output.
    pub cache_widths: Vec<usize>,
    /// Server table (the server's own timings and memory): header cells.
    pub server_header: Vec<String>,
    /// Server table rows, one per target that reported server figures.
    pub server_rows: Vec<Vec<String>>,
    /// Server table column widths for text output.
    pub server_widths: Vec<usize>,
    /// How each cache applied the case's capacity, and how latencies were timed.
    pub notes: Vec<String>,
    /// Statistics across trials: target, metric, median, 95% CI, range, CV.
    pub stats: Vec<Vec<String>>,
    /// Charts over time: throughput, p99 and errors per window for every
    /// run, and for soaks each target's live heap as growth since its first
    /// sample.
    pub time_charts: Vec<chart::TimeChart>,
    /// Where the time goes, input by input, per target that recorded it.
    pub input_costs: Vec<crate::cost::InputCostView>,
}

/// One metric of one target as a ratio to the baseline.
#[derive(Debug, Serialize)]
pub struct RatioRow {
    /// Target id.
    pub target_id: String,
    /// Metric name.
    pub metric: String,
    /// `0.31x`.
    pub ratio: String,
    /// `[0.28x, 0.35x]` or `-`.
    pub interval: String,
    /// `better`, `worse`, `no significant difference`, ...
    pub conclusion: String,
    /// CSS class: pass (better), fail (worse), skip (undecided).
    pub class: String,
}

/// One graded threshold.
#[derive(Debug, Serialize)]
pub struct GradeRow {
    /// Target id.
    pub target_id: String,
    /// Metric name.
    pub metric: String,
    /// Measured value.
    pub value: String,
    /// Target level.
    pub target: String,
    /// Critical level.
    pub critical: String,
    /// The trials' interval used, `[a, b]`, or empty.
    pub interval: String,
    /// Why, when the interval decided.
    pub reason: String,
    /// PASS/WARN/FAIL/N/A.
    pub verdict: String,
    /// Verdict coloured for terminals when colour is on.
    pub verdict_colored: Styled,
    /// CSS class.
    pub class: String,
}

/// Rate mode: latency is from the intended start, service from the actual send.
const RATE_SUMMARY: &[(&str, &str)] = &[
    ("rate.achieved", "achieved"),
    ("latency.p50", "p50"),
    ("latency.p90", "p90"),
    ("latency.p99", "p99"),
    ("latency.p99.9", "p99.9"),
    ("latency.max", "max"),
    ("service.p50", "svc p50"),
    ("service.p99", "svc p99"),
    ("schedule.lag.p99", "lag p99"),
    ("memory.bytes_per_op", "bytes/op"),
    ("errors.count", "errors"),
];

const SUMMARY: &[(&str, &str)] = &[
    ("throughput", "ops/s"),
    ("latency.mean", "mean"),
    ("latency.p50", "p50"),
    ("latency.p90", "p90"),
    ("latency.p99", "p99"),
    ("latency.p99.9", "p99.9"),
    ("latency.max", "max"),
    ("memory.bytes_per_op", "bytes/op"),
    ("memory.allocs_per_op", "allocs/op"),
    ("errors.count", "errors"),
];

/// Coefficient of variation of throughput across trials, as a percentage.
fn throughput_cv(t: &TargetResult) -> Option<f64> {
    let v: Vec<f64> = t
        .trials
        .iter()
        .filter_map(|t| t.metrics.get("throughput").copied())
        .collect();
    if v.len() < 2 {
        return None;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    Some(100.0 * var.sqrt() / mean)
}

pub(crate) fn column_widths(rows: impl Iterator<Item = Vec<String>>, n: usize) -> Vec<usize> {
    let mut w = vec![0; n];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(n) {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    w
}

/// One case: its summary, grades, cache and server tables, notes, trial
/// statistics and charts.
pub(crate) fn case_view(case: &CaseResult, color: bool) -> CaseView {
    let (header, rows, widths) = summary_rows(case);
    let (grades, grade_widths) = grade_rows(case, color);
    let (cache_header, cache_rows, cache_widths) =
        summary_table(case, "cache.", "target", CACHE_SUMMARY);
    let (server_header, server_rows, server_widths) =
        summary_table(case, "server.", "server's view", SERVER_SUMMARY);
    let case_notes = case_notes(case);
    let stats = stats_rows(case);
    CaseView {
        input_costs: crate::cost::input_costs(case),
        paired: !case.rounds.is_empty(),
        stats,
        cache_header,
        cache_rows,
        cache_widths,
        server_header,
        server_rows,
        server_widths,
        notes: case_notes,
        name: case.name.clone(),
        header,
        rows,
        widths,
        grades,
        grade_widths,
        errors: case
            .targets
            .iter()
            .filter_map(|t| t.error.clone())
            .collect(),
        chart: chart::percentile_chart(case),
        time_charts: chart::window_charts(case)
            .into_iter()
            .chain(chart::memory_chart(case))
            .chain(chart::entries_chart(case))
            .chain(chart::server_memory_chart(case))
            .collect(),
        ratios: ratio_rows(case),
        ratio_chart: chart::ratio_chart(case),
        requested_rate: case.rate.map(|r| format!("{}/s", significant(r))),
    }
}

/// The case's main table: the summary columns (rate mode's own), trials and
/// throughput's cv, with the header and column widths.
fn summary_rows(case: &CaseResult) -> (Vec<String>, Vec<Vec<String>>, Vec<usize>) {
    let columns = if case.rate.is_some() {
        RATE_SUMMARY
    } else {
        SUMMARY
    };
    let mut header: Vec<String> = vec!["target".into()];
    header.extend(columns.iter().map(|(_, h)| h.to_string()));
    header.push("trials".into());
    header.push("ops/s cv".into());
    let rows: Vec<Vec<String>> = case
        .targets
        .iter()
        .map(|t| {
            let bound = t.trials.iter().any(|t| t.generator_bound);
            let batched = t.trials.iter().any(|t| t.batch > 1);
            let mut row = vec![if bound {
                format!("{} (generator-bound)", t.id)
            } else if batched {
                format!("{} (batch means)", t.id)
            } else {
                t.id.clone()
            }];
            row.extend(
                columns
                    .iter()
                    .map(|(m, _)| format_metric(m, t.metrics.get(*m).copied())),
            );
            row.push(t.trials.len().to_string());
            row.push(
                throughput_cv(t)
                    .map(|c| {
                        let flag = if t.noisy && case.rounds.is_empty() {
                            " noisy"
                        } else {
                            ""
                        };
                        format!("{}%{flag}", significant(c))
                    })
                    .unwrap_or_else(|| "-".into()),
            );
            row
        })
        .collect();
    let widths = column_widths(
        std::iter::once(header.clone()).chain(rows.iter().cloned()),
        header.len(),
    );
    (header, rows, widths)
}

/// Threshold grades of every target of the case, with column widths.
fn grade_rows(case: &CaseResult, color: bool) -> (Vec<GradeRow>, Vec<usize>) {
    let grades: Vec<GradeRow> = case
        .targets
        .iter()
        .flat_map(|t| t.grades.iter().map(move |g| (t, g)))
        .map(|(t, g)| GradeRow {
            target_id: t.id.clone(),
            metric: g.metric.clone(),
            value: format_metric(&g.metric, g.value),
            target: format_metric(&g.metric, g.target),
            critical: format_metric(&g.metric, g.critical),
            interval: match (g.low, g.high) {
                (Some(l), Some(h)) => format!(
                    "[{}, {}]",
                    format_metric(&g.metric, Some(l)),
                    format_metric(&g.metric, Some(h))
                ),
                _ => String::new(),
            },
            reason: g.reason.clone().unwrap_or_default(),
            verdict: g.verdict.label().into(),
            verdict_colored: colored(g.verdict, color),
            class: class(g.verdict).into(),
        })
        .collect();
    let grade_widths = column_widths(
        std::iter::once(
            [
                "metric",
                "target",
                "value",
                "target",
                "critical",
                "trials' 95% CI",
            ]
            .map(String::from)
            .to_vec(),
        )
        .chain(grades.iter().map(|g| {
            vec![
                g.metric.clone(),
                g.target_id.clone(),
                g.value.clone(),
                g.target.clone(),
                g.critical.clone(),
                g.interval.clone(),
            ]
        })),
        6,
    );
    (grades, grade_widths)
}

/// Notes on a case's targets: batch timing, failed operations by kind with
/// the first message, cache capacity notes.
fn case_notes(case: &CaseResult) -> Vec<String> {
    let mut case_notes = Vec::new();
    for t in &case.targets {
        if let Some(b) = t.trials.iter().map(|t| t.batch).max().filter(|b| *b > 1) {
            case_notes.push(format!(
                "{}: operations take under 1us, about what the clock costs to read, so they were timed in batches of {b}; its latencies are batch means (the per-kind get/set/hit/miss split needs `timing: per-op`).",
                t.id
            ));
        }
        let errors: u64 = t.trials.iter().map(|t| t.errors).sum();
        if errors > 0 {
            let mut kinds: std::collections::BTreeMap<&str, u64> = Default::default();
            let mut events: std::collections::BTreeMap<&str, u64> = Default::default();
            for trial in &t.trials {
                for (k, n) in &trial.error_kinds {
                    *kinds.entry(k).or_insert(0) += n;
                }
                for (k, n) in &trial.events {
                    *events.entry(k).or_insert(0) += n;
                }
            }
            let list = |m: &std::collections::BTreeMap<&str, u64>| {
                m.iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let events = list(&events);
            case_notes.push(format!(
                "{}: {errors} failed operation(s) ({}, {}), not in its latency or ops/s: {}{}{}",
                t.id,
                format_metric("errors.rate", t.metrics.get("errors.rate").copied()),
                format_metric(
                    "errors.per_second",
                    t.metrics.get("errors.per_second").copied()
                ),
                list(&kinds),
                if events.is_empty() {
                    String::new()
                } else {
                    format!("; {events}")
                },
                t.trials
                    .iter()
                    .find_map(|t| t.error_messages.first())
                    .map(|m| format!("; first: {m}"))
                    .unwrap_or_default()
            ));
        }
        let first = t.trials.first();
        for state in [
            first.and_then(|t| t.cache_before.as_ref()),
            first.and_then(|t| t.cache_after.as_ref()),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(note) = &state.capacity_note {
                case_notes.push(format!("{}: {note}", t.id));
            }
        }
        for trial in &t.trials {
            if let Some(s) = &trial.soak {
                case_notes.push(format!("{}: {}", t.id, soak_note(s)));
            }
        }
        if let Some(note) = over_time_note(t) {
            case_notes.push(format!("{}: {note}", t.id));
        }
        for note in t.trial_notes() {
            case_notes.push(format!("{}: {note}", t.id));
        }
    }
    case_notes
}

/// A slowest window below this share of the median window's throughput,
/// or a worst window p99 above this many times the median window's, is
/// worth a note: a stall, a warm-up effect or a degradation over the run.
const SLOW_WINDOW: f64 = 0.8;
const SPIKY_WINDOW: f64 = 2.0;
/// From this many windows on, the 5th and 95th percentile windows are
/// judged instead of the extremes.
const MANY_WINDOWS: usize = 40;

/// Says when a target's windows over time were uneven (a note pointing at
/// the charts), `None` when they were steady or there are too few.
pub(crate) fn over_time_note(t: &TargetResult) -> Option<String> {
    use rigor_scenario::units::format_nanos;
    let series: Vec<_> = t
        .trials
        .iter()
        .filter_map(|tr| tr.windows.as_ref())
        .collect();
    let width = series.first()?.width_ns;
    let full = || {
        series.iter().flat_map(|s| {
            s.windows
                .iter()
                .filter(move |w| w.span_ns * 2 >= s.width_ns)
        })
    };
    let mut rates: Vec<f64> = full().map(|w| w.throughput).collect();
    let mut p99s: Vec<f64> = full().filter_map(|w| w.p99).collect();
    if rates.len() < 3 {
        return None;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    // Long runs are judged by their slowest and worst 5% of windows: one
    // slow window in hundreds is a shared machine, not the target.
    let many = rates.len() >= MANY_WINDOWS;
    let low = |v: &[f64]| v[if many { (v.len() - 1) / 20 } else { 0 }];
    let high = |v: &[f64]| {
        v[if many {
            (v.len() - 1) * 19 / 20
        } else {
            v.len() - 1
        }]
    };
    let rate_median = median(&mut rates);
    let rate_low = low(&rates);
    let mut parts = Vec::new();
    if rate_median > 0.0 && rate_low < SLOW_WINDOW * rate_median {
        parts.push(format!(
            "{} {}/s, {:.0}% below the median window ({}/s)",
            if many {
                "the slowest 5% of windows ran at or below"
            } else {
                "the slowest window ran at"
            },
            compact(rate_low),
            (1.0 - rate_low / rate_median) * 100.0,
            compact(rate_median)
        ));
    }
    if !p99s.is_empty() {
        let p99_median = median(&mut p99s);
        let p99_high = high(&p99s);
        if p99_high > SPIKY_WINDOW * p99_median {
            parts.push(format!(
                "{} {} against a median window's {}",
                if many {
                    "the worst 5% of windows had a p99 at or above"
                } else {
                    "the worst window's p99 was"
                },
                format_nanos(p99_high),
                format_nanos(p99_median)
            ));
        }
    }
    (!parts.is_empty()).then(|| {
        format!(
            "uneven over time ({} windows of {}): {}; see the charts over time in the HTML report.",
            rates.len(),
            format_nanos(width as f64),
            parts.join("; ")
        )
    })
}

/// A soak in one line: samples, the heap from first to last, and the
/// growth fits with their intervals.
fn soak_note(s: &rigor_results::SoakResult) -> String {
    use rigor_scenario::units::{format_bytes, format_nanos};
    let heap = |s: &rigor_results::MemorySample| s.allocated.map(|b| format_bytes(b as f64));
    let span = match (s.samples.first(), s.samples.last()) {
        (Some(a), Some(b)) => format!(
            "; live heap {} -> {} over {} operations",
            heap(a).unwrap_or_else(|| "-".into()),
            heap(b).unwrap_or_else(|| "-".into()),
            b.operations.saturating_sub(a.operations)
        ),
        _ => String::new(),
    };
    let fit = |g: &Option<rigor_results::Growth>, what: &str| match g {
        Some(g) => {
            let interval = g
                .interval
                .map(|i| format!(" [{}, {}]", format_bytes(i.low), format_bytes(i.high)))
                .unwrap_or_default();
            format!(
                "; {what} {} per 1M operations{interval} ({} per hour, {} samples)",
                format_bytes(g.per_million_ops),
                format_bytes(g.per_hour),
                g.samples
            )
        }
        None => format!("; {what}: too few samples to fit"),
    };
    let entries = |x: &rigor_results::MemorySample| x.entries;
    let cache = match (s.samples.first().and_then(entries), s.samples.last().and_then(entries)) {
        (Some(a), Some(b)) if s.still_filling => format!(
            "; the cache was still filling ({a} -> {b} entries), so growth includes its fill, not only leaks: preload it or soak longer"
        ),
        (Some(a), Some(b)) => format!(
            "; cache entries {a} -> {b}, full from sample {} on",
            s.filled_at.map_or(0, |f| f + 1)
        ),
        _ => String::new(),
    };
    let server = match s.samples.iter().rev().find_map(|x| x.server_heap) {
        Some(_) => fit(&s.server, "server memory growth"),
        None => String::new(),
    };
    format!(
        "soak of {} samples every {} (the first {} left out of the fits){span}{}{}{server}{cache}",
        s.samples.len(),
        format_nanos(s.sample_ns as f64),
        s.skipped,
        fit(&s.heap, "live heap growth"),
        fit(&s.resident, "resident growth")
    )
}

/// Statistics over trials, one row per target and metric.
fn stats_rows(case: &CaseResult) -> Vec<Vec<String>> {
    case.targets
        .iter()
        .flat_map(|t| t.stats.iter().map(move |(m, st)| (t, m, st)))
        .map(|(t, m, st)| {
            vec![
                t.id.clone(),
                m.clone(),
                format_metric(m, Some(st.median)),
                st.interval
                    .filter(|_| st.trials > 1)
                    .map(|i| {
                        format!(
                            "[{}, {}] ({}%)",
                            format_metric(m, Some(i.low)),
                            format_metric(m, Some(i.high)),
                            significant(i.confidence * 100.0)
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
                format!(
                    "{} – {}",
                    format_metric(m, Some(st.min)),
                    format_metric(m, Some(st.max))
                ),
                st.cv
                    .map(|c| format!("{}%", significant(c * 100.0)))
                    .unwrap_or_else(|| "-".into()),
                st.trials.to_string(),
            ]
        })
        .collect()
}

fn ratio_rows(case: &rigor_results::CaseResult) -> Vec<RatioRow> {
    let x = |v: f64| format!("{}x", significant(v));
    case.targets
        .iter()
        .flat_map(|t| t.ratios.iter().map(move |r| (t, r)))
        .map(|(t, r)| RatioRow {
            target_id: t.id.clone(),
            metric: r.metric.clone(),
            ratio: x(r.ratio),
            interval: match (r.low, r.high) {
                (Some(l), Some(h)) => format!("[{}, {}]", x(l), x(h)),
                _ => "-".into(),
            },
            conclusion: r.conclusion.clone(),
            class: match r.conclusion.as_str() {
                "better" => "pass",
                "worse" => "fail",
                _ => "skip",
            }
            .into(),
        })
        .collect()
}
