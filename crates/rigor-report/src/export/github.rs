//! github-action-benchmark's custom JSON (`tool: customSmallerIsBetter` or
//! `customBiggerIsBetter`): an array of `{name, unit, value, range,
//! extra}`. The action reads one direction per file, so `--better
//! smaller` (the default: latency, memory, errors, compile time) and
//! `--better bigger` (throughput, achieved rate, hit ratio) write the two
//! halves; a workflow runs the action once per file.
//!
//! `name` is `<scenario>/<case>/<target> <metric>`, `value` in the unit
//! `unit` names (fractions as percentages), `range` the 95% interval across
//! trials when there was one (`95% CI low..high`: the action shows it as
//! text), `extra` the number of trials and the case.

use rigor_results::Results;
use serde::Serialize;

use super::{goes, measured, scaled, unit_label, Exporter, Options};

/// `--format github-action-benchmark`.
#[derive(Debug)]
pub struct GithubActionBenchmark;

/// One benchmark entry, as the action's `BenchmarkResult`.
#[derive(Debug, Serialize)]
struct Entry {
    /// The chart's name.
    name: String,
    /// The value's unit.
    unit: &'static str,
    /// The value.
    value: f64,
    /// The interval, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<String>,
    /// Shown in the chart's tooltip.
    extra: String,
}

impl Exporter for GithubActionBenchmark {
    fn name(&self) -> &'static str {
        "github-action-benchmark"
    }

    fn about(&self) -> &'static str {
        "github-action-benchmark's customSmallerIsBetter JSON (customBiggerIsBetter with --better bigger)"
    }

    fn export(&self, results: &Results, options: &Options) -> String {
        let entries: Vec<Entry> = measured(results)
            .into_iter()
            .filter(|m| goes(m.def, options.better))
            .map(|m| {
                let unit = m.def.unit;
                let trials = m.target.trials.len();
                Entry {
                    name: format!("{} {}", m.bench, m.def.name),
                    unit: unit_label(unit),
                    value: scaled(unit, m.value),
                    range: m.interval.map(|(low, high)| {
                        format!(
                            "95% CI {}..{}",
                            short(scaled(unit, low)),
                            short(scaled(unit, high))
                        )
                    }),
                    extra: format!(
                        "{trials} trial{}\n{}",
                        if trials == 1 { "" } else { "s" },
                        m.def.description
                    ),
                }
            })
            .collect();
        let mut text =
            serde_json::to_string_pretty(&entries).expect("numbers and strings serialise");
        text.push('\n');
        text
    }
}

/// A bound with four significant digits: the tooltip is for people.
fn short(v: f64) -> String {
    rigor_scenario::units::significant(v)
}
