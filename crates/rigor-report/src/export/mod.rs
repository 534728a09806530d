//! `rigor export`: a results file in another tool's format. One small
//! trait, one file per format, every format registered in [`EXPORTERS`]:
//! a new format is a file and a line there (the CLI lists the names it
//! finds here).
//!
//! Exporters read the results alone, like every reporter, and write only
//! what was measured: a target that failed, a metric that was not
//! computed, a value that is not a finite number are left out, never
//! written as zero.

use rigor_results::{Results, TargetResult};
use rigor_scenario::metrics::{self, Direction, MetricDef, Unit};

pub mod bmf;
pub mod github;
pub mod gobench;

/// Options some formats take.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// For formats that hold one direction per file
    /// (github-action-benchmark): which metrics to write.
    pub better: Better,
}

/// Which way the exported metrics improve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Better {
    /// Latency, memory, errors (`customSmallerIsBetter`).
    #[default]
    Smaller,
    /// Throughput (`customBiggerIsBetter`).
    Bigger,
}

/// One export format.
pub trait Exporter: Sync {
    /// The name `--format` takes.
    fn name(&self) -> &'static str;
    /// One line for `--help`.
    fn about(&self) -> &'static str;
    /// The results in this format.
    fn export(&self, results: &Results, options: &Options) -> String;
}

/// Every format, in the order `--help` lists them.
pub const EXPORTERS: &[&dyn Exporter] =
    &[&gobench::GoBench, &bmf::Bmf, &github::GithubActionBenchmark];

/// The exporter called `name`.
pub fn exporter(name: &str) -> Option<&'static dyn Exporter> {
    EXPORTERS.iter().copied().find(|e| e.name() == name)
}

/// One measured metric of one case and target, as the exports see it.
pub(crate) struct Measured<'a> {
    /// `<scenario>/<case>/<target>`.
    pub bench: String,
    /// The metric's catalogue entry.
    pub def: &'static MetricDef,
    /// The target's value (its median or pooled value, as in the report).
    pub value: f64,
    /// The 95% interval across trials, when the trials gave one.
    pub interval: Option<(f64, f64)>,
    /// The target's results (trial count, for the formats' notes).
    pub target: &'a TargetResult,
}

/// Every finite metric of every case and target that ran, in results
/// order (cases, then targets, then the catalogue's order of metrics).
pub(crate) fn measured(results: &Results) -> Vec<Measured<'_>> {
    let mut out = Vec::new();
    for case in &results.cases {
        for target in &case.targets {
            if target.error.is_some() && target.trials.is_empty() {
                continue;
            }
            let bench = format!("{}/{}/{}", results.scenario.name, case.name, target.id);
            for def in metrics::metric_names()
                .iter()
                .filter_map(|n| metrics::metric(n))
                .filter(|d| exported(d))
            {
                let Some(&value) = target.metrics.get(def.name) else {
                    continue;
                };
                if !value.is_finite() {
                    continue;
                }
                let interval = target
                    .stats
                    .get(def.name)
                    .and_then(|s| s.spread())
                    .filter(|i| i.low.is_finite() && i.high.is_finite())
                    .map(|i| (i.low, i.high));
                out.push(Measured {
                    bench: bench.clone(),
                    def,
                    value,
                    interval,
                    target,
                });
            }
        }
    }
    out
}

/// The metrics the exports carry: those rigor summarises, compares or
/// keeps in its history (the headline figures), and the policy's compile
/// time. Everything else stays in results.json: a dashboard with a chart
/// per histogram bucket helps no one.
fn exported(def: &MetricDef) -> bool {
    def.stats || def.compared || def.history || def.name == "compile.time"
}

/// The unit a metric's value is written in, in the exports: the
/// catalogue's canonical unit (fractions as percentages).
pub(crate) fn unit_label(unit: Unit) -> &'static str {
    match unit {
        Unit::Nanos => "ns",
        Unit::Bytes => "B",
        Unit::Fraction => "%",
        Unit::PerSecond => "ops/s",
        Unit::Count => "",
    }
}

/// A value in the exports' unit (fractions as percentages).
pub(crate) fn scaled(unit: Unit, value: f64) -> f64 {
    if unit == Unit::Fraction {
        value * 100.0
    } else {
        value
    }
}

/// Whether a metric improves in the given direction.
pub(crate) fn goes(def: &MetricDef, better: Better) -> bool {
    matches!(
        (def.direction, better),
        (Direction::LowerIsBetter, Better::Smaller) | (Direction::HigherIsBetter, Better::Bigger)
    )
}
