//! Formatting of numbers and settings for people, shared by every report
//! (console, HTML, Markdown, JUnit, `rigor compare`): one place decides how
//! a metric, a change, a p-value or a target's settings are written.

use rigor_results::{RegressionCheck, Verdict};

use crate::escape::Styled;
use rigor_scenario::metrics::{self, Direction, Unit};
use rigor_scenario::units::significant;

/// A p-value for people: three decimals, or scientific below 0.001.
pub use rigor_results::format_p;

/// Formats a metric value with its unit.
pub fn format_metric(name: &str, value: Option<f64>) -> String {
    match (metrics::metric(name), value) {
        (_, None) => "-".into(),
        (Some(def), Some(v)) => match def.unit {
            Unit::PerSecond => format!("{}/s", compact(v)),
            Unit::Count if name == "memory.allocs_per_op" => significant(v),
            unit => unit.format(v),
        },
        (None, Some(v)) => significant(v),
    }
}

/// 12345 -> 12.35k.
pub(crate) fn compact(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", significant(v / 1e6))
    } else if v >= 1e4 {
        format!("{}k", significant(v / 1e3))
    } else {
        significant(v)
    }
}

/// A signed percentage (`+12.3%`), `-` when not finite.
pub(crate) fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:+.1}%", v * 100.0)
    } else {
        "-".into()
    }
}

/// The change of the metric's own value, signed as the value moved (a
/// throughput drop is negative), with its interval (and the interval's
/// coverage when it is not 95%) and whether that is worse or better:
/// `-78.8% [-80.1%, -77.0%] worse`.
pub fn change_text(c: &RegressionCheck) -> String {
    let higher_is_better =
        metrics::metric(&c.metric).is_some_and(|m| m.direction == Direction::HigherIsBetter);
    // `c.change` is "badness": positive is worse whichever way the metric improves.
    let value = |bad: f64| {
        if higher_is_better {
            1.0 / (1.0 + bad) - 1.0
        } else {
            bad
        }
    };
    let word = if c.change > 0.001 {
        " worse"
    } else if c.change < -0.001 {
        " better"
    } else {
        ""
    };
    match c.interval {
        Some(i) if c.trials.0.min(c.trials.1) > 1 => {
            let cov = if (i.confidence - 0.95).abs() > 0.001 {
                format!(" ({:.0}% interval)", i.confidence * 100.0)
            } else {
                String::new()
            };
            let (lo, hi) = if higher_is_better {
                (value(i.high), value(i.low))
            } else {
                (value(i.low), value(i.high))
            };
            format!(
                "{} [{}, {}]{cov}{word}",
                pct(value(c.change)),
                pct(lo),
                pct(hi)
            )
        }
        _ => format!("{}{word}", pct(value(c.change))),
    }
}

/// `regorus (engine: vm)`: the kind and the settings that are set (unset
/// ones, `null` in the results, are left out: "cache: null" reads as a
/// setting).
/// A setting as a reader writes it: strings bare, maps and lists in YAML's
/// flow style without the settings left unset (`{kind: moka, key: [input.user]}`).
pub(crate) fn setting(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(setting).collect::<Vec<_>>().join(", ")
            )
        }
        serde_json::Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k}: {}", setting(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

pub(crate) fn kind_label(kind: &str, config: &serde_json::Value) -> String {
    let set: Vec<String> = config
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| format!("{k}: {}", setting(v)))
        .collect();
    if set.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({})", set.join(", "))
    }
}

/// How keys are drawn, in words: `zipfian (s=0.99)`.
pub(crate) fn distribution_label(d: &rigor_scenario::plan::DistributionPlan) -> String {
    use rigor_scenario::model::Distribution;
    match d.shape {
        Distribution::Uniform => "uniform".into(),
        Distribution::Zipfian => format!("zipfian (s={})", significant(d.zipf_exponent)),
        Distribution::Hotspot => format!(
            "hotspot ({}% of operations on {}% of keys)",
            significant(d.hotspot_ops * 100.0),
            significant(d.hotspot_keys * 100.0)
        ),
        Distribution::Sequential => "sequential".into(),
    }
}

pub(crate) fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Skip => "skip",
        Verdict::Pass => "pass",
        Verdict::Warn => "warn",
        Verdict::Fail => "fail",
    }
}

/// The verdict's label, in colour for terminals: the one text the templates
/// print unescaped (it is rigor's own, never the user's).
pub(crate) fn colored(v: Verdict, color: bool) -> Styled {
    if !color {
        return Styled(v.label().to_string());
    }
    let code = match v {
        Verdict::Skip => "2",
        Verdict::Pass => "1;32",
        Verdict::Warn => "1;33",
        Verdict::Fail => "1;31",
    };
    Styled(format!("\x1b[{code}m{}\x1b[0m", v.label()))
}
