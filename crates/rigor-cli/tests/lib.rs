//! End-to-end tests of the `rigor` binary: files written, verdicts, exit
//! codes, error positions, template overrides. One test binary.

#![allow(clippy::unwrap_used)] // Tests and their helpers fail loudly by design.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the real binary in a scratch directory.
struct Rigor {
    dir: tempfile::TempDir,
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Rigor {
    fn new() -> Self {
        Rigor {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn file(&self, rel: &str, text: &str) -> &Self {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let out = Command::new(env!("CARGO_BIN_EXE_rigor"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Outcome {
    fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn results(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const RBAC: &str = "package rbac\n\ndefault allow := false\n\nallow if input.user == \"alice\"\n";

fn calibration(spin: &str, p50: &str) -> String {
    format!(
        "name: calib\n\
         policy: {{files: [p.rego], query: data.rbac.allow}}\n\
         inputs: [{{inline: {{user: alice}}}}, {{inline: {{user: bob}}}}]\n\
         workload: {{concurrency: [1, 2], warmup: 50ms, duration: 300ms, trials: 2}}\n\
         targets:\n\
         \x20 - {{id: noop, kind: noop}}\n\
         \x20 - {{id: spin, kind: spin, service_time: {spin}, thresholds: {{latency.p50: {p50}}}}}\n\
         \x20 - {{id: rego, kind: regorus}}\n\
         \x20 - {{id: rego-vm, kind: regorus, engine: vm}}\n\
         thresholds:\n\
         \x20 errors.rate: {{critical: 0%}}\n\
         \x20 compile.time: {{target: 10s}}\n"
    )
}

#[test]
fn run_writes_results_and_reports_and_grades() {
    let r = Rigor::new();
    r.file("p.rego", RBAC)
        .file("s.yaml", &calibration("100us", "{target: 1s}"));
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(0);
    assert!(out.stdout.contains("── concurrency=1 ──"), "{}", out.stdout);
    assert!(out.stdout.contains("verdict: PASS"), "{}", out.stdout);
    assert!(
        out.stderr.contains("[1/16] concurrency=1 trial 1/2 noop"),
        "progress lines: {}",
        out.stderr
    );

    let res = results(&r.path("out/results.json"));
    assert_eq!(res["format_version"], 1);
    assert_eq!(res["status"], "complete");
    assert_eq!(res["verdict"], "pass");
    assert_eq!(res["scenario"]["name"], "calib");
    assert!(res["environment"]["cores"].as_u64().unwrap() >= 1);
    assert!(res["harness"]["timer_cost_ns"].as_f64().unwrap() > 0.0);
    let cases = res["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        for t in case["targets"].as_array().unwrap() {
            assert_eq!(t["trials"].as_array().unwrap().len(), 2, "{}", t["id"]);
            assert_eq!(t["metrics"]["errors.count"], 0.0, "{}", t["id"]);
            assert!(!t["histogram"].as_str().unwrap().is_empty());
        }
        // compile.time is graded for policy targets and N/A for the others.
        let compile = |id: &str| {
            case["targets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == id)
                .unwrap()["grades"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["metric"] == "compile.time")
                .unwrap()["verdict"]
                .clone()
        };
        assert_eq!(compile("rego"), "pass");
        assert_eq!(compile("noop"), "skip");
    }
    // The spin target is a known truth: p50 within 2% of 100us.
    let spin = &cases[0]["targets"][1]["metrics"]["latency.p50"];
    let err = (spin.as_f64().unwrap() - 100_000.0).abs() / 100_000.0;
    assert!(
        err < 0.02,
        "spin p50 {spin} is {:.2}% off 100us",
        err * 100.0
    );

    // noop measures the harness itself: far below the 100us spin in the same run.
    let noop = cases[0]["targets"][0]["metrics"]["latency.p50"]
        .as_f64()
        .unwrap();
    assert!(noop * 10.0 < spin.as_f64().unwrap(), "noop p50 {noop}ns");

    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("<polyline"),
        "chart missing"
    );
    assert!(html.contains("PASS"));
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(fetch),
            "report must be self-contained: found {fetch}"
        );
    }
}

#[test]
fn missed_critical_threshold_exits_1_and_report_rerenders() {
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "s.yaml",
        &calibration("50us", "{target: 10us, critical: 20us}"),
    );
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(1);
    assert!(out.stdout.contains("FAIL"), "{}", out.stdout);
    assert!(out.stdout.contains("verdict: FAIL"), "{}", out.stdout);
    let res = results(&r.path("out/results.json"));
    assert_eq!(res["verdict"], "fail");

    // `report` re-renders from the results file alone, with a user's template.
    r.file(
        "tpl/console.txt.j2",
        "CUSTOM {{ name }} {{ verdict }} {{ cases | length }} cases\n",
    );
    std::fs::remove_file(r.path("out/report.html")).unwrap();
    let out = r
        .run(&["report", "out/results.json", "--templates", "tpl"])
        .expect(1);
    assert_eq!(out.stdout, "CUSTOM calib FAIL 2 cases\n");
    assert!(r.path("out/report.html").exists());
}

#[test]
fn invalid_scenarios_exit_2_with_positions() {
    let r = Rigor::new();
    r.file(
        "typo.yaml",
        "name: t\nworkload:\n  duration: 1s\n  concurency: 2\ntargets: [{id: a, kind: noop}]\n",
    );
    let out = r.run(&["run", "typo.yaml"]).expect(2);
    assert!(
        out.stderr
            .contains("typo.yaml:4:3: unknown field `concurency`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("did you mean `concurrency`?"),
        "{}",
        out.stderr
    );
    assert!(
        !r.path("reports").exists(),
        "nothing is written for invalid input"
    );

    r.file("bad.rego", "package bad\n\nallow if {\n  input.x ==\n}\n");
    r.file("rego.yaml", "name: t\nworkload: {duration: 1s}\npolicy: {files: [bad.rego], query: data.bad.allow}\ntargets: [{id: a, kind: regorus}]\n");
    let out = r.run(&["validate", "rego.yaml"]).expect(2);
    assert!(
        out.stderr.contains("bad.rego:"),
        "Rego errors name the file: {}",
        out.stderr
    );

    let out = r.run(&["validate", "missing.yaml"]).expect(2);
    assert!(out.stderr.contains("missing.yaml"), "{}", out.stderr);

    r.file("tpl/report.html.j2", "{% for x in %}");
    r.file(
        "ok.yaml",
        "name: t\nworkload: {iterations: 10}\ntargets: [{id: a, kind: noop}]\n",
    );
    let out = r.run(&["run", "ok.yaml", "--templates", "tpl"]).expect(2);
    assert!(out.stderr.contains("report.html.j2"), "{}", out.stderr);
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let out = Rigor::new().run(&["schema"]).expect(0);
    let checked_in = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/scenario.schema.json"),
    )
    .unwrap();
    assert_eq!(out.stdout, checked_in);
}
