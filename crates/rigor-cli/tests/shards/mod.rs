//! Sharded runs: N `rigor run --shard I/N` processes against one
//! `rigor serve` and one real Redis, merged exactly by `rigor merge`; the
//! merge's refusals; the Kubernetes manifests' command lines run locally.

use super::*;

use rigor_engine::results::WallSpan;
use rigor_engine::stats;

/// `--start-at` this far ahead: every shard has built its targets by then.
const AHEAD_NS: u64 = 3_000_000_000;

fn start_at() -> String {
    rigor_engine::env::rfc3339_of(WallSpan::now_ns() + AHEAD_NS)
}

/// Starts `rigor` with `args` in `dir`, not waiting for it.
fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> Outcome {
    child.wait_with_output().unwrap().into()
}

/// Histograms added in the test, for comparison with the merge's.
fn added<'a>(texts: impl Iterator<Item = &'a str>) -> hdrhistogram::Histogram<u64> {
    let mut h = stats::new_histogram();
    for t in texts {
        h.add(stats::decode(t).unwrap()).unwrap();
    }
    h
}

#[test]
fn shards_against_rigor_serve_and_redis_merge_exactly() {
    let r = Rigor::new();
    r.file("p.rego", RBAC);
    let served = Served::start(r.dir.path(), None);
    let port = free_port();
    let _redis = start_redis(port, &[]);
    r.file(
        "s.yaml",
        &format!(
            "name: shards\n\
             policy: {{files: [p.rego], query: data.rbac.allow}}\n\
             inputs: [{{inline: {{user: alice}}}}, {{inline: {{user: bob}}}}]\n\
             cache: {{keys: 2000, distribution: zipfian, value_size: 32B, read_ratio: 90%, preload: true}}\n\
             workload: {{concurrency: [2, 3], warmup: 200ms, duration: 700ms, trials: 2}}\n\
             targets:\n\
             \x20 - {{id: served, kind: opa-http, url: '{}', upload: true}}\n\
             \x20 - {{id: redis, kind: redis, url: 'redis://127.0.0.1:{port}', flush: true}}\n\
             thresholds:\n  errors.rate: {{critical: 0%}}\n",
            served.url
        ),
    );
    let at = start_at();
    let shards: Vec<std::process::Child> = (0..2)
        .map(|i| {
            spawn(
                r.dir.path(),
                &[
                    "run",
                    "s.yaml",
                    "--shard",
                    &format!("{i}/2"),
                    "--start-at",
                    &at,
                    "--out",
                    &format!("shards/{i}"),
                    "--quiet",
                ],
            )
        })
        .collect();
    for s in shards {
        finish(s).expect(0);
    }
    let parts: Vec<Results> = (0..2)
        .map(|i| results(&r.path(&format!("shards/{i}/results.json"))))
        .collect();
    // Each shard ran its part with its own seed.
    let part = |s: usize, case: usize| parts[s].cases[case].part.unwrap().concurrency;
    assert_eq!((part(0, 0), part(1, 0)), (1, 1));
    assert_eq!((part(0, 1), part(1, 1)), (2, 1));
    assert_ne!(
        parts[0].scenario.workload.seed,
        parts[1].scenario.workload.seed
    );
    let info = |s: usize| parts[s].shard.clone().unwrap();
    assert_eq!(info(0).scenario_seed, info(1).scenario_seed);
    assert_eq!(info(0).start_at, info(1).start_at);
    // A shard grades nothing: its merge grades the whole.
    assert!(parts.iter().all(|p| p
        .cases
        .iter()
        .all(|c| c.targets.iter().all(|t| t.grades.is_empty()))));

    let out = r.run(&["merge", "shards", "--out", "merged"]).expect(0);
    assert!(
        out.stderr.contains("merged 2 of 2 shard(s)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("merged from 2 of 2 shard(s)"),
        "{}",
        out.stdout
    );
    let merged = results(&r.path("merged/results.json"));
    assert_eq!(merged.status, RunStatus::Complete);
    // Each shard's per-input costs are its own; the merge does not pass one
    // shard's off as the whole run's.
    let with_costs = |res: &Results| {
        res.cases
            .iter()
            .any(|c| c.targets.iter().any(|t| t.input_costs.is_some()))
    };
    assert!(parts.iter().any(with_costs));
    assert!(!with_costs(&merged));
    let m = merged.merged.clone().unwrap();
    assert_eq!(
        (m.count, m.merged.clone(), m.missing.len()),
        (2, vec![0, 1], 0)
    );
    // Two cases x two targets x two trials, each with both shards' spans.
    assert_eq!(m.trials.len(), 8);
    assert!(m.trials.iter().all(|t| t.shards == 2 && t.overlap > 0.0));
    assert_eq!(merged.scenario.workload.seed, info(0).scenario_seed);
    for (c, case) in merged.cases.iter().enumerate() {
        assert_eq!(case.name, parts[0].cases[c].name);
        assert_eq!(case.concurrency, [2, 3][c]);
        for (t, target) in case.targets.iter().enumerate() {
            let of = |s: usize| &parts[s].cases[c].targets[t];
            assert_eq!(target.trials.len(), 2, "{} {}", case.name, target.id);
            for (n, trial) in target.trials.iter().enumerate() {
                let a = &of(0).trials[n];
                let b = &of(1).trials[n];
                let label = format!("{} {} trial {n}", case.name, target.id);
                assert!(a.operations > 0 && b.operations > 0, "{label}");
                assert_eq!(trial.operations, a.operations + b.operations, "{label}");
                assert_eq!(trial.errors, a.errors + b.errors, "{label}");
                let h = added([a.histogram.as_str(), b.histogram.as_str()].into_iter());
                assert_eq!(h.len(), trial.operations + trial.errors, "{label}");
                for (name, q) in [
                    ("latency.p50", 0.5),
                    ("latency.p99", 0.99),
                    ("latency.p99.9", 0.999),
                ] {
                    assert_eq!(
                        trial.metrics[name],
                        h.value_at_quantile(q) as f64,
                        "{label} {name}"
                    );
                }
                assert_eq!(trial.metrics["latency.max"], h.max() as f64, "{label}");
                let sum = a.metrics["throughput"] + b.metrics["throughput"];
                assert!(
                    (trial.metrics["throughput"] - sum).abs() < 1e-6 * sum,
                    "{label}"
                );
            }
            // The target's summary pools every trial of every shard.
            let all = added((0..2).flat_map(|s| of(s).trials.iter().map(|t| t.histogram.as_str())));
            assert_eq!(
                target.metrics["latency.p99"],
                all.value_at_quantile(0.99) as f64
            );
            assert!(target.grades.iter().any(|g| g.metric == "errors.rate"));
        }
    }
    // Only the first shard prepares the shared Redis; the merge keeps its state.
    let redis = |res: &Results| {
        res.cases[0].targets[1].trials[0]
            .cache_before
            .clone()
            .unwrap()
    };
    assert!(redis(&parts[0]).memory.is_some());
    assert!(redis(&parts[1]).memory.is_none());
    assert_eq!(redis(&merged).memory, redis(&parts[0]).memory);
    let html = std::fs::read_to_string(r.path("merged/report.html")).unwrap();
    assert!(html.contains("merged from 2 of 2 shard(s)"));
}

fn noop_scenario(extra_input: &str) -> String {
    format!(
        "name: tiny\n\
         workload: {{concurrency: [2], warmup: 0s, duration: 200ms, trials: 1}}\n\
         targets:\n  - {{id: nothing, kind: noop}}\n{extra_input}"
    )
}

#[test]
fn merge_refuses_strangers_and_marks_missing_shards_incomplete() {
    let r = Rigor::new();
    r.file("a.yaml", &noop_scenario(""))
        .file("b.yaml", &noop_scenario("  - {id: other, kind: noop}\n"));
    for (file, shard, out) in [
        ("a.yaml", "0/2", "a0"),
        ("a.yaml", "1/2", "a1"),
        ("b.yaml", "1/2", "b1"),
    ] {
        r.run(&["run", file, "--shard", shard, "--out", out, "--quiet"])
            .expect(0);
    }
    r.run(&["run", "a.yaml", "--out", "plain", "--quiet"])
        .expect(0);

    let out = r
        .run(&["merge", "a0/results.json", "b1/results.json", "--out", "m"])
        .expect(2);
    assert!(
        out.stderr.contains("b1/results.json") && out.stderr.contains("fingerprint"),
        "{}",
        out.stderr
    );
    let out = r.run(&["merge", "a0", "a0", "--out", "m"]).expect(2);
    assert!(out.stderr.contains("appears twice"), "{}", out.stderr);
    let out = r.run(&["merge", "a0", "plain", "--out", "m"]).expect(2);
    assert!(
        out.stderr.contains("not a shard's results"),
        "{}",
        out.stderr
    );
    let out = r.run(&["merge", "no-such-folder", "--out", "m"]).expect(2);
    assert!(out.stderr.contains("no-such-folder"), "{}", out.stderr);

    // Shard 1 missing: the merge keeps shard 0's numbers and says incomplete.
    let out = r.run(&["merge", "a0", "--out", "m"]).expect(3);
    assert!(
        out.stderr.contains("incomplete") && out.stderr.contains("shard 1"),
        "{}",
        out.stderr
    );
    let m = results(&r.path("m/results.json"));
    assert_eq!(m.status, RunStatus::Incomplete);
    assert_eq!(m.merged.as_ref().unwrap().missing, vec![1]);
    let shard0 = results(&r.path("a0/results.json"));
    assert_eq!(
        m.cases[0].targets[0].trials[0].operations,
        shard0.cases[0].targets[0].trials[0].operations
    );
    let junit = r
        .run(&[
            "merge",
            "a0",
            "a1",
            "--out",
            "m2",
            "--junit",
            "m2/junit.xml",
        ])
        .expect(0);
    assert!(junit.stderr.contains("merged 2 of 2"), "{}", junit.stderr);

    // What a shard cannot do is said before any work.
    r.file(
        "managed.yaml",
        "name: m\ncache: {keys: 10}\nworkload: {concurrency: [1], duration: 100ms}\n\
         targets:\n  - {id: r, kind: redis, server: managed}\n",
    );
    let out = r.run(&["run", "managed.yaml", "--shard", "0/2"]).expect(2);
    assert!(
        out.stderr.contains("server: managed") && out.stderr.contains("url:"),
        "{}",
        out.stderr
    );
    let out = r.run(&["run", "a.yaml", "--shard", "2/2"]).expect(2);
    assert!(out.stderr.contains("I/N"), "{}", out.stderr);
    let out = r
        .run(&["run", "a.yaml", "--shard", "0/2", "--start-at", "noon"])
        .expect(2);
    assert!(out.stderr.contains("RFC 3339"), "{}", out.stderr);
}

/// The manifests' documents, `---`-separated, as JSON values.
fn manifests(name: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.split("\n---\n")
        .map(|doc| {
            serde_saphyr::from_str::<serde_json::Value>(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The pod's env as Kubernetes expands `$(NAME)` in args.
fn expand(arg: &str, env: &[(&str, String)]) -> String {
    env.iter().fold(arg.to_string(), |a, (k, v)| {
        a.replace(&format!("$({k})"), v)
    })
}

#[test]
fn the_kubernetes_manifests_parse_and_their_command_lines_run() {
    let r = Rigor::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let job = &manifests("shards-job.yaml")[0];
    assert_eq!(job["kind"], "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], spec["parallelism"]);
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    let shards = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "SHARDS")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(shards, spec["completions"].as_u64().unwrap().to_string());
    let args = strings(&container["args"]);
    let readme = std::fs::read_to_string(repo.join("docs/many-machines.md")).unwrap();
    let line = format!("rigor {}", args.join(" "));
    assert!(
        readme.contains(&line),
        "docs/many-machines.md does not show the Job's command line `{line}`"
    );

    // The ConfigMap's items lay the checked-in scenario out as it expects.
    let volume = |pod: &serde_json::Value, name: &str| {
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()
            .clone()
    };
    let items = volume(pod, "scenario")["configMap"]["items"].clone();
    let sources = [
        ("scenario.yaml", "scenarios/sharded-serve.yaml"),
        ("rbac.rego", "scenarios/policies/rbac.rego"),
        ("rbac.json", "scenarios/data/rbac.json"),
        ("rbac.jsonl", "scenarios/inputs/rbac.jsonl"),
    ];
    for item in items.as_array().unwrap() {
        let key = item["key"].as_str().unwrap();
        let (_, from) = sources.iter().find(|(k, _)| *k == key).unwrap_or_else(|| {
            panic!("docs/many-machines.md's kubectl create configmap has no key {key}")
        });
        assert!(
            readme.contains(&format!("--from-file={key}={from}")),
            "{key}"
        );
        let to = r.path("scenario").join(item["path"].as_str().unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo.join(from), to).unwrap();
    }
    let server = &manifests("server.yaml")[0]["spec"]["template"]["spec"];
    assert_eq!(volume(server, "scenario")["configMap"]["items"], items);

    // Two pods' command lines, /scenario and /results made local, against
    // `rigor serve` as server.yaml runs it; quick mode keeps it short.
    let serve_args = strings(&server["containers"][0]["args"]);
    assert_eq!(serve_args[..2], ["serve", "/scenario/scenario.yaml"]);
    let served = Served::start(r.dir.path(), Some("scenario/scenario.yaml"));
    let local = |a: &str| {
        a.replace("/scenario/", "scenario/")
            .replace("/results", "results")
    };
    let at = start_at();
    let pods: Vec<std::process::Child> = (0..2)
        .map(|i| {
            let env = [
                ("JOB_COMPLETION_INDEX", i.to_string()),
                ("SHARDS", "2".to_string()),
                ("START_AT", at.clone()),
            ];
            let mut argv: Vec<String> = args.iter().map(|a| local(&expand(a, &env))).collect();
            argv.extend(["--mode".into(), "quick".into()]);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let mut child = Command::new(env!("CARGO_BIN_EXE_rigor"));
            child
                .args(&argv)
                .current_dir(r.dir.path())
                .env("OPA_URL", &served.url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            child.spawn().unwrap()
        })
        .collect();
    for p in pods {
        finish(p).expect(0);
    }
    let merge = &manifests("merge-job.yaml")[0];
    assert_eq!(merge["kind"], "Job");
    let merge_args: Vec<String> =
        strings(&merge["spec"]["template"]["spec"]["containers"][0]["args"])
            .iter()
            .map(|a| local(a))
            .collect();
    let argv: Vec<&str> = merge_args.iter().map(String::as_str).collect();
    let out = r.run(&argv).expect(0);
    assert!(
        out.stdout.contains("merged from 2 of 2 shard(s)"),
        "{}",
        out.stdout
    );
    assert!(readme.contains(&format!(
        "rigor {}",
        strings(&merge["spec"]["template"]["spec"]["containers"][0]["args"]).join(" ")
    )));
    // A merge of the folder that holds an earlier merge passes it over.
    let again = r.run(&["merge", "results", "--out", "again"]).expect(0);
    assert!(
        again.stderr.contains("is a merge's results"),
        "{}",
        again.stderr
    );

    // The image, where a Docker engine runs (none on some CI machines).
    let engine = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if engine {
        let status = Command::new("docker")
            .args(["build", "-q", "-t", "rigor:test", "."])
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(status.success(), "docker build failed");
    } else {
        eprintln!("no Docker engine here: the Dockerfile was not built");
    }
}
