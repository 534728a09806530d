//! rigor in the tools around it: `rigor export` for continuous-benchmarking
//! services (Bencher's BMF, github-action-benchmark), checked against each
//! format's published schema and examples; shell completions, the man page
//! and `--version`, generated from the same command definitions.

use super::{results, Rigor};

fn schema(file: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/exports")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check(schema_file: &str, doc: &serde_json::Value) {
    let validator = jsonschema::validator_for(&schema(schema_file)).unwrap();
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:?}\n{doc:#}");
}

/// A run with two targets and three trials (intervals exist), self-timed:
/// fast and the same on every machine.
fn measured(r: &Rigor) -> rigor_engine::results::Results {
    r.file(
        "s.yaml",
        "name: exports\nworkload: {concurrency: 1, iterations: 2000, trials: 3}\n\
         targets:\n\
         \x20 - {id: fast, kind: timed, service_time: 20us, jitter: 5%}\n\
         \x20 - {id: slow, kind: timed, service_time: 40us, jitter: 5%}\n",
    );
    r.run(&["run", "s.yaml", "--out", "o"]).expect(0);
    results(&r.path("o/results.json"))
}

fn export(r: &Rigor, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["export", "o/results.json"];
    all.extend_from_slice(args);
    let out = r.run(&all).expect(0);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// BMF: valid against Bencher's published schema (which Bencher's own
/// example satisfies too), one benchmark per case and target, Bencher's
/// built-in `latency` and `throughput` measures carrying rigor's mean and
/// throughput with their intervals, the other metrics as kebab-case slugs.
#[test]
fn bmf_export_is_what_bencher_reads() {
    check(
        "bmf.schema.json",
        &serde_json::json!({
            "benchmark_name": {
                "latency": {"value": 88.0, "lower_value": 87.42, "upper_value": 88.88},
                "throughput": {"value": 5.55, "lower_value": 3.25, "upper_value": 6.30}
            },
            "my_binary": {"file-size": {"value": 42.0}}
        }),
    );
    let r = Rigor::new();
    let res = measured(&r);
    let bmf = export(&r, &["--format", "bmf"]);
    check("bmf.schema.json", &bmf);
    let case = &res.cases[0];
    let benches = bmf.as_object().unwrap();
    assert_eq!(benches.len(), 2, "{bmf:#}");
    for target in &case.targets {
        let bench = &bmf[format!("exports/{}/{}", case.name, target.id)];
        let mean = target.metrics["latency.mean"];
        assert_eq!(bench["latency"]["value"].as_f64(), Some(mean));
        assert_eq!(
            bench["throughput"]["value"].as_f64(),
            Some(target.metrics["throughput"])
        );
        let interval = target.stats["throughput"].interval.as_ref().unwrap();
        assert_eq!(
            bench["throughput"]["lower_value"].as_f64(),
            Some(interval.low)
        );
        assert_eq!(
            bench["throughput"]["upper_value"].as_f64(),
            Some(interval.high)
        );
        assert_eq!(
            bench["latency-p99"]["value"].as_f64(),
            Some(target.metrics["latency.p99"])
        );
        // Left out: what rigor only keeps in results.json.
        assert!(bench.get("latency-min").is_none(), "{bench:#}");
    }
    // The slower target is slower in the export too.
    let lat = |id: &str| bmf[format!("exports/{}/{id}", case.name)]["latency"]["value"].as_f64();
    assert!(lat("slow") > lat("fast"));
}

/// github-action-benchmark: both halves valid against the action's
/// BenchmarkResult (its documented example passes the same schema);
/// smaller holds latency and never throughput, bigger the reverse, values
/// in the unit they name.
#[test]
fn github_action_benchmark_export_splits_by_direction() {
    let example: serde_json::Value = serde_json::from_str(
        &serde_json::to_string(&schema("github-action-benchmark.example.json")).unwrap(),
    )
    .unwrap();
    check("github-action-benchmark.schema.json", &example);
    let r = Rigor::new();
    let res = measured(&r);
    let smaller = export(&r, &["--format", "github-action-benchmark"]);
    let bigger = export(
        &r,
        &["--format", "github-action-benchmark", "--better", "bigger"],
    );
    check("github-action-benchmark.schema.json", &smaller);
    check("github-action-benchmark.schema.json", &bigger);
    let names = |doc: &serde_json::Value| -> Vec<String> {
        doc.as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    let case = &res.cases[0].name;
    assert!(names(&smaller).contains(&format!("exports/{case}/slow latency.p99")));
    assert!(!names(&smaller).iter().any(|n| n.ends_with(" throughput")));
    assert_eq!(
        names(&bigger),
        vec![
            format!("exports/{case}/fast throughput"),
            format!("exports/{case}/slow throughput")
        ]
    );
    let entry = smaller
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == format!("exports/{case}/fast errors.rate"))
        .unwrap();
    assert_eq!(entry["unit"], "%");
    let p99 = smaller
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == format!("exports/{case}/fast latency.p99"))
        .unwrap();
    assert_eq!(p99["unit"], "ns");
    assert_eq!(
        p99["value"].as_f64(),
        Some(res.cases[0].targets[0].metrics["latency.p99"])
    );
    // `--better` belongs to this format alone.
    let out = r
        .run(&[
            "export",
            "o/results.json",
            "--format",
            "bmf",
            "--better",
            "bigger",
        ])
        .expect(2);
    assert!(out
        .stderr
        .contains("--better applies to --format github-action-benchmark"));
}

/// Completions for bash, zsh and fish name every subcommand; bash's script
/// is valid bash. The man page names every subcommand and option of `run`
/// and renders with groff where it is installed. `--version` carries the
/// commit rigor was built from.
#[test]
fn completions_man_page_and_version_come_from_the_command_line() {
    let r = Rigor::new();
    let commands = [
        "run",
        "merge",
        "validate",
        "inputs",
        "bench",
        "schema",
        "metrics",
        "init",
        "serve",
        "export",
        "compare",
        "report",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let out = r.run(&["completions", shell]).expect(0);
        for c in commands {
            assert!(out.stdout.contains(c), "{shell} completions lack `{c}`");
        }
        assert!(
            out.stdout.contains("--against"),
            "{shell}: no `run --against`"
        );
        if shell == "bash" {
            r.file("rigor.bash", &out.stdout);
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(r.path("rigor.bash"))
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    let page = r.run(&["man"]).expect(0).stdout;
    assert!(
        page.starts_with(".ie") || page.contains(".TH rigor 1"),
        "{page}"
    );
    for c in commands {
        assert!(page.contains(c), "the man page lacks `{c}`");
    }
    r.run(&["man", "--out", "man"]).expect(0);
    let run_page = std::fs::read_to_string(r.path("man/rigor-run.1")).unwrap();
    for flag in ["against", "save\\-baseline", "mode"] {
        assert!(run_page.contains(flag), "rigor-run.1 lacks {flag}");
    }
    if let Ok(out) = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-z", "-ww"])
        .arg(r.path("man/rigor-run.1"))
        .output()
    {
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let version = r.run(&["--version"]).expect(0).stdout;
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert!(
        version.starts_with(&format!("rigor {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    if let Some(head) = head {
        // Built from this checkout: the commit is in the line (a commit made
        // after the build would differ; the build script reruns on commits).
        assert!(
            version.contains(&format!("commit {head}")),
            "{version} vs HEAD {head}"
        );
    }
}
