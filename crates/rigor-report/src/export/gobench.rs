//! Go's benchmark text format, for cross-checking rigor's comparisons with
//! `benchstat`: each target's figures as benchmark result lines under a
//! `target: <id>` configuration line, so `benchstat -col target FILE`
//! compares every target with the first (the baseline, written first).
//! Per round when the run had paired rounds, else per trial.

use rigor_results::Results;

use super::{Exporter, Options};

/// `--format gobench`.
#[derive(Debug)]
pub struct GoBench;

impl Exporter for GoBench {
    fn name(&self) -> &'static str {
        "gobench"
    }

    fn about(&self) -> &'static str {
        "Go's benchmark text, for `benchstat -col target FILE`"
    }

    fn export(&self, results: &Results, _: &Options) -> String {
        gobench(results)
    }
}

/// A benchmark name's part: no spaces (Go's format splits on them).
fn part(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}

/// The results as Go benchmark text.
pub fn gobench(results: &Results) -> String {
    let mut out = String::new();
    out.push_str(&format!("goos: {}\n", std::env::consts::OS));
    // Go's names for the architectures.
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    out.push_str(&format!("goarch: {arch}\n"));
    out.push_str(&format!("cpu: {}\n", results.environment.cpu_model));
    out.push_str(&format!("pkg: rigor/{}\n", part(&results.scenario.name)));
    // Baselines first, so benchstat's first column is the baseline.
    let mut first: Vec<&str> = results.pairs.iter().map(|(a, _)| a.as_str()).collect();
    first.extend(results.baseline.as_deref());
    let name = {
        let mut n = part(&results.scenario.name).replace(['-', '.'], "_");
        if let Some(c) = n.get_mut(..1) {
            c.make_ascii_uppercase();
        }
        n
    };
    let mut order: Vec<usize> = (0..results.targets.len()).collect();
    order.sort_by_key(|&i| !first.contains(&results.targets[i].id.as_str()));
    for i in order {
        let id = &results.targets[i].id;
        out.push_str(&format!("\ntarget: {id}\n"));
        for case in &results.cases {
            let Some(t) = case.targets.iter().position(|t| &t.id == id) else {
                continue;
            };
            let bench = format!("Benchmark{name}/{}", part(&case.name));
            if case.rounds.is_empty() {
                for trial in &case.targets[t].trials {
                    if let Some(mean) = trial.metrics.get("latency.mean") {
                        out.push_str(&format!("{bench}\t{}\t{mean:.2} ns/op\n", trial.operations));
                    }
                }
            } else {
                for r in case
                    .rounds
                    .iter()
                    .flatten()
                    .filter(|r| r.target as usize == t)
                {
                    if let Some(mean) = r.mean_ns() {
                        out.push_str(&format!(
                            "{bench}\t{}\t{mean:.2} ns/op\n",
                            r.operations + r.errors
                        ));
                    }
                }
            }
        }
    }
    out
}
