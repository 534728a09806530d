//! Geometry of the latency percentile chart: every target of a case on one
//! chart, percentile on a log scale (`1/(1-q)`, as HdrHistogram plots do),
//! latency on a log scale so fast and slow targets are both readable.
//! Templates only draw what is computed here.

use rigor_results::histogram as stats;
use rigor_results::CaseResult;
use rigor_scenario::units::format_nanos;
use serde::Serialize;

mod time;

pub use time::{entries_chart, memory_chart, server_memory_chart, window_charts, TimeChart};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 34.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;
const POINTS: usize = 120;
const PALETTE: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// An SVG chart, ready to draw.
#[derive(Debug, Serialize)]
pub struct ChartView {
    /// SVG width.
    pub width: f64,
    /// SVG height.
    pub height: f64,
    /// Plot area left edge.
    pub left: f64,
    /// Plot area right edge.
    pub right: f64,
    /// Plot area top edge.
    pub top: f64,
    /// Plot area bottom edge.
    pub bottom: f64,
    /// X axis ticks.
    pub x_ticks: Vec<Tick>,
    /// Y axis ticks.
    pub y_ticks: Vec<Tick>,
    /// One line per target.
    pub series: Vec<Series>,
}

/// An axis tick.
#[derive(Debug, Serialize)]
pub struct Tick {
    /// Position in SVG units along the axis.
    pub pos: f64,
    /// Label.
    pub label: String,
}

/// One target's curve.
#[derive(Debug, Serialize)]
pub struct Series {
    /// Target id.
    pub name: String,
    /// Stroke colour.
    pub color: String,
    /// SVG polyline points.
    pub points: String,
}

/// Builds the chart of a case; `None` when nothing was measured.
pub fn percentile_chart(case: &CaseResult) -> Option<ChartView> {
    let hists: Vec<_> = case
        .targets
        .iter()
        .filter_map(|t| {
            stats::decode(&t.histogram)
                .ok()
                .filter(|h| !h.is_empty())
                .map(|h| (t.id.clone(), h))
        })
        .collect();
    if hists.is_empty() {
        return None;
    }
    // Plot as far into the tail as the data supports, at most 99.999%.
    let most = hists
        .iter()
        .map(|(_, h)| h.len())
        .max()
        .unwrap_or(1)
        .max(10) as f64;
    let x_max = most.log10().clamp(1.0, 5.0);
    let curves: Vec<(String, Vec<(f64, f64)>)> = hists
        .iter()
        .map(|(name, h)| {
            let pts = (0..=POINTS)
                .map(|k| {
                    let x = x_max * k as f64 / POINTS as f64;
                    let q = 1.0 - 10f64.powf(-x);
                    (x, h.value_at_quantile(q).max(1) as f64)
                })
                .collect();
            (name.clone(), pts)
        })
        .collect();
    let lo = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|v| v.1))
        .fold(f64::MAX, f64::min);
    let hi = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|v| v.1))
        .fold(0.0, f64::max);
    let (y_lo, y_hi) = (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil().max(lo.log10().floor() + 1.0)),
    );
    let (pl, pr, pt, pb) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
    let sx = |x: f64| pl + (pr - pl) * x / x_max;
    let sy = |y: f64| pb - (pb - pt) * (y.log10() - y_lo.log10()) / (y_hi.log10() - y_lo.log10());
    let x_labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
    let x_ticks = (0..=x_max.floor() as usize)
        .map(|i| Tick {
            pos: sx(i as f64),
            label: x_labels[i].to_string(),
        })
        .collect();
    let mut y_ticks = Vec::new();
    let mut decade = y_lo;
    while decade <= y_hi * 1.0001 {
        for m in [1.0, 2.0, 5.0] {
            let v = decade * m;
            if v >= y_lo * 0.9999 && v <= y_hi * 1.0001 {
                y_ticks.push(Tick {
                    pos: sy(v),
                    label: format_nanos(v),
                });
            }
        }
        decade *= 10.0;
    }
    let series = curves
        .into_iter()
        .enumerate()
        .map(|(i, (name, pts))| Series {
            name,
            color: PALETTE[i % PALETTE.len()].to_string(),
            points: pts
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect();
    Some(ChartView {
        width: WIDTH,
        height: HEIGHT,
        left: pl,
        right: pr,
        top: pt,
        bottom: pb,
        x_ticks,
        y_ticks,
        series,
    })
}

/// A forest plot: each (target, metric) ratio to the baseline with its
/// 95% interval, on a log axis centred on 1.0.
#[derive(Debug, Serialize)]
pub struct RatioChart {
    /// SVG width.
    pub width: f64,
    /// SVG height.
    pub height: f64,
    /// Plot area left edge.
    pub left: f64,
    /// Plot area right edge.
    pub right: f64,
    /// Position of ratio 1.0.
    pub one: f64,
    /// X axis ticks.
    pub ticks: Vec<Tick>,
    /// One row per ratio.
    pub rows: Vec<RatioMark>,
}

/// One row of the forest plot.
#[derive(Debug, Serialize)]
pub struct RatioMark {
    /// `target metric`.
    pub label: String,
    /// Row centre.
    pub y: f64,
    /// Point estimate position.
    pub x: f64,
    /// Interval ends (equal to `x` without an interval).
    pub lo: f64,
    /// Interval end.
    pub hi: f64,
    /// Colour: green better, red worse, grey undecided.
    pub color: String,
}

/// Builds the forest plot of a case's ratios; `None` without comparisons.
pub fn ratio_chart(case: &CaseResult) -> Option<RatioChart> {
    let ratios: Vec<_> = case
        .targets
        .iter()
        .flat_map(|t| t.ratios.iter().map(move |r| (t, r)))
        .collect();
    if ratios.is_empty() {
        return None;
    }
    let (left, right, row_h, top) = (200.0, 720.0, 22.0, 10.0);
    let extreme = ratios
        .iter()
        .flat_map(|(_, r)| [Some(r.ratio), r.low, r.high])
        .flatten()
        .filter(|v| *v > 0.0)
        .map(|v| v.log10().abs())
        .fold(0.3f64, f64::max)
        .ceil();
    let sx = |v: f64| left + (right - left) * (v.max(1e-12).log10() + extreme) / (2.0 * extreme);
    let rows: Vec<RatioMark> = ratios
        .iter()
        .enumerate()
        .map(|(i, (t, r))| RatioMark {
            label: format!("{} {}", t.id, r.metric),
            y: top + row_h * (i as f64 + 0.5),
            x: sx(r.ratio),
            lo: sx(r.low.unwrap_or(r.ratio)),
            hi: sx(r.high.unwrap_or(r.ratio)),
            color: match r.conclusion.as_str() {
                "better" => "#1a7f37",
                "worse" => "#cf222e",
                _ => "#6e7781",
            }
            .into(),
        })
        .collect();
    let mut ticks = Vec::new();
    let e = extreme as i32;
    for k in -e..=e {
        for m in [1.0, 2.0, 5.0] {
            let v = 10f64.powi(k) * m;
            if v.log10().abs() <= extreme + 1e-9 {
                ticks.push(Tick {
                    pos: sx(v),
                    label: format!("{}x", rigor_scenario::units::significant(v)),
                });
            }
        }
    }
    let height = top + row_h * rows.len() as f64 + 30.0;
    Some(RatioChart {
        width: 760.0,
        height,
        left,
        right,
        one: sx(1.0),
        ticks,
        rows,
    })
}

/// A horizontal level on a trend chart (a threshold).
#[derive(Debug, Serialize)]
pub struct Level {
    /// Y position.
    pub pos: f64,
    /// `target 10ms`.
    pub label: String,
    /// `warn` (target) or `fail` (critical), for colour.
    pub class: String,
}

/// A metric's trend over the last runs, with its threshold levels.
#[derive(Debug, Serialize)]
pub struct TrendChart {
    /// Case name.
    pub case: String,
    /// Metric name.
    pub metric: String,
    /// The axes and one line per target.
    pub chart: ChartView,
    /// Target and critical levels.
    pub levels: Vec<Level>,
}

/// Trend charts of `latency.p99` per case over the history plus this run;
/// `None` without earlier runs.
pub fn trend_charts(results: &rigor_results::Results) -> Vec<TrendChart> {
    const METRIC: &str = "latency.p99";
    if results.history.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for case in &results.cases {
        // One point per run: the history, then this run.
        let runs: Vec<std::collections::BTreeMap<String, f64>> = results
            .history
            .iter()
            .map(|h| {
                case.targets
                    .iter()
                    .filter_map(|t| {
                        h.metrics
                            .get(&format!("{}/{}", case.name, t.id))
                            .and_then(|m| m.get(METRIC))
                            .map(|v| (t.id.clone(), *v))
                    })
                    .collect()
            })
            .chain(std::iter::once(
                case.targets
                    .iter()
                    .filter_map(|t| t.metrics.get(METRIC).map(|v| (t.id.clone(), *v)))
                    .collect(),
            ))
            .collect();
        let grade = case
            .targets
            .iter()
            .flat_map(|t| t.grades.iter())
            .find(|g| g.metric == METRIC);
        let levels_ns: Vec<(f64, &str, &str)> = grade
            .map(|g| {
                [
                    (g.target, "target", "warn"),
                    (g.critical, "critical", "fail"),
                ]
                .into_iter()
                .filter_map(|(v, l, c)| v.map(|v| (v, l, c)))
                .collect()
            })
            .unwrap_or_default();
        let values: Vec<f64> = runs
            .iter()
            .flat_map(|r| r.values().copied())
            .chain(levels_ns.iter().map(|l| l.0))
            .filter(|v| *v > 0.0)
            .collect();
        if values.is_empty() || runs.len() < 2 {
            continue;
        }
        let lo = values.iter().copied().fold(f64::MAX, f64::min);
        let hi = values.iter().copied().fold(0.0, f64::max);
        let (y_lo, y_hi) = (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil().max(lo.log10().floor() + 1.0)),
        );
        let (width, height) = (WIDTH, 220.0);
        let (pl, pr, pt, pb) = (LEFT, width - RIGHT, TOP, height - BOTTOM);
        let n = runs.len();
        let sx = |i: usize| pl + (pr - pl) * i as f64 / (n - 1).max(1) as f64;
        let sy =
            |y: f64| pb - (pb - pt) * (y.log10() - y_lo.log10()) / (y_hi.log10() - y_lo.log10());
        let series = case
            .targets
            .iter()
            .enumerate()
            .map(|(k, t)| Series {
                name: t.id.clone(),
                color: PALETTE[k % PALETTE.len()].to_string(),
                points: runs
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| {
                        r.get(&t.id)
                            .map(|v| format!("{:.1},{:.1}", sx(i), sy(v.max(1.0))))
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .collect();
        let mut y_ticks = Vec::new();
        let mut decade = y_lo;
        while decade <= y_hi * 1.0001 {
            y_ticks.push(Tick {
                pos: sy(decade),
                label: format_nanos(decade),
            });
            decade *= 10.0;
        }
        let x_ticks = vec![
            Tick {
                pos: sx(0),
                label: format!("{} runs ago", n - 1),
            },
            Tick {
                pos: sx(n - 1),
                label: "this run".into(),
            },
        ];
        out.push(TrendChart {
            case: case.name.clone(),
            metric: METRIC.into(),
            levels: levels_ns
                .iter()
                .map(|(v, l, c)| Level {
                    pos: sy(*v),
                    label: format!("{l} {}", format_nanos(*v)),
                    class: c.to_string(),
                })
                .collect(),
            chart: ChartView {
                width,
                height,
                left: pl,
                right: pr,
                top: pt,
                bottom: pb,
                x_ticks,
                y_ticks,
                series,
            },
        });
    }
    out
}

/// One bar of a [`BarChart`].
#[derive(Debug, Serialize)]
pub struct Bar {
    /// Target id.
    pub label: String,
    /// Top of the bar.
    pub y: f64,
    /// Length of the bar (from `BarChart::left`).
    pub w: f64,
    /// The 95% interval across trials, as x positions, when there is one.
    pub lo: Option<f64>,
    /// Its upper end.
    pub hi: Option<f64>,
    /// The value as text, with its interval.
    pub text: String,
    /// Fill colour (the target's colour on every chart of the report).
    pub color: String,
}

/// Horizontal bars of one metric per target of a case, on a linear scale
/// from zero (a bar's length is the value), with interval whiskers.
#[derive(Debug, Serialize)]
pub struct BarChart {
    /// What the bars show (`throughput`, `latency p99`).
    pub title: String,
    /// SVG width.
    pub width: f64,
    /// SVG height.
    pub height: f64,
    /// Where bars start.
    pub left: f64,
    /// Bar thickness.
    pub bar: f64,
    /// The bars, in the case's target order.
    pub bars: Vec<Bar>,
}

/// A bar chart of `metric` for every target of `case` that measured it;
/// `None` when fewer than one did.
pub fn bar_chart(case: &CaseResult, metric: &str, title: &str, width: f64) -> Option<BarChart> {
    let values: Vec<_> = case
        .targets
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.metrics.get(metric).map(|v| (i, t, *v)))
        .filter(|(_, _, v)| v.is_finite() && *v >= 0.0)
        .collect();
    if values.is_empty() {
        return None;
    }
    let interval = |t: &rigor_results::TargetResult| {
        t.stats
            .get(metric)
            .and_then(|s| s.spread())
            .map(|i| (i.low, i.high))
    };
    let max = values
        .iter()
        .map(|(_, t, v)| interval(t).map_or(*v, |(_, hi)| hi.max(*v)))
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let (left, right, row, bar) = (130.0, 210.0, 26.0, 16.0);
    let span = (width - left - right).max(60.0);
    let x = |v: f64| left + span * (v / max).clamp(0.0, 1.0);
    let format = |v: f64| crate::format::format_metric(metric, Some(v));
    let bars = values
        .iter()
        .enumerate()
        .map(|(k, (i, t, v))| {
            let ci = interval(t);
            Bar {
                label: t.id.clone(),
                y: 4.0 + row * k as f64,
                w: x(*v) - left,
                lo: ci.map(|(lo, _)| x(lo)),
                hi: ci.map(|(_, hi)| x(hi)),
                text: match ci {
                    Some((lo, hi)) => format!("{} [{}, {}]", format(*v), format(lo), format(hi)),
                    None => format(*v),
                },
                color: PALETTE[i % PALETTE.len()].into(),
            }
        })
        .collect::<Vec<_>>();
    Some(BarChart {
        title: title.into(),
        width,
        height: 8.0 + row * bars.len() as f64,
        left,
        bar,
        bars,
    })
}

#[cfg(test)]
mod tests {
    use super::time::decimal_step;
    use super::*;

    /// A case of targets with the given throughputs and no trials.
    fn case(throughputs: &[(&str, Option<f64>)]) -> CaseResult {
        let targets: Vec<serde_json::Value> = throughputs
            .iter()
            .map(|(id, v)| {
                let metrics = match v {
                    Some(v) => serde_json::json!({ "throughput": v }),
                    None => serde_json::json!({}),
                };
                serde_json::json!({
                    "id": id, "kind": "spin", "trials": [], "metrics": metrics,
                    "histogram": "", "grades": [], "error": null, "ratios": []
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "name": "concurrency=1", "concurrency": 1, "rate": null, "targets": targets
        }))
        .expect("a case")
    }

    #[test]
    fn bars_are_proportional_and_the_largest_fills_the_span() {
        let c = case(&[("a", Some(1000.0)), ("b", Some(2000.0)), ("c", None)]);
        let chart = bar_chart(&c, "throughput", "throughput", 800.0).expect("bars");
        // A target without the metric gets no bar.
        assert_eq!(chart.bars.len(), 2);
        let (a, b) = (&chart.bars[0], &chart.bars[1]);
        assert_eq!((a.label.as_str(), b.label.as_str()), ("a", "b"));
        assert!((b.w - 2.0 * a.w).abs() < 1e-9, "{} vs {}", a.w, b.w);
        assert!((b.w - (800.0 - chart.left - 210.0)).abs() < 1e-9);
        assert!(a.y < b.y && chart.height > b.y);
        // Colours follow the target's position in the case, not the bar's.
        assert_eq!(a.color, PALETTE[0]);
        assert_eq!(b.color, PALETTE[1]);
    }

    #[test]
    fn no_bars_without_the_metric() {
        let c = case(&[("a", None)]);
        assert!(bar_chart(&c, "throughput", "throughput", 800.0).is_none());
        assert!(percentile_chart(&c).is_none());
        assert!(window_charts(&c).is_empty());
        assert!(memory_chart(&c).is_none());
    }

    #[test]
    fn axis_steps_are_round_and_cover_a_fifth_of_the_span() {
        for (span, step) in [
            (10.0, 2.0),
            (1.0, 0.2),
            (30.0, 10.0),
            (0.7, 0.2),
            (1000.0, 200.0),
        ] {
            let got = decimal_step(span);
            assert!((got - step).abs() < 1e-9, "span {span}: {got}");
            assert!(got >= span / 5.0);
        }
    }
}
