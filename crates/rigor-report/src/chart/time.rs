//! Charts over time: a run's windows (throughput, latency, errors per
//! window, trial boundaries marked) and a soak's samples (live heap,
//! entries, a server's memory), one line per target.

use super::*;

/// A chart of values over time (windows of a run, a soak's samples): one
/// line per target, with the title and axis labels it is drawn with.
#[derive(Debug, Serialize)]
pub struct TimeChart {
    /// Heading above the chart.
    pub title: String,
    /// What the x axis shows.
    pub x_label: String,
    /// What the y axis shows.
    pub y_label: String,
    /// The chart.
    pub chart: ChartView,
    /// Vertical marks (trial boundaries), position and label.
    pub marks: Vec<Tick>,
}

/// How a time chart's y axis is labelled.
#[derive(Debug, Clone, Copy)]
pub(super) enum YAxis {
    /// Bytes, ticks at powers of two.
    Bytes,
    /// Operations per second.
    Rate,
    /// Nanoseconds, shown as durations.
    Nanos,
    /// Plain counts.
    Count,
}

impl YAxis {
    fn label(self, v: f64) -> String {
        use rigor_scenario::units::{format_bytes, significant};
        match self {
            YAxis::Bytes => format_bytes(v),
            YAxis::Rate => format!("{}/s", crate::format::compact(v)),
            YAxis::Nanos => format_nanos(v),
            YAxis::Count => significant(v),
        }
    }
}

/// Round ticks: 1, 2 or 5 x 10^k.
pub(super) fn decimal_step(span: f64) -> f64 {
    let raw = span / 5.0;
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// Draws `lines` (name, (seconds, value) points) on linear axes from 0 s;
/// the y axis includes 0. `None` when no line has two points.
pub(super) fn time_chart(
    title: &str,
    y_label: &str,
    axis: YAxis,
    lines: Vec<(String, Vec<(f64, f64)>)>,
    marks: &[(f64, String)],
) -> Option<TimeChart> {
    let lines: Vec<_> = lines.into_iter().filter(|(_, p)| p.len() > 1).collect();
    if lines.is_empty() {
        return None;
    }
    let all = || lines.iter().flat_map(|(_, p)| p.iter());
    let x_max = all().map(|p| p.0).fold(0.0, f64::max).max(1e-9);
    let y_min = all().map(|p| p.1).fold(0.0, f64::min);
    let y_max = all().map(|p| p.1).fold(0.0, f64::max);
    let span = (y_max - y_min).max(match axis {
        YAxis::Bytes | YAxis::Count => 1.0,
        YAxis::Rate | YAxis::Nanos => 1e-9,
    });
    let (left, right, top, bottom) = (LEFT + 8.0, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
    let x = |v: f64| left + v / x_max * (right - left);
    let y = |v: f64| bottom - (v - y_min) / span * (bottom - top);
    let series = lines
        .iter()
        .enumerate()
        .map(|(i, (name, points))| Series {
            name: name.clone(),
            color: PALETTE[i % PALETTE.len()].to_string(),
            points: points
                .iter()
                .map(|(a, b)| format!("{:.1},{:.1}", x(*a), y(*b)))
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect();
    let steps = |lo: f64, hi: f64, step: f64| {
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        (first..=last).map(move |k| k as f64 * step)
    };
    let y_step = match axis {
        YAxis::Bytes => 2f64.powf((span / 5.0).log2().ceil()),
        _ => decimal_step(span),
    };
    let x_ticks = steps(0.0, x_max, decimal_step(x_max))
        .map(|v| Tick {
            pos: x(v),
            label: format!("{}s", rigor_scenario::units::significant(v)),
        })
        .collect();
    let y_ticks = steps(y_min, y_min + span, y_step)
        .map(|v| Tick {
            pos: y(v),
            label: axis.label(v),
        })
        .collect();
    Some(TimeChart {
        title: title.into(),
        x_label: "measured time (s)".into(),
        y_label: y_label.into(),
        chart: ChartView {
            width: WIDTH,
            height: HEIGHT,
            left,
            right,
            top,
            bottom,
            x_ticks,
            y_ticks,
            series,
        },
        marks: marks
            .iter()
            .filter(|(t, _)| *t > 0.0 && *t < x_max)
            .map(|(t, label)| Tick {
                pos: x(*t),
                label: label.clone(),
            })
            .collect(),
    })
}

/// Every run's windows over time: throughput, p99 and (when any) errors
/// per window, one line per target, its trials laid end to end (trial
/// boundaries marked). Windows that covered less than half their width
/// (a run's last sliver) are left out of the throughput line: their rate
/// is over too short a time to read.
pub fn window_charts(case: &CaseResult) -> Vec<TimeChart> {
    type Line = (String, Vec<(f64, f64)>);
    let (mut rate, mut p99, mut errors): (Vec<Line>, Vec<Line>, Vec<Line>) = Default::default();
    let mut marks: Vec<(f64, String)> = Vec::new();
    let mut any_errors = false;
    for (i, t) in case.targets.iter().enumerate() {
        let (mut r, mut p, mut e) = (Vec::new(), Vec::new(), Vec::new());
        let mut offset = 0.0;
        for tr in &t.trials {
            let Some(series) = &tr.windows else { continue };
            if offset > 0.0 && i == 0 {
                marks.push((offset, format!("trial {}", tr.trial + 1)));
            }
            for w in &series.windows {
                let mid = offset + (w.t_ns as f64 + w.span_ns as f64 / 2.0) / 1e9;
                if w.span_ns * 2 >= series.width_ns {
                    r.push((mid, w.throughput));
                }
                if let Some(v) = w.p99 {
                    p.push((mid, v));
                }
                e.push((mid, w.errors as f64));
                any_errors |= w.errors > 0;
            }
            offset += series
                .windows
                .last()
                .map_or(0.0, |w| (w.t_ns + w.span_ns) as f64 / 1e9);
        }
        rate.push((t.id.clone(), r));
        p99.push((t.id.clone(), p));
        errors.push((t.id.clone(), e));
    }
    let width = case
        .targets
        .iter()
        .flat_map(|t| &t.trials)
        .find_map(|tr| tr.windows.as_ref())
        .map(|s| format_nanos(s.width_ns as f64))
        .unwrap_or_default();
    let mut out = Vec::new();
    out.extend(time_chart(
        &format!("Throughput over time ({width} windows)"),
        "successful operations per second",
        YAxis::Rate,
        rate,
        &marks,
    ));
    // A merge of shards keeps each window's figures, not its histogram.
    let worst_of = case
        .targets
        .iter()
        .flat_map(|t| &t.trials)
        .find_map(|tr| tr.windows.as_ref()?.shards)
        .map(|n| format!("; the worst of {n} shards per window"))
        .unwrap_or_default();
    out.extend(time_chart(
        &format!("p99 latency over time ({width} windows{worst_of})"),
        "p99 latency per window",
        YAxis::Nanos,
        p99,
        &marks,
    ));
    if any_errors {
        out.extend(time_chart(
            &format!("Errors over time ({width} windows)"),
            "failed operations per window",
            YAxis::Count,
            errors,
            &marks,
        ));
    }
    out
}

/// One of a sample's figures, for a soak chart.
type Pick = fn(&rigor_results::MemorySample) -> Option<u64>;

/// A chart of soak samples: per soaked target and per `(suffix, pick)`, a
/// line of the picked figure against seconds since the soak's first
/// sample (less the first value when `relative`).
pub(super) fn soak_chart(
    case: &CaseResult,
    (title, y_label, axis): (&str, &str, YAxis),
    picks: &[(&str, Pick)],
    relative: bool,
) -> Option<TimeChart> {
    let lines = case
        .targets
        .iter()
        .filter_map(|t| Some((t, t.trials.iter().find_map(|tr| tr.soak.as_ref())?)))
        .flat_map(|(t, soak)| {
            picks.iter().map(move |(suffix, pick)| {
                let base = match relative {
                    true => soak.samples.iter().find_map(pick).unwrap_or(0) as f64,
                    false => 0.0,
                };
                let points = soak
                    .samples
                    .iter()
                    .filter_map(|s| Some((s.t_ns as f64 / 1e9, pick(s)? as f64 - base)))
                    .collect();
                (format!("{}{suffix}", t.id), points)
            })
        })
        .collect();
    let mut c = time_chart(title, y_label, axis, lines, &[])?;
    c.x_label = "time since the soak's first sample".into();
    Some(c)
}

/// A soak's memory over time: every soaked target's live heap, as growth
/// since its first sample (so targets that started at different heaps
/// share one axis). `None` without soak samples.
pub fn memory_chart(case: &CaseResult) -> Option<TimeChart> {
    let title = (
        "Memory over the soak",
        "live heap, growth since the first sample",
        YAxis::Bytes,
    );
    soak_chart(case, title, &[("", |s| s.allocated)], true)
}

/// A soak's cache entries over time, per cache target: a cache still
/// filling grows without leaking. `None` when no target counted entries.
pub fn entries_chart(case: &CaseResult) -> Option<TimeChart> {
    let title = (
        "Cache entries over the soak",
        "entries the cache held",
        YAxis::Count,
    );
    soak_chart(case, title, &[("", |s| s.entries)], false)
}

/// A soak's server side over time: each server target's own memory (Redis
/// `used_memory`, OPA's Go heap) and its process's RSS, as sampled. `None`
/// when no target is a server.
pub fn server_memory_chart(case: &CaseResult) -> Option<TimeChart> {
    let title = (
        "Server memory over the soak",
        "the server's memory and its process RSS",
        YAxis::Bytes,
    );
    soak_chart(
        case,
        title,
        &[(" memory", |s| s.server_heap), (" RSS", |s| s.server_rss)],
        false,
    )
}
