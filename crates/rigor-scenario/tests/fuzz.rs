//! A bounded, seeded fuzz test of the scenario loader, run by `cargo test`.
//!
//! It mutates the real scenario files (`scenarios/*.yaml`) and the error
//! cases (`tests/cases/bad/*.yaml`) — byte flips, truncation, duplicated,
//! deleted and swapped lines, YAML's special tokens (anchors, aliases,
//! merge keys, tags), deep nesting, huge and odd numbers and units, NUL and
//! control characters, unicode, very long strings, hostile paths — writes
//! each mutant beside copies of the files the scenarios refer to, and loads
//! it with [`Plan::from_file`]. Every case must finish without a panic,
//! within [`CASE_LIMIT`], and an error must name a file and say something.
//!
//! The seed is fixed (set `RIGOR_FUZZ_SEED` and `RIGOR_FUZZ_CASES` to
//! explore further); a failure prints the case number and the mutant.

#![allow(clippy::unwrap_used)] // Tests and their helpers fail loudly by design.
#![allow(clippy::disallowed_macros)] // It says which of its parts ran.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rigor_scenario::{Mode, Plan, ScenarioError};

/// The longest one load may take before it counts as a hang. The slowest
/// real case, an alias bomb stopped by the YAML budget, takes about 0.5s in
/// release mode and 2s in a debug build.
const CASE_LIMIT: Duration = Duration::from_secs(if cfg!(debug_assertions) { 10 } else { 2 });
/// Cases per run by default: about 10 seconds on 2 cores, in release mode or debug.
const DEFAULT_CASES: u64 = if cfg!(debug_assertions) { 2000 } else { 6000 };
const DEFAULT_SEED: u64 = 0x5eed_f1c0;

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that stress YAML, serde and the unit parsers.
const TOKENS: &[&str] = &[
    "&a",
    "*a",
    "&a x",
    "*b",
    "<<: *a",
    "<<: [*a, *a]",
    "!!binary aGVsbG8=",
    "!!binary",
    "!!str",
    "!!int 5",
    "!!float .nan",
    "!!map {}",
    "!!seq []",
    "!!set {a, b}",
    "!!null",
    "!!bool yes",
    "!!timestamp 2001-12-14",
    "!custom x",
    "!<tag:yaml.org,2002:str> x",
    "!!python/object:os.system",
    "? complex",
    "? [a, b]\n: c",
    "{",
    "}",
    "[",
    "]",
    "{a: }",
    "[a, ]",
    ",",
    ":",
    "- ",
    "-",
    "|",
    "|-",
    ">",
    ">+",
    "---",
    "...",
    "--- !!map",
    "%YAML 1.2",
    "%YAML 9.9",
    "%TAG ! tag:x:",
    "#",
    "~",
    "null",
    "Null",
    "NULL",
    "true",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "0",
    "-0",
    "+0",
    "1",
    "-1",
    "0x7fffffffffffffff",
    "0o777",
    "0b101",
    "1_000_000",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "340282366920938463463374607431768211457",
    "1e309",
    "-1e309",
    "1e-400",
    "4.9e-324",
    "1.7976931348623157e308",
    ".inf",
    "-.inf",
    ".nan",
    ".NaN",
    "NaN",
    "inf",
    "1e309s",
    "-1ms",
    "NaNms",
    "infs",
    ".infs",
    "-0s",
    "+5s",
    "5 s",
    " 5s ",
    "5\ts",
    "5µs",
    "5μs",
    "5ss",
    "5sms",
    "s",
    "ms",
    "1.s",
    ".5s",
    "1..2s",
    "1.2.3s",
    "1e3s",
    "0x10s",
    "1_s",
    "_1s",
    "99999999999999999999h",
    "18446744073709551616ns",
    "18446744073709551615ns",
    "584y",
    "1e309ms",
    "0ns",
    "0.0000000001ns",
    "１s",
    "٣s",
    "5%",
    "-5%",
    "101%",
    "100.0000001%",
    "1e309%",
    "NaN%",
    "%",
    "0.5",
    "5/s",
    "0/s",
    "-5/s",
    "1e309/s",
    "NaN/s",
    "5k/s",
    "5M/s",
    "5G/s",
    "5/min",
    "/s",
    "64B..4KiB",
    "4KiB..64B",
    "..",
    "1B..",
    "..1B",
    "0B",
    "-1B",
    "1e309B",
    "18446744073709551616B",
    "1KiB..1KiB..1KiB",
    "513MiB",
    "16EiB",
    "lots",
    "10_000",
    "\"\"",
    "''",
    "\"\\0\"",
    "\"\\x1b[31m\"",
    "\"\\uD800\"",
    "\"\\U0010FFFF\"",
    "'it''s'",
    "\"unterminated",
    "'unterminated",
    "${",
    "${}",
    "${X}",
    "${NOPE}",
    "${NOPE:-}",
    "${A:-${B}}",
    "${PATH}",
    "${HOME:-x}",
    "$${X}",
    "}",
    "../../../../../etc/passwd",
    "/",
    ".",
    "..",
    "/dev/null",
    "/dev/zero",
    "/dev/stdin",
    "/dev/full",
    "/proc/self/status",
    "fifo.json",
    "fifo.jsonl",
    "fifo.rego",
    "policies",
    "data",
    "inputs",
    "fixtures",
    "fixtures/p.rego",
    "fixtures/broken.jsonl",
    "inputs/",
    "policies/../policies/rbac.rego",
    "data/rbac.json",
    "*.rego",
    "C:\\x",
    "\\\\server\\share",
    "file:///etc/passwd",
    "redis://user:secret@127.0.0.1:6379/0",
    "redis://[::1",
    "unix:///tmp/nope.sock",
    "http://:secret@127.0.0.1:1",
    "https://",
    "http://",
    "http://[",
    "regorus",
    "noop",
    "spin",
    "timed",
    "opa-http",
    "moka",
    "redis",
    "vm",
    "interpreter",
    "managed",
    "blocking",
    "multiplexed",
    "zipfian",
    "uniform",
    "hotspot",
    "sequential",
    "round-robin",
    "fill",
    "none",
    "batch",
    "per-op",
    "data.",
    "data",
    "data.p.allow",
    "data.x y",
    "data.\u{0}",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "{% raw %}",
    "\u{0}",
    "\u{1}",
    "\u{7}",
    "\u{8}",
    "\u{b}",
    "\u{c}",
    "\r",
    "\r\n",
    "\u{1b}[2J",
    "\u{1b}]0;title\u{7}",
    "\u{7f}",
    "\u{85}",
    "\u{9b}",
    "\u{a0}",
    "\u{feff}",
    "\u{200b}",
    "\u{202e}",
    "\u{2028}",
    "\u{2029}",
    "\u{fffd}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{10ffff}",
    "é",
    "e\u{301}",
    "日本語",
    "🦀",
    "𝔘𝔫𝔦",
    "ﷺ",
    "\u{1f1fa}\u{1f1f8}",
];

/// Keys worth inserting: real ones (in the wrong place) and near misses.
const KEYS: &[&str] = &[
    "name",
    "description",
    "policy",
    "files",
    "data",
    "query",
    "rego_v0",
    "inputs",
    "inline",
    "file",
    "expect",
    "workload",
    "concurrency",
    "warmup",
    "duration",
    "iterations",
    "trials",
    "rate",
    "seed",
    "timing",
    "threads",
    "targets",
    "id",
    "kind",
    "engine",
    "url",
    "service_time",
    "thresholds",
    "latency.p99",
    "errors.rate",
    "throughput",
    "memory.bytes_per_op",
    "target",
    "critical",
    "compare",
    "baseline",
    "verify",
    "cache",
    "keys",
    "distribution",
    "zipf_exponent",
    "hotspot_keys",
    "hotspot_ops",
    "value_size",
    "read_ratio",
    "miss",
    "capacity",
    "ttl",
    "preload",
    "server",
    "flush",
    "connections",
    "client",
    "inputs_distribution",
    "regression",
    "threshold",
    "metrics",
    "noisy_cv",
    "modes",
    "quick",
    "full",
    "profile",
    "concurency",
    "",
    "<<",
    "? x",
    "\"quoted key\"",
    "'k'",
    "[a]",
    "{a: b}",
    "&k key",
    "*k",
    "!!str k",
];

/// Applies one mutation to `text`.
fn mutate(rng: &mut Rng, text: &mut Vec<u8>) {
    let lines =
        |t: &[u8]| -> Vec<Vec<u8>> { t.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect() };
    let join = |l: Vec<Vec<u8>>| -> Vec<u8> { l.join(&b'\n') };
    match rng.below(16) {
        // Flip one bit, or set one byte.
        0 if !text.is_empty() => {
            let i = rng.below(text.len());
            if rng.below(2) == 0 {
                text[i] ^= 1 << rng.below(8);
            } else {
                text[i] = rng.next() as u8;
            }
        }
        // Truncate.
        1 => {
            let at = rng.below(text.len() + 1);
            text.truncate(at);
        }
        // Duplicate a line.
        2 => {
            let mut l = lines(text);
            let i = rng.below(l.len());
            let copy = l[i].clone();
            l.insert(rng.below(l.len() + 1), copy);
            *text = join(l);
        }
        // Delete a line.
        3 => {
            let mut l = lines(text);
            if l.len() > 1 {
                l.remove(rng.below(l.len()));
            }
            *text = join(l);
        }
        // Swap two lines.
        4 => {
            let mut l = lines(text);
            let (a, b) = (rng.below(l.len()), rng.below(l.len()));
            l.swap(a, b);
            *text = join(l);
        }
        // Replace a value (after `: ` or `- `) with a token.
        5..=7 => {
            let mut l = lines(text);
            let i = rng.below(l.len());
            let line = String::from_utf8_lossy(&l[i]).into_owned();
            let token = rng.pick(TOKENS);
            let cut = line
                .rfind(": ")
                .map(|c| c + 2)
                .or_else(|| line.find("- ").map(|c| c + 2))
                .unwrap_or(line.len());
            let mut new = line[..cut].to_string();
            new.push_str(token);
            if rng.below(3) == 0 {
                // Keep a flow mapping's closing brackets.
                new.push_str(
                    &line[cut..]
                        .chars()
                        .filter(|c| "}]".contains(*c))
                        .collect::<String>(),
                );
            }
            l[i] = new.into_bytes();
            *text = join(l);
        }
        // Insert `key: token` at some indentation.
        8..=9 => {
            let mut l = lines(text);
            let indent = " ".repeat(*rng.pick(&[0, 0, 2, 4, 1, 3, 6]));
            let line = format!("{indent}{}: {}", rng.pick(KEYS), rng.pick(TOKENS));
            l.insert(rng.below(l.len() + 1), line.into_bytes());
            *text = join(l);
        }
        // Insert a token anywhere, bytewise.
        10 => {
            let at = rng.below(text.len() + 1);
            let token = rng.pick(TOKENS).as_bytes().to_vec();
            text.splice(at..at, token);
        }
        // Deep nesting, balanced or not.
        11 => {
            let depth = *rng.pick(&[10, 47, 48, 49, 100, 1000, 100_000]);
            let (open, close) = *rng.pick(&[("[", "]"), ("{a: ", "}"), ("- ", "")]);
            let mut value = open.repeat(depth);
            if rng.below(2) == 0 {
                value.push_str(&close.repeat(depth));
            }
            let key = rng.pick(&["description", "inline", "concurrency", "targets", "x"]);
            let line = format!("{key}: {value}");
            let mut l = lines(text);
            l.insert(rng.below(l.len() + 1), line.into_bytes());
            *text = join(l);
        }
        // A very long string, as a value or a key.
        12 => {
            let n = *rng.pick(&[1000, 65_536, 1_000_000]);
            let unit = *rng.pick(&["x", "é", "🦀", "\\", "'", "\"", " ", "9"]);
            let long = unit.repeat(n);
            let line = match rng.below(4) {
                0 => format!("description: {long}"),
                1 => format!("description: \"{long}\""),
                2 => format!("{long}: 1"),
                _ => format!("  - {{id: {long}, kind: noop}}"),
            };
            let mut l = lines(text);
            l.insert(rng.below(l.len() + 1), line.into_bytes());
            *text = join(l);
        }
        // An anchor on one value and aliases to it elsewhere (a small bomb, or a cycle attempt).
        13 => {
            let mut l = lines(text);
            let i = rng.below(l.len());
            let line = String::from_utf8_lossy(&l[i]).into_owned();
            if let Some(c) = line.find(": ") {
                l[i] = format!("{}: &a {}", &line[..c], &line[c + 2..]).into_bytes();
            }
            let alias = *rng.pick(&["*a", "[*a, *a, *a, *a]", "{<<: *a}", "&a [*a]"]);
            let j = rng.below(l.len() + 1);
            l.insert(j, format!("{}: {alias}", rng.pick(KEYS)).into_bytes());
            *text = join(l);
        }
        // Control characters and odd unicode sprinkled in.
        14 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(text.len() + 1);
                let c = *rng.pick(&[
                    "\0",
                    "\u{1}",
                    "\t",
                    "\r",
                    "\u{b}",
                    "\u{c}",
                    "\u{1b}",
                    "\u{7f}",
                    "\u{85}",
                    "\u{feff}",
                    "\u{202e}",
                    "\u{2028}",
                    "\u{fffe}",
                    "\u{10ffff}",
                ]);
                text.splice(at..at, c.bytes());
            }
            // Also bytes that are not UTF-8 at all, sometimes.
            if rng.below(4) == 0 {
                let at = rng.below(text.len() + 1);
                text.splice(
                    at..at,
                    [0xff, 0xc3, 0x28].into_iter().take(1 + rng.below(3)),
                );
            }
        }
        // Splice in a chunk of another line of the same file (cross-over).
        _ => {
            if text.len() > 2 {
                let a = rng.below(text.len());
                let b = (a + rng.below(200)).min(text.len());
                let chunk = text[a..b].to_vec();
                let at = rng.below(text.len() + 1);
                text.splice(at..at, chunk);
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The seed corpus: every scenario, then every error case, as bytes; and how
/// many are scenarios.
fn corpus(root: &Path, crate_dir: &Path) -> (Vec<(String, Vec<u8>)>, usize) {
    let mut out = Vec::new();
    let mut runnable = 0;
    for dir in [root.join("scenarios"), crate_dir.join("tests/cases/bad")] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for f in files {
            out.push((f.display().to_string(), std::fs::read(&f).unwrap()));
        }
        if runnable == 0 {
            runnable = out.len();
        }
    }
    (out, runnable)
}

enum Outcome {
    Loaded,
    Failed(ScenarioError),
    Panicked(String),
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Checks an error: it says something and names a file the case involves.
fn check_error(err: &ScenarioError, scenario: &Path, dir: &Path, text: &str) -> Result<(), String> {
    let shown = err.to_string();
    if shown.trim().is_empty() {
        return Err("empty error message".into());
    }
    match err {
        ScenarioError::Read { path, .. } => {
            if !shown.contains(&path.display().to_string()) {
                return Err(format!("read error does not name {}", path.display()));
            }
        }
        ScenarioError::Invalid(d) => {
            if d.message.trim().is_empty() {
                return Err("diagnostic with an empty message".into());
            }
            let file = d.file.display().to_string();
            if !shown.starts_with(&file) {
                return Err(format!("diagnostic does not start with its file {file}"));
            }
            if !(d.file == scenario || d.file.starts_with(dir) || text.contains(&file)) {
                return Err(format!(
                    "diagnostic names {file}, which the case does not involve"
                ));
            }
            if d.line == Some(0) || d.column == Some(0) {
                return Err("diagnostic at line or column 0".into());
            }
        }
    }
    Ok(())
}

#[test]
fn mutated_scenarios_never_panic_hang_or_fail_silently() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.parent().unwrap().parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    for sub in ["policies", "data", "inputs"] {
        copy_dir(&root.join("scenarios").join(sub), &dir.join(sub));
    }
    copy_dir(
        &crate_dir.join("tests/cases/fixtures"),
        &dir.join("fixtures"),
    );
    // Named pipes: opening one to read blocks until a writer comes, forever.
    for fifo in ["fifo.json", "fifo.jsonl", "fifo.rego"] {
        let made = std::process::Command::new("mkfifo")
            .arg(dir.join(fifo))
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            eprintln!("fuzz: mkfifo unavailable; {fifo} is not a pipe in this run");
        }
    }
    let (corpus, runnable) = corpus(root, crate_dir);
    assert!(
        runnable >= 5 && corpus.len() >= runnable + 20,
        "the corpus is too small"
    );

    // One worker loads the cases; the test thread waits with a deadline, so
    // a hang fails the test instead of stalling it.
    let (jobs, job_rx) = mpsc::channel::<(PathBuf, Mode)>();
    let (done, results) = mpsc::channel::<Outcome>();
    std::thread::spawn(move || {
        for (path, mode) in job_rx {
            let outcome = std::panic::catch_unwind(|| Plan::from_file(&path, mode));
            let outcome = match outcome {
                Ok(Ok(plan)) => {
                    // What the engine does first with a plan must not panic either.
                    let _ = plan.workload.cases().len();
                    Outcome::Loaded
                }
                Ok(Err(e)) => Outcome::Failed(e),
                Err(payload) => Outcome::Panicked(
                    payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "(no message)".into()),
                ),
            };
            if done.send(outcome).is_err() {
                return;
            }
        }
    });

    let seed = env_u64("RIGOR_FUZZ_SEED", DEFAULT_SEED);
    let cases = env_u64("RIGOR_FUZZ_CASES", DEFAULT_CASES);
    let mut rng = Rng(seed);
    let modes = [Mode::Default, Mode::Default, Mode::Quick, Mode::Full];
    let started = Instant::now();
    let (mut loaded, mut failed) = (0u64, 0u64);
    let mut slowest = (Duration::ZERO, 0u64);
    let mut problems = Vec::new();
    for case in 0..cases {
        // Two cases in three start from a runnable scenario (the rest from an error case).
        let (origin, original) = if rng.below(3) < 2 {
            rng.pick(&corpus[..runnable])
        } else {
            rng.pick(&corpus[runnable..])
        };
        let mut text = original.clone();
        // Mostly one mutation: a scenario one step from valid reaches deepest.
        for _ in 0..*rng.pick(&[1, 1, 1, 2, 3]) {
            mutate(&mut rng, &mut text);
        }
        let path = dir.join(format!("case-{}.yaml", case % 8));
        std::fs::write(&path, &text).unwrap();
        let mode = *rng.pick(&modes);
        let lossy = String::from_utf8_lossy(&text).into_owned();
        let describe = || {
            let shown: String = lossy.chars().take(2000).collect();
            format!("case {case} (seed {seed:#x}, from {origin}, {mode:?}):\n{shown}")
        };
        // The redactor sees the same hostile text: no panic, idempotent.
        let redacted = rigor_scenario::redact::redact_credentials(&lossy);
        if rigor_scenario::redact::redact_credentials(&redacted) != redacted {
            problems.push(format!(
                "redact_credentials is not idempotent on {}",
                describe()
            ));
        }
        let t0 = Instant::now();
        jobs.send((path.clone(), mode)).unwrap();
        let outcome = match results.recv_timeout(CASE_LIMIT) {
            Ok(o) => o,
            Err(_) => panic!(
                "the loader did not finish within {CASE_LIMIT:?} (a hang) on {}",
                describe()
            ),
        };
        let took = t0.elapsed();
        if took > slowest.0 {
            slowest = (took, case);
        }
        match outcome {
            Outcome::Loaded => loaded += 1,
            Outcome::Failed(e) => {
                failed += 1;
                if let Err(why) = check_error(&e, &path, &dir, &lossy) {
                    problems.push(format!("{why}:\n{e}\non {}", describe()));
                }
            }
            Outcome::Panicked(msg) => problems.push(format!("panic `{msg}` on {}", describe())),
        }
        if problems.len() >= 5 {
            break;
        }
    }
    drop(jobs);
    let elapsed = started.elapsed();
    eprintln!(
        "fuzz: {} cases ({loaded} loaded, {failed} rejected) in {:.1}s, seed {seed:#x}; slowest case {} took {:?}",
        loaded + failed,
        elapsed.as_secs_f64(),
        slowest.1,
        slowest.0
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n----\n\n"));
    assert!(
        loaded > 0 && failed > 0,
        "mutations should both keep and break scenarios"
    );
}

/// Regressions found by the fuzzer, kept as plain cases.
#[test]
fn devices_and_pipes_are_refused_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fifo = dir.join("pipe.json");
    let have_fifo = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let mut paths = vec!["/dev/zero".to_string()];
    if have_fifo {
        paths.push(fifo.display().to_string());
    }
    for input in paths {
        for (field, body) in [
            (
                "inputs",
                format!("policy: {{files: [p.rego], query: data.p.allow}}\ninputs: [\"{input}\"]"),
            ),
            (
                "data",
                format!("policy: {{files: [p.rego], data: [\"{input}\"], query: data.p.allow}}"),
            ),
            (
                "files",
                format!("policy: {{files: [\"{input}\"], query: data.p.allow}}"),
            ),
        ] {
            std::fs::write(dir.join("p.rego"), "package p\nallow := true\n").unwrap();
            let path = dir.join("s.yaml");
            std::fs::write(
                &path,
                format!("name: t\nworkload: {{duration: 1s}}\ntargets: [{{id: a, kind: regorus}}]\n{body}\n"),
            )
            .unwrap();
            let (tx, rx) = mpsc::channel();
            let p = path.clone();
            std::thread::spawn(move || {
                let _ = tx.send(Plan::from_file(&p, Mode::Default).map(|_| ()));
            });
            let err = rx
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|_| panic!("{field}: `{input}` hung the loader"))
                .expect_err("a device or pipe is not a document");
            let shown = err.to_string();
            assert!(
                shown.contains("not a regular file") && shown.contains(&path.display().to_string()),
                "{field}: {shown}"
            );
        }
    }
}
