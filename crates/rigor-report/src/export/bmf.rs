//! Bencher Metric Format (BMF) JSON, for `bencher run --adapter json
//! --file FILE`: one benchmark per case and target
//! (`<scenario>/<case>/<target>`), one measure per metric, each a value
//! with the 95% interval across trials as `lower_value`/`upper_value`
//! when there was one.
//!
//! Bencher's built-in measures are used where they mean the same thing:
//! `latency` (nanoseconds) is the mean latency and `throughput`
//! (operations per second) the throughput. Every other metric is a measure
//! whose slug is its name in kebab case (`latency.p99` -> `latency-p99`,
//! `memory.bytes_per_op` -> `memory-bytes-per-op`), which Bencher creates
//! on first sight; values are in rigor's canonical units (nanoseconds,
//! bytes, operations per second, fractions in [0, 1]).

use std::collections::BTreeMap;

use rigor_results::Results;
use serde::Serialize;

use super::{measured, Exporter, Options};

/// `--format bmf`.
#[derive(Debug)]
pub struct Bmf;

/// One measure's metric.
#[derive(Debug, Serialize)]
struct Metric {
    /// The value.
    value: f64,
    /// The interval's lower end, when the trials gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    lower_value: Option<f64>,
    /// The interval's upper end.
    #[serde(skip_serializing_if = "Option::is_none")]
    upper_value: Option<f64>,
}

/// A metric name as a Bencher measure slug.
pub fn slug(metric: &str) -> String {
    match metric {
        "latency.mean" => "latency".into(),
        "throughput" => "throughput".into(),
        other => other.replace(['.', '_'], "-"),
    }
}

impl Exporter for Bmf {
    fn name(&self) -> &'static str {
        "bmf"
    }

    fn about(&self) -> &'static str {
        "Bencher Metric Format JSON, for `bencher run --adapter json`"
    }

    fn export(&self, results: &Results, _: &Options) -> String {
        let mut doc: BTreeMap<String, BTreeMap<String, Metric>> = BTreeMap::new();
        for m in measured(results) {
            doc.entry(m.bench).or_default().insert(
                slug(m.def.name),
                Metric {
                    value: m.value,
                    lower_value: m.interval.map(|i| i.0),
                    upper_value: m.interval.map(|i| i.1),
                },
            );
        }
        let mut text = serde_json::to_string_pretty(&doc).expect("numbers and strings serialise");
        text.push('\n');
        text
    }
}
