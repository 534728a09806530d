//! Why a number is what it is, end to end: per-input costs name the input
//! that is slow on every target, OPA's profiler names the line that costs,
//! regorus' rules are timed alone, and the report shows the heat map. The
//! slow input does 300 times the work of the others, so the checks are
//! ratios within one run that no machine's noise can turn round.

use super::{results, Rigor};

const POLICY: &str = "package t

import rego.v1

default allow := false

allow if {
\tinput.user == \"alice\"
\tcount([x | some x in numbers.range(1, input.n); x > 0]) > 0
}
";

fn scenario(explain: bool) -> String {
    format!(
        "name: explain\npolicy: {{files: [t.rego], query: data.t.allow}}\ninputs: [inputs.jsonl]\n\
         workload: {{concurrency: 1, warmup: 200ms, duration: 1s, trials: 1}}\n\
         targets:\n\
         \x20 - {{id: vm, kind: regorus, engine: vm}}\n\
         \x20 - {{id: interpreter, kind: regorus}}\n\
         \x20 - {{id: opa, kind: opa-http, server: managed}}\n\
         explain: {explain}\n"
    )
}

/// Ten inputs: the fifth counts to 3000, the others to 10; the last is
/// denied (another user).
fn inputs() -> String {
    (0..10)
        .map(|i| {
            let n = if i == 4 { 3000 } else { 10 };
            let user = if i == 9 { "eve" } else { "alice" };
            format!("{{\"user\":\"{user}\",\"n\":{n}}}\n")
        })
        .collect()
}

#[test]
fn the_slow_input_and_the_costly_line_are_named() {
    let r = Rigor::new();
    r.file("t.rego", POLICY).file("inputs.jsonl", &inputs());
    r.file("s.yaml", &scenario(true));
    let out = r.run(&["run", "s.yaml", "--out", "o"]).expect(0);
    let res = results(&r.path("o/results.json"));
    for t in &res.cases[0].targets {
        let c = t
            .input_costs
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no input costs", t.id));
        assert_eq!(c.seen, 10, "{}", t.id);
        assert_eq!(c.slowest[0].index, 4, "{}: {:?}", t.id, c.slowest[0]);
        assert_eq!(c.slowest[0].origin, "inputs.jsonl:5");
        assert_eq!(c.slowest[0].decision.as_deref(), Some("true"));
        // One input of ten does 300x the work: most of the time is its.
        assert!(c.top_share > 0.5, "{}: {}", t.id, c.top_share);
        let decisions: Vec<&str> = c.by_decision.iter().map(|d| d.decision.as_str()).collect();
        assert_eq!(decisions, ["true", "false"], "{}", t.id);
        let ops: u64 = c.by_decision.iter().map(|d| d.operations).sum();
        assert_eq!(ops, c.operations);
    }
    let info = |id: &str| res.targets.iter().find(|t| t.id == id).unwrap();
    // OPA's profiler: the comprehension over numbers.range is the hot line.
    let opa = info("opa").profile.as_ref().expect("OPA's profile");
    assert_eq!(opa.engine, "opa");
    let top = &opa.lines[0];
    assert_eq!(
        (top.file.as_str(), top.row),
        ("t.rego", 9),
        "{:?}",
        opa.lines
    );
    assert!(top.source.contains("numbers.range"));
    assert!(top.evals > 0);
    assert!(
        opa.inputs.contains(&4),
        "the slowest input is profiled: {:?}",
        opa.inputs
    );
    // regorus: the rule alone, once for the two regorus targets.
    let vm = info("vm").profile.as_ref().expect("regorus' profile");
    assert_eq!(vm.rules[0].rule, "data.t.allow");
    assert_eq!(vm.rules[0].row, 7, "its definition, not its default");
    assert!(
        vm.rules[0].covered.contains(&9),
        "{:?}",
        vm.rules[0].covered
    );
    assert!(info("interpreter").profile.is_none());
    assert!(vm.method.contains("interpreter"));
    // The reports show them.
    let html = std::fs::read_to_string(r.path("o/report.html")).unwrap();
    for needle in [
        "Heat map of",
        "input by input",
        "What to look at",
        "numbers.range",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }
    assert!(
        out.stdout.contains("where the time goes on vm"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("t.rego:9"), "{}", out.stdout);

    // Without explain: the same per-input costs, no profile.
    r.file("s.yaml", &scenario(false));
    r.run(&["run", "s.yaml", "--out", "p"]).expect(0);
    let plain = results(&r.path("p/results.json"));
    assert!(plain.targets.iter().all(|t| t.profile.is_none()));
    assert_eq!(
        plain.cases[0].targets[0]
            .input_costs
            .as_ref()
            .unwrap()
            .slowest[0]
            .index,
        4
    );
}

/// `--mode profile` explains too, after its CPU profile is closed: the
/// flame graph of the trials holds no frame of the policy profiling.
#[test]
fn profile_mode_explains_outside_its_flame_graph() {
    let r = Rigor::new();
    r.file("t.rego", POLICY).file("inputs.jsonl", &inputs());
    r.file(
        "s.yaml",
        "name: explain\npolicy: {files: [t.rego], query: data.t.allow}\ninputs: [inputs.jsonl]\n\
         workload: {concurrency: 1, warmup: 100ms, duration: 500ms, trials: 1}\n\
         targets: [{id: vm, kind: regorus, engine: vm}]\n",
    );
    r.run(&["run", "s.yaml", "--mode", "profile", "--out", "o"])
        .expect(0);
    let res = results(&r.path("o/results.json"));
    let profile = res.targets[0]
        .profile
        .as_ref()
        .expect("profile mode explains");
    assert_eq!(profile.rules[0].rule, "data.t.allow");
    let svg = std::fs::read_to_string(r.path("o/flamegraph.svg")).unwrap();
    assert!(
        svg.contains("rigor-worker-0"),
        "the trials are in the flame graph"
    );
    assert!(
        !svg.contains("regorus_profile") && !svg.contains("explain"),
        "the policy profiling is in the trials' flame graph"
    );
}
