//! Data-driven scenario error cases: each `cases/bad/*.yaml` starts with
//! `# expect: [FILE] LINE:COL TEXT | TEXT ...`; loading it must fail with a
//! diagnostic at that position (line numbers count the comment line) whose
//! text holds every TEXT. `0:0` skips the position check.

#![allow(clippy::unwrap_used)] // Tests and their helpers fail loudly by design.

use std::path::Path;

use rigor_scenario::{Mode, Plan, ScenarioError};

/// A temporary folder laid out like `tests/cases` (its `fixtures/`
/// copied): cases are written there, never into the source tree.
fn sandbox() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/fixtures");
    let to = dir.path().join("fixtures");
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    dir
}

#[test]
fn bad_scenarios_fail_with_positions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let sandbox = sandbox();
    let cases = sandbox.path();
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .next()
            .unwrap()
            .strip_prefix("# expect: ")
            .unwrap();
        // Cases refer to fixtures relative to tests/cases; the sandbox has them.
        let copy = cases.join(file.file_name().unwrap());
        std::fs::write(&copy, &text).unwrap();
        let result = Plan::from_file(&copy, Mode::Default);
        let err = match result {
            Ok(_) => {
                failures.push(format!(
                    "{}: loaded, but should fail with `{expect}`",
                    file.display()
                ));
                continue;
            }
            Err(ScenarioError::Invalid(d)) => d,
            Err(other) => panic!("{}: unexpected error {other}", file.display()),
        };
        let (mut position, mut rest) = expect.split_once(' ').unwrap();
        let mut expected_file = copy.clone();
        if !position.contains(':') || position.contains('/') {
            expected_file = cases.join(position);
            (position, rest) = rest.split_once(' ').unwrap();
        }
        let shown = err.to_string();
        let (line, col) = position.split_once(':').unwrap();
        let position = (Some(line.parse().unwrap()), Some(col.parse().unwrap()));
        if line != "0" && (err.file != expected_file || (err.line, err.column) != position) {
            failures.push(format!(
                "{}: expected {position:?} in\n{shown}",
                file.display()
            ));
        }
        for part in rest.split(" | ") {
            if !shown.contains(part.trim()) {
                failures.push(format!("{}: `{part}` not in\n{shown}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn good_scenario_resolves_defaults_inputs_and_thresholds() {
    let sandbox = sandbox();
    let path = sandbox.path().join("good.yaml");
    std::fs::write(
        &path,
        r#"
name: good
policy: {files: [fixtures], data: [fixtures/data.json], query: data.p.allow}
inputs:
  - fixtures/inputs.jsonl
  - inline: {user: carol}
workload: {concurrency: [1, 2], duration: 2s, warmup: 500ms, trials: 3}
targets:
  - {id: i, kind: regorus}
  - {id: v, kind: regorus, engine: vm, thresholds: {latency.p99: {critical: 1ms}}}
  - {id: s, kind: spin, service_time: 50us}
thresholds:
  latency.p99: {target: 10ms, critical: 50ms}
  errors.rate: {critical: 0%}
  throughput: {target: 1000/s}
"#,
    )
    .unwrap();
    let plan = Plan::from_file(&path, Mode::Default);
    let quick = Plan::from_file(&path, Mode::Quick);
    std::fs::remove_file(&path).unwrap();
    let plan = plan.unwrap();
    assert_eq!(plan.workload.concurrency, vec![1, 2]);
    assert_eq!(plan.workload.trials, 3);
    assert_eq!(plan.inputs.len(), 3, "jsonl blank lines are skipped");
    assert_eq!(plan.inputs.origin(1), "fixtures/inputs.jsonl:3");
    assert_eq!(plan.inputs.value(2)["user"], "carol");
    let policy = plan.policy.as_ref().unwrap();
    assert_eq!(policy.modules.len(), 1);
    assert_eq!(policy.data["roles"]["alice"][0], "admin");
    let v = &plan.targets[1].thresholds;
    assert_eq!(v["latency.p99"].critical, Some(1e6));
    assert_eq!(
        v["latency.p99"].target, None,
        "a target's threshold replaces the scenario's"
    );
    assert_eq!(plan.targets[0].thresholds["latency.p99"].target, Some(1e7));
    assert_eq!(
        plan.targets[0].thresholds["errors.rate"].critical,
        Some(0.0)
    );
    assert_eq!(
        plan.targets[0].thresholds["throughput"].target,
        Some(1000.0)
    );
    let quick = quick.unwrap();
    assert_eq!(quick.workload.trials, 1);
    assert_eq!(
        quick.workload.stop,
        rigor_scenario::plan::Stop::Duration(std::time::Duration::from_secs(1))
    );
}
