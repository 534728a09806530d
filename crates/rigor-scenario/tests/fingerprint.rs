//! The measurement fingerprint: what baselines compare instead of the file's
//! bytes. Descriptions, thresholds, durations and trial counts leave it; the
//! workload's shape, the targets, the policy and the inputs change it.

#![allow(clippy::unwrap_used)] // Tests and their helpers fail loudly by design.

use rigor_scenario::overrides::Override;
use rigor_scenario::{Mode, Plan};

const BASE: &str = "name: f\ndescription: one\npolicy: {files: [p.rego], query: data.p.allow}\ninputs: [{inline: {u: 1}}]\nworkload: {concurrency: 1, duration: 5s, trials: 3}\ntargets: [{id: a, kind: regorus, thresholds: {latency.p99: {target: 1ms}}}]\nthresholds: {latency.p50: {target: 1ms}}\n";

fn fingerprint(dir: &std::path::Path, yaml: &str, rego: &str, sets: &[&str]) -> String {
    std::fs::write(dir.join("p.rego"), rego).unwrap();
    std::fs::write(dir.join("s.yaml"), yaml).unwrap();
    let sets: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    Plan::from_file_with(&dir.join("s.yaml"), Mode::Default, &sets)
        .unwrap()
        .fingerprint
}

#[test]
fn only_what_is_measured_changes_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rego = "package p\n\nallow := true\n";
    let base = fingerprint(d, BASE, rego, &[]);
    assert_eq!(base.len(), 16);
    let same = [
        BASE.replace("description: one", "description: two"),
        BASE.replace("duration: 5s, trials: 3", "duration: 1s, trials: 12"),
        BASE.replace("latency.p50: {target: 1ms}", "latency.p50: {target: 9ms}"),
        BASE.replace("latency.p99: {target: 1ms}", "latency.p99: {target: 3ms}"),
        format!("# a comment\n{BASE}"),
    ];
    for yaml in &same {
        assert_eq!(fingerprint(d, yaml, rego, &[]), base, "{yaml}");
    }
    assert_eq!(fingerprint(d, BASE, rego, &["workload.duration=2s"]), base);
    let different = [
        BASE.replace("concurrency: 1", "concurrency: 2"),
        BASE.replace("{u: 1}", "{u: 2}"),
        BASE.replace("kind: regorus", "kind: regorus, engine: vm"),
    ];
    for yaml in &different {
        assert_ne!(fingerprint(d, yaml, rego, &[]), base, "{yaml}");
    }
    assert_ne!(
        fingerprint(d, BASE, "package p\n\nallow := false\n", &[]),
        base
    );
    assert_ne!(
        fingerprint(d, BASE, rego, &["workload.concurrency=4"]),
        base
    );
}
