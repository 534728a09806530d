//! End-to-end tests of the `rigor` binary: files written, verdicts, exit
//! codes, error positions, template overrides. One test binary.

#![allow(clippy::unwrap_used)] // Tests and their helpers fail loudly by design.
#![allow(clippy::disallowed_macros)] // A test may print why it skipped a part.

use std::path::{Path, PathBuf};
use std::process::Command;

use rigor_engine::results::{Grade, RegressionCheck, Results, RunStatus, TargetResult, Verdict};
use rigor_scenario::units::Capacity;

/// Tests take turns: they measure, and two measuring at once on a 2-core
/// machine would make each other's numbers noise (a test of "identical runs
/// PASS" must not see another test's load).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the real binary in a scratch directory.
struct Rigor {
    dir: tempfile::TempDir,
    _turn: std::sync::MutexGuard<'static, ()>,
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Rigor {
    fn new() -> Self {
        Rigor {
            _turn: SERIAL.lock().unwrap_or_else(|e| e.into_inner()),
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
        Command::new(env!("CARGO_BIN_EXE_rigor"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
            .into()
    }

    /// Makes the scratch directory a git repository with everything in it
    /// committed (for `--against`).
    fn commit_all(&self) {
        for args in [
            &["init", "-q"][..],
            &["add", "."],
            &["commit", "-q", "-m", "v1"],
        ] {
            let out = Command::new("git")
                .arg("-C")
                .arg(self.dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .output()
                .expect("git runs");
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl From<std::process::Output> for Outcome {
    fn from(out: std::process::Output) -> Self {
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

/// A results file read through the typed model, as reporters read it.
fn results(path: &Path) -> Results {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a results file: {e}", path.display()))
}

/// A results file as raw JSON, for the tests that edit one by hand.
fn results_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

mod docs;
mod exits;
mod explain;
mod exports;
mod newuser;
mod opa;
mod replay;
mod shards;
mod soak;

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
        out.stderr.contains("[1/16] concurrency=1 trial 1/2 ")
            && out.stderr.contains("[16/16] concurrency=2 trial 2/2 "),
        "progress lines: {}",
        out.stderr
    );

    let res = results(&r.path("out/results.json"));
    assert_eq!(res.format_version, 1);
    assert_eq!(res.status, RunStatus::Complete);
    assert_eq!(res.verdict, Verdict::Pass);
    assert_eq!(res.scenario.name, "calib");
    assert!(res.environment.cores >= 1);
    assert!(res.harness.timer_cost_ns > 0.0);
    let cases = &res.cases;
    assert_eq!(cases.len(), 2);
    for case in cases {
        for t in &case.targets {
            assert_eq!(t.trials.len(), 2, "{}", t.id);
            assert_eq!(t.metrics["errors.count"], 0.0, "{}", t.id);
            assert!(!t.histogram.is_empty());
        }
        // compile.time is graded for policy targets and N/A for the others.
        let compile = |id: &str| {
            let t = case.targets.iter().find(|t| t.id == id).unwrap();
            grade_of(t, "compile.time").verdict
        };
        assert_eq!(compile("rego"), Verdict::Pass);
        assert_eq!(compile("noop"), Verdict::Skip);
    }
    // The spin target is a known truth: a busy-wait of 100us is never
    // faster (the histogram's 0.1% aside). Above it, a loaded machine adds
    // preemptions; how close rigor comes is measured by `just selfbench`,
    // not asserted here.
    let spin = cases[0].targets[1].metrics["latency.p50"];
    assert!(
        (99_900.0..200_000.0).contains(&spin),
        "spin p50 {spin}ns for a 100us busy-wait"
    );

    // noop measures the harness itself: far below the 100us spin in the same run.
    let noop = cases[0].targets[0].metrics["latency.p50"];
    assert!(noop * 10.0 < spin, "noop p50 {noop}ns");

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
    assert_eq!(res.verdict, Verdict::Fail);

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

/// `generate:` inputs: made before timing, typed, seeded (the same seed
/// gives the same documents in another run), recorded in the results, and
/// their mistakes located in the scenario file.
#[test]
fn generated_inputs_are_typed_seeded_recorded_and_checked() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    let scenario = |template: &str| {
        format!(
            "name: gen\n\
             policy: {{files: [p.rego], query: data.rbac.allow}}\n\
             inputs:\n\
             \x20 - generate:\n\
             \x20     count: 40\n\
             \x20     template: {template}\n\
             \x20     fields:\n\
             \x20       user: {{pick: [alice, bob], weights: [1, 3]}}\n\
             \x20       n: {{range: 5..9}}\n\
             \x20 - inline: {{user: alice}}\n\
             workload: {{iterations: 200}}\n\
             targets: [{{id: a, kind: regorus}}]\n"
        )
    };
    r.file(
        "s.yaml",
        &scenario(r#"{user: "{{user}}", n: "{{n}}", path: "/x/{{n}}"}"#),
    );
    r.run(&["run", "s.yaml", "--out", "one"]).expect(0);
    r.run(&["run", "s.yaml", "--out", "two"]).expect(0);
    let one = results(&r.path("one/results.json"));
    let two = results(&r.path("two/results.json"));
    assert_eq!(one.scenario.inputs, 41, "40 generated and 1 inline");
    let generated = &one.scenario.generated[0];
    assert_eq!(generated.count, 40);
    assert_eq!(generated.origin, "inputs[0] (generate)");
    // The seed is recorded: `seed` is a u64 of the model, so a missing or
    // non-integer seed already failed `results`.
    let _seed: u64 = generated.seed;
    // The samples are the generated documents themselves: JSON in the model.
    let samples = &generated.samples;
    assert_eq!(samples.len(), 3);
    for d in samples {
        let n = d["n"]
            .as_i64()
            .expect("a whole-string reference keeps the number's type");
        assert!((5..=9).contains(&n), "{d}");
        assert_eq!(d["path"], format!("/x/{n}"), "interpolated");
        assert!(d["user"] == "alice" || d["user"] == "bob", "{d}");
    }
    assert_eq!(one.scenario.generated, two.scenario.generated, "seeded");
    // The decisions cover the generated inputs: alice is allowed, bob is not.
    let verification = one.verification.as_ref().unwrap();
    assert_eq!(verification.inputs, 41);
    let decisions = &verification.decisions;
    let (yes, no) = (decisions.get("true"), decisions.get("false"));
    assert!(
        yes.copied().unwrap_or(0) >= 1
            && no.copied().unwrap_or(0) >= 1
            && yes.copied().unwrap_or(0) + no.copied().unwrap_or(0) == 41,
        "{decisions:?}"
    );

    r.file("bad.yaml", &scenario(r#"{user: "{{usr}}", n: "{{n}}"}"#));
    let out = r.run(&["run", "bad.yaml", "--out", "bad"]).expect(2);
    assert!(
        out.stderr.contains("bad.yaml:4:"),
        "located: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("`{{usr}}`, which is not in `fields` (fields: n, user)"),
        "{}",
        out.stderr
    );
    assert!(
        !r.path("bad").exists(),
        "nothing measured for invalid input"
    );
}

/// `--set` changes the plan for one run (typed and checked like the file),
/// `--only` keeps some targets; both are recorded and shown, and the file's
/// own text (its hash) is untouched.
#[test]
fn set_and_only_change_one_run_and_are_recorded() {
    let r = Rigor::new();
    let text = "name: over\nworkload: {duration: 30s, warmup: 5s}\ncompare: {baseline: b}\ntargets: [{id: a, kind: noop}, {id: b, kind: spin, service_time: 1us}]\n";
    r.file("s.yaml", text);
    let out = r
        .run(&[
            "run",
            "s.yaml",
            "--out",
            "out",
            "--set",
            "workload.duration=200ms",
            "--set",
            "workload.warmup=0s",
            "--set",
            "workload.trials=2",
            "--only",
            "a",
        ])
        .expect(0);
    assert!(
        out.stderr
            .contains("--only leaves out `b`, the `compare:` baseline"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("changed for this run: --set workload.duration=200ms --set workload.warmup=0s --set workload.trials=2 --only a"),
        "{}",
        out.stdout
    );
    let res = results(&r.path("out/results.json"));
    assert_eq!(res.scenario.source, text, "the file's own text");
    assert_eq!(
        res.scenario.overrides,
        [
            "workload.duration=200ms",
            "workload.warmup=0s",
            "workload.trials=2"
        ]
    );
    assert_eq!(res.scenario.only, ["a"]);
    assert_eq!(res.scenario.workload.trials, 2);
    let targets = &res.cases[0].targets;
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].id, "a");
    assert_eq!(targets[0].trials.len(), 2);
    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    assert!(html.contains("changed for this run: --set workload.duration=200ms"));
    // Every format renders from the results file alone, from its template.
    let md = r
        .run(&["report", "out/results.json", "--format", "markdown"])
        .expect(0)
        .stdout;
    assert!(md.starts_with("## rigor · over — ✅ PASS"), "{md}");
    assert!(
        md.contains("| changed for this run | `--set workload.duration=200ms"),
        "{md}"
    );
    assert!(
        md.contains("| target | ops/s | mean | p50 | p95 | p99 | B/op | allocs/op | compile |"),
        "{md}"
    );
    let xml = r
        .run(&["report", "out/results.json", "--format", "junit"])
        .expect(0)
        .stdout;
    assert!(
        xml.starts_with("<?xml") && xml.contains(r#"<testcase classname="over.thresholds.a""#),
        "{xml}"
    );
    let console = r
        .run(&["report", "out/results.json", "--format", "console"])
        .expect(0)
        .stdout;
    assert!(console.contains("verdict: PASS"), "{console}");
    r.file(
        "tpl/summary.md.j2",
        "custom summary of {{ name }}: {{ badge }}\n",
    );
    let md = r
        .run(&[
            "report",
            "out/results.json",
            "--format",
            "markdown",
            "--templates",
            "tpl",
        ])
        .expect(0)
        .stdout;
    assert_eq!(md, "custom summary of over: ✅ PASS\n");

    let out = r
        .run(&["run", "s.yaml", "--set", "workload.concurency=2"])
        .expect(2);
    assert!(
        out.stderr
            .contains("s.yaml (with --set workload.concurency=2)")
            && out.stderr.contains("unknown field `concurency`")
            && out.stderr.contains("did you mean `concurrency`?"),
        "{}",
        out.stderr
    );
    let out = r
        .run(&["run", "s.yaml", "--set", "workload.duration=fast"])
        .expect(2);
    assert!(out.stderr.contains("fast"), "{}", out.stderr);
    let out = r.run(&["run", "s.yaml", "--only", "c"]).expect(2);
    assert!(
        out.stderr
            .contains("--only c: the scenario has no target `c`"),
        "{}",
        out.stderr
    );
    let out = r
        .run(&["run", "s.yaml", "--set", "targets.x.kind=noop"])
        .expect(2);
    assert!(
        out.stderr.contains("no entry with id `x` (ids: a, b)"),
        "{}",
        out.stderr
    );
}

/// `rigor init` writes starters that run as written (policy: embedded,
/// with generated inputs and expectations; cache: moka and a managed Redis),
/// with the schema their modeline names, and never overwrites a file.
#[test]
fn init_writes_starters_that_run_as_written() {
    let r = Rigor::new();
    let out = r.run(&["init", "policy", "my.yaml"]).expect(0);
    assert!(out.stdout.contains("rigor run my.yaml"), "{}", out.stdout);
    for f in ["my.yaml", "my.rego", "my-data.json", "scenario.schema.json"] {
        assert!(r.path(f).exists(), "{f} written");
    }
    let text = std::fs::read_to_string(r.path("my.yaml")).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema=scenario.schema.json\n"));
    assert_eq!(
        std::fs::read_to_string(r.path("scenario.schema.json")).unwrap(),
        r.run(&["schema"]).expect(0).stdout,
        "the schema beside it is rigor's own"
    );
    let out = r
        .run(&["run", "my.yaml", "--mode", "quick", "--out", "p"])
        .expect(0);
    assert!(
        out.stderr.contains("2 expectation(s) met"),
        "{}",
        out.stderr
    );
    let res = results(&r.path("p/results.json"));
    assert_eq!(res.scenario.inputs, 2002);
    assert_eq!(res.cases.len(), 2, "concurrency [1, 2]");

    let before = std::fs::read_to_string(r.path("my.rego")).unwrap();
    r.file("my.rego", "package rbac\n# edited\n");
    let out = r.run(&["init", "policy", "my.yaml"]).expect(2);
    assert!(
        out.stderr
            .contains("my.yaml exists; rigor init never overwrites"),
        "{}",
        out.stderr
    );
    assert_ne!(
        before,
        std::fs::read_to_string(r.path("my.rego")).unwrap(),
        "untouched"
    );

    r.run(&["init", "cache", "sub/c.yaml"]).expect(0);
    assert!(
        !r.path("sub/c.rego").exists(),
        "a cache starter needs no policy"
    );
    r.run(&["run", "sub/c.yaml", "--mode", "quick", "--out", "c"])
        .expect(0);
    let res = results(&r.path("c/results.json"));
    let ids: Vec<&str> = res.cases[0].targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["moka", "redis"]);
}

/// `--reports DIR` is the one root of runs, baselines and history: a run
/// without `--out` lands under it, a saved baseline is slimmed there, and
/// complete runs append to its history; nothing goes to `./reports`.
#[test]
fn the_reports_root_holds_runs_baselines_and_history() {
    let r = Rigor::new();
    r.file(
        "s.yaml",
        "name: store\nworkload: {duration: 200ms, warmup: 0s, trials: 2}\ntargets: [{id: a, kind: spin, service_time: 5us}]\n",
    );
    r.run(&["run", "s.yaml", "--reports", "reps", "--save-baseline", "b"])
        .expect(0);
    let runs: Vec<_> = std::fs::read_dir(r.path("reps/runs/store"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1, "one run directory");
    let run = results(&runs[0].path().join("results.json"));
    assert!(!run.cases[0].targets[0].histogram.is_empty());
    let base = results(&r.path("reps/baselines/store/b.json"));
    assert_eq!(
        base.cases[0].targets[0].histogram, "",
        "baselines are slimmed"
    );
    assert_eq!(base.cases[0].targets[0].trials.len(), 2);
    let out = r.run(&["run", "s.yaml", "--reports", "reps", "--baseline", "b"]);
    assert!(out.code == 0 || out.code == 4, "{}", out.stderr);
    let history = std::fs::read_to_string(r.path("reps/history/store.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 2, "{history}");
    assert!(!r.path("reports").exists(), "nothing outside the root");
    let out = r
        .run(&["run", "s.yaml", "--reports", "reps", "--baseline", "nope"])
        .expect(2);
    assert!(
        out.stderr.contains("no baseline `nope`") && out.stderr.contains("saved: b"),
        "{}",
        out.stderr
    );
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
fn metrics_command_lists_every_metric_with_unit_and_direction() {
    let r = Rigor::new();
    let out = r.run(&["metrics"]).expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        rigor_scenario::metrics::METRICS.len() + 1,
        "{}",
        out.stdout
    );
    assert!(lines[0].starts_with("metric"));
    for m in rigor_scenario::metrics::METRICS {
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(m.name))
            .unwrap_or_else(|| panic!("{} missing", m.name));
        assert!(line.ends_with(m.description), "{line}");
    }
    let p99 = lines
        .iter()
        .find(|l| l.starts_with("latency.p99 "))
        .unwrap();
    assert!(p99.contains("duration") && p99.contains("lower"), "{p99}");
    let tp = lines.iter().find(|l| l.starts_with("throughput ")).unwrap();
    assert!(tp.contains("rate") && tp.contains("higher"), "{tp}");
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let out = Rigor::new().run(&["schema"]).expect(0);
    let checked_in = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/scenario.schema.json"),
    )
    .unwrap();
    assert!(
        out.stdout == checked_in,
        "`rigor schema` differs from schemas/scenario.schema.json; run `just schema`"
    );
}

/// A `rigor serve` process on a free loopback port, killed on drop.
struct Served {
    child: std::process::Child,
    url: String,
}

impl Served {
    fn start(dir: &Path, scenario: Option<&str>) -> Served {
        use std::io::BufRead;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rigor"));
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--threads", "1"])
            .current_dir(dir);
        if let Some(s) = scenario {
            cmd.arg(s);
        }
        let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let line = lines.next().unwrap().unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in `{line}`"))
            .to_string();
        Served { child, url }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rbac_scenario(name: &str, targets: &str, workload: &str, extra: &str) -> String {
    format!(
        "name: {name}\n\
         policy: {{files: [p.rego], query: data.rbac.allow}}\n\
         inputs: [{{inline: {{user: alice}}}}, {{inline: {{user: bob}}}}, {{inline: {{user: carol}}}}]\n\
         workload: {workload}\n\
         targets:\n{targets}{extra}"
    )
}

#[test]
fn embedded_vs_http_in_rate_mode_with_comparison() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    let server = Served::start(r.dir.path(), None);
    r.file(
        "s.yaml",
        &rbac_scenario(
            "evh",
            &format!(
                "  - {{id: embedded, kind: regorus}}\n  - {{id: http, kind: opa-http, url: \"${{TEST_OPA:-{}}}\", upload: true}}\n",
                server.url
            ),
            "{rate: 400/s, concurrency: 4, warmup: 100ms, duration: 500ms, trials: 2}",
            "compare: {baseline: http}\nthresholds:\n  errors.rate: {critical: 0%}\n",
        ),
    );
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(0);
    assert!(
        out.stderr
            .contains("decisions before timing: embedded, http agree on 3 of 3 input(s)"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("vs http"), "{}", out.stdout);
    let res = results(&r.path("out/results.json"));
    assert_eq!(res.verification.as_ref().unwrap().inputs, 3);
    let case = &res.cases[0];
    assert_eq!(case.rate, Some(400.0));
    for t in &case.targets {
        let m = &t.metrics;
        assert_eq!(
            m["errors.count"],
            0.0,
            "{}: {:?}",
            t.id,
            t.trials.first().map(|trial| &trial.error_messages)
        );
        let achieved = m["rate.achieved"];
        assert!(
            (achieved - 400.0).abs() < 20.0,
            "{} achieved {achieved}/s",
            t.id
        );
        assert!(m["service.p50"] > 0.0);
        assert!(m.contains_key("schedule.lag.p99"));
    }
    let embedded = &case.targets[0];
    let ratios = &embedded.ratios;
    let p50 = ratios.iter().find(|r| r.metric == "latency.p50").unwrap();
    assert_eq!(p50.trials, 2);
    assert!(p50.low.unwrap() <= p50.ratio);
    assert!(
        case.targets[1].ratios.is_empty(),
        "the baseline has no ratios"
    );
    assert!(
        !ratios.iter().any(|r| r.metric.starts_with("memory.")),
        "client-side HTTP memory is not comparable with an embedded engine's"
    );
    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    assert!(html.contains("Compared with http"));
}

#[test]
fn disagreeing_targets_stop_before_timing_with_exit_3() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    // The server holds a policy that allows everyone.
    r.file("lax.rego", "package rbac\n\nallow := true\n");
    r.file("lax.yaml", "name: lax\nworkload: {iterations: 1}\npolicy: {files: [lax.rego], query: data.rbac.allow}\ntargets: [{id: a, kind: regorus}]\n");
    let server = Served::start(r.dir.path(), Some("lax.yaml"));
    r.file(
        "s.yaml",
        &rbac_scenario(
            "mismatch",
            &format!("  - {{id: embedded, kind: regorus}}\n  - {{id: http, kind: opa-http, url: \"{}\"}}\n", server.url),
            "{duration: 1s}",
            "",
        ),
    );
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(3);
    assert!(
        out.stderr
            .contains("targets disagree on 2 input(s); nothing was timed"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(r#"{"user":"bob"}"#), "{}", out.stderr);
    assert!(
        out.stderr.contains("embedded: false") && out.stderr.contains("http: true"),
        "{}",
        out.stderr
    );
    let res = results(&r.path("out/results.json"));
    assert_eq!(res.status, RunStatus::Stopped);
    assert!(res.cases.is_empty(), "nothing was measured");
}

/// A target's grade of `metric` in a results file (every target is graded on
/// `errors.rate`, by default if the scenario names no threshold).
fn grade_of<'a>(target: &'a TargetResult, metric: &str) -> &'a Grade {
    target
        .grades
        .iter()
        .find(|g| g.metric == metric)
        .unwrap_or_else(|| panic!("{metric} is not graded: {:?}", target.grades))
}

/// A policy that calls a builtin regorus does not have (as the Envoy JWT primer does).
const JWT: &str = "package jwt\n\nimport rego.v1\n\ndefault allow := false\n\nallow if {\n\t[valid, _, _] := io.jwt.decode_verify(input.token, {\"secret\": \"s\"})\n\tvalid\n}\n";

fn jwt_scenario(extra: &str) -> String {
    format!(
        "name: jwt\n\
         policy: {{files: [jwt.rego], query: data.jwt.allow}}\n\
         inputs: [{{inline: {{token: a.b.c}}}}]\n\
         workload: {{duration: 300ms}}\n\
         targets: [{{id: rego, kind: regorus}}]\n{extra}"
    )
}

#[test]
fn a_run_where_every_operation_fails_is_a_failed_run() {
    let r = Rigor::new();
    r.file("jwt.rego", JWT);
    // Gated (the default): stopped before timing, the error located in the policy.
    r.file("s.yaml", &jwt_scenario(""));
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(3);
    assert!(
        out.stderr
            .contains("1 input(s) could not be evaluated; nothing was timed")
            && out.stderr.contains("jwt.rego:8:")
            && out.stderr.contains("io.jwt.decode_verify")
            && out.stderr.contains("nor a builtin regorus implements"),
        "{}",
        out.stderr
    );
    // Nothing was measured, and the results say why.
    let res = results(&r.path("out/results.json"));
    assert_eq!(res.status, RunStatus::Stopped);
    assert!(res.cases.is_empty(), "nothing was measured");
    // Measured anyway, with no errors.rate threshold written: errors are not speed.
    r.file("m.yaml", &jwt_scenario("verify: false\n"));
    let out = r.run(&["run", "m.yaml", "--out", "out"]).expect(3);
    assert!(
        out.stderr.contains("every operation failed") && out.stderr.contains("jwt.rego:8:"),
        "{}",
        out.stderr
    );
    let res = results(&r.path("out/results.json"));
    assert_eq!(res.status, RunStatus::Complete);
    let t = &res.cases[0].targets[0];
    assert!(t
        .error
        .as_deref()
        .unwrap()
        .contains("every operation failed"));
    assert_eq!(t.metrics["throughput"], 0.0);
    assert_eq!(t.metrics["errors.rate"], 1.0);
    assert!(
        !t.metrics.contains_key("latency.p50"),
        "failures have no latency"
    );
    assert_eq!(t.trials[0].operations, 0);
    assert!(t.trials[0].error_kinds["eval"] > 0);
    let grade = grade_of(t, "errors.rate");
    assert_eq!(grade.critical, Some(0.0));
    assert_eq!(grade.verdict, Verdict::Fail);
    assert!(out.stdout.contains("verdict: FAIL"), "{}", out.stdout);
    // One verdict everywhere: console, HTML, Markdown, JUnit and the exit
    // code, rendered again from the results file alone.
    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    assert!(
        html.contains(r#"Verdict: <span class="badge fail">FAIL</span>"#),
        "HTML headline"
    );
    let md = r
        .run(&["report", "out/results.json", "--format", "markdown"])
        .expect(3);
    let headline = md.stdout.lines().next().unwrap_or_default();
    assert!(headline.contains("FAIL"), "{headline}");
    let junit = r
        .run(&["report", "out/results.json", "--format", "junit"])
        .expect(3);
    assert!(
        !junit.stdout.contains(r#"failures="0""#)
            && junit.stdout.contains("every operation failed"),
        "{}",
        junit.stdout
    );
    let console = r
        .run(&["report", "out/results.json", "--format", "console"])
        .expect(3);
    assert!(
        console.stdout.contains("verdict: FAIL"),
        "{}",
        console.stdout
    );
}

#[test]
fn failed_operations_are_counted_apart_from_successes() {
    let r = Rigor::new();
    // `to_number("x")` fails; `to_number("1")` does not: every other input fails.
    r.file(
        "n.rego",
        "package n\n\nimport rego.v1\n\nallow if to_number(input.n) > 0\n",
    )
    .file(
        "s.yaml",
        "name: half\n\
         policy: {files: [n.rego], query: data.n.allow}\n\
         inputs: [{inline: {n: \"1\"}}, {inline: {n: x}}]\n\
         verify: false\n\
         workload: {iterations: 2000, timing: per-op}\n\
         targets: [{id: rego, kind: regorus}]\n\
         thresholds: {errors.rate: {target: 0%, critical: 60%}}\n",
    );
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(0);
    let res = results(&r.path("out/results.json"));
    let t = &res.cases[0].targets[0];
    let trial = &t.trials[0];
    // 2000 attempts, alternating inputs: 1000 successes, 1000 failures.
    assert_eq!(trial.operations, 1000, "{trial:?}");
    assert_eq!(trial.errors, 1000, "{trial:?}");
    assert_eq!(t.metrics["errors.rate"], 0.5);
    let tp = t.metrics["throughput"];
    let elapsed = trial.elapsed_ns as f64 / 1e9;
    assert!(
        (tp * elapsed - 1000.0).abs() < 1.0,
        "throughput counts successes only: {tp}/s over {elapsed}s"
    );
    assert!(t.metrics["errors.per_second"] > 0.0);
    let grade = grade_of(t, "errors.rate");
    assert_eq!(
        grade.verdict,
        Verdict::Warn,
        "50% misses target 0% but meets critical 60%"
    );
    assert!(out.stderr.contains("50.00%"), "{}", out.stderr);
}

#[test]
fn validate_evaluates_every_input_and_checks_expectations() {
    let r = Rigor::new();
    r.file("jwt.rego", JWT).file("s.yaml", &jwt_scenario(""));
    let out = r.run(&["validate", "s.yaml"]).expect(2);
    assert!(
        out.stderr
            .contains("s.yaml: 1 input(s) could not be evaluated")
            && out.stderr.contains("jwt.rego:8:")
            && out
                .stderr
                .contains("could not find function io.jwt.decode_verify"),
        "{}",
        out.stderr
    );
    r.file("p.rego", RBAC).file(
        "e.yaml",
        "name: e\npolicy: {files: [p.rego], query: data.rbac.allow}\n\
         inputs: [{inline: {user: alice}, expect: false}]\nworkload: {duration: 1s}\n\
         targets: [{id: rego, kind: regorus}, {id: vm, kind: regorus, engine: vm}]\n",
    );
    let out = r.run(&["validate", "e.yaml"]).expect(3);
    assert!(
        out.stderr.contains("answered other than their `expect:`")
            && out.stderr.contains("expected: false")
            && out.stderr.contains("rego: true")
            && out.stderr.contains("vm: true"),
        "{}",
        out.stderr
    );
}

#[test]
fn decisions_are_recorded_and_expectations_checked() {
    let r = Rigor::new();
    r.file("p.rego", RBAC)
        .file("alice.json", r#"{"user": "alice"}"#)
        .file(
            "more.jsonl",
            "{\"input\": {\"user\": \"bob\"}, \"expect\": false}\n{\"user\": \"carol\"}\n",
        );
    let scenario = |alice: &str| {
        format!(
            "name: d\npolicy: {{files: [p.rego], query: data.rbac.allow}}\n\
             inputs:\n  - {{file: alice.json, expect: {alice}}}\n  - more.jsonl\n  - {{inline: {{user: eve}}, expect: false}}\n\
             workload: {{duration: 200ms}}\ntargets: [{{id: rego, kind: regorus}}]\n"
        )
    };
    r.file("s.yaml", &scenario("true"));
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(0);
    assert!(
        out.stderr
            .contains("rego on 4 input(s), 3 of 3 expectation(s) met"),
        "{}",
        out.stderr
    );
    let res = results(&r.path("out/results.json"));
    let v = res.verification.as_ref().unwrap();
    assert_eq!(v.summaries["rego"]["true"], 1, "{v:?}");
    assert_eq!(v.summaries["rego"]["false"], 3, "{v:?}");
    assert_eq!(v.expectations, 3);
    let answers = &v.answers;
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0].origin, "alice.json");
    assert_eq!(answers[0].answers["rego"], "true");
    assert_eq!(answers[1].origin, "more.jsonl:1");
    assert_eq!(
        answers[1].input, r#"{"user":"bob"}"#,
        "the wrapper is not the input"
    );
    assert_eq!(answers[2].expect, None);
    // A wrong expectation stops the run, naming the input, the expected and the actual.
    r.file("s.yaml", &scenario("false"));
    let out = r.run(&["run", "s.yaml", "--out", "out2"]).expect(3);
    assert!(
        out.stderr.contains("alice.json: {\"user\":\"alice\"}")
            && out.stderr.contains("expected: false")
            && out.stderr.contains("rego: true"),
        "{}",
        out.stderr
    );
    assert_eq!(
        results(&r.path("out2/results.json")).status,
        RunStatus::Stopped
    );
    // `expect: undefined` matches a rule with no value; a policy that answers
    // undefined for every input gets a note.
    r.file(
        "u.rego",
        "package u\n\nimport rego.v1\n\nallow if input.nope == 1\n",
    )
    .file(
        "u.yaml",
        "name: u\npolicy: {files: [u.rego], query: data.u.allow}\n\
             inputs: [{inline: {a: 1}, expect: undefined}, {inline: {a: 2}}]\n\
             workload: {duration: 100ms}\ntargets: [{id: rego, kind: regorus}]\n",
    );
    let out = r.run(&["run", "u.yaml", "--out", "out3"]).expect(0);
    assert!(
        out.stderr.contains("all 2 inputs answered undefined"),
        "{}",
        out.stderr
    );
    let res = results(&r.path("out3/results.json"));
    let v = res.verification.as_ref().unwrap();
    assert_eq!(v.summaries["rego"]["undefined"], 2);
    assert_eq!(v.unexpected, 0);
}

#[test]
fn print_output_is_gathered_never_timed() {
    let r = Rigor::new();
    r.file(
        "p.rego",
        "package pr\n\nimport rego.v1\n\nallow if {\n\tsome i in numbers.range(1, 3)\n\tprint(\"PRINTED step\", i, input.user)\n\tinput.user == \"alice\"\n}\n",
    )
    .file(
        "s.yaml",
        "name: pr\npolicy: {files: [p.rego], query: data.pr.allow, prints: keep}\n\
         inputs: [{inline: {user: alice}}, {inline: {user: bob}}]\n\
         workload: {duration: 300ms}\ntargets: [{id: rego, kind: regorus}]\n",
    );
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(0);
    assert!(
        !out.stderr.contains("PRINTED") && !out.stdout.contains("PRINTED step 1 alice"),
        "print() wrote during the run: {}",
        &out.stderr[..out.stderr.len().min(2000)]
    );
    let res = results(&r.path("out/results.json"));
    // alice is allowed at the first step; bob runs all three.
    let answers = &res.verification.as_ref().unwrap().answers;
    let alice = &answers[0];
    assert_eq!(alice.print_lines, 1, "{alice:?}");
    let bob = &answers[1];
    assert_eq!(bob.print_lines, 3, "{bob:?}");
    assert!(bob.prints[2].ends_with("PRINTED step 3 bob"), "{bob:?}");
    assert!(
        alice.prints[0].contains("PRINTED step 1 alice"),
        "{alice:?}"
    );
    assert!(res.cases[0].targets[0].trials[0].operations > 10);
}

/// A running `rigor run` whose stderr is read line by line, for tests that
/// act on it mid-trial (kill its server, signal it).
struct Live {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: String,
}

impl Live {
    fn start(r: &Rigor, args: &[&str]) -> Live {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_rigor"))
            .args(args)
            .current_dir(r.dir.path())
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            lines,
            stderr: String::new(),
        }
    }

    /// Waits (at most 30 s) for a stderr line containing `text`.
    fn wait_for(&mut self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push_str(&line);
                    self.stderr.push('\n');
                    if line.contains(text) {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {text:?} in:\n{}", self.stderr);
    }

    /// Waits (at most 30 s) for the exit code; the rest of stderr is kept.
    fn finish(self) -> (i32, String) {
        self.finish_within(30)
    }

    /// Waits at most `secs` for the exit code; the rest of stderr is kept.
    fn finish_within(mut self, secs: u64) -> (i32, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("rigor did not exit:\n{}", self.stderr);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        while let Ok(line) = self
            .lines
            .recv_timeout(std::time::Duration::from_millis(500))
        {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        (
            status.code().unwrap_or(-1),
            std::mem::take(&mut self.stderr),
        )
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on a child this test started and has not reaped.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }
}

impl Drop for Live {
    /// A test that panics mid-run leaves no rigor (nor, through
    /// PR_SET_PDEATHSIG, its managed servers) behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Processes named `name` whose parent is `parent`.
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let Some((comm, rest)) = stat.split_once(") ") else {
                return false;
            };
            comm.ends_with(name) && rest.split(' ').nth(1) == Some(&parent.to_string())
        })
        .collect()
}

/// Whether process `pid` is alive (a zombie waiting to be reaped is not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.split_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Waits up to 20s for a server (`what`) to accept connections on `port`.
fn wait_for_port(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process a test started, killed when the test ends, passed or panicked.
struct Spawned(std::process::Child);

impl Spawned {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `redis-server` of the test's own on `port` (with `extra` settings),
/// answering before this returns.
fn start_redis(port: u16, extra: &[&str]) -> Spawned {
    let mut child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (just deps installs it)");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Spawned(child);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server on {port} did not start");
}

fn redis_fault_scenario(target: &str) -> String {
    format!(
        "name: redis-fault\n\
         cache: {{keys: 1000, value_size: 64B}}\n\
         workload: {{concurrency: 2, duration: 2s}}\n\
         targets: [{target}]\n"
    )
}

#[test]
fn redis_killed_mid_trial_is_counted_and_the_run_finishes() {
    // A server the user runs, killed and restarted mid-trial: errors by kind,
    // reconnects counted, the trial goes on, results written.
    for client in ["multiplexed", "blocking"] {
        let port = free_port();
        let mut redis = start_redis(port, &[]);
        let r = Rigor::new();
        r.file(
            "s.yaml",
            &redis_fault_scenario(&format!(
                "{{id: r, kind: redis, url: \"redis://127.0.0.1:{port}\", flush: true, client: {client}, timeout: 200ms, connect_timeout: 200ms}}"
            )),
        );
        let mut live = Live::start(&r, &["run", "s.yaml", "--out", "out"]);
        live.wait_for("trial 1/1 r");
        std::thread::sleep(std::time::Duration::from_millis(500));
        redis.stop();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut restarted = start_redis(port, &[]);
        let (code, stderr) = live.finish();
        restarted.stop();
        assert_eq!(
            code, 1,
            "{client}: errors fail errors.rate (exit 1)\n{stderr}"
        );
        let res = results(&r.path("out/results.json"));
        assert_eq!(res.status, RunStatus::Complete, "{client}");
        let trial = &res.cases[0].targets[0].trials[0];
        assert!(trial.errors > 0, "{client}: {trial:?}");
        assert!(trial.operations > 0, "{client}: {trial:?}");
        let kinds = &trial.error_kinds;
        assert!(
            kinds.contains_key("io") || kinds.contains_key("connect"),
            "{client}: {kinds:?}"
        );
        assert!(trial.events["reconnects"] >= 1, "{client}: {trial:?}");
    }
    // A managed server killed mid-trial stays dead: every later command fails
    // (connect refused), the trial ends on time, the next trial cannot
    // prepare and the target is a failed one (exit 3); rigor leaves nothing behind.
    let r = Rigor::new();
    r.file(
        "s.yaml",
        &redis_fault_scenario("{id: r, kind: redis, server: managed, connect_timeout: 200ms}")
            .replace("duration: 2s", "duration: 1s, trials: 2"),
    );
    let mut live = Live::start(&r, &["run", "s.yaml", "--out", "out"]);
    live.wait_for("trial 1/2 r");
    let servers = children_named(live.child.id(), "redis-server");
    assert_eq!(servers.len(), 1, "one managed redis-server: {servers:?}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill(2) on the managed server rigor started.
    unsafe {
        libc::kill(servers[0] as i32, libc::SIGKILL);
    }
    let (code, stderr) = live.finish();
    assert_eq!(code, 3, "{stderr}");
    let res = results(&r.path("out/results.json"));
    let t = &res.cases[0].targets[0];
    assert!(t.trials[0].errors > 0, "{t:?}");
    assert!(t.error.as_deref().unwrap().contains("r in "), "{t:?}");
    assert_eq!(res.status, RunStatus::Complete);
}

#[test]
fn sigterm_and_sigint_keep_partial_results_and_stop_managed_servers() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let r = Rigor::new();
        r.file(
            "s.yaml",
            &redis_fault_scenario("{id: r, kind: redis, server: managed}")
                .replace("duration: 2s", "duration: 10s"),
        );
        let started = std::time::Instant::now();
        let mut live = Live::start(&r, &["run", "s.yaml", "--out", "out"]);
        live.wait_for("trial 1/1 r");
        let servers = children_named(live.child.id(), "redis-server");
        assert_eq!(servers.len(), 1, "{name}: {servers:?}");
        std::thread::sleep(std::time::Duration::from_millis(500));
        live.signal(signal);
        let (code, stderr) = live.finish();
        assert_eq!(code, 3, "{name}: interrupted is exit 3\n{stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "{name}: stopped early"
        );
        let res = results(&r.path("out/results.json"));
        assert_eq!(res.status, RunStatus::Interrupted, "{name}");
        let trial = &res.cases[0].targets[0].trials[0];
        assert!(trial.interrupted, "{name}");
        assert!(trial.operations > 0, "{name}: {trial:?}");
        assert!(r.path("out/report.html").exists(), "{name}");
        assert!(
            !running(servers[0]),
            "{name}: the managed redis-server {} is still running",
            servers[0]
        );
    }
}

#[test]
fn passwords_in_urls_never_reach_results_reports_or_logs() {
    let port = free_port();
    let mut redis = start_redis(port, &["--requirepass", "hunter2"]);
    let r = Rigor::new();
    r.file(
        "s.yaml",
        &format!(
            "name: secret\n\
             cache: {{keys: 100, value_size: 16B}}\n\
             workload: {{duration: 200ms}}\n\
             targets:\n\
             \x20 - {{id: r, kind: redis, url: \"redis://:hunter2@127.0.0.1:{port}\", flush: true}}\n"
        ),
    );
    let out = r.run(&[
        "run",
        "s.yaml",
        "--out",
        "out",
        "--reports",
        "reps",
        "--save-baseline",
        "b",
        "--markdown",
        "out/s.md",
        "--junit",
        "out/j.xml",
    ]);
    redis.stop();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(!text.contains("hunter"), "{what} holds a password: {text}");
    }
    // An error that names a URL names it redacted.
    r.file("p.rego", RBAC).file(
        "h.yaml",
        &rbac_scenario(
            "h",
            &format!(
                "  - {{id: http, kind: opa-http, url: \"http://user:hunter2@127.0.0.1:{}\"}}\n",
                free_port()
            ),
            "{duration: 1s}",
            "",
        ),
    );
    let down = r.run(&["run", "h.yaml", "--out", "down"]).expect(3);
    assert!(
        !down.stderr.contains("hunter") && down.stderr.contains("user:***@127.0.0.1"),
        "{}",
        down.stderr
    );
    let mut files = 0;
    let mut stack = vec![r.path("out"), r.path("reps")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !text.contains("hunter"),
                "{} holds a password",
                path.display()
            );
        }
    }
    assert!(
        files >= 6,
        "results, report, markdown, junit, baseline, history: {files} files"
    );
    let res = results(&r.path("out/results.json"));
    assert!(res.scenario.source.contains("redis://:***@127.0.0.1"));
}

#[test]
fn output_paths_are_checked_before_measuring() {
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "s.yaml",
        &rbac_scenario(
            "outs",
            "  - {id: rego, kind: regorus}\n",
            "{duration: 200ms}",
            "",
        ),
    );
    // A missing folder is created; the run writes there.
    r.run(&[
        "run",
        "s.yaml",
        "--out",
        "out",
        "--junit",
        "ci/deep/j.xml",
        "--markdown",
        "ci/s.md",
    ])
    .expect(0);
    assert!(r.path("ci/deep/j.xml").exists() && r.path("ci/s.md").exists());
    // A path that cannot be written stops the run before anything is measured.
    r.file("blocker", "a file, not a folder");
    let started = std::time::Instant::now();
    let out = r
        .run(&["run", "s.yaml", "--out", "out2", "--junit", "blocker/j.xml"])
        .expect(2);
    assert!(out.stderr.contains("blocker"), "{}", out.stderr);
    assert!(
        !r.path("out2/results.json").exists(),
        "nothing was measured"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_closed_stdout_or_an_unwritable_report_never_hides_the_result() {
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "s.yaml",
        &rbac_scenario(
            "pipe",
            "  - {id: rego, kind: regorus}\n",
            "{duration: 300ms}",
            "",
        ),
    );
    // `rigor run ... | head -0`: stdout is closed before the report is printed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(["run", "s.yaml", "--out", "out", "--color", "never"])
        .current_dir(r.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        results(&r.path("out/results.json")).status,
        RunStatus::Complete
    );
    assert!(r.path("out/report.html").exists());
    // The HTML report cannot be written (a folder is in its place): the
    // results are complete, the failure is said, and a passing run exits 3.
    std::fs::create_dir_all(r.path("out2/report.html")).unwrap();
    let out = r
        .run(&["run", "s.yaml", "--out", "out2", "--markdown", "out2/s.md"])
        .expect(3);
    assert!(
        out.stderr.contains("cannot write") && out.stderr.contains("report.html"),
        "{}",
        out.stderr
    );
    assert_eq!(
        results(&r.path("out2/results.json")).status,
        RunStatus::Complete
    );
    assert!(
        r.path("out2/s.md").exists(),
        "the other outputs are still written"
    );
    // The console report lists the answers of the first inputs; the HTML all of them.
    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    assert!(
        html.contains("Answers per input (3 of 3)"),
        "per-input answers in HTML"
    );
    let console = r
        .run(&["report", "out/results.json", "--color", "never"])
        .expect(0);
    assert!(
        console
            .stdout
            .contains(r#"inputs[1] (inline) {"user":"bob"}"#)
            && console.stdout.contains("false"),
        "{}",
        console.stdout
    );
}

#[test]
fn nothing_listening_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "s.yaml",
        &rbac_scenario(
            "down",
            &format!("  - {{id: http, kind: opa-http, url: \"http://127.0.0.1:{port}\"}}\n"),
            "{duration: 1s}",
            "",
        ),
    );
    let started = std::time::Instant::now();
    let out = r.run(&["run", "s.yaml"]).expect(3);
    assert!(
        out.stderr
            .contains(&format!("cannot reach http://127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("rigor serve"),
        "the message says how to start a server: {}",
        out.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// A server that answers `/health` and misbehaves on every other request.
fn misbehaving_server(mode: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // Read one request: head, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    let reply = |stream: &mut std::net::TcpStream, status: &str, body: &str| {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                    };
                    if head.starts_with("get /health") {
                        reply(&mut stream, "200 OK", "{}");
                        continue;
                    }
                    match mode {
                        "500" => reply(
                            &mut stream,
                            "500 Internal Server Error",
                            r#"{"code":"internal_error"}"#,
                        ),
                        "404" => reply(
                            &mut stream,
                            "404 Not Found",
                            r#"{"code":"resource_not_found"}"#,
                        ),
                        "garbage" => reply(&mut stream, "200 OK", "not json"),
                        "drop" => return,
                        "reset" => {
                            // SO_LINGER 0: close sends a RST, not a FIN.
                            use std::os::fd::AsRawFd;
                            let linger = libc::linger {
                                l_onoff: 1,
                                l_linger: 0,
                            };
                            // SAFETY: setsockopt on this open socket with a valid linger struct.
                            unsafe {
                                libc::setsockopt(
                                    stream.as_raw_fd(),
                                    libc::SOL_SOCKET,
                                    libc::SO_LINGER,
                                    (&linger as *const libc::linger).cast(),
                                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                                );
                            }
                            return;
                        }
                        // Accepts, reads, never answers.
                        "hang" => {
                            std::thread::sleep(std::time::Duration::from_secs(30));
                            return;
                        }
                        _ => unreachable!(),
                    }
                }
            });
        }
    });
    url
}

#[test]
fn bad_endpoints_end_in_counted_errors_not_hangs() {
    for (mode, kind) in [
        ("500", "http_status"),
        ("404", "http_status"),
        ("garbage", "decode"),
        ("drop", "io"),
        ("reset", "io"),
        ("hang", "timeout"),
    ] {
        let url = misbehaving_server(mode);
        let r = Rigor::new();
        r.file("p.rego", RBAC).file(
            "s.yaml",
            &rbac_scenario(
                "bad",
                &format!("  - {{id: http, kind: opa-http, url: \"{url}\", timeout: 200ms}}\n"),
                "{concurrency: 2, duration: 500ms}",
                // Measured anyway: the gate would stop at the first failed request.
                "verify: false\nthresholds:\n  errors.rate: {critical: 0%}\n",
            ),
        );
        let started = std::time::Instant::now();
        // Every request failed: a failed target (exit 3), not a slow one.
        let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(3);
        assert!(
            out.stderr.contains("every operation failed"),
            "{mode}: {}",
            out.stderr
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{mode}: took {:?}",
            started.elapsed()
        );
        let res = results(&r.path("out/results.json"));
        let trial = &res.cases[0].targets[0].trials[0];
        assert!(trial.errors > 0, "{mode}: {trial:?}");
        assert_eq!(trial.operations, 0, "{mode}: no request succeeded");
        assert!(
            trial.error_kinds.get(kind).copied().unwrap_or(0) > 0,
            "{mode}: kinds {:?}",
            trial.error_kinds
        );
        assert!(!trial.error_messages.is_empty());
        assert!(out.stdout.contains("errors.rate"), "{mode}: {}", out.stdout);
    }
}

/// The cache workload on moka and on a real `redis-server` that rigor starts:
/// a zipfian workload over 10000 keys with room for the 1000 most popular.
fn cache_scenario(extra_target: &str) -> String {
    format!(
        "name: cache\n\
         cache: {{keys: 10000, distribution: zipfian, value_size: 64B..256B, capacity: [1000]}}\n\
         workload: {{concurrency: 1, warmup: 100ms, duration: 400ms, seed: 11}}\n\
         targets:\n\
         \x20 - {{id: moka, kind: moka}}\n\
         \x20 - {{id: redis, kind: redis, server: managed}}\n\
         {extra_target}"
    )
}

/// The best hit ratio any cache of `entries` entries can reach on
/// Zipf(10000, 0.99): the share of reads that go to the most popular keys.
fn ideal_hit_ratio(entries: usize) -> f64 {
    let w: Vec<f64> = (1..=10000).map(|k| (k as f64).powf(-0.99)).collect();
    w[..entries.min(10000)].iter().sum::<f64>() / w.iter().sum::<f64>()
}

#[test]
fn moka_and_a_managed_redis_run_the_cache_workload() {
    let r = Rigor::new();
    // The third target is Redis again, through blocking per-worker connections.
    r.file(
        "s.yaml",
        &cache_scenario("  - {id: blocking, kind: redis, server: managed, client: blocking}\n"),
    );
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(0);
    assert!(out.stdout.contains("hit ratio"), "{}", out.stdout);
    let res = results(&r.path("out/results.json"));
    assert_eq!(res.scenario.workload.seed, 11);
    let case = &res.cases[0];
    assert_eq!(case.capacity, Some(Capacity::Entries(1000)));
    assert_eq!(case.name, "capacity=1000 concurrency=1");
    for (i, id) in ["moka", "redis", "blocking"].iter().enumerate() {
        let t = &case.targets[i];
        assert_eq!(t.id, *id);
        let m = &t.metrics;
        assert_eq!(
            m["errors.count"],
            0.0,
            "{id}: {:?}",
            t.trials.first().map(|trial| &trial.error_messages)
        );
        // The preload wrote exactly the 1000 most popular keys.
        assert_eq!(m["cache.entries"], 1000.0, "{id}");
        // No cache beats the best possible for the entries it holds (Redis'
        // memory limit is approximate: it may hold a few more than 1000),
        // and a working one gets close to it.
        let held = m["cache.entries_end"].max(1000.0) as usize;
        let hit = m["cache.hit_ratio"];
        let (best, floor) = (ideal_hit_ratio(held), ideal_hit_ratio(1000) - 0.15);
        assert!(
            hit <= best + 0.02 && hit >= floor,
            "{id}: hit ratio {hit}, best {best} for {held} entries"
        );
        // A key plus its value is 70 to 264 bytes; an entry costs more, not
        // orders of magnitude more.
        let per_entry = m["cache.bytes_per_entry"];
        assert!(
            per_entry > 70.0 && per_entry < 4096.0,
            "{id}: {per_entry}B per entry"
        );
        let counts = &t.trials[0].kind_counts;
        assert_eq!(
            counts["hit"] + counts["miss"],
            t.trials[0].operations,
            "{id}: every operation is a read"
        );
    }
    for redis in &case.targets[1..] {
        assert!(
            redis.metrics["cache.entries_end"] < 1500.0,
            "Redis' maxmemory holds about the capacity"
        );
        // Redis operations are timed one by one: the per-kind split is there.
        for m in ["latency.get.p99", "latency.hit.p50", "latency.miss.p50"] {
            assert!(redis.metrics.contains_key(m), "redis lacks {m}");
        }
    }
    let redis = &case.targets[1];
    let note = redis.trials[0]
        .cache_after
        .as_ref()
        .unwrap()
        .capacity_note
        .as_deref()
        .unwrap();
    assert!(note.contains("maxmemory-policy allkeys-lfu"), "{note}");
    // The managed server is gone once rigor exits.
    let port: u16 = note
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {note}"));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "redis-server on port {port} still answers"
    );
}

#[test]
fn a_missing_redis_server_binary_says_how_to_install_it() {
    let r = Rigor::new();
    r.file(
        "s.yaml",
        "name: t\ncache: {keys: 10}\nworkload: {duration: 100ms}\n\
         targets: [{id: r, kind: redis, server: managed, redis_server: /nonexistent/redis-server}]\n",
    );
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(3);
    assert!(
        out.stderr.contains("is not installed")
            && out.stderr.contains("apt-get install redis-server"),
        "{}",
        out.stderr
    );
}

#[test]
fn decision_caches_answer_repeated_inputs_without_evaluating() {
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "s.yaml",
        "name: cached\n\
         policy: {files: [p.rego], query: data.rbac.allow}\n\
         inputs: [{inline: {user: alice}}, {inline: {user: bob}}, {inline: {user: carol}}]\n\
         inputs_distribution: zipfian\n\
         workload: {concurrency: 2, warmup: 100ms, duration: 300ms}\n\
         targets:\n\
         \x20 - {id: plain, kind: regorus}\n\
         \x20 - {id: moka, kind: regorus, cache: {kind: moka}}\n\
         \x20 - {id: redis, kind: regorus, engine: vm, cache: {kind: redis, server: managed}}\n\
         thresholds: {errors.rate: {critical: 0%}}\n",
    );
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(0);
    assert!(
        out.stdout.contains("inputs picked zipfian"),
        "{}",
        out.stdout
    );
    let res = results(&r.path("out/results.json"));
    let targets = &res.cases[0].targets;
    assert!(!targets[0].metrics.contains_key("cache.hit_ratio"));
    for i in [1, 2] {
        let t = &targets[i];
        // Three inputs, all cached during the warm-up: every measured lookup hits.
        assert_eq!(t.metrics["cache.hit_ratio"], 1.0, "{}", t.id);
        assert_eq!(t.metrics["cache.entries_end"], 3.0, "{}", t.id);
    }
    // Redis lookups (microseconds) are timed one by one; moka hits may be
    // fast enough to be timed in batches, which carry no per-kind split.
    assert!(targets[2].metrics.contains_key("latency.hit.p50"));
    assert_eq!(targets[2].trials[0].batch, 1);
}

#[test]
fn decision_cache_keys_on_part_of_the_input() {
    let r = Rigor::new();
    // Every request carries a unique id, as real ones do.
    let lines: String = (0..60)
        .map(|i| {
            let user = ["alice", "bob", "carol"][i % 3];
            format!("{{\"user\": \"{user}\", \"uid\": \"req-{i}\"}}\n")
        })
        .collect();
    r.file("p.rego", RBAC).file("reqs.jsonl", &lines).file(
        "s.yaml",
        "name: keyed\n\
         policy: {files: [p.rego], query: data.rbac.allow}\n\
         inputs: [reqs.jsonl]\n\
         workload: {duration: 200ms}\n\
         targets:\n\
         \x20 - {id: whole, kind: regorus, cache: {kind: moka}}\n\
         \x20 - {id: user, kind: regorus, cache: {kind: moka, key: [input.user]}}\n",
    );
    let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(0);
    assert!(
        out.stdout.contains("key [input.user]: 3 distinct key(s) over 60 input(s)")
            && out.stdout.contains("key the whole input: 60 distinct key(s) over 60 input(s) (every input is its own key"),
        "{}",
        out.stdout
    );
    let res = results(&r.path("out/results.json"));
    let t = &res.cases[0].targets;
    assert_eq!(t[0].metrics["cache.entries_end"], 60.0);
    assert_eq!(t[1].metrics["cache.entries_end"], 3.0);
    // A target's kind-specific configuration is kept as written: JSON in the model.
    assert_eq!(res.targets[1].config["cache"]["key"][0], "input.user");
    // A key that leaves out a field the decision depends on is refused.
    r.file(
        "bad.yaml",
        "name: bad\npolicy: {files: [p.rego], query: data.rbac.allow}\ninputs: [reqs.jsonl]\n\
         workload: {duration: 200ms}\ntargets: [{id: c, kind: regorus, cache: {kind: moka, key: [input.uid2]}}]\n",
    );
    let out = r.run(&["run", "bad.yaml", "--out", "bad"]).expect(2);
    assert!(
        out.stderr
            .contains("cache key [input.uid2] is not enough for this policy")
            && out.stderr.contains("would serve wrong decisions"),
        "{}",
        out.stderr
    );
}

/// A self-timed target (`kind: timed`: its operations report their
/// durations, nothing is timed) whose service time comes from the
/// environment, so a known slowdown can be injected without changing the
/// scenario (whose content hash is part of the environment a baseline must
/// match). Its figures follow from the seed, with a 2% drift between trials
/// for the statistics to weigh: the verdicts below cannot flake on a
/// loaded machine.
const SPIN_REGRESSION: &str = "name: spin-regression\n\
    workload: {concurrency: 1, warmup: 0s, iterations: 20000, trials: 8}\n\
    targets: [{id: spin, kind: timed, service_time: \"${SPIN_TIME:-50us}\", jitter: 5%, trial_jitter: 2%}]\n\
    regression: {threshold: 10%, metrics: {latency.p90: 30%, latency.p99: 50%}}\n\
    thresholds: {latency.p50: {target: 1ms}}\n";

fn run_with(r: &Rigor, spin: &str, args: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(args)
        .current_dir(r.dir.path())
        .env("NO_COLOR", "1")
        .env("SPIN_TIME", spin)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn check<'a>(res: &'a Results, metric: &str) -> &'a RegressionCheck {
    res.regression
        .as_ref()
        .expect("no regression report")
        .checks
        .iter()
        .find(|c| c.metric == metric)
        .unwrap_or_else(|| panic!("no check of {metric}"))
}

/// Issue 19's drill at the trial count people use: 3 trials a side. The
/// rank test cannot reach 5% there; Welch's t on log values decides.
#[test]
fn three_trials_fail_a_doubling_and_pass_identical_runs() {
    let r = Rigor::new();
    r.file("s.yaml", &SPIN_REGRESSION.replace("trials: 8", "trials: 3"));
    run_with(
        &r,
        "50us",
        &["run", "s.yaml", "--save-baseline", "b3", "--out", "base"],
    )
    .expect(0);
    // The HTML's first screen: headline numbers with the trials' interval,
    // and a bar per target whose whisker spans that interval.
    let html = std::fs::read_to_string(r.path("base/report.html")).unwrap();
    let glance = &html[html.find(r#"id="glance""#).expect("an At a glance section")..];
    let glance = &glance[..glance.find("<h2").unwrap_or(glance.len())];
    assert!(glance.contains("throughput (higher is better)"), "{glance}");
    assert!(glance.contains("latency p99 (lower is better)"), "{glance}");
    assert!(glance.matches("<rect ").count() >= 2, "bars: {glance}");
    assert!(glance.contains("<line x1="), "interval whiskers: {glance}");
    assert!(glance.contains("us ["), "values with intervals: {glance}");
    let verdicts = |dir: &str| -> RegressionCheck {
        let res = results(&r.path(&format!("{dir}/results.json")));
        check(&res, "latency.p50").clone()
    };
    // Identical: never FAIL (any p50 change of a busy-wait is noise).
    let same = run_with(
        &r,
        "50us",
        &["run", "s.yaml", "--baseline", "b3", "--out", "same"],
    );
    assert!(same.code == 0 || same.code == 4, "{}", same.stderr);
    assert!(
        same.stderr
            .contains("the rank test cannot reach 5% after Holm")
            && same
                .stderr
                .contains("trials per side let the rank test decide"),
        "the plan says the trials are few: {}",
        same.stderr
    );
    let p50 = verdicts("same");
    assert_ne!(p50.verdict, Verdict::Fail, "{p50:?}");
    let res = results(&r.path("same/results.json"));
    let regression = res.regression.as_ref().unwrap();
    assert!(
        regression
            .checks
            .iter()
            // The body of the distribution; a tail (p99) can move on a
            // shared machine between two runs, which the drill measures.
            .filter(|c| {
                ["throughput", "latency.mean", "latency.p50", "latency.p90"]
                    .contains(&c.metric.as_str())
            })
            .all(|c| c.verdict != Verdict::Fail),
        "identical runs FAILed: {regression:?}"
    );
    // +100%: FAIL at 3 trials, by Welch's t, with JUnit and Markdown showing it.
    run_with(
        &r,
        "100us",
        &[
            "run",
            "s.yaml",
            "--baseline",
            "b3",
            "--out",
            "slow",
            "--junit",
            "slow/j.xml",
            "--markdown",
            "slow/s.md",
        ],
    )
    .expect(4);
    let p50 = verdicts("slow");
    assert_eq!(p50.verdict, Verdict::Fail, "{p50:?}");
    assert_eq!(p50.test, "welch-t", "{p50:?}");
    assert!(p50.reason.contains("Welch's t"), "{p50:?}");
    let md = std::fs::read_to_string(r.path("slow/s.md")).unwrap();
    let headline = md.lines().next().unwrap();
    assert!(
        headline.contains("FAIL") && headline.contains("PASS"),
        "counts every check: {headline}"
    );
    // Throughput halves: read as a drop, and as worse.
    let res = results(&r.path("slow/results.json"));
    let throughput = check(&res, "throughput");
    assert_eq!(throughput.verdict, Verdict::Fail, "{throughput:?}");
    let line = md
        .lines()
        .find(|l| l.contains("| spin | `throughput`"))
        .unwrap_or_else(|| panic!("{md}"));
    assert_drop_of_about_half(line);
    // +20%: twice the threshold; the verdict is recorded (FAIL with spin's low noise).
    run_with(
        &r,
        "60us",
        &["run", "s.yaml", "--baseline", "b3", "--out", "plus20"],
    );
    let p50 = verdicts("plus20");
    assert_eq!(p50.verdict, Verdict::Fail, "{p50:?}");
}

#[test]
fn junit_shows_warns_and_changes_read_in_the_metric_direction() {
    let r = Rigor::new();
    // A target level no spin of 50us meets and a critical one it does: WARN.
    r.file(
        "s.yaml",
        &SPIN_REGRESSION.replace(
            "thresholds: {latency.p50: {target: 1ms}}",
            "thresholds: {latency.p50: {target: 10us, critical: 1ms}}",
        ),
    );
    run_with(
        &r,
        "50us",
        &["run", "s.yaml", "--save-baseline", "b", "--out", "base"],
    )
    .expect(0);
    run_with(
        &r,
        "100us",
        &[
            "run",
            "s.yaml",
            "--baseline",
            "b",
            "--out",
            "o",
            "--junit",
            "o/j.xml",
            "--markdown",
            "o/s.md",
        ],
    )
    .expect(4);
    let xml = std::fs::read_to_string(r.path("o/j.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let warned = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .find(|n| {
            n.attribute("name")
                .is_some_and(|a| a.ends_with("latency.p50") && !a.contains(" vs "))
        })
        .unwrap();
    assert!(
        warned
            .descendants()
            .any(|n| n.has_tag_name("property") && n.attribute("value") == Some("WARN")),
        "{xml}"
    );
    let out = warned
        .descendants()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .unwrap_or_default();
    assert!(out.starts_with("WARN: latency.p50"), "{out}");
    let md = std::fs::read_to_string(r.path("o/s.md")).unwrap();
    let throughput = md
        .lines()
        .find(|l| l.contains("`throughput`"))
        .unwrap_or_else(|| panic!("{md}"));
    // The throughput of a spin that doubled halves: a drop, marked worse.
    assert_drop_of_about_half(throughput);
}

/// A Markdown regression row whose change cell reads as a drop of about
/// half (-35% to -65%), marked worse.
fn assert_drop_of_about_half(row: &str) {
    let cell = row.split('|').nth(6).unwrap_or_default().trim();
    let change: f64 = cell
        .split('%')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no change in {row}"));
    assert!((-65.0..=-35.0).contains(&change), "{row}");
    assert!(cell.ends_with("worse"), "{row}");
}

#[test]
fn regressions_against_a_saved_baseline() {
    let r = Rigor::new();
    r.file("s.yaml", SPIN_REGRESSION);
    run_with(
        &r,
        "50us",
        &["run", "s.yaml", "--save-baseline", "main", "--out", "base"],
    )
    .expect(0);
    assert!(r
        .path("reports/baselines/spin-regression/main.json")
        .exists());

    // 50us -> 60us: a 20% regression, twice the threshold. Exit 4, not 1:
    // no threshold failed, a regression did.
    let slow = run_with(
        &r,
        "60us",
        &[
            "run",
            "s.yaml",
            "--baseline",
            "main",
            "--out",
            "slow",
            "--junit",
            "slow/junit.xml",
            "--markdown",
            "slow/summary.md",
        ],
    )
    .expect(4);
    assert!(
        slow.stdout.contains("against baseline main"),
        "{}",
        slow.stdout
    );
    let res = results(&r.path("slow/results.json"));
    let p50 = check(&res, "latency.p50");
    assert_eq!(p50.verdict, Verdict::Fail, "{p50:?}");
    let change = p50.change;
    assert!((change - 0.2).abs() < 0.03, "estimated change {change}");
    let interval = p50.interval.as_ref().unwrap();
    let (lo, hi) = (interval.low, interval.high);
    assert!(lo > 0.1 && lo <= change && change <= hi, "[{lo}, {hi}]");
    let regression = res.regression.as_ref().unwrap();
    assert_eq!(regression.verdict, Verdict::Fail);

    // The JUnit file is XML, one test case per check, failures carrying numbers.
    let xml = std::fs::read_to_string(r.path("slow/junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let checks = regression.checks.len();
    let grades = res.cases[0].targets[0].grades.len();
    assert_eq!(cases.len(), checks + grades);
    let failure = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .filter_map(|n| n.attribute("message"))
        .find(|m| m.starts_with("latency.p50"))
        .unwrap();
    // The numbers: the base and new medians (about 50us and 60us, as the
    // seed's trial drift drew them) and the change.
    let us = |ns: f64| format!("{:.2}us", ns / 1000.0);
    assert!(
        failure.contains(&format!("{} -> {}", us(p50.base), us(p50.new)))
            && failure.contains("+20.0%"),
        "{failure}"
    );
    let md = std::fs::read_to_string(r.path("slow/summary.md")).unwrap();
    assert!(
        md.contains("Against baseline `main`") && md.contains("FAIL"),
        "{md}"
    );

    // Re-rendering from the results file alone gives the same verdicts.
    let again = r.run(&["report", "slow/results.json"]).expect(4);
    for line in slow
        .stdout
        .lines()
        .filter(|l| l.contains("FAIL") || l.contains("PASS"))
    {
        assert!(again.stdout.contains(line), "re-render lost: {line}");
    }

    // 50us -> 51us: a 2% change must not FAIL.
    run_with(
        &r,
        "51us",
        &["run", "s.yaml", "--baseline", "main", "--out", "near"],
    )
    .expect(0);
    let res = results(&r.path("near/results.json"));
    assert_ne!(check(&res, "latency.p50").verdict, Verdict::Fail);
    assert_ne!(res.regression.as_ref().unwrap().verdict, Verdict::Fail);

    // The same system again: everything shown within the threshold.
    run_with(
        &r,
        "50us",
        &["run", "s.yaml", "--baseline", "main", "--out", "same"],
    )
    .expect(0);
    let res = results(&r.path("same/results.json"));
    // Nothing FAILs; the body of the distribution is shown within the
    // threshold (a tail may read "inconclusive" on a loaded machine: WARN).
    for c in &res.regression.as_ref().unwrap().checks {
        assert_ne!(c.verdict, Verdict::Fail, "{c:?}");
        if ["latency.p50", "latency.mean", "throughput"].contains(&c.metric.as_str()) {
            assert_eq!(c.verdict, Verdict::Pass, "{c:?}");
        }
    }

    // `rigor compare` shows the same regression, with geomean rows.
    let cmp = r
        .run(&["compare", "base/results.json", "slow/results.json"])
        .expect(4);
    assert!(cmp.stdout.contains("geomean latency.p50"), "{}", cmp.stdout);
    assert!(
        cmp.stdout.contains("FAIL concurrency=1 spin: latency.p50"),
        "{}",
        cmp.stdout
    );

    // A baseline from another machine still compares, capped at WARN, saying why.
    // The file is edited as raw JSON: the other machine's file as it would be written.
    let mut other = results_json(&r.path("base/results.json"));
    other["environment"]["cores"] = serde_json::json!(64);
    r.file("other.json", &other.to_string());
    let capped = r
        .run(&["compare", "other.json", "slow/results.json"])
        .expect(0);
    assert!(capped.stdout.contains("cores: 64 -> "), "{}", capped.stdout);
    assert!(capped.stdout.contains("capped"), "{}", capped.stdout);

    // A missing baseline is refused before anything runs, listing the saved ones.
    let missing = run_with(&r, "50us", &["run", "s.yaml", "--baseline", "nope"]).expect(2);
    assert!(missing.stderr.contains("saved: main"), "{}", missing.stderr);
}

#[test]
fn history_accumulates_and_full_mode_runs_an_aa_control() {
    let r = Rigor::new();
    r.file(
        "s.yaml",
        "name: hist\nworkload: {concurrency: 1, duration: 50ms, trials: 1}\n\
         targets: [{id: spin, kind: spin, service_time: 20us}]\n\
         modes: {full: {trials: 4, duration: 50ms, warmup: 10ms}}\n\
         thresholds: {latency.p99: {target: 1s}}\n",
    );
    r.run(&["run", "s.yaml", "--out", "a"]).expect(0);
    r.run(&["run", "s.yaml", "--mode", "full", "--out", "b"])
        .expect(0);
    let history = std::fs::read_to_string(r.path("reports/history/hist.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 2);
    let res = results(&r.path("b/results.json"));
    assert!(
        res.history.is_empty(),
        "earlier runs of the same mode only: the default run is another trend"
    );
    r.run(&["run", "s.yaml", "--out", "c"]).expect(0);
    let default_run = results(&r.path("c/results.json"));
    assert_eq!(default_run.history.len(), 1, "the first default run");
    // A quick run is not a point on any trend.
    r.run(&["run", "s.yaml", "--mode", "quick", "--out", "d"])
        .expect(0);
    let history = std::fs::read_to_string(r.path("reports/history/hist.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 3, "{history}");
    assert_eq!(res.scenario.workload.trials, 4, "the mode override applies");
    // Full mode measured the first target against a copy of itself.
    let ids: Vec<&str> = res.cases[0].targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["spin", "spin.aa"]);
    assert!(res.aa_control.as_ref().unwrap().checks.len() >= 4);
    let html = std::fs::read_to_string(r.path("b/report.html")).unwrap();
    assert!(
        html.contains("control (spin vs its copy spin.aa)"),
        "A/A line in the report"
    );
    let html = std::fs::read_to_string(r.path("c/report.html")).unwrap();
    assert!(
        html.contains("Trend over the last runs"),
        "trend chart drawn"
    );
}

#[test]
fn profile_mode_writes_a_flamegraph_of_the_targets() {
    let r = Rigor::new();
    r.file(
        "s.yaml",
        "name: prof\nworkload: {concurrency: 1, duration: 400ms}\n\
         targets: [{id: spin, kind: spin, service_time: 20us}]\n",
    );
    r.run(&["run", "s.yaml", "--mode", "profile", "--out", "o"])
        .expect(0);
    let svg = std::fs::read_to_string(r.path("o/flamegraph.svg")).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
    // The worker thread and the target's frames are in the profile.
    assert!(
        svg.contains("rigor-worker-0") && svg.contains("call"),
        "no worker frames in the flamegraph"
    );
    let res = results(&r.path("o/results.json"));
    assert_eq!(res.artifacts, ["flamegraph.svg", "alloc-flamegraph.svg"]);
    let html = std::fs::read_to_string(r.path("o/report.html")).unwrap();
    assert!(html.contains("href=\"flamegraph.svg\""));
    assert!(html.contains("href=\"alloc-flamegraph.svg\""));
}

/// The allocation profile against a known truth: `leak` allocates exactly
/// 1KiB per operation, so its estimated bytes must match 1KiB times the
/// operations it ran (per-op timing and no warm-up: no unmeasured
/// operations; about 400 samples, so 15% is three standard errors), and
/// its top call site must be the leak's own code.
#[test]
fn profile_mode_estimates_where_the_memory_goes() {
    let r = Rigor::new();
    r.file(
        "s.yaml",
        "name: prof\nworkload: {concurrency: 1, iterations: 200000, timing: per-op}\n\
         targets: [{id: leak, kind: leak, leak: 1KiB}, {id: noop, kind: noop}]\n",
    );
    let out = r
        .run(&[
            "run",
            "s.yaml",
            "--mode",
            "profile",
            "--out",
            "o",
            "--markdown",
            "s.md",
        ])
        .expect(0);
    let res = results(&r.path("o/results.json"));
    let p = res.alloc_profile.as_ref().expect("an allocation profile");
    let leak = p
        .targets
        .iter()
        .find(|t| t.id == "leak")
        .expect("leak sampled");
    let ops = res.cases[0]
        .targets
        .iter()
        .find(|t| t.id == "leak")
        .expect("leak ran")
        .trials[0]
        .operations as f64;
    let truth = ops * 1024.0;
    assert!(
        (leak.bytes / truth - 1.0).abs() < 0.15,
        "estimated {} bytes against {truth} ({} samples)",
        leak.bytes,
        leak.samples
    );
    assert!(leak.samples > 100, "{} samples", leak.samples);
    assert!(
        leak.by_bytes[0].site.contains("calibration") || leak.by_bytes[0].site.contains("Leak"),
        "top site: {:?}",
        leak.by_bytes[0]
    );
    assert!(leak.by_bytes[0].bytes > 0.9 * leak.bytes);
    // noop allocates nothing while it runs: at most a stray sample.
    let noop = p
        .targets
        .iter()
        .find(|t| t.id == "noop")
        .map_or(0.0, |t| t.bytes);
    assert!(noop < 0.01 * leak.bytes, "noop: {noop} bytes");
    let svg = std::fs::read_to_string(r.path("o/alloc-flamegraph.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("leak"));
    let html = std::fs::read_to_string(r.path("o/report.html")).unwrap();
    assert!(html.contains("Where the memory goes"));
    let md = std::fs::read_to_string(r.path("s.md")).unwrap();
    assert!(md.contains("### Allocation hotspots") && md.contains("**leak**"));
    assert!(
        out.stdout.contains("Where the memory goes"),
        "{}",
        out.stdout
    );
}

#[test]
fn hostile_names_render_escaped_and_no_script_runs() {
    // Scenario names and target ids are restricted by the loader (letters,
    // digits, `-`, `_`, `.`), so the hostile text rides in the description,
    // the inline inputs (shown in the scenario source) and the decisions
    // (the policy answers with the input's text); the ids use `_` and `.`,
    // which Markdown would otherwise read as emphasis.
    let script = "<script>document.title='pwned'</script>";
    let img = "\"><img src=x onerror=document.title='pwned'>";
    let r = Rigor::new();
    r.file(
        "p.rego",
        "package hostile\n\ndefault allow := \"none\"\n\nallow := input.msg if { input.msg }\n",
    )
    .file(
        "s.yaml",
        &format!(
            "name: hostile_names.1\n\
             description: \"{} {} A{{{{ 7*7 }}}}B {{% if true %}}T{{% endif %}} \\e[2J\\e]0;owned\\a\\r end\"\n\
             policy: {{files: [p.rego], query: data.hostile.allow}}\n\
             inputs:\n\
             \x20 - inline: {{msg: \"{script}\"}}\n\
             \x20 - inline: {{msg: \"{}\"}}\n\
             \x20 - inline: {{msg: \"A{{{{ 7*7 }}}}B \\e[31m red \\a\"}}\n\
             verify: true\n\
             workload: {{concurrency: 1, duration: 100ms, trials: 1}}\n\
             targets:\n\
             \x20 - {{id: noop_1.a, kind: noop}}\n\
             \x20 - {{id: rego_1.b, kind: regorus}}\n",
            script,
            img.replace('"', "\\\""),
            img.replace('"', "\\\""),
        ),
    );
    let out = r
        .run(&[
            "run",
            "s.yaml",
            "--out",
            "out",
            "--markdown",
            "out/s.md",
            "--junit",
            "out/j.xml",
        ])
        .expect(0);
    // The console report shows control characters instead of obeying them.
    assert!(
        !out.stdout.contains('\u{1b}'),
        "raw ESC on stdout:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("\\u{1b}[2J"), "{}", out.stdout);
    assert!(out.stdout.contains("A{{ 7*7 }}B"), "{}", out.stdout);

    // Markdown: HTML shown as text, `_` escaped, no control characters.
    let md = std::fs::read_to_string(r.path("out/s.md")).unwrap();
    assert!(!md.contains("<script") && !md.contains('\u{1b}'), "{md}");
    assert!(md.contains("rego\\_1.b"), "{md}");
    // JUnit: well-formed XML whose names read back as written.
    let xml = std::fs::read_to_string(r.path("out/j.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("valid JUnit XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("hostile_names.1"));
    assert!(doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .any(|n| n.attribute("name").unwrap().contains("rego_1.b")));

    // The HTML report in a real browser: no script of the user's runs.
    let html_path = r.path("out/report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains("&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;&#x2f;script&gt;"),
        "the description, escaped"
    );
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "chromium is not installed: run `just deps` (it installs chromium, which this test needs)"
    );
    let profile = r.path("chromium-profile");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", html_path.display()),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut dom).map(|_| dom)
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dom = reader.join().unwrap().unwrap();
    let title = dom
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| t)
        .unwrap_or_else(|| panic!("no <title> in the dumped DOM:\n{dom}"));
    assert!(!title.contains("pwned"), "a script ran: title `{title}`");
    assert!(title.starts_with("rigor"), "title `{title}`");
    let lower = dom.to_lowercase();
    assert!(!lower.contains("<script"), "a script element in the DOM");
    assert!(!lower.contains("<img"), "an img element in the DOM");
    assert!(
        !dom.contains("<script>document.title"),
        "unescaped user script in the DOM"
    );
    // Shown as text: the description, the source and the decisions.
    assert!(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"));
    assert!(
        dom.contains("A{{ 7*7 }}B") && !dom.contains("A49B"),
        "a template ran"
    );
    assert!(dom.contains("\\u{1b}[2J"), "control characters shown");
}

#[test]
fn guide_metric_table_is_the_catalogue() {
    use rigor_scenario::metrics::{Across, Gate, METRICS};
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenarios.md"),
    )
    .unwrap();
    let rows: Vec<Vec<&str>> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| metric | unit | better | trials | used for |"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert_eq!(
        rows.len(),
        METRICS.len(),
        "docs/scenarios.md's metric table is missing rows"
    );
    for (row, m) in rows.iter().zip(METRICS) {
        assert_eq!(
            row[0],
            format!("`{}`", m.name),
            "docs/scenarios.md's metric order"
        );
        let across = match m.across {
            Across::Pooled => "pooled",
            Across::Median => "median",
            Across::Max => "max",
        };
        assert_eq!(row[3], across, "{}", m.name);
        assert_eq!(row[4].contains("stats"), m.stats, "{}", m.name);
        assert_eq!(
            row[4].contains("gated-exact"),
            m.gate == Gate::Exact,
            "{}",
            m.name
        );
        assert_eq!(row[4].contains("gated"), m.gate != Gate::No, "{}", m.name);
        assert_eq!(row[4].contains("compared"), m.compared, "{}", m.name);
        assert_eq!(row[4].contains("history"), m.history, "{}", m.name);
        assert_eq!(row[5], m.description, "{}", m.name);
    }
}

/// On a terminal a live line is rewritten in place while a trial measures
/// (elapsed, ops/s, errors, memory, the run's time left); in a pipe or a CI
/// log there is none, and `--quiet` drops the per-trial lines too.
#[test]
fn a_live_progress_line_on_a_terminal_only() {
    let r = Rigor::new();
    r.file(
        "s.yaml",
        "name: live\nworkload: {warmup: 100ms, duration: 1200ms, trials: 2}\ntargets: [{id: spin, kind: spin, service_time: 10us}]\n",
    );
    // util-linux's `script` gives the run a pseudo-terminal.
    let rigor = env!("CARGO_BIN_EXE_rigor");
    let out = Command::new("script")
        .args([
            "-qec",
            &format!("{rigor} run s.yaml --out tty --color never"),
            "/dev/null",
        ])
        .current_dir(r.path(""))
        .output()
        .expect(
            "`script` (util-linux, Debian package `util-linux`) runs rigor on a pseudo-terminal",
        );
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(
        tty.contains("\r\x1b[2K[1/2] concurrency=1 trial 1/2 spin  "),
        "{tty}"
    );
    let live = tty
        .split('\r')
        .find(|l| l.contains(" ops/s  0 errors") && l.contains("run ETA"))
        .unwrap_or_else(|| panic!("no live line: {tty:?}"));
    assert!(live.contains("resident "), "{live}");
    let piped = r.run(&["run", "s.yaml", "--out", "piped"]).expect(0);
    assert!(!piped.stderr.contains('\x1b'), "{}", piped.stderr);
    assert!(
        piped.stderr.contains("[2/2] concurrency=1 trial 2/2 spin"),
        "{}",
        piped.stderr
    );
    let quiet = r
        .run(&["run", "s.yaml", "--out", "quiet", "--quiet"])
        .expect(0);
    assert!(!quiet.stderr.contains("trial 1/2"), "{}", quiet.stderr);
    assert!(quiet.stderr.contains("results in"), "{}", quiet.stderr);
}

/// Every run keeps its trials cut into windows over time: the windows
/// account for every operation, and the HTML report charts them.
#[test]
fn windows_over_time_account_for_every_operation() {
    let r = Rigor::new();
    r.file(
        "s.yaml",
        "name: win\nworkload: {concurrency: 2, duration: 600ms, trials: 2, window: 100ms}\n\
         targets: [{id: spin, kind: spin, service_time: 20us}, {id: noop, kind: noop}]\n",
    );
    r.run(&["run", "s.yaml", "--out", "o"]).expect(0);
    let res = results(&r.path("o/results.json"));
    for t in &res.cases[0].targets {
        for trial in &t.trials {
            let w = trial.windows.as_ref().expect("windows");
            assert_eq!(w.width_ns, 100_000_000);
            // 600ms of 100ms windows (a last sliver folds into the sixth).
            assert_eq!(w.windows.len(), 6, "{}: {:?}", t.id, w.windows.len());
            let ops: u64 = w.windows.iter().map(|x| x.operations).sum();
            let errors: u64 = w.windows.iter().map(|x| x.errors).sum();
            assert_eq!((ops, errors), (trial.operations, trial.errors), "{}", t.id);
            let span: u64 = w.windows.iter().map(|x| x.span_ns).sum();
            let elapsed = trial.elapsed_ns as f64;
            assert!(
                (span as f64 - elapsed).abs() < 0.01 * elapsed,
                "{span} vs {elapsed}"
            );
            for x in &w.windows {
                assert!(x.p50.unwrap() <= x.p99.unwrap() && x.p99.unwrap() <= x.max.unwrap());
            }
        }
    }
    let html = std::fs::read_to_string(r.path("o/report.html")).unwrap();
    let chart = &html[html
        .find("Throughput over time (100ms windows)")
        .expect("throughput chart")..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert_eq!(chart.matches("<polyline").count(), 2, "a line per target");
    assert!(
        chart.contains("trial 2"),
        "the second trial's boundary is marked"
    );
    assert!(html.contains("p99 latency over time"));
    assert!(
        !html.contains("Errors over time"),
        "no error chart without errors"
    );
}

/// The successful operations of target `i` over one trial's rounds.
fn round_operations(rounds: &[rigor_engine::paired::Round], i: usize) -> u64 {
    rounds
        .iter()
        .filter(|r| r.target as usize == i)
        .map(|r| r.operations)
        .sum()
}

/// Paired A/B: three self-timed targets alternate in rounds of one run; a
/// 50% slower one FAILs a 1% threshold (exit 4) with the change near its
/// truth, a copy of the baseline never FAILs a 10% one, and the rounds
/// account for every operation of each target.
#[test]
fn paired_rounds_catch_a_slower_version_and_pass_an_identical_one() {
    let r = Rigor::new();
    r.file(
        "s.yaml",
        "name: ab\nworkload: {concurrency: 1, warmup: 100ms, duration: 400ms, trials: 2, round: 5ms}\n\
         targets:\n\
         \x20 - {id: a, kind: timed, service_time: 20us, jitter: 5%}\n\
         \x20 - {id: same, kind: timed, service_time: 20us, jitter: 5%}\n\
         \x20 - {id: slow, kind: timed, service_time: 30us, jitter: 5%}\n\
         compare: {baseline: a, paired: true}\nregression: {threshold: 1%, metrics: {latency.mean: 10%}}\n",
    );
    let out = r
        .run(&[
            "run",
            "s.yaml",
            "--out",
            "o",
            "--markdown",
            "s.md",
            "--junit",
            "j.xml",
        ])
        .expect(4);
    let res = results(&r.path("o/results.json"));
    let p = res.paired.as_ref().expect("a paired report");
    let check = |id: &str| p.checks.iter().find(|c| c.target == id).expect(id);
    let slow = check("slow");
    assert_eq!(slow.verdict, Verdict::Fail, "{slow:?}");
    // 30us against 20us: +50%, with the loop's own cost on both sides.
    assert!((slow.change - 0.5).abs() < 0.1, "{}", slow.change);
    assert_ne!(check("same").verdict, Verdict::Fail, "{:?}", check("same"));
    assert!(check("same").interval.is_some() && check("same").detectable.is_some());
    let case = &res.cases[0];
    assert_eq!(case.rounds.len(), 2, "rounds of each trial");
    for (i, t) in case.targets.iter().enumerate() {
        assert_eq!(t.trials.len(), 2);
        for (trial, rounds) in t.trials.iter().zip(&case.rounds) {
            let ops = round_operations(rounds, i);
            assert_eq!(
                ops, trial.operations,
                "{}: rounds hold every operation",
                t.id
            );
            // Its own time is what its operations reported: about their
            // count times the service time.
            let service = [20_000.0, 20_000.0, 30_000.0][i];
            let expected = trial.operations as f64 * service;
            assert!(
                (trial.elapsed_ns as f64 - expected).abs() < 0.01 * expected,
                "{}: {} ns for {} operations",
                t.id,
                trial.elapsed_ns,
                trial.operations
            );
        }
    }
    // Every round keeps its own latency histogram's figures: a median
    // near its service time (5% spread, the histogram's precision), the
    // slow one's 1.5 times the others'.
    for r in case.rounds.iter().flatten() {
        let (p50, p99, max) = (r.p50_ns.unwrap(), r.p99_ns.unwrap(), r.max_ns.unwrap());
        assert!(p50 <= p99 && p99 <= max, "{r:?}");
        let service = [20_000.0, 20_000.0, 30_000.0][r.target as usize];
        assert!(p50 > service * 0.96 && p50 < service * 1.2, "{r:?}");
    }
    // ABBA: in each block of 6 rounds every target runs twice.
    for block in case.rounds[0].chunks(6) {
        for t in 0..3 {
            assert_eq!(block.iter().filter(|r| r.target == t).count(), 2);
        }
    }
    assert!(
        out.stdout.contains("Paired A/B against a"),
        "{}",
        out.stdout
    );
    let html = std::fs::read_to_string(r.path("o/report.html")).unwrap();
    // The HTML escapes `/` as an entity.
    assert!(html.replace("&#x2f;", "/").contains("Paired A/B against a"));
    let md = std::fs::read_to_string(r.path("s.md")).unwrap();
    assert!(md.contains("### Paired A/B against `a`"), "{md}");
    let junit = std::fs::read_to_string(r.path("j.xml")).unwrap();
    assert!(junit.contains("ab.paired.slow"));
}

/// A target's own `policy:` replaces the scenario's for that target only,
/// and its decisions are checked like any target's.
#[test]
fn a_target_may_carry_its_own_policy() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    r.file(
        "q.rego",
        "package rbac\n\ndefault allow := false\n\nallow if input.user == \"bob\"\n",
    );
    let scenario = |verify: &str| {
        format!(
            "name: own\npolicy: {{files: [p.rego], query: data.rbac.allow}}\n\
             inputs: [{{inline: {{user: alice}}}}]\nworkload: {{duration: 100ms}}\n{verify}\
             targets:\n\
             \x20 - {{id: v1, kind: regorus}}\n\
             \x20 - {{id: v2, kind: regorus, policy: {{files: [q.rego], query: data.rbac.allow}}}}\n"
        )
    };
    r.file("gate.yaml", &scenario(""));
    // alice is allowed by v1 and not by v2: the gate stops before timing.
    let out = r.run(&["run", "gate.yaml", "--out", "g"]).expect(3);
    assert!(out.stderr.contains("nothing was timed"), "{}", out.stderr);
    r.file("warn.yaml", &scenario("verify: warn\n"));
    r.run(&["run", "warn.yaml", "--out", "w"]).expect(0);
    let res = results(&r.path("w/results.json"));
    let v = res.verification.as_ref().unwrap();
    assert_eq!(v.disagreements, 1, "{v:?}");
    let answers = &v.answers[0].answers;
    assert_eq!(
        (answers["v1"].as_str(), answers["v2"].as_str()),
        ("true", "false")
    );
}

/// `--against REV`: each regorus target gets a copy with the policy as
/// committed at REV (read with git, the working tree untouched), compared
/// with it in paired rounds; a revision that does not exist is refused
/// before anything runs.
#[test]
fn against_a_git_revision_compares_each_target_with_its_committed_policy() {
    let r = Rigor::new();
    // The policy lives beside the scenario's folder, not in it.
    r.file("policies/p.rego", RBAC);
    r.file(
        "bench/s.yaml",
        "name: ag\npolicy: {files: [../policies/p.rego], query: data.rbac.allow}\n\
         inputs: [{inline: {user: alice}}, {inline: {user: bob}}]\n\
         workload: {concurrency: 1, duration: 400ms}\n\
         targets: [{id: vm, kind: regorus, engine: vm}, {id: noop, kind: noop}]\n",
    );
    r.commit_all();
    // The working tree's policy does more work and answers the same.
    r.file(
        "policies/p.rego",
        "package rbac\n\ndefault allow := false\n\nallow if {\n\tcount([x | some x in numbers.range(1, 50)]) > 0\n\tinput.user == \"alice\"\n}\n",
    );
    r.run(&["run", "bench/s.yaml", "--against", "HEAD", "--out", "o"]);
    let res = results(&r.path("o/results.json"));
    assert_eq!(res.pairs, [("vm@HEAD".to_string(), "vm".to_string())]);
    let ids: Vec<&str> = res.targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["vm", "noop", "vm@HEAD"]);
    let check = &res.paired.as_ref().expect("paired report").checks[0];
    assert_eq!(check.target, "vm");
    // The committed policy is the cheaper one: the working tree's is slower.
    assert!(check.change > 0.0, "{check:?}");
    assert!(!res.cases[0].rounds.is_empty());
    // The working tree was not touched.
    assert!(std::fs::read_to_string(r.path("policies/p.rego"))
        .unwrap()
        .contains("numbers.range"));
    let bad = r
        .run(&[
            "run",
            "bench/s.yaml",
            "--against",
            "no-such-rev",
            "--out",
            "b",
        ])
        .expect(2);
    assert!(
        bad.stderr.contains("`no-such-rev` is not a commit"),
        "{}",
        bad.stderr
    );
}

/// benchstat, installed by `just deps` into Go's bin directory.
fn benchstat() -> PathBuf {
    let gopath = std::process::Command::new("go")
        .args(["env", "GOPATH"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let path = Path::new(&gopath).join("bin/benchstat");
    assert!(
        path.is_file(),
        "benchstat is not installed: run `just deps` (looked for {})",
        path.display()
    );
    path
}

/// `rigor export --format gobench` writes each round in Go's benchmark
/// format, and benchstat reads it and agrees with rigor: the slower
/// version is slower, significantly, by about as much; the identical one
/// is not changed by more than a few percent.
#[test]
fn benchstat_agrees_with_the_paired_comparison() {
    let r = Rigor::new();
    r.file(
        "s.yaml",
        "name: ab-export\nworkload: {concurrency: 1, duration: 400ms, round: 5ms}\n\
         targets:\n\
         \x20 - {id: a, kind: timed, service_time: 20us, jitter: 5%}\n\
         \x20 - {id: slow, kind: timed, service_time: 24us, jitter: 5%}\n\
         compare: {baseline: a, paired: true}\nregression: {threshold: 5%}\n",
    );
    r.run(&["run", "s.yaml", "--out", "o"]).expect(4);
    let res = results(&r.path("o/results.json"));
    let check = &res.paired.as_ref().unwrap().checks[0];
    assert_eq!(check.verdict, Verdict::Fail);
    r.run(&[
        "export",
        "o/results.json",
        "--format",
        "gobench",
        "--out",
        "g.txt",
    ])
    .expect(0);
    let text = std::fs::read_to_string(r.path("g.txt")).unwrap();
    // The baseline's rounds come first.
    assert!(text.find("target: a").unwrap() < text.find("target: slow").unwrap());
    let rounds: usize = res.cases[0].rounds.iter().map(Vec::len).sum();
    assert_eq!(text.matches(" ns/op").count(), rounds);
    let out = std::process::Command::new(benchstat())
        .args(["-col", "target"])
        .arg(r.path("g.txt"))
        .output()
        .expect("benchstat runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    let row = table
        .lines()
        .find(|l| l.contains("concurrency=1") && !l.contains("vs base") && l.contains('%'))
        .unwrap_or_else(|| panic!("no benchmark row in\n{table}"));
    // `... +20.01% (p=0.000 n=100)`: same direction, significant, close.
    let delta: f64 = row
        .split_whitespace()
        .find(|w| w.starts_with('+') || w.starts_with('-'))
        .and_then(|w| w.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("no change in {row:?}"));
    let p: f64 = row
        .split("p=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no p in {row:?}"));
    assert!(delta > 0.0 && check.change > 0.0, "{row} vs {check:?}");
    assert!(
        p < 0.05 && check.p_value.unwrap() < 0.05,
        "{row} vs {check:?}"
    );
    assert!(
        (delta / 100.0 - check.change).abs() < 0.05,
        "{row} vs {check:?}"
    );
}

/// Paired rounds take servers too: two `opa-http` targets against two
/// `rigor serve`s and a `redis` target, alternating with an embedded
/// engine; each thread connects before the clock starts, every round's
/// operations are accounted, and identical servers are not told apart.
#[test]
fn paired_rounds_alternate_servers_and_engines() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    let (a, b) = (
        Served::start(r.dir.path(), None),
        Served::start(r.dir.path(), None),
    );
    let port = free_port();
    let _redis = start_redis(port, &[]);
    r.file(
        "s.yaml",
        &format!(
            "name: pair-http\npolicy: {{files: [p.rego], query: data.rbac.allow}}\n\
             inputs: [{{inline: {{user: alice}}}}, {{inline: {{user: bob}}}}]\n\
             workload: {{concurrency: 2, warmup: 100ms, duration: 1s, trials: 2, round: 10ms}}\n\
             targets:\n\
             \x20 - {{id: a, kind: opa-http, url: '{}', upload: true}}\n\
             \x20 - {{id: b, kind: opa-http, url: '{}', upload: true}}\n\
             \x20 - {{id: embedded, kind: regorus}}\n\
             compare: {{baseline: a, paired: true}}\nregression: {{threshold: 25%}}\n",
            a.url, b.url
        ),
    );
    let out = r.run(&["run", "s.yaml", "--out", "o"]);
    let res = results(&r.path("o/results.json"));
    assert!(res.errors.is_empty(), "{:?}\n{}", res.errors, out.stderr);
    let p = res.paired.as_ref().expect("a paired report");
    let check = |id: &str| p.checks.iter().find(|c| c.target == id).expect(id);
    assert_ne!(check("b").verdict, Verdict::Fail, "{:?}", check("b"));
    // In process is faster than over HTTP: far beyond any threshold.
    assert!(check("embedded").change < -0.5, "{:?}", check("embedded"));
    let case = &res.cases[0];
    for (i, t) in case.targets.iter().enumerate() {
        for (trial, rounds) in t.trials.iter().zip(&case.rounds) {
            let ops = round_operations(rounds, i);
            assert!(ops > 0 && ops == trial.operations, "{}", t.id);
        }
    }
    // A Redis takes rounds beside an in-process cache.
    r.file(
        "c.yaml",
        &format!(
            "name: pair-cache\ncache: {{keys: 1000, distribution: uniform, value_size: 32B, preload: true}}\n\
             workload: {{concurrency: 1, warmup: 100ms, duration: 500ms, round: 10ms}}\n\
             targets:\n\
             \x20 - {{id: moka, kind: moka}}\n\
             \x20 - {{id: redis, kind: redis, url: 'redis://127.0.0.1:{port}', flush: true}}\n\
             compare: {{baseline: moka, paired: true}}\n"
        ),
    );
    r.run(&["run", "c.yaml", "--out", "c"]);
    let res = results(&r.path("c/results.json"));
    assert!(res.errors.is_empty(), "{:?}", res.errors);
    let redis = &res.cases[0].targets[1];
    assert!(redis.trials[0].operations > 0);
    assert!(
        redis.metrics["cache.hit_ratio"] > 0.99,
        "{:?}",
        redis.metrics
    );
    assert!(res.paired.as_ref().unwrap().checks[0].change > 0.5);
}
