//! The checked-in JSON Schema matches the Rust types, and every example
//! scenario declares and satisfies it.

#![allow(clippy::unwrap_used)] // Tests and their helpers fail loudly by design.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> serde_json::Value {
    serde_json::from_str(&rigor_scenario::json_schema()).unwrap()
}

#[test]
fn checked_in_schema_matches_the_types() {
    let path = root().join("schemas/scenario.schema.json");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == rigor_scenario::json_schema(),
        "{} is out of date with the scenario types; regenerate it with `just schema`",
        path.display()
    );
}

#[test]
fn every_example_scenario_has_the_modeline_and_validates() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        count += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/scenario.schema.json\n"),
            "{} must start with the schema modeline",
            path.display()
        );
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    assert!(count >= 3, "expected the example scenarios, found {count}");
}

#[test]
fn schema_rejects_what_the_parser_rejects() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let bad = [
        serde_json::json!({"name": "x", "workload": {"duration": "1s", "concurency": 2}, "targets": [{"id": "a", "kind": "noop"}]}),
        serde_json::json!({"name": "x", "workload": {"duration": "5 parsecs"}, "targets": [{"id": "a", "kind": "noop"}]}),
        serde_json::json!({"name": "x", "workload": {"duration": "1s"}, "targets": [{"id": "a", "kind": "regorous"}]}),
        serde_json::json!({"name": "x", "workload": {"duration": "1s"}, "targets": [{"id": "a", "kind": "noop"}], "thresholds": {"latency.p999": {"target": "1ms"}}}),
    ];
    for doc in bad {
        assert!(!validator.is_valid(&doc), "schema accepted {doc}");
    }
    let good = serde_json::json!({"name": "x", "workload": {"duration": "1s", "concurrency": [1, 2]}, "targets": [{"id": "a", "kind": "spin", "service_time": "50us"}], "thresholds": {"latency.p99": {"target": "1ms"}}});
    assert!(validator.is_valid(&good));
}

/// The guide's metric table (docs/scenarios.md) is the documentation of
/// record: it must list every metric.
#[test]
fn the_guide_documents_every_metric() {
    let readme = std::fs::read_to_string(root().join("docs/scenarios.md")).unwrap();
    for m in rigor_scenario::metrics::METRICS {
        assert!(
            readme.contains(&format!("| `{}` |", m.name)),
            "docs/scenarios.md's metric table lacks `{}`",
            m.name
        );
    }
}
