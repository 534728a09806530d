//! Decision logs as the workload: the real OPA writes one (console
//! logger), rigor replays it against regorus and the same OPA with
//! `expect: recorded`, and a changed rule shows exactly the changed
//! decisions.

use super::opa::require_opa;
use super::*;

const USERS: [&str; 5] = ["alice", "bob", "eve", "dave", "mallory"];
const ACTIONS: [&str; 4] = ["read", "update", "adopt", "delete"];
const TYPES: [&str; 3] = ["dog", "cat", "finance"];

const DATA: &str = r#"{"rbac": {"user_roles": {"alice": ["admin"], "bob": ["employee", "billing"], "eve": ["customer"], "dave": ["employee"]},
 "role_grants": {"customer": [{"action": "read", "type": "dog"}, {"action": "adopt", "type": "cat"}],
  "employee": [{"action": "read", "type": "dog"}, {"action": "update", "type": "cat"}],
  "billing": [{"action": "read", "type": "finance"}]}}}"#;

const POLICY: &str = "package rbac\n\ndefault allow := false\n\n\
    allow if \"admin\" in data.rbac.user_roles[input.user]\n\n\
    allow if {\n\tsome role in data.rbac.user_roles[input.user]\n\tsome grant in data.rbac.role_grants[role]\n\
    \tinput.action == grant.action\n\tinput.type == grant.type\n}\n";

const MASK: &str =
    "package system.log\n\nmask contains \"/input/password\" if input.input.password\n";

/// One request the test sent, and what the log should make of it.
struct Sent {
    input: serde_json::Value,
    path: &'static str,
    masked: bool,
}

/// `POST path` with `{"input": ...}` to the server, the answer read whole.
fn post(port: u16, path: &str, input: &serde_json::Value) {
    use std::io::{Read, Write};
    let body = serde_json::json!({ "input": input }).to_string();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: opa\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Starts OPA with decision logging to the console, sends `n` varied
/// requests (every 40th to another path, every 50th with a masked
/// password), stops it and returns what was sent; the log is `log`.
fn record(r: &Rigor, n: usize, log: &str) -> Vec<Sent> {
    let opa = require_opa();
    let port = free_port();
    let stderr = std::fs::File::create(r.path(log)).unwrap();
    let server = Spawned(
        Command::new(&opa)
            .args(["run", "--server", "--addr", &format!("127.0.0.1:{port}")])
            .args([
                "--skip-version-check",
                "--set",
                "decision_logs.console=true",
            ])
            .args(["p.rego", "data.json", "mask.rego"])
            .current_dir(r.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "OPA");
    let mut rng = rigor_scenario::rng::SplitMix64::new(42);
    let mut pick = |n: usize| (rng.next_u64() % n as u64) as usize;
    let sent: Vec<Sent> = (0..n)
        .map(|i| {
            let mut input = serde_json::json!({
                "user": USERS[pick(USERS.len())],
                "action": ACTIONS[pick(ACTIONS.len())],
                "type": TYPES[pick(TYPES.len())],
            });
            let masked = i % 50 == 7;
            if masked {
                input["password"] = "hunter2".into();
            }
            let path = if i % 40 == 3 {
                "/v1/data/rbac"
            } else {
                "/v1/data/rbac/allow"
            };
            post(port, path, &input);
            Sent {
                input,
                path,
                masked,
            }
        })
        .collect();
    // The console logger writes each event before the answer; let the
    // last line reach the file, then stop the server.
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(server);
    sent
}

fn scenario(policy: &str) -> String {
    format!(
        "name: replay\n\
         policy: {{files: [{policy}], data: [data.json], query: data.rbac.allow}}\n\
         inputs: [{{decision_log: decisions.log, expect: recorded}}]\n\
         workload: {{concurrency: 1, warmup: 0s, duration: 200ms, trials: 1}}\n\
         targets:\n\
         \x20 - {{id: regorus, kind: regorus}}\n\
         \x20 - {{id: opa, kind: opa-http, server: managed}}\n"
    )
}

#[test]
fn a_decision_log_the_real_opa_wrote_replays_with_its_decisions_checked() {
    let r = Rigor::new();
    r.file("p.rego", POLICY)
        .file("data.json", DATA)
        .file("mask.rego", MASK);
    let sent = record(&r, 300, "decisions.log");
    let other = sent.iter().filter(|s| s.path == "/v1/data/rbac").count();
    let masked = sent
        .iter()
        .filter(|s| s.masked && s.path != "/v1/data/rbac")
        .count();
    let replayed = sent.len() - other - masked;

    r.file("s.yaml", &scenario("p.rego"));
    r.run(&["run", "s.yaml", "--out", "o"]).expect(0);
    let res = results(&r.path("o/results.json"));
    let traffic = &res.scenario.traffic[0];
    assert_eq!(traffic.events, sent.len() as u64);
    assert_eq!(traffic.replayed, replayed as u64);
    assert_eq!(traffic.path, "rbac/allow");
    assert_eq!(traffic.skipped["another query path"], other as u64);
    assert_eq!(traffic.other_paths["rbac"], other as u64);
    assert_eq!(traffic.skipped["input erased or masked"], masked as u64);
    assert!(traffic.recorded_eval_ns.is_some());
    assert!(traffic.span_s > 0.0 && traffic.peak_rps > 0);
    // Every replayed decision was checked against the logged one, on both.
    let v = res.verification.as_ref().expect("decisions checked");
    assert_eq!(res.scenario.inputs, replayed);
    assert_eq!(v.expectations, replayed);
    assert_eq!((v.unexpected, v.disagreements, v.failed), (0, 0, 0));
    for t in &res.cases[0].targets {
        assert!(t.trials[0].operations > 0, "{}", t.id);
    }
    let html = std::fs::read_to_string(r.path("o/report.html")).unwrap();
    assert!(
        html.contains("Replayed traffic"),
        "the report shows the traffic"
    );
    assert!(html.contains("input erased or masked"));

    // One rule changed: employees may now delete dogs. Exactly the logged
    // requests it changes are reported, and the run stops before timing.
    r.file(
        "q.rego",
        &format!(
            "{POLICY}\nallow if {{\n\t\"employee\" in data.rbac.user_roles[input.user]\n\
             \tinput.action == \"delete\"\n\tinput.type == \"dog\"\n}}\n"
        ),
    );
    let changed: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.path != "/v1/data/rbac" && !s.masked)
        .filter(|s| {
            ["bob", "dave"].contains(&s.input["user"].as_str().unwrap())
                && s.input["action"] == "delete"
                && s.input["type"] == "dog"
        })
        .collect();
    assert!(!changed.is_empty(), "the requests cover the changed rule");
    r.file("s2.yaml", &scenario("q.rego"));
    let out = r.run(&["run", "s2.yaml", "--out", "o2"]).expect(3);
    let res = results(&r.path("o2/results.json"));
    let v = res.verification.as_ref().unwrap();
    assert_eq!(v.unexpected, changed.len(), "{}", out.stderr);
    assert_eq!(v.disagreements, 0, "both targets run the changed policy");
    let missed: Vec<&str> = v
        .answers
        .iter()
        .filter(|a| !a.expected)
        .map(|a| a.input.as_str())
        .collect();
    assert_eq!(missed.len(), changed.len());
    for m in missed {
        let doc: serde_json::Value = serde_json::from_str(m).unwrap();
        assert_eq!(doc["action"], "delete", "{m}");
        assert_eq!(doc["type"], "dog", "{m}");
    }
}

/// `rate: recorded` starts each logged request at its logged offset (here
/// twice as fast): two bursts a quarter second apart come back as bursts,
/// with nothing between them, and exactly the requests due within the
/// measured time run (the log loops after its last request).
#[test]
fn recorded_arrivals_come_back_as_they_were_logged() {
    let r = Rigor::new();
    r.file("p.rego", POLICY).file("data.json", DATA);
    // 200 requests in 0-100ms, 200 more in 500-600ms (as logged).
    let mut log = String::new();
    for k in 0..400u64 {
        let ms = if k < 200 { k / 2 } else { 500 + (k - 200) / 2 };
        let user = USERS[(k % 5) as usize];
        log.push_str(&format!(
            "{{\"decision_id\":\"{k}\",\"input\":{{\"user\":\"{user}\",\"action\":\"read\",\"type\":\"dog\"}},\"path\":\"rbac/allow\",\"timestamp\":\"2026-12-04T10:00:00.{ms:03}Z\"}}\n"
        ));
    }
    r.file("decisions.log", &log);
    r.file(
        "s.yaml",
        "name: arrivals\n\
         policy: {files: [p.rego], data: [data.json], query: data.rbac.allow}\n\
         inputs: [{decision_log: decisions.log}]\n\
         workload: {concurrency: 1, warmup: 0s, duration: 500ms, rate: recorded, speed: 2x, window: 50ms}\n\
         targets: [{id: regorus, kind: regorus}]\n",
    );
    r.run(&["run", "s.yaml", "--out", "o"]).expect(0);
    let res = results(&r.path("o/results.json"));
    assert_eq!(res.scenario.workload.recorded, Some(2.0));
    // At 2x: bursts at 0-50ms and 250-300ms, the log's span 300ms; it
    // loops after one mean gap, its first burst again at ~301-351ms; the
    // next would start past 500ms. 600 requests were due.
    let trial = &res.cases[0].targets[0].trials[0];
    assert_eq!(trial.operations, 600, "{:?}", trial.error_messages);
    // The case's rate is the log's mean, sped up: 399 gaps over the
    // 599ms logged, 299.5ms replayed.
    let rate = res.cases[0].rate.expect("a rate-mode case");
    assert!((rate - 399.0 / 0.2995).abs() < 0.5, "{rate}");
    let windows = &trial.windows.as_ref().expect("windows over time").windows;
    let ops_between = |from_ms: u64, to_ms: u64| -> u64 {
        windows
            .iter()
            .filter(|w| w.t_ns >= from_ms * 1_000_000 && w.t_ns < to_ms * 1_000_000)
            .map(|w| w.operations)
            .sum()
    };
    // Bursts as logged, and the quiet between them kept quiet.
    assert!(ops_between(0, 100) >= 190, "{windows:?}");
    assert_eq!(ops_between(100, 250), 0, "{windows:?}");
    assert!(ops_between(250, 400) >= 390, "{windows:?}");
    assert_eq!(ops_between(400, 500), 0, "{windows:?}");
}
