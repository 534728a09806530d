//! Every exit path keeps its promises (issue 28): closed pipes, runs that
//! stop before timing, server counters by host name, `validate` with the
//! run's flags, paired rounds by default, and `print()` treated alike.

use super::*;

/// Two spin targets: quick, and PASS on any machine.
fn spin_scenario(extra: &str) -> String {
    format!(
        "name: spins\n\
         workload: {{concurrency: 1, warmup: 20ms, duration: 150ms, trials: 2}}\n\
         targets:\n\
         \x20 - {{id: a, kind: spin, service_time: 20us}}\n\
         \x20 - {{id: b, kind: spin, service_time: 20us}}\n\
         thresholds:\n\
         \x20 errors.rate: {{critical: 0%}}\n{extra}"
    )
}

fn shell(r: &Rigor, script: &str) -> Outcome {
    Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {script}")])
        .env("RIGOR", env!("CARGO_BIN_EXE_rigor"))
        .env("NO_COLOR", "1")
        .current_dir(r.dir.path())
        .output()
        .unwrap()
        .into()
}

#[test]
fn a_closed_pipe_never_ends_a_run() {
    let r = Rigor::new();
    r.file("s.yaml", &spin_scenario(""));
    for (out, shape) in [
        ("both", "\"$RIGOR\" run s.yaml --out both 2>&1 | head -1"),
        ("stdout", "\"$RIGOR\" run s.yaml --out stdout | head -1"),
        (
            "closed",
            "\"$RIGOR\" run s.yaml --out closed 2>&- | head -1",
        ),
    ] {
        let o = shell(&r, shape);
        // The verdict's exit code (PASS), not a panic's 101.
        assert_eq!(o.code, 0, "{shape}: {}", o.stderr);
        let res = results(&r.path(&format!("{out}/results.json")));
        assert_eq!(res.status, RunStatus::Complete, "{shape}");
        assert_eq!(res.cases[0].targets.len(), 2);
        for t in &res.cases[0].targets {
            assert_eq!(t.trials.len(), 2, "{shape}: {}", t.id);
        }
        assert!(r.path(&format!("{out}/report.html")).is_file(), "{shape}");
    }
}

/// A JUnit file a CI reader accepts, with one `<error>` whose message has `text`.
fn junit_error(path: &Path, text: &str) {
    let xml = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&xml)
        .unwrap_or_else(|e| panic!("{}: not XML ({e}): {xml:?}", path.display()));
    let errors: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .filter_map(|n| n.attribute("message"))
        .collect();
    assert_eq!(errors.len(), 1, "{xml}");
    assert!(errors[0].contains(text), "{text} not in {}", errors[0]);
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("errors"), Some("1"));
}

#[test]
fn a_run_stopped_before_timing_still_writes_every_output() {
    let r = Rigor::new();
    // The gate stops it: the server answers 500 to every decision (exit 3).
    let url = misbehaving_server("500");
    r.file("p.rego", RBAC).file(
        "gate.yaml",
        &rbac_scenario(
            "gate",
            &format!("  - {{id: o, kind: opa-http, url: \"{url}\"}}\n"),
            "{concurrency: 1, duration: 200ms}",
            "",
        ),
    );
    r.run(&[
        "run",
        "gate.yaml",
        "--out",
        "gate",
        "--junit",
        "ci/j.xml",
        "--markdown",
        "ci/s.md",
    ])
    .expect(3);
    junit_error(&r.path("ci/j.xml"), "answered 500");
    let md = std::fs::read_to_string(r.path("ci/s.md")).unwrap();
    assert!(md.contains("**Stopped:**"), "{md}");
    assert!(md.contains("Nothing was measured"), "{md}");
    let res = results(&r.path("gate/results.json"));
    assert_eq!(res.status, RunStatus::Stopped);
    assert!(res.stop_reason.as_deref().unwrap().contains("answered 500"));
    assert!(res.cases.is_empty());
    assert_eq!(res.exit_code(), 3);
    // The gate's own outcome is kept for the record.
    assert_eq!(res.verification.as_ref().unwrap().failed, 3);

    // A target that does not build: exit 2 as before, and the outputs say why.
    r.file(
        "bad.rego",
        "package rbac\n\nallow if {\n  input.user ==\n}\n",
    )
    .file(
        "build.yaml",
        "name: build\n\
             policy: {files: [bad.rego], query: data.rbac.allow}\n\
             inputs: [{inline: {user: alice}}]\n\
             workload: {concurrency: 1, duration: 200ms}\n\
             targets: [{id: vm, kind: regorus, engine: vm}]\n",
    );
    r.run(&[
        "run",
        "build.yaml",
        "--out",
        "build",
        "--junit",
        "ci/b.xml",
        "--markdown",
        "ci/b.md",
    ])
    .expect(2);
    junit_error(&r.path("ci/b.xml"), "bad.rego");
    assert!(std::fs::read_to_string(r.path("ci/b.md"))
        .unwrap()
        .contains("**Stopped:**"));
    let res = results(&r.path("build/results.json"));
    assert_eq!(res.status, RunStatus::Stopped);
    assert_eq!(res.targets[0].id, "vm");
    // `rigor report` re-renders it and exits as the run did (a stopped run fails).
    r.run(&["report", "build/results.json"]).expect(3);
}

#[test]
fn validate_takes_set_and_only_like_run() {
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "s.yaml",
        &rbac_scenario(
            "v",
            "  - {id: vm, kind: regorus, engine: vm}\n  - {id: i, kind: regorus}\n",
            "{concurrency: 1, duration: 1s}",
            "",
        ),
    );
    let o = r
        .run(&[
            "validate",
            "s.yaml",
            "--set",
            "workload.duration=2s",
            "--only",
            "vm",
        ])
        .expect(0);
    assert!(o.stdout.contains("1 target(s)"), "{}", o.stdout);
    // Same meaning as run's: a bad override and an unknown id are refused.
    let o = r
        .run(&["validate", "s.yaml", "--set", "workload.duration=fast"])
        .expect(2);
    assert!(o.stderr.contains("--set"), "{}", o.stderr);
    let o = r.run(&["validate", "s.yaml", "--only", "nope"]).expect(2);
    assert!(o.stderr.contains("nope"), "{}", o.stderr);
}

#[test]
fn a_comparison_with_a_regression_threshold_is_paired_by_default() {
    let r = Rigor::new();
    // b is 20% slower than a, far beyond the 1% threshold.
    let scenario = |paired: &str| {
        format!(
            "name: twins\n\
             workload: {{concurrency: 1, warmup: 20ms, duration: 400ms, trials: 1}}\n\
             targets:\n\
             \x20 - {{id: a, kind: spin, service_time: 50us}}\n\
             \x20 - {{id: b, kind: spin, service_time: 60us}}\n\
             compare: {{baseline: a{paired}}}\n\
             regression: {{threshold: 1%}}\n"
        )
    };
    r.file("default.yaml", &scenario(""))
        .file("off.yaml", &scenario(", paired: false"));
    let o = r
        .run(&["run", "default.yaml", "--out", "d", "--markdown", "d.md"])
        .expect(4);
    let res = results(&r.path("d/results.json"));
    assert!(res.regression_config.paired_by_default);
    let paired = res.paired.as_ref().expect("paired rounds by default");
    assert_eq!(paired.verdict, Verdict::Fail);
    assert!(!res.cases[0].rounds.is_empty());
    // The report says which method produced the verdict.
    let md = std::fs::read_to_string(r.path("d.md")).unwrap();
    assert!(md.contains("paired by default"), "{md}");
    assert!(o.stdout.contains("paired by default"), "{}", o.stdout);

    // `paired: false` keeps the trial-median comparison, graded on nothing.
    r.run(&["run", "off.yaml", "--out", "o"]).expect(0);
    let res = results(&r.path("o/results.json"));
    assert!(res.paired.is_none());
    assert!(!res.regression_config.paired_by_default);
}

const PRINTING: &str = "package rbac\n\n\
    default allow := false\n\n\
    allow if {\n\
    \tprint(\"checking\", input.user,\n\
    \t  input.action)\n\
    \tinput.user == \"alice\"\n\
    }\n";

#[test]
fn print_calls_are_erased_alike_or_kept_and_their_cost_is_said() {
    let r = Rigor::new();
    let scenario = |prints: &str| {
        format!(
            "name: prints\n\
             policy: {{files: [p.rego], query: data.rbac.allow{prints}}}\n\
             inputs: [{{inline: {{user: alice, action: read}}, expect: true}}, {{inline: {{user: bob}}, expect: false}}]\n\
             workload: {{concurrency: 1, warmup: 20ms, duration: 200ms}}\n\
             targets:\n\
             \x20 - {{id: vm, kind: regorus, engine: vm}}\n\
             \x20 - {{id: i, kind: regorus}}\n"
        )
    };
    r.file("p.rego", PRINTING)
        .file("erase.yaml", &scenario(""))
        .file("keep.yaml", &scenario(", prints: keep"));
    // Erased (the default): regorus' VM, which cannot compile print(),
    // runs the policy as OPA's library would compile it.
    let o = r.run(&["run", "erase.yaml", "--out", "e"]).expect(0);
    assert!(
        o.stderr.contains("1 print() call(s), erased"),
        "{}",
        o.stderr
    );
    let res = results(&r.path("e/results.json"));
    let prints = res.scenario.prints.as_ref().expect("prints recorded");
    assert_eq!(prints.mode, rigor_scenario::model::Prints::Erase);
    assert_eq!(prints.calls, 1);
    assert!(prints.kept_cost.is_some_and(|c| c > 0.0), "{prints:?}");
    assert!(res.cases[0].targets.iter().all(|t| t.error.is_none()));

    // Kept: the interpreter evaluates them (its print lines are gathered),
    // and the VM says plainly it cannot compile them.
    let o = r
        .run(&["run", "keep.yaml", "--only", "i", "--out", "k"])
        .expect(0);
    assert!(
        o.stderr.contains("kept (`policy.prints: keep`)"),
        "{}",
        o.stderr
    );
    let res = results(&r.path("k/results.json"));
    assert_eq!(
        res.scenario.prints.as_ref().unwrap().mode,
        rigor_scenario::model::Prints::Keep
    );
    let o = r.run(&["validate", "keep.yaml", "--only", "vm"]);
    assert_ne!(o.code, 0, "the VM compiled print(): {}", o.stdout);
}

#[test]
fn a_server_without_metrics_is_a_note_never_silence() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    let served = Served::start(r.dir.path(), None);
    // By host name: the control client resolves it.
    let url = served.url.replace("127.0.0.1", "localhost");
    r.file(
        "s.yaml",
        &rbac_scenario(
            "named",
            &format!("  - {{id: o, kind: opa-http, url: \"{url}\", upload: true}}\n"),
            "{concurrency: 1, warmup: 20ms, duration: 200ms}",
            "",
        ),
    );
    let o = r
        .run(&["run", "s.yaml", "--out", "out", "--markdown", "s.md"])
        .expect(0);
    let res = results(&r.path("out/results.json"));
    let t = &res.cases[0].targets[0];
    assert!(t.trials[0].operations > 0);
    let notes = t.trial_notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("server counters"), "{notes:?}");
    assert!(notes[0].contains("/metrics"), "{notes:?}");
    for text in [&o.stdout, &std::fs::read_to_string(r.path("s.md")).unwrap()] {
        assert!(text.contains("server counters"), "{text}");
    }
}
