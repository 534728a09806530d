//! What a new user trips on (issue 29), each on a public-policy-shaped
//! case: a Gatekeeper-style set rule in Rego v0, a misspelt query with
//! regorus and with OPA alone, a soak without thresholds, a paired run's
//! console and Markdown, the CI files' correctness checks, `rigor inputs`
//! and `rigor bench`.

use super::*;

/// Gatekeeper's shape: a v0 template body whose `violation` is a set.
const LIMITS: &str = "package k8slimits\n\n\
    violation[{\"msg\": msg}] {\n\
    \x20 c := input.review.object.spec.containers[_]\n\
    \x20 not c.resources.limits.cpu\n\
    \x20 msg := sprintf(\"container <%v> has no cpu limit\", [c.name])\n\
    }\n\n\
    violation[{\"msg\": msg}] {\n\
    \x20 c := input.review.object.spec.containers[_]\n\
    \x20 not c.resources.limits.memory\n\
    \x20 msg := sprintf(\"container <%v> has no memory limit\", [c.name])\n\
    }\n\n\
    names = [n | n := input.review.object.spec.containers[_].name]\n";

fn limits_scenario(query: &str, expect: &str, extra_policy: &str) -> String {
    // Container a sets no limit, b only cpu: three violations.
    let pod = "{review: {object: {spec: {containers: [{name: a, resources: {limits: {}}}, {name: b, resources: {limits: {cpu: 1}}}]}}}}";
    format!(
        "name: limits\n\
         policy: {{files: [limits.rego], query: {query}{extra_policy}}}\n\
         inputs:\n\
         \x20 - inline: {pod}\n\
         \x20   expect: {expect}\n\
         workload: {{concurrency: 1, warmup: 20ms, duration: 200ms}}\n\
         targets:\n\
         \x20 - {{id: interpreter, kind: regorus}}\n\
         \x20 - {{id: vm, kind: regorus, engine: vm}}\n"
    )
}

#[test]
fn a_set_rule_is_compared_as_a_set_and_an_array_keeps_its_order() {
    let r = Rigor::new();
    r.file("limits.rego", LIMITS);
    // The three violations listed in an order no engine writes.
    let set = "[{msg: \"container <b> has no memory limit\"}, {msg: \"container <a> has no memory limit\"}, {msg: \"container <a> has no cpu limit\"}]";
    r.file(
        "set.yaml",
        &limits_scenario("data.k8slimits.violation", set, ", rego_v0: true"),
    );
    r.run(&["validate", "set.yaml"]).expect(0);
    r.run(&["run", "set.yaml", "--out", "set", "--mode", "quick"])
        .expect(0);
    // An array rule's order matters, and the problem says the order is all.
    r.file(
        "array.yaml",
        &limits_scenario("data.k8slimits.names", "[b, a]", ", rego_v0: true"),
    );
    let o = r.run(&["run", "array.yaml", "--out", "array"]).expect(3);
    assert!(o.stderr.contains("differ only in order"), "{}", o.stderr);
    let res = results(&r.path("array/results.json"));
    assert!(res.verification.unwrap().answers[0].order_only);
}

#[test]
fn a_misspelt_query_is_located_for_every_target_kind() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    let scenario = |targets: &str| {
        format!(
            "name: typo\n\
             policy: {{files: [p.rego], query: data.rbac.alow}}\n\
             inputs: [{{inline: {{user: alice}}}}]\n\
             workload: {{concurrency: 1, duration: 200ms}}\n\
             targets: [{targets}]\n"
        )
    };
    r.file("vm.yaml", &scenario("{id: vm, kind: regorus, engine: vm}"))
        .file(
            "opa.yaml",
            &scenario("{id: o, kind: opa-http, url: \"http://127.0.0.1:9\"}"),
        );
    for file in ["vm.yaml", "opa.yaml"] {
        let o = r.run(&["validate", file]).expect(2);
        assert!(
            o.stderr.contains(&format!("{file}:2:"))
                && o.stderr.contains("names no rule of the policy")
                && o.stderr.contains("`allow`")
                && o.stderr.contains("did you mean `data.rbac.allow`?"),
            "{file}: {}",
            o.stderr
        );
    }
    // A query that exists, but inputs of the wrong shape: every answer
    // undefined is not a PASS...
    r.file(
        "shape.yaml",
        "name: shape\n\
         policy: {files: [p.rego], query: data.rbac.allow_missing}\n\
         inputs: [{inline: {name: alice}}]\n\
         workload: {concurrency: 1, duration: 200ms}\n\
         targets: [{id: vm, kind: regorus, engine: vm}]\n",
    )
    .file(
        "p.rego",
        "package rbac\n\nallow_missing if input.user == \"alice\"\n",
    );
    let o = r.run(&["run", "shape.yaml", "--out", "shape"]).expect(3);
    assert!(
        o.stderr.contains("every input answered undefined"),
        "{}",
        o.stderr
    );
    // ...unless that is what an input expects.
    r.file(
        "shape.yaml",
        "name: shape\n\
         policy: {files: [p.rego], query: data.rbac.allow_missing}\n\
         inputs: [{inline: {name: alice}, expect: undefined}]\n\
         workload: {concurrency: 1, warmup: 20ms, duration: 200ms}\n\
         targets: [{id: vm, kind: regorus, engine: vm}]\n",
    );
    r.run(&["run", "shape.yaml", "--out", "shape2"]).expect(0);
}

#[test]
fn a_v0_policy_without_rego_v0_says_how_to_fix_it() {
    let r = Rigor::new();
    r.file("limits.rego", LIMITS).file(
        "s.yaml",
        &limits_scenario("data.k8slimits.violation", "[]", ""),
    );
    let o = r.run(&["validate", "s.yaml"]).expect(2);
    assert!(
        o.stderr
            .contains("help: this looks like Rego v0; set `policy.rego_v0: true`"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_soak_without_thresholds_is_graded_on_growth() {
    let r = Rigor::new();
    r.file(
        "soak.yaml",
        "name: soak\n\
         workload: {concurrency: 1, soak: 1s, sample: 100ms}\n\
         targets: [{id: s, kind: spin, service_time: 20us}]\n",
    );
    let o = r
        .run(&["run", "soak.yaml", "--out", "out", "--markdown", "s.md"])
        .expect(0);
    let res = results(&r.path("out/results.json"));
    let t = &res.cases[0].targets[0];
    let g = grade_of(t, "memory.growth");
    assert_eq!(g.target, Some(65_536.0));
    assert_eq!(g.critical, Some(1_048_576.0));
    assert!(o.stdout.contains("memory.growth"), "{}", o.stdout);
    let md = std::fs::read_to_string(r.path("s.md")).unwrap();
    assert!(md.contains("growth per 1M ops"), "{md}");
    assert!(md.contains("`memory.growth`"), "{md}");
}

#[test]
fn a_paired_run_leads_with_its_verdict_and_the_ci_files_check_decisions() {
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "ab.yaml",
        "name: ab\n\
         policy: {files: [p.rego], query: data.rbac.allow}\n\
         inputs: [{inline: {user: alice}, expect: true}, {inline: {user: bob}, expect: false}]\n\
         workload: {concurrency: 1, warmup: 20ms, duration: 400ms, trials: 2}\n\
         targets:\n\
         \x20 - {id: a, kind: spin, service_time: 50us}\n\
         \x20 - {id: b, kind: spin, service_time: 60us}\n\
         \x20 - {id: vm, kind: regorus, engine: vm}\n\
         compare: {baseline: a}\n\
         regression: {threshold: 1%}\n",
    );
    let o = r
        .run(&[
            "run",
            "ab.yaml",
            "--out",
            "ab",
            "--markdown",
            "ab.md",
            "--junit",
            "ab.xml",
        ])
        .expect(4);
    let last = o.stdout.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("verdict: FAIL · paired A/B against a: FAIL"),
        "{last}"
    );
    // The paired checks are counted with the others.
    let res = results(&r.path("ab/results.json"));
    let counts = res.check_counts();
    let paired_fails = res
        .paired
        .as_ref()
        .unwrap()
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .count();
    assert!(paired_fails >= 1 && counts[Verdict::Fail as usize] >= paired_fails);
    assert!(o.stdout.contains("for reference, unpaired"), "{}", o.stdout);
    assert!(!o.stdout.contains("noisy ("), "{}", o.stdout);
    // Progress counts a paired trial's targets as a range.
    assert!(
        o.stderr.contains("[1-3/6]") && o.stderr.contains("[4-6/6]"),
        "{}",
        o.stderr
    );
    let md = std::fs::read_to_string(r.path("ab.md")).unwrap();
    assert!(md.contains("for reference, unpaired"), "{md}");
    assert!(
        md.contains("| decisions | checked before timing on 2 input\\(s\\)")
            && md.contains("2 of 2 expectation\\(s\\) met"),
        "{md}"
    );
    let xml = std::fs::read_to_string(r.path("ab.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let decision = doc
        .descendants()
        .find(|n| n.attribute("classname") == Some("ab.decisions.vm"))
        .expect("a decision test case for vm");
    assert!(decision.children().all(|c| !c.has_tag_name("failure")));
}

#[test]
fn inputs_are_shown_whole_and_beyond_four() {
    let r = Rigor::new();
    r.file("p.rego", RBAC).file(
        "g.yaml",
        "name: g\n\
         policy: {files: [p.rego], query: data.rbac.allow}\n\
         inputs:\n\
         \x20 - generate: {count: 30, template: {user: \"{{u}}\", n: \"{{n}}\"}, fields: {u: {pick: [alice, bob]}, n: {sequence: 1}}}\n\
         workload: {concurrency: 1, duration: 200ms}\n\
         targets: [{id: vm, kind: regorus, engine: vm}]\n",
    );
    let o = r.run(&["inputs", "g.yaml", "--limit", "12"]).expect(0);
    assert!(
        o.stdout.starts_with("30 input(s) in g.yaml; the first 12"),
        "{}",
        o.stdout
    );
    assert_eq!(o.stdout.matches("  vm: ").count(), 12, "{}", o.stdout);
    assert!(o.stdout.contains("\"n\":12"), "{}", o.stdout);
    // A wrong path suggests the file beside it; --set errors quote the override.
    let o = r
        .run(&["validate", "g.yaml", "--set", "policy.files=[q.rego]"])
        .expect(2);
    assert!(o.stderr.contains("did you mean `p.rego`?"), "{}", o.stderr);
    let o = r
        .run(&["validate", "g.yaml", "--set", "workload.trails=2"])
        .expect(2);
    assert!(
        o.stderr.contains("(from `--set workload.trails=2`)") && !o.stderr.contains(" | "),
        "{}",
        o.stderr
    );
}

#[test]
fn bench_measures_without_a_file_and_saves_the_one_it_ran() {
    let r = Rigor::new();
    r.file("p.rego", RBAC)
        .file("in.jsonl", "{\"user\":\"alice\"}\n{\"user\":\"bob\"}\n");
    let o = r
        .run(&[
            "bench",
            "p.rego",
            "-i",
            "in.jsonl",
            "-q",
            "data.rbac.allow",
            "--duration",
            "200ms",
            "--trials",
            "1",
            "--save",
            "saved/authz.yaml",
        ])
        .expect(0);
    assert!(
        o.stdout.contains("vm") && o.stdout.contains("interpreter"),
        "{}",
        o.stdout
    );
    assert!(o.stderr.contains("decisions before timing"), "{}", o.stderr);
    let saved = std::fs::read_to_string(r.path("saved/authz.yaml")).unwrap();
    assert!(saved.contains("../p.rego"), "{saved}");
    // The next step is the file: it runs as written.
    r.run(&["validate", "saved/authz.yaml"]).expect(0);
    // --save never overwrites.
    r.run(&[
        "bench",
        "p.rego",
        "-q",
        "data.rbac.allow",
        "--save",
        "saved/authz.yaml",
    ])
    .expect(2);
}
