//! The CI recipes in docs/ci/ run: their shell steps, as written, in a
//! fresh git repository whose base branch holds one policy and whose change
//! holds another, with the `rigor` this build made on PATH (the recipes'
//! "install rigor" step is the one thing skipped). A slower policy fails
//! the step with exit 4 and leaves the JUnit, Markdown and HTML files the
//! recipe publishes; an unchanged one passes.

use std::path::Path;
use std::process::Command;

use super::{repo, Rigor};

const SCENARIO: &str = "name: ci-recipe
policy: {files: [authz.rego], query: data.bench.allow}
inputs: [{inline: {user: alice}}]
workload: {concurrency: 1, warmup: 200ms, duration: 1s}
targets: [{id: vm, kind: regorus, engine: vm}]
regression: {threshold: 25%}
";

/// The policy, with `n` numbers to count in its body: 20 on the base
/// branch, 20 (unchanged) or 2,000 (far slower) in the change.
fn policy(n: u32) -> String {
    format!(
        "package bench\nimport rego.v1\ndefault allow := false\n\
         allow if {{\n  input.user == \"alice\"\n  count([x | some x in numbers.range(1, {n}); x > 0]) > 0\n}}\n"
    )
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "advice.detachedHead=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository `work` on branch `change` (the change's policy with
/// `change` numbers) whose `origin/main` holds the base policy, and its
/// remote `origin.git`.
fn repository(r: &Rigor, change: u32) -> std::path::PathBuf {
    let work = r.path("work");
    std::fs::create_dir_all(work.join("bench")).unwrap();
    std::fs::write(work.join("bench/policy.yaml"), SCENARIO).unwrap();
    std::fs::write(work.join("bench/authz.rego"), policy(20)).unwrap();
    std::fs::write(work.join(".gitignore"), "rigor-out/\nreports/\n").unwrap();
    git(&work, &["init", "-q"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "base"]);
    git(
        r.dir.path(),
        &["clone", "-q", "--bare", "work", "origin.git"],
    );
    git(&work, &["remote", "add", "origin", "../origin.git"]);
    git(&work, &["fetch", "-q", "origin"]);
    git(&work, &["checkout", "-q", "-b", "change"]);
    std::fs::write(work.join("bench/authz.rego"), policy(change)).unwrap();
    git(&work, &["commit", "-q", "-am", "change", "--allow-empty"]);
    work
}

/// Runs one shell step of a recipe as the CI runner would (`bash -e`,
/// pipefail), with rigor on PATH; returns its exit code and output.
fn step(work: &Path, script: &str, env: &[(&str, String)]) -> (i32, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_rigor")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(work)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A recipe file, parsed; the guide (docs/ci.md) shows it as it is, less
/// its opening comment.
fn recipe(file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("docs/ci").join(file)).unwrap();
    let body: String = text
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let guide = std::fs::read_to_string(repo().join("docs/ci.md")).unwrap();
    assert!(
        guide.contains(&format!("```yaml partial\n{body}```")),
        "docs/ci.md does not show docs/ci/{file} as it is:\n{body}"
    );
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("docs/ci/{file}: {e}"))
}

/// What the recipes publish, present after the benchmark step.
fn published(work: &Path, summary: Option<&Path>) {
    let junit = std::fs::read_to_string(work.join("rigor-out/junit.xml")).unwrap();
    assert!(junit.contains("<testsuite"), "{junit}");
    assert!(work.join("rigor-out/report.html").exists());
    assert!(work.join("rigor-out/results.json").exists());
    let md = std::fs::read_to_string(work.join("rigor-out/summary.md")).unwrap();
    assert!(md.contains("ci-recipe"), "{md}");
    if let Some(summary) = summary {
        let text = std::fs::read_to_string(summary).unwrap();
        assert!(text.contains("ci-recipe"), "$GITHUB_STEP_SUMMARY: {text}");
    }
}

/// GitHub Actions: every `run:` step but the install, in order, with the
/// workflow's env and `${{ github.base_ref }}` = main. The slower change
/// fails the benchmark step with exit 4; the step summary gets the
/// Markdown; the report the artifact uploads is there.
#[test]
fn the_github_actions_recipe_fails_a_slower_change() {
    let workflow = recipe("github-actions.yml");
    let steps = workflow["jobs"]["benchmark"]["steps"].as_array().unwrap();
    let r = Rigor::new();
    let work = repository(&r, 2000);
    let summary = r.path("step-summary.md");
    let mut env: Vec<(&str, String)> = vec![("GITHUB_STEP_SUMMARY", summary.display().to_string())];
    for (k, v) in workflow["env"].as_object().unwrap() {
        env.push((k.as_str(), v.as_str().unwrap().to_string()));
    }
    let mut skipped = 0;
    let mut codes = Vec::new();
    for s in steps {
        let Some(script) = s["run"].as_str() else {
            assert!(s["uses"].is_string(), "a step without run: or uses: {s}");
            continue;
        };
        if s["name"] == "Install rigor" {
            assert!(script.contains("cargo install --locked"), "{script}");
            skipped += 1;
            continue;
        }
        let script = script.replace("${{ github.base_ref }}", "main");
        assert!(
            !script.contains("${{"),
            "an expression the test cannot stand in for: {script}"
        );
        let (code, output) = step(&work, &script, &env);
        codes.push(code);
        assert_eq!(
            code, 4,
            "`{script}` should fail the change (exit 4):\n{output}"
        );
        assert!(output.contains("vm@origin/main"), "{output}");
    }
    assert_eq!(
        (skipped, codes.len()),
        (1, 1),
        "one install step, one benchmark step"
    );
    published(&work, Some(&summary));
}

/// GitLab CI: the job's `script:` lines in order (the `before_script:`
/// installs rigor and is skipped), with its variables and the merge
/// request's target branch: an unchanged policy passes (exit 0) with the
/// artifacts and the JUnit report in place; a slower one fails the job.
#[test]
fn the_gitlab_recipe_passes_an_unchanged_policy_and_fails_a_slower_one() {
    let config = recipe("gitlab-ci.yml");
    let job = &config["rigor"];
    let install = job["before_script"].as_array().unwrap();
    assert!(install
        .iter()
        .all(|l| l.as_str().unwrap().contains("cargo install --locked")));
    let script: Vec<&str> = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let mut env: Vec<(&str, String)> =
        vec![("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main".to_string())];
    for (k, v) in job["variables"].as_object().unwrap() {
        let v = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        env.push((k.as_str(), v));
    }
    assert_eq!(job["artifacts"]["reports"]["junit"], "rigor-out/junit.xml");
    for (change, expected) in [(20, 0), (2000, 4)] {
        let r = Rigor::new();
        let work = repository(&r, change);
        // GitLab stops the job at the first failing line.
        let mut last = 0;
        for line in &script {
            let (code, output) = step(&work, line, &env);
            last = code;
            if code != 0 {
                assert_eq!(code, expected, "`{line}`:\n{output}");
                break;
            }
        }
        assert_eq!(last, expected, "change {change}");
        for path in job["artifacts"]["paths"].as_array().unwrap() {
            assert!(work.join(path.as_str().unwrap()).exists(), "{path}");
        }
        published(&work, None);
    }
}
