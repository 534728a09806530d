//! Where a policy's evaluation time goes, measured outside the timed
//! trials: OPA's own expression profiler (`opa eval --profile`) on chosen
//! inputs, and regorus' rules each evaluated alone, with the lines each
//! input executes (regorus' coverage). What each figure includes is said
//! in the profile's `method`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use rigor_engine::results::cost::{LineCost, PolicyProfile, PolicySource, RuleCost};
use rigor_scenario::plan::{Inputs, PolicyPlan};

use crate::opa::{opa_message, stage, Opa};

/// Repeats of each input under OPA's profiler; the median is kept.
pub const OPA_REPEATS: u32 = 10;

/// One expression's figures from one `opa eval --profile` run.
#[derive(Debug, serde::Deserialize)]
struct OpaExpr {
    total_time_ns_stats: OpaStats,
    num_eval: u64,
    num_redo: u64,
    location: OpaLocation,
}

#[derive(Debug, serde::Deserialize)]
struct OpaStats {
    median: f64,
}

#[derive(Debug, serde::Deserialize)]
struct OpaLocation {
    file: String,
    row: u32,
    col: u32,
}

#[derive(Debug, serde::Deserialize)]
struct OpaEval {
    #[serde(default)]
    aggregated_profile: Vec<OpaExpr>,
}

/// A name for a policy file in reports: its path as the scenario gave it
/// when OPA was handed that file, relative to the working directory when
/// it can be.
fn display(path: &Path, modules: &[(PathBuf, String)]) -> String {
    if let Some((_, shown)) = modules.iter().find(|(p, _)| p == path) {
        return shown.clone();
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Runs OPA's profiler on each input of `indices` ([`OPA_REPEATS`] times
/// each, the median kept) and adds the expressions' times over the inputs.
pub fn opa_profile(
    opa: &Opa,
    policy: &PolicyPlan,
    inputs: &Inputs,
    indices: &[usize],
) -> Result<PolicyProfile, String> {
    let staged = stage(policy).map_err(|e| e.to_string())?;
    // The staged module files, with the names the scenario gave them.
    let modules: Vec<(PathBuf, String)> = staged
        .files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rego"))
        .zip(&policy.modules)
        .map(|(f, m)| (f.clone(), m.path.clone()))
        .collect();
    let mut exprs: BTreeMap<(PathBuf, u32, u32), (f64, u64, u64)> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut profiled = Vec::new();
    let input_file = staged.dir.path().join("input.json");
    for &i in indices {
        let text = if inputs.is_empty() {
            "{}"
        } else {
            inputs.text(i)
        };
        std::fs::write(&input_file, text)
            .map_err(|e| format!("cannot write an input for OPA: {e}"))?;
        let mut command = opa.command();
        command.args([
            "eval",
            "--profile",
            "--format",
            "json",
            "--profile-limit",
            "100000",
        ]);
        command.args(["--count", &OPA_REPEATS.to_string()]);
        if policy.rego_v0 {
            command.arg("--v0-compatible");
        }
        for f in &staged.files {
            command.arg("--data").arg(f);
        }
        command.arg("--input").arg(&input_file).arg(&policy.query);
        let out = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `{}`: {e}", opa.path.display()))?;
        if !out.status.success() {
            notes.push(format!(
                "input {} not profiled: OPA said {}",
                inputs_origin(inputs, i),
                opa_message(&String::from_utf8_lossy(&out.stderr))
            ));
            continue;
        }
        let eval: OpaEval = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("OPA's profile is not what rigor reads: {e}"))?;
        for e in eval.aggregated_profile {
            // The query itself (no file) is the whole evaluation, not a line.
            if e.location.file.is_empty() {
                continue;
            }
            let slot = exprs
                .entry((
                    PathBuf::from(&e.location.file),
                    e.location.row,
                    e.location.col,
                ))
                .or_default();
            slot.0 += e.total_time_ns_stats.median;
            slot.1 += e.num_eval;
            slot.2 += e.num_redo;
        }
        profiled.push(i);
    }
    let sources = sources(policy);
    let total: f64 = exprs.values().map(|v| v.0).sum();
    let mut lines: Vec<LineCost> = exprs
        .into_iter()
        .map(|((file, row, col), (ns, evals, redos))| {
            let shown = display(&file, &modules);
            let source = source_line(&sources, &shown, row);
            LineCost {
                file: shown,
                row,
                col,
                total_ns: ns,
                share: if total > 0.0 { ns / total } else { 0.0 },
                evals,
                redos,
                source,
            }
        })
        .collect();
    lines.sort_by(|a, b| b.total_ns.total_cmp(&a.total_ns));
    Ok(PolicyProfile {
        engine: "opa".into(),
        method: format!(
            "OPA {}'s expression profiler (`opa eval --profile --count {OPA_REPEATS}`), run after the timed trials on {} input(s): the slowest inputs of the trials and a seeded sample of the rest. An expression's time is the sum over those inputs of its median over the {OPA_REPEATS} repeats of OPA's `total_time_ns` for it (the time OPA's evaluator spent on it, redos included); a share is of the sum over all expressions. The query's own entry (no file) is left out.",
            opa.version,
            profiled.len()
        ),
        inputs: profiled,
        lines,
        sources,
        rules: Vec::new(),
        notes,
    })
}

fn inputs_origin(inputs: &Inputs, i: usize) -> String {
    if inputs.is_empty() {
        "(no input)".into()
    } else {
        inputs.origin(i)
    }
}

/// The policy files' texts (as every engine compiles them: what OPA was
/// handed too), by the names reports show.
fn sources(policy: &PolicyPlan) -> Vec<PolicySource> {
    policy
        .modules
        .iter()
        .map(|m| PolicySource {
            file: m.path.clone(),
            text: m.text.clone(),
        })
        .collect()
}

/// Line `row` (from 1) of `file`'s text, or empty.
fn source_line(sources: &[PolicySource], file: &str, row: u32) -> String {
    sources
        .iter()
        .find(|s| s.file == file)
        .and_then(|s| s.text.lines().nth(row.saturating_sub(1) as usize))
        .unwrap_or("")
        .to_string()
}

/// Times each rule of the query's package evaluated alone on regorus
/// (`engine`: `vm` or the interpreter), over the chosen inputs, and the
/// lines the slowest of them executes (regorus' coverage).
pub fn regorus_profile(
    policy: &PolicyPlan,
    inputs: &Inputs,
    indices: &[usize],
    budget: std::time::Duration,
) -> Result<PolicyProfile, String> {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(policy.rego_v0);
    for m in &policy.modules {
        engine
            .add_policy(m.path.clone(), m.text.clone())
            .map_err(|e| e.to_string())?;
    }
    engine
        .add_data(regorus::Value::from(policy.data.clone()))
        .map_err(|e| e.to_string())?;
    let rules = package_rules(policy);
    let values: Vec<regorus::Value> = indices
        .iter()
        .map(|&i| {
            if inputs.is_empty() {
                regorus::Value::new_object()
            } else {
                regorus::Value::from(inputs.value(i))
            }
        })
        .collect();
    let mut costs = Vec::new();
    let per_rule = budget / rules.len().max(1) as u32;
    for (rule, file, row) in &rules {
        let started = Instant::now();
        let (mut n, mut spent) = (0u64, 0u128);
        // Each input in turn, round and round, until the rule's share of
        // the budget is spent (at least one pass).
        'passes: loop {
            for v in &values {
                engine.set_input(v.clone());
                let t0 = Instant::now();
                let r = engine.eval_rule(rule.clone());
                spent += t0.elapsed().as_nanos();
                n += 1;
                if r.is_err() {
                    // A rule that cannot be evaluated alone (a function, a
                    // rule needing unknowns) is not a cost.
                    n = 0;
                    break 'passes;
                }
            }
            if started.elapsed() >= per_rule {
                break;
            }
        }
        if n > 0 {
            costs.push(RuleCost {
                rule: rule.clone(),
                file: file.clone(),
                row: *row,
                mean_ns: spent as f64 / n as f64,
                covered: Vec::new(),
            });
        }
    }
    costs.sort_by(|a, b| b.mean_ns.total_cmp(&a.mean_ns));
    // The lines each input executes: regorus' coverage of the query, for
    // the first (the slowest) input.
    let covered = coverage(policy, values.first());
    if let (Some(first), Some(files)) = (costs.first_mut(), covered.as_ref()) {
        first.covered = files
            .iter()
            .filter(|(f, _)| *f == first.file)
            .flat_map(|(_, l)| l.iter().copied())
            .collect();
    }
    let sources = sources(policy);
    // The heat map: each rule's time on the lines of its definition's
    // head, as a share of the rules' total (rules include what they
    // depend on, so a rule's line carries its dependencies' time too).
    let total: f64 = costs.iter().map(|c| c.mean_ns).sum();
    let lines = costs
        .iter()
        .map(|c| LineCost {
            file: c.file.clone(),
            row: c.row,
            col: 0,
            total_ns: c.mean_ns,
            share: if total > 0.0 { c.mean_ns / total } else { 0.0 },
            evals: 0,
            redos: 0,
            source: source_line(&sources, &c.file, c.row),
        })
        .collect();
    let mut notes = Vec::new();
    if let Some(files) = covered {
        let count: usize = files.iter().map(|(_, l)| l.len()).sum();
        let lines: Vec<String> = files
            .iter()
            .map(|(f, l)| {
                let rows: Vec<String> = l.iter().map(u32::to_string).collect();
                format!("{f} lines {}", rows.join(", "))
            })
            .collect();
        notes.push(format!(
            "The slowest profiled input ({}) executes {count} line(s) of the policy (regorus' coverage, marked in the heat map): {}.",
            indices.first().map_or_else(|| "-".to_string(), |&i| inputs_origin(inputs, i)),
            lines.join("; ")
        ));
    }
    Ok(PolicyProfile {
        engine: "regorus".into(),
        method: format!(
            "regorus has no profiler. Each rule of the query's package was evaluated alone (`eval_rule`, the interpreter) on {} input(s) after the timed trials, for about {} per rule: its mean includes everything the rule depends on, so a rule that calls another carries its time too, and rules are not additive. The heat map shades each rule's first line by its share of the rules' total.",
            values.len(),
            rigor_scenario::units::format_nanos(per_rule.as_nanos() as f64)
        ),
        inputs: indices.to_vec(),
        lines,
        sources,
        rules: costs,
        notes,
    })
}

/// The rules of the query's package: `(data.pkg.rule, file, line)`, from
/// each module's text (a rule head starts a line: `name if`, `name :=`,
/// `name =`, `name contains`, `name[`, `default name`). Functions
/// (`name(`) are left out: they take arguments.
fn package_rules(policy: &PolicyPlan) -> Vec<(String, String, u32)> {
    let query_package = policy
        .query
        .strip_prefix("data.")
        .and_then(|q| q.rsplit_once('.'))
        .map(|(pkg, _)| pkg.to_string());
    // (path, file, line, whether that line is only the rule's `default`).
    let mut out: Vec<(String, String, u32, bool)> = Vec::new();
    for m in &policy.modules {
        let package = m
            .text
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .map(|p| p.trim().to_string());
        if package.is_none() || package != query_package {
            continue;
        }
        let package = package.unwrap_or_default();
        for (i, line) in m.text.lines().enumerate() {
            if line.starts_with([' ', '\t', '#', '}']) || line.trim().is_empty() {
                continue;
            }
            let is_default = line.starts_with("default ");
            let head = line.strip_prefix("default ").unwrap_or(line);
            let name: String = head
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() || ["package", "import"].contains(&name.as_str()) {
                continue;
            }
            let rest = head[name.len()..].trim_start();
            let is_rule = !rest.starts_with('(')
                && ["if", ":=", "=", "contains", "[", "{"]
                    .iter()
                    .any(|k| rest.starts_with(k));
            if !is_rule {
                continue;
            }
            let path = format!("data.{package}.{name}");
            let row = i as u32 + 1;
            match out.iter_mut().find(|r| r.0 == path) {
                None => out.push((path, m.path.clone(), row, is_default)),
                // Shown at its first definition with a body, not its `default`.
                Some(r) if r.3 && !is_default => {
                    (r.1, r.2, r.3) = (m.path.clone(), row, false);
                }
                Some(_) => {}
            }
        }
    }
    out.into_iter().map(|(p, f, r, _)| (p, f, r)).collect()
}

/// The policy lines one input executes, by file, from regorus' coverage
/// report.
fn coverage(
    policy: &PolicyPlan,
    input: Option<&regorus::Value>,
) -> Option<Vec<(String, Vec<u32>)>> {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(policy.rego_v0);
    for m in &policy.modules {
        engine.add_policy(m.path.clone(), m.text.clone()).ok()?;
    }
    engine
        .add_data(regorus::Value::from(policy.data.clone()))
        .ok()?;
    engine.set_enable_coverage(true);
    engine.set_input(input.cloned().unwrap_or_else(regorus::Value::new_object));
    engine.eval_rule(policy.query.clone()).ok()?;
    let report = engine.get_coverage_report().ok()?;
    Some(
        report
            .files
            .iter()
            .filter(|f| !f.covered.is_empty())
            .map(|f| (f.path.clone(), f.covered.iter().copied().collect()))
            .collect(),
    )
}
