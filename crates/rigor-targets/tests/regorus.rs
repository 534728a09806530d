//! The regorus target against the example scenarios' real policies.

#![allow(clippy::unwrap_used)] // Tests and their helpers fail loudly by design.

use std::path::{Path, PathBuf};

use rigor_scenario::model::RegorusEngine;
use rigor_scenario::{Mode, Plan};
use rigor_targets::regorus::{Regorus, COMPILE_RUNS};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

/// Interpreter and VM must agree on every input, or comparing their speed is meaningless.
#[test]
fn interpreter_and_vm_agree_on_every_example_input() {
    for (file, allowed_at_least, denied_at_least) in
        [("opa-simple.yaml", 3, 3), ("opa-complex.yaml", 20, 100)]
    {
        let plan = Plan::from_file(&scenario(file), Mode::Default).unwrap();
        let policy = plan.policy.as_ref().unwrap();
        let interpreter =
            Regorus::new(policy, plan.inputs.clone(), RegorusEngine::Interpreter).unwrap();
        let vm = Regorus::new(policy, plan.inputs.clone(), RegorusEngine::Vm).unwrap();
        let (mut allowed, mut denied) = (0, 0);
        for item in plan.inputs.iter() {
            let a = interpreter.decide(&item.value()).unwrap().value;
            let b = vm.decide(&item.value()).unwrap().value;
            assert_eq!(a, b, "{file}: {} decided differently", item.origin());
            match a {
                serde_json::Value::Bool(true) => allowed += 1,
                serde_json::Value::Bool(false) => denied += 1,
                other => panic!("{file}: {} gave {other}", item.origin()),
            }
        }
        assert!(
            allowed >= allowed_at_least && denied >= denied_at_least,
            "{file}: the inputs should exercise both outcomes ({allowed} allowed, {denied} denied)"
        );
    }
}

#[test]
fn compile_time_is_measured_over_fresh_runs() {
    let plan = Plan::from_file(&scenario("opa-simple.yaml"), Mode::Default).unwrap();
    let target = Regorus::new(
        plan.policy.as_ref().unwrap(),
        Default::default(),
        RegorusEngine::Vm,
    )
    .unwrap();
    let setup = rigor_engine::target::Target::facts(&target).setup;
    assert_eq!(setup.parse_ns.len(), COMPILE_RUNS);
    assert_eq!(setup.compile_ns.len(), COMPILE_RUNS);
    assert!(setup
        .parse_ns
        .iter()
        .chain(&setup.compile_ns)
        .all(|ns| *ns > 0));
}

#[test]
fn rego_syntax_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.rego"),
        "package bad\n\nallow if {\n  input.x == [1, 2\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        "name: t\nworkload: {iterations: 1}\npolicy: {files: [bad.rego], query: data.bad.allow}\ntargets: [{id: a, kind: regorus}]\n",
    )
    .unwrap();
    let plan = Plan::from_file(&dir.path().join("s.yaml"), Mode::Default).unwrap();
    let err = rigor_targets::registry()
        .build(&plan.targets[0], &plan)
        .err()
        .expect("must not compile");
    let text = err.to_string();
    assert!(
        matches!(err, rigor_engine::target::TargetError::Invalid(_)),
        "{text}"
    );
    assert!(text.contains("target `a`"), "{text}");
    assert!(
        text.contains("bad.rego:5:1") || text.contains("bad.rego:4:"),
        "no position in: {text}"
    );
}

/// An interpreter target over `policy` (written as `p.rego`) for `query`.
fn interpreter(dir: &Path, policy: &str, query: &str) -> Regorus {
    std::fs::write(dir.join("p.rego"), policy).unwrap();
    std::fs::write(
        dir.join("s.yaml"),
        // `prints: keep`: the test looks at what print() gathered.
        format!("name: t\nworkload: {{iterations: 1}}\npolicy: {{files: [p.rego], query: {query}, prints: keep}}\ntargets: [{{id: a, kind: regorus}}]\n"),
    )
    .unwrap();
    let plan = Plan::from_file(&dir.join("s.yaml"), Mode::Default).unwrap();
    Regorus::new(
        plan.policy.as_ref().unwrap(),
        Default::default(),
        RegorusEngine::Interpreter,
    )
    .unwrap()
}

#[test]
fn evaluation_errors_are_errors_not_decisions() {
    let dir = tempfile::tempdir().unwrap();
    // Conflicting values for a complete rule is a runtime error in Rego.
    let target = interpreter(
        dir.path(),
        "package p\n\nx := input.a\nx := input.b\n",
        "data.p.x",
    );
    let result = target.decide(&serde_json::json!({"a": 1, "b": 2}));
    assert!(result.is_err(), "{result:?}");
}

/// print() lines are gathered with the answer, and regorus' multi-line
/// errors become one line that still names file, line and column.
#[test]
fn prints_are_gathered_and_errors_located_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "package p\n\nimport rego.v1\n\nx if {\n\tprint(\"seen\", input.a)\n\tinput.a == 1\n}\n\ny if io.jwt.decode_verify(input.t, {})\n";
    for (query, ok) in [("data.p.x", true), ("data.p.y", false)] {
        let target = interpreter(dir.path(), policy, query);
        let answer = target.decide(&serde_json::json!({"a": 1, "t": "x"}));
        if ok {
            let answer = answer.unwrap();
            assert_eq!(answer.value, serde_json::Value::Bool(true));
            assert_eq!(answer.prints.len(), 1, "{answer:?}");
            assert!(answer.prints[0].ends_with("seen 1"), "{answer:?}");
        } else {
            let e = answer.unwrap_err();
            assert!(!e.contains('\n'), "{e}");
            assert!(e.contains("p.rego:10:"), "{e}");
            assert!(e.contains("io.jwt.decode_verify"), "{e}");
        }
    }
}
