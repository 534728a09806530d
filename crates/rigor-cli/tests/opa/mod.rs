//! End-to-end tests against the real OPA (`opa run --server`, `opa bench`),
//! pinned to the release `just deps` and `.ci/run` install.

use super::*;
use rigor_scenario::plan::VerifyMode;

/// The `opa` binary rigor will find (PATH, then where `go install` puts it);
/// a test that needs it fails with how to install it.
pub(super) fn require_opa() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(g) = std::env::var_os("GOPATH") {
        dirs.extend(std::env::split_paths(&g).map(|p| p.join("bin")));
    }
    if let Some(h) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(h).join("go/bin"));
    }
    dirs.iter()
        .map(|d| d.join("opa"))
        .find(|p| p.is_file())
        .expect("these tests run the real OPA: `just deps`, or `go install github.com/open-policy-agent/opa@v1.22.3`")
}

fn metric(target: &TargetResult, name: &str) -> f64 {
    target
        .metrics
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("{} has no {name}: {:?}", target.id, target.metrics))
}

fn target<'a>(res: &'a Results, case: usize, id: &str) -> &'a TargetResult {
    res.cases[case]
        .targets
        .iter()
        .find(|t| t.id == id)
        .unwrap_or_else(|| panic!("no target {id}"))
}

#[test]
fn regorus_beside_the_real_opa_over_http_and_in_process() {
    let _ = require_opa();
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "s.yaml",
        "name: vs-opa\n\
         policy: {files: [p.rego], query: data.rbac.allow}\n\
         inputs: [{inline: {user: alice}, expect: true}, {inline: {user: bob}, expect: false}]\n\
         workload: {concurrency: [1, 2], warmup: 100ms, duration: 500ms, trials: 1}\n\
         targets:\n\
         \x20 - {id: vm, kind: regorus, engine: vm}\n\
         \x20 - {id: opa, kind: opa-http, server: managed}\n\
         \x20 - {id: bench, kind: opa-bench, max_inputs: 1}\n\
         compare: {baseline: opa}\n",
    );
    let mut live = Live::start(&r, &["run", "s.yaml", "--out", "out"]);
    live.wait_for("trial 1/1 opa");
    let servers = children_named(live.child.id(), "opa");
    assert_eq!(servers.len(), 1, "one managed OPA: {servers:?}");
    // Each `opa bench` takes 10-20 s here: Go's 1 s loop plus OPA's
    // stop-the-world memory reads around every iteration.
    let (code, stderr) = live.finish_within(180);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !running(servers[0]),
        "the managed OPA {} outlived the run",
        servers[0]
    );

    let res = results(&r.path("out/results.json"));
    let peer = &res.environment.peers["opa"];
    assert!(peer.starts_with("1.22.3"), "{peer}");
    // Every target answered both inputs, OPA included, before timing.
    let v = res.verification.as_ref().unwrap();
    assert_eq!(v.disagreements, 0);
    for id in ["vm", "opa", "bench"] {
        assert_eq!(v.summaries[id]["true"], 1, "{id}: {v:?}");
        assert_eq!(v.summaries[id]["false"], 1, "{id}: {v:?}");
    }
    for case in 0..2 {
        // The server's own view of each request sits inside the client's.
        let opa = target(&res, case, "opa");
        let (eval, handler, client) = (
            metric(opa, "server.eval.mean"),
            metric(opa, "server.handler.mean"),
            metric(opa, "latency.mean"),
        );
        assert!(
            0.0 < eval && eval <= handler && handler < client,
            "eval {eval} <= handler {handler} < client {client}"
        );
        let share = metric(opa, "server.eval_share");
        assert!(
            (eval / client - share).abs() < 1e-9 && share < 1.0,
            "{share}"
        );
        assert!(metric(opa, "server.eval.p99") >= metric(opa, "server.eval.p50"));
        // Go's heap per request: a Data API request allocates something.
        assert!(metric(opa, "server.memory.bytes_per_op") > 100.0);
        assert!(metric(opa, "server.memory.allocs_per_op") >= 1.0);
        assert!(metric(opa, "server.gc_per_1k") >= 0.0);
        assert!(metric(opa, "server.memory.heap_inuse") > 1e5);

        // opa bench: its own loop, its figures, no histogram of rigor's.
        let bench = target(&res, case, "bench");
        let trial = &bench.trials[0];
        assert!(trial.operations > 100, "{trial:?}");
        assert_eq!(trial.histogram, "");
        let mean = metric(bench, "latency.mean");
        assert!(mean > 0.0 && metric(bench, "latency.p50") > 0.0);
        assert!(metric(bench, "latency.p99") >= metric(bench, "latency.p50"));
        let throughput = metric(bench, "throughput");
        let copies = (case + 1) as f64;
        assert!(
            (throughput - copies * 1e9 / mean).abs() / throughput < 1e-9,
            "{copies} process(es): {throughput} ops/s at {mean} ns/op"
        );
        assert!(metric(bench, "memory.bytes_per_op") > 0.0);
        assert!(metric(bench, "memory.allocs_per_op") > 0.0);
        // Compared with OPA over HTTP like any target.
        let ratios = &bench.ratios;
        assert!(
            ratios.iter().any(|r| r.metric == "latency.mean"),
            "{ratios:?}"
        );
    }
    let method = res.targets[2].method.as_deref().unwrap();
    assert!(method.contains("opa bench"), "{method}");
    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    assert!(html.contains("server&#x27;s view") || html.contains("server's view"));
    assert!(html.contains("1.22.3"));
}

#[test]
fn ctrl_c_stops_the_managed_opa() {
    let _ = require_opa();
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "s.yaml",
        "name: t\npolicy: {files: [p.rego], query: data.rbac.allow}\n\
         inputs: [{inline: {user: alice}}]\n\
         workload: {concurrency: 1, warmup: 0s, duration: 20s}\n\
         targets: [{id: opa, kind: opa-http, server: managed}]\n",
    );
    let mut live = Live::start(&r, &["run", "s.yaml", "--out", "out"]);
    live.wait_for("trial 1/1 opa");
    let servers = children_named(live.child.id(), "opa");
    assert_eq!(servers.len(), 1, "{servers:?}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    live.signal(libc::SIGINT);
    let (code, stderr) = live.finish();
    assert_eq!(code, 3, "interrupted is exit 3\n{stderr}");
    let res = results(&r.path("out/results.json"));
    assert_eq!(res.status, RunStatus::Interrupted);
    assert!(res.cases[0].targets[0].trials[0].operations > 0);
    assert!(!running(servers[0]), "the managed OPA is still running");
}

#[test]
fn a_policy_opa_rejects_is_exit_2_with_opas_message() {
    let _ = require_opa();
    let r = Rigor::new();
    // OPA's type checker refuses `|` on objects; regorus has no type checker.
    r.file(
        "t.rego",
        "package typed\n\nmerged := {\"a\": 1} | {\"b\": 2}\n",
    )
    .file(
        "s.yaml",
        "name: t\npolicy: {files: [t.rego], query: data.typed.merged}\n\
             workload: {duration: 100ms}\n\
             targets: [{id: opa, kind: opa-http, server: managed}]\n",
    )
    .file(
        "b.yaml",
        "name: t\npolicy: {files: [t.rego], query: data.typed.merged}\n\
             workload: {duration: 100ms}\n\
             targets: [{id: bench, kind: opa-bench}]\n",
    );
    for (args, what) in [
        (vec!["run", "s.yaml", "--out", "out"], "run opa-http"),
        (vec!["validate", "s.yaml"], "validate opa-http"),
        (vec!["validate", "b.yaml"], "validate opa-bench"),
        (vec!["run", "b.yaml", "--out", "out2"], "run opa-bench"),
    ] {
        let out = r.run(&args).expect(2);
        assert!(
            out.stderr.contains("rego_type_error") && out.stderr.contains("t.rego:3"),
            "{what}: {}",
            out.stderr
        );
    }
}

#[test]
fn regorus_and_opa_disagree_on_unicode_word_characters() {
    let _ = require_opa();
    let r = Rigor::new();
    // Go's RE2 `\w` is ASCII; Rust's regex `\w` is Unicode: a real
    // difference between the two engines on a plausible policy.
    r.file(
        "u.rego",
        "package users\n\nvalid if regex.match(`^\\w+$`, input.user)\n",
    );
    let scenario = |verify: &str| {
        format!(
            "name: words\npolicy: {{files: [u.rego], query: data.users.valid}}\n\
             inputs: [{{inline: {{user: alice}}}}, {{inline: {{user: josé}}}}]\n\
             workload: {{duration: 200ms, warmup: 0s}}\n\
             verify: {verify}\n\
             targets:\n\
             \x20 - {{id: regorus, kind: regorus}}\n\
             \x20 - {{id: opa, kind: opa-http, server: managed}}\n"
        )
    };
    r.file("gate.yaml", &scenario("true"))
        .file("warn.yaml", &scenario("warn"));
    for args in [
        vec!["run", "gate.yaml", "--out", "out"],
        vec!["validate", "gate.yaml"],
    ] {
        let out = r.run(&args).expect(3);
        assert!(
            out.stderr.contains("targets disagree on 1 input(s)")
                && out.stderr.contains("josé")
                && out.stderr.contains("regorus: true")
                && out.stderr.contains("opa: undefined"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert!(
        results(&r.path("out/results.json")).cases.is_empty(),
        "nothing was timed"
    );

    // `verify: warn` measures anyway, records the disagreement, and the
    // verdict is WARN.
    let out = r.run(&["run", "warn.yaml", "--out", "out"]).expect(0);
    assert!(out.stderr.contains("verify: warn"), "{}", out.stderr);
    assert!(out.stdout.contains("verdict: WARN"), "{}", out.stdout);
    let res = results(&r.path("out/results.json"));
    let v = res.verification.as_ref().unwrap();
    assert_eq!(v.mode, VerifyMode::Warn);
    assert_eq!(v.disagreements, 1);
    let josé = v.answers.iter().find(|a| a.input.contains("josé")).unwrap();
    assert!(!josé.agree);
    assert_eq!(josé.answers["regorus"], "true");
    assert_eq!(josé.answers["opa"], "undefined");
    assert!(res.cases[0].targets[1].trials[0].operations > 0);
    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    assert!(
        html.contains("jos"),
        "the disagreement is in the HTML report"
    );
}

#[test]
fn a_missing_opa_says_how_to_install_it() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    for kind in ["opa-http, server: managed", "opa-bench"] {
        r.file(
            "s.yaml",
            &format!(
                "name: t\npolicy: {{files: [p.rego], query: data.rbac.allow}}\n\
                 workload: {{duration: 100ms}}\n\
                 targets: [{{id: opa, kind: {kind}, opa_binary: /nonexistent/opa}}]\n"
            ),
        );
        let out = r.run(&["run", "s.yaml", "--out", "out"]).expect(3);
        assert!(
            out.stderr.contains("/nonexistent/opa")
                && out
                    .stderr
                    .contains("go install github.com/open-policy-agent/opa@v1.22.3"),
            "{kind}: {}",
            out.stderr
        );
    }
}

#[test]
fn opa_http_needs_exactly_one_server() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    for (target, says) in [
        (
            "{id: o, kind: opa-http}",
            "needs `url` or `server: managed`",
        ),
        (
            "{id: o, kind: opa-http, server: managed, url: \"http://127.0.0.1:1\"}",
            "both name the server",
        ),
        (
            "{id: o, kind: opa-http, server: managed, upload: true}",
            "`upload` does not apply",
        ),
    ] {
        r.file(
            "s.yaml",
            &format!(
                "name: t\npolicy: {{files: [p.rego], query: data.rbac.allow}}\n\
                 workload: {{duration: 100ms}}\ntargets:\n  - {target}\n"
            ),
        );
        let out = r.run(&["validate", "s.yaml"]).expect(2);
        assert!(
            out.stderr.contains(says) && out.stderr.contains("s.yaml:5:"),
            "{target}: {}",
            out.stderr
        );
    }
}

/// OPA targets take their own `policy:` too: two managed OPAs, each
/// started with its own version, answer as their versions say (the gate
/// sees the difference; `verify: warn` measures both). Two versions
/// uploaded to one server are refused before anything runs.
#[test]
fn opa_targets_carry_their_own_policies() {
    let _ = require_opa();
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    r.file(
        "q.rego",
        "package rbac\n\ndefault allow := false\n\nallow if input.user == \"bob\"\n",
    );
    r.file(
        "s.yaml",
        "name: own\npolicy: {files: [p.rego], query: data.rbac.allow}\n\
         inputs: [{inline: {user: alice}}, {inline: {user: bob}}]\n\
         workload: {concurrency: 1, warmup: 50ms, duration: 200ms}\nverify: warn\n\
         targets:\n\
         \x20 - {id: v1, kind: opa-http, server: managed}\n\
         \x20 - {id: v2, kind: opa-http, server: managed, policy: {files: [q.rego], query: data.rbac.allow}}\n\
         \x20 - {id: v2-bench, kind: opa-bench, max_inputs: 2, policy: {files: [q.rego], query: data.rbac.allow}}\n",
    );
    r.run(&["run", "s.yaml", "--out", "o", "--mode", "quick"])
        .expect(0);
    let res = results(&r.path("o/results.json"));
    let v = res.verification.as_ref().unwrap();
    assert_eq!(v.disagreements, 2, "{v:?}");
    for a in &v.answers {
        let (v1, v2, bench) = (&a.answers["v1"], &a.answers["v2"], &a.answers["v2-bench"]);
        assert_ne!(v1, v2, "{a:?}");
        assert_eq!(v2, bench, "{a:?}");
    }
    assert!(res.cases[0]
        .targets
        .iter()
        .all(|t| t.error.is_none() && !t.trials.is_empty()));

    r.file(
        "shared.yaml",
        "name: shared\npolicy: {files: [p.rego], query: data.rbac.allow}\n\
         inputs: [{inline: {user: alice}}]\nworkload: {duration: 100ms}\n\
         targets:\n\
         \x20 - {id: v1, kind: opa-http, url: 'http://127.0.0.1:1', upload: true}\n\
         \x20 - {id: v2, kind: opa-http, url: 'http://127.0.0.1:1', upload: true, policy: {files: [q.rego], query: data.rbac.allow}}\n",
    );
    let out = r.run(&["run", "shared.yaml"]).expect(2);
    assert!(
        out.stderr.contains("would replace the first") && out.stderr.contains("`v1`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("shared.yaml:7:"), "{}", out.stderr);
}

/// `--against REV` copies a managed OPA too: the copy's OPA starts with
/// the policy as committed, and the two servers alternate in rounds.
#[test]
fn against_a_revision_copies_a_managed_opa() {
    let _ = require_opa();
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    let served = Served::start(r.dir.path(), None);
    r.file(
        "s.yaml",
        &format!(
            "name: ag\npolicy: {{files: [p.rego], query: data.rbac.allow}}\n\
             inputs: [{{inline: {{user: alice}}}}, {{inline: {{user: bob}}}}]\n\
             workload: {{concurrency: 1, warmup: 100ms, duration: 400ms}}\n\
             targets: [{{id: o, kind: opa-http, server: managed}}, {{id: u, kind: opa-http, url: '{}', upload: true}}]\n",
            served.url
        ),
    );
    r.commit_all();
    r.run(&[
        "run",
        "s.yaml",
        "--against",
        "HEAD",
        "--out",
        "o",
        "--only",
        "o",
    ])
    .expect(0);
    let res = results(&r.path("o/results.json"));
    // A server at `url:` runs what it holds: it gets no copy.
    assert_eq!(res.pairs, [("o@HEAD".to_string(), "o".to_string())]);
    let rounds: usize = res.cases[0].rounds.iter().map(Vec::len).sum();
    assert!(rounds > 10, "{rounds}");
    assert!(res.cases[0]
        .targets
        .iter()
        .all(|t| t.trials[0].operations > 0));
}

#[test]
fn opa_named_by_host_name_keeps_its_server_counters() {
    let opa = require_opa();
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    let port = free_port();
    // An OPA rigor did not start, with no policy yet: rigor uploads it.
    let _server = Spawned(
        Command::new(&opa)
            .args(["run", "--server", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--log-level", "error", "--skip-version-check"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "OPA");
    r.file(
        "s.yaml",
        &rbac_scenario(
            "named",
            &format!(
                "  - {{id: o, kind: opa-http, url: \"http://localhost:{port}\", upload: true}}\n"
            ),
            "{concurrency: 1, warmup: 50ms, duration: 300ms}",
            "",
        ),
    );
    r.run(&["run", "s.yaml", "--out", "out"]).expect(0);
    let res = results(&r.path("out/results.json"));
    let t = target(&res, 0, "o");
    for m in [
        "server.memory.bytes_per_op",
        "server.memory.allocs_per_op",
        "server.memory.heap_inuse",
        "server.gc_per_1k",
    ] {
        assert!(metric(t, m) >= 0.0, "{m}");
    }
    assert!(metric(t, "server.memory.allocs_per_op") > 0.0);
    assert!(t.trial_notes().is_empty(), "{:?}", t.trial_notes());
}
