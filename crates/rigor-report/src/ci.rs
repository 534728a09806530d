//! Outputs for CI systems and reviews: the views of JUnit XML (each
//! threshold and regression check a test case) and of the Markdown summary
//! (GitHub's `$GITHUB_STEP_SUMMARY`, pasted into reviews), rendered by the
//! templates `junit.xml.j2` and `summary.md.j2` like the other reports, and
//! the benchstat-like table of `rigor compare`. All read a results file alone.

use rigor_results::{RegressionCheck, RegressionReport};
use rigor_results::{Results, Verdict};
use serde::Serialize;

use crate::escape::terminal_safe;
use crate::format::{change_text, format_metric, format_p, pct};

/// One JUnit test case.
#[derive(Debug, Serialize)]
pub struct Case {
    /// `scenario.thresholds.target` and the like.
    pub class: String,
    /// `case target metric`.
    pub name: String,
    /// The failure's text, when it failed.
    pub failure: Option<String>,
    /// The error's text, when the run stopped before this could be judged
    /// (JUnit's `<error>`: the test could not run, not a wrong result).
    pub error: Option<String>,
    /// A WARN: the case passes, and carries the reason where CI shows it.
    pub warning: Option<String>,
    /// Not measured for this target.
    pub skipped: bool,
}

fn cases(results: &Results) -> Vec<Case> {
    let mut out = Vec::new();
    for case in &results.cases {
        for t in &case.targets {
            for g in &t.grades {
                let text = format!(
                    "{} = {} (target {}, critical {}){}{}",
                    g.metric,
                    format_metric(&g.metric, g.value),
                    format_metric(&g.metric, g.target),
                    format_metric(&g.metric, g.critical),
                    match (g.low, g.high) {
                        (Some(l), Some(h)) => format!(
                            ", trials' interval [{}, {}]",
                            format_metric(&g.metric, Some(l)),
                            format_metric(&g.metric, Some(h))
                        ),
                        _ => String::new(),
                    },
                    g.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
                out.push(Case {
                    class: format!("{}.thresholds.{}", results.scenario.name, t.id),
                    name: format!("{} {} {}", case.name, t.id, g.metric),
                    failure: (g.verdict == Verdict::Fail).then(|| text.clone()),
                    error: None,
                    warning: (g.verdict == Verdict::Warn).then(|| text.clone()),
                    skipped: g.verdict == Verdict::Skip,
                });
            }
            if let Some(e) = &t.error {
                out.push(Case {
                    class: format!("{}.run.{}", results.scenario.name, t.id),
                    name: format!("{} {} ran", case.name, t.id),
                    failure: Some(e.clone()),
                    error: None,
                    warning: None,
                    skipped: false,
                });
            }
        }
    }
    // The decision check is a test of each policy target, as k6 reports its
    // checks: a wrong answer is a failure even when nothing was timed.
    if let Some(v) = &results.verification {
        for id in &v.targets {
            let problem = v.target_problem(id);
            let blocking = v.mode != rigor_scenario::plan::VerifyMode::Off;
            out.push(Case {
                class: format!("{}.decisions.{id}", results.scenario.name),
                name: format!(
                    "{id} answers {} input(s){}",
                    v.inputs,
                    if v.expectations > 0 {
                        format!(", {} with expect:", v.expectations)
                    } else {
                        String::new()
                    }
                ),
                failure: problem.clone().filter(|_| blocking && v.gate),
                error: None,
                warning: problem.filter(|_| !(blocking && v.gate)),
                skipped: false,
            });
        }
    }
    // A run stopped by a failure (the gate, a target that did not build or
    // start) could not measure: a JUnit error naming the reason, so that a
    // CI reader sees why rather than an empty or unparseable file.
    if let Some(reason) = &results.stop_reason {
        out.push(Case {
            class: format!("{}.run", results.scenario.name),
            name: "run completed".into(),
            failure: None,
            error: Some(format!(
                "stopped: {reason}; {}",
                if results.cases.is_empty() {
                    "nothing was measured"
                } else {
                    "the results are partial"
                }
            )),
            warning: None,
            skipped: false,
        });
    } else if results.status.cut_short() {
        // A run cut short fails like a failed target: its exit code is 3.
        out.push(Case {
            class: format!("{}.run", results.scenario.name),
            name: "run completed".into(),
            failure: Some(match &results.merged {
                Some(m) if !m.missing.is_empty() => format!(
                    "incomplete: shard(s) {} missing or failed; the results are partial",
                    m.missing_list()
                ),
                _ => "interrupted: the results are partial".into(),
            }),
            error: None,
            warning: None,
            skipped: false,
        });
    }
    for (r, kind) in results
        .regression
        .iter()
        .map(|r| (r, "regression"))
        .chain(results.paired.iter().map(|r| (r, "paired")))
    {
        for c in &r.checks {
            let text = format!(
                "{}: {} -> {}, change {}, p = {}: {}",
                c.metric,
                format_metric(&c.metric, Some(c.base)),
                format_metric(&c.metric, Some(c.new)),
                change_text(c),
                c.p_value.map_or("-".into(), format_p),
                c.reason
            );
            out.push(Case {
                class: format!("{}.{kind}.{}", results.scenario.name, c.target),
                name: format!("{} {} {} vs {}", c.case, c.target, c.metric, r.baseline),
                failure: (c.verdict == Verdict::Fail).then(|| text.clone()),
                error: None,
                warning: (c.verdict == Verdict::Warn).then_some(text),
                skipped: false,
            });
        }
    }
    out
}

/// A regression check's cells: case, target, metric, old, new, change, p.
fn check_cells(c: &RegressionCheck) -> Vec<String> {
    vec![
        c.case.clone(),
        c.target.clone(),
        c.metric.clone(),
        format_metric(&c.metric, Some(c.base)),
        format_metric(&c.metric, Some(c.new)),
        change_text(c),
        c.p_value.map_or("-".into(), format_p),
    ]
}

fn badge(v: Verdict) -> &'static str {
    match v {
        Verdict::Skip => "N/A",
        Verdict::Pass => "✅ PASS",
        Verdict::Warn => "⚠️ WARN",
        Verdict::Fail => "❌ FAIL",
    }
}

/// What `junit.xml.j2` sees: one test suite, a test case per threshold
/// grade, per failed target and per regression check.
#[derive(Debug, Serialize)]
pub struct JunitView {
    /// Scenario name.
    pub suite: String,
    /// When the run started.
    pub timestamp: String,
    /// Test cases.
    pub tests: usize,
    /// Failed ones.
    pub failures: usize,
    /// Ones that could not run (the run stopped first).
    pub errors: usize,
    /// Skipped ones.
    pub skipped: usize,
    /// The cases.
    pub cases: Vec<Case>,
}

impl JunitView {
    /// The JUnit view of a results file.
    pub fn new(results: &Results) -> Self {
        let cases = cases(results);
        JunitView {
            suite: results.scenario.name.clone(),
            timestamp: results.started_at.clone(),
            tests: cases.len(),
            failures: cases.iter().filter(|c| c.failure.is_some()).count(),
            errors: cases.iter().filter(|c| c.error.is_some()).count(),
            skipped: cases.iter().filter(|c| c.skipped).count(),
            cases,
        }
    }
}

/// JUnit XML from the built-in template.
pub fn junit(results: &Results) -> String {
    built_in(|r| r.junit(results))
}

/// The Markdown summary from the built-in template.
pub fn markdown(results: &Results) -> String {
    built_in(|r| r.markdown(results))
}

/// Renders with the built-in templates, which the tests render on every
/// kind of results; a failure is shown in the output rather than lost.
fn built_in(f: impl FnOnce(&crate::Renderer) -> Result<String, crate::ReportError>) -> String {
    crate::Renderer::new(None)
        .and_then(|r| f(&r))
        .unwrap_or_else(|e| format!("rigor: cannot render a built-in template: {e}\n"))
}

/// What `summary.md.j2` sees: the summary reviews paste, in their usual
/// shape. Values are formatted, not escaped: the template's auto-escape does that.
#[derive(Debug, Serialize)]
pub struct MarkdownView {
    /// What to look at: items built from measured numbers.
    pub advice: Vec<String>,
    /// The profiled policies' hottest lines (the top 5 of each).
    pub profiles: Vec<crate::cost::ProfileView>,
    /// The slowest inputs per case and target (the top 3 of each).
    pub input_costs: Vec<(String, crate::cost::InputCostView)>,
    /// `--mode profile`: allocation hotspots per target.
    pub alloc_profile: Option<crate::alloc::AllocView>,
    /// Scenario name.
    pub name: String,
    /// Scenario file.
    pub path: String,
    /// `✅ PASS` and the like.
    pub badge: String,
    /// `3 FAIL, 2 WARN, 10 PASS`.
    pub checks: String,
    /// When the run started.
    pub date: String,
    /// rigor's version and commit.
    pub rigor: String,
    /// CPU, cores, OS.
    pub platform: String,
    /// Run mode.
    pub mode: String,
    /// Why the run stopped before measuring everything, and what that left.
    pub stopped: Option<String>,
    /// The decision check: targets, inputs, expectations met, agreement.
    pub decisions: Option<String>,
    /// `--set` and `--only`, when the run changed the file.
    pub changed: Option<String>,
    /// A shard's part of a sharded run, or what a merge of shards took.
    pub shards: Vec<String>,
    /// The comparison baseline target.
    pub baseline: Option<String>,
    /// One section per case.
    pub cases: Vec<MarkdownCase>,
    /// Threshold grades.
    pub grades: Vec<Vec<String>>,
    /// Against a saved baseline.
    pub regression: Option<MarkdownRegression>,
    /// Paired comparisons within the run.
    pub paired: Option<MarkdownRegression>,
    /// Memory rows: case, target, what is counted, peak resident, B/op, allocs/op, growth.
    pub memory: Vec<Vec<String>>,
    /// Notes a reader needs (noisy, generator-bound, unresolved, errors).
    pub notes: Vec<String>,
}

/// One case of the Markdown summary.
#[derive(Debug, Serialize)]
pub struct MarkdownCase {
    /// Case name.
    pub name: String,
    /// Ran in paired rounds: the ratios are for reference.
    pub paired: bool,
    /// Quick metrics: target, ops/s, ns/op, p50, p95, p99, B/op, allocs/op, compile.
    pub quick: Vec<Vec<String>>,
    /// Detailed percentiles: target, p50, p90, p95, p99, p99.9, max.
    pub percentiles: Vec<Vec<String>>,
    /// Comparisons: target, metric, ratio, 95% interval, conclusion.
    pub ratios: Vec<Vec<String>>,
}

/// The regression section of the Markdown summary.
#[derive(Debug, Serialize)]
pub struct MarkdownRegression {
    /// The section's heading before the baseline's name.
    pub title: String,
    /// Baseline name.
    pub baseline: String,
    /// Its verdict badge.
    pub badge: String,
    /// Why FAILs were capped.
    pub downgraded: Option<String>,
    /// Rows: case, target, metric, previous, current, change, p, verdict, why.
    pub rows: Vec<Vec<String>>,
}

impl MarkdownView {
    /// The Markdown view of a results file.
    pub fn new(results: &Results) -> Self {
        let env = &results.environment;
        let metric =
            |t: &rigor_results::TargetResult, m: &str| format_metric(m, t.metrics.get(m).copied());
        let cases = results
            .cases
            .iter()
            .map(|c| MarkdownCase {
                name: c.name.clone(),
                paired: !c.rounds.is_empty(),
                quick: c
                    .targets
                    .iter()
                    .map(|t| {
                        let ops = if c.rate.is_some() {
                            "rate.achieved"
                        } else {
                            "throughput"
                        };
                        vec![
                            t.id.clone(),
                            metric(t, ops),
                            metric(t, "latency.mean"),
                            metric(t, "latency.p50"),
                            metric(t, "latency.p95"),
                            metric(t, "latency.p99"),
                            metric(t, "memory.bytes_per_op"),
                            metric(t, "memory.allocs_per_op"),
                            metric(t, "compile.time"),
                        ]
                    })
                    .collect(),
                percentiles: c
                    .targets
                    .iter()
                    .map(|t| {
                        std::iter::once(t.id.clone())
                            .chain(
                                [
                                    "latency.p50",
                                    "latency.p90",
                                    "latency.p95",
                                    "latency.p99",
                                    "latency.p99.9",
                                    "latency.max",
                                ]
                                .iter()
                                .map(|m| metric(t, m)),
                            )
                            .collect()
                    })
                    .collect(),
                ratios: c
                    .targets
                    .iter()
                    .flat_map(|t| t.ratios.iter().map(move |r| (t, r)))
                    .map(|(t, r)| {
                        vec![
                            t.id.clone(),
                            r.metric.clone(),
                            format!("{}x", rigor_scenario::units::significant(r.ratio)),
                            match (r.low, r.high) {
                                (Some(l), Some(h)) => format!(
                                    "[{}x, {}x]",
                                    rigor_scenario::units::significant(l),
                                    rigor_scenario::units::significant(h)
                                ),
                                _ => "-".into(),
                            },
                            r.conclusion.clone(),
                        ]
                    })
                    .collect(),
            })
            .collect();
        let grades = results
            .cases
            .iter()
            .flat_map(|c| c.targets.iter().map(move |t| (c, t)))
            .flat_map(|(c, t)| t.grades.iter().map(move |g| (c, t, g)))
            .map(|(c, t, g)| {
                vec![
                    c.name.clone(),
                    t.id.clone(),
                    g.metric.clone(),
                    format_metric(&g.metric, g.value),
                    format_metric(&g.metric, g.target),
                    format_metric(&g.metric, g.critical),
                    badge(g.verdict).into(),
                ]
            })
            .collect();
        let section = |r: &rigor_results::RegressionReport, title: String| MarkdownRegression {
            title,
            baseline: r.baseline.clone(),
            badge: badge(r.verdict).into(),
            downgraded: r.downgraded.clone(),
            rows: r
                .checks
                .iter()
                .map(|c| {
                    let mut cells = check_cells(c);
                    cells.extend([badge(c.verdict).into(), c.reason.clone()]);
                    cells
                })
                .collect(),
        };
        let regression = results
            .regression
            .as_ref()
            .map(|r| section(r, "Against baseline".into()));
        let paired = results
            .paired
            .as_ref()
            .map(|r| section(r, "Paired A/B against".into()));
        let memory = results
            .cases
            .iter()
            .flat_map(|c| c.targets.iter().map(move |t| (c, t)))
            .filter(|(_, t)| {
                t.metrics.contains_key("memory.bytes_per_op")
                    || t.metrics.contains_key("memory.peak_resident")
            })
            .map(|(c, t)| {
                let scope = results
                    .targets
                    .iter()
                    .find(|i| i.id == t.id)
                    .map(|i| match i.memory_scope.as_str() {
                        "client" => "rigor's client only (the server is another process)",
                        "tool" => "the tool's own heap (Go's, in `opa bench`)",
                        "operation" | "" => "in process",
                        other => other,
                    })
                    .unwrap_or("in process");
                vec![
                    c.name.clone(),
                    t.id.clone(),
                    scope.to_string(),
                    metric(t, "memory.peak_resident"),
                    metric(t, "memory.bytes_per_op"),
                    metric(t, "memory.allocs_per_op"),
                    metric(t, "memory.growth"),
                ]
            })
            .collect();
        let mut notes = Vec::new();
        let noisy: Vec<String> = results
            .cases
            .iter()
            .flat_map(|c| c.targets.iter().map(move |t| (c, t)))
            .filter(|(c, t)| t.noisy && c.rounds.is_empty())
            .map(|(c, t)| format!("{} {}", c.name, t.id))
            .collect();
        if !noisy.is_empty() {
            notes.push(format!(
                "Noisy (CV above {}): {}",
                pct(results.regression_config.noisy_cv).trim_start_matches('+'),
                noisy.join(", ")
            ));
        }
        for c in &results.cases {
            for t in &c.targets {
                if t.trials.iter().any(|tr| tr.generator_bound) {
                    notes.push(format!(
                        "{} {}: generator-bound (the schedule's p99 lag exceeded 1ms): its latencies partly measure rigor",
                        c.name, t.id
                    ));
                }
                if let Some(e) = &t.error {
                    notes.push(format!("{} {} failed: {e}", c.name, t.id));
                }
                if let Some(n) = crate::case::over_time_note(t) {
                    notes.push(format!("{} {}: {n}", c.name, t.id));
                }
                for n in t.trial_notes() {
                    notes.push(format!("{} {}: {n}", c.name, t.id));
                }
            }
        }
        notes.extend(crate::view::method_notes(results));
        notes.extend(results.errors.iter().map(|e| format!("run error: {e}")));
        let s = &results.scenario;
        MarkdownView {
            advice: crate::view::advice_of(results),
            profiles: crate::cost::profiles(&results.targets),
            input_costs: results
                .cases
                .iter()
                .flat_map(|c| {
                    crate::cost::input_costs(c)
                        .into_iter()
                        .map(move |v| (c.name.clone(), v))
                })
                .collect(),
            alloc_profile: results
                .alloc_profile
                .as_ref()
                .map(crate::alloc::AllocView::new),
            name: s.name.clone(),
            path: s.path.clone(),
            badge: badge(results.overall_verdict()).into(),
            checks: results.check_counts_text(),
            date: results.started_at.clone(),
            rigor: match &env.git_commit {
                Some(c) => format!("{} ({c})", env.rigor_version),
                None => env.rigor_version.clone(),
            },
            platform: format!("{} ({} cores), {}", env.cpu_model, env.cores, env.os),
            mode: format!("{:?}", s.mode).to_lowercase(),
            stopped: results.stop_reason.as_ref().map(|r| {
                format!(
                    "{r}. {}",
                    if results.cases.is_empty() {
                        "Nothing was measured."
                    } else {
                        "Only what was measured before is below."
                    }
                )
            }),
            decisions: results.verification.as_ref().map(|v| {
                format!(
                    "checked before timing on {} input(s): {}{}",
                    v.inputs,
                    v,
                    match v.mode {
                        rigor_scenario::plan::VerifyMode::Gate => " (gated)",
                        rigor_scenario::plan::VerifyMode::Warn => " (verify: warn)",
                        rigor_scenario::plan::VerifyMode::Off => " (verify: false, recorded only)",
                    }
                )
            }),
            changed: crate::view::changes(s),
            shards: crate::view::shard_lines(results),
            baseline: results.baseline.clone(),
            cases,
            grades,
            regression,
            paired,
            memory,
            notes,
        }
    }
}

/// `rigor compare`: every shared case, target and metric, then geomeans.
pub fn compare_table(r: &RegressionReport) -> String {
    let header = [
        "case",
        "target",
        "metric",
        "old",
        "new",
        "change of the value [95% interval]",
        "p",
        "verdict",
    ];
    let mut rows: Vec<Vec<String>> = r
        .checks
        .iter()
        .map(|c| {
            let mut cells = check_cells(c);
            cells.push(c.verdict.label().to_string());
            cells
        })
        .collect();
    for (metric, label) in [
        ("latency.p50", "geomean latency.p50"),
        ("latency.mean", "geomean latency.mean"),
        ("throughput", "geomean throughput"),
    ] {
        if let Some(g) = r.geomean.get(metric) {
            rows.push(vec![
                "(all)".into(),
                "(all)".into(),
                label.into(),
                String::new(),
                String::new(),
                format!(
                    "{} (new/old x{})",
                    pct(g - 1.0),
                    rigor_scenario::units::significant(*g)
                ),
                String::new(),
                String::new(),
            ]);
        }
    }
    // Printed on a terminal: no control characters, no passwords, from any cell.
    for cell in rows.iter_mut().flatten() {
        *cell = terminal_safe(cell);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if (3..=6).contains(&i) {
                l.push_str(&" ".repeat(pad));
                l.push_str(cell);
            } else {
                l.push_str(cell);
                l.push_str(&" ".repeat(pad));
            }
            l.push_str("  ");
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = format!("rigor compare · baseline {}\n", terminal_safe(&r.baseline));
    if let Some(d) = &r.downgraded {
        out.push_str(&format!("NOTE: {}\n", terminal_safe(d)));
    }
    out.push('\n');
    out.push_str(&line(&header.map(String::from)));
    for row in &rows {
        out.push_str(&line(row));
    }
    for c in r.checks.iter().filter(|c| c.verdict != Verdict::Pass) {
        out.push_str(&format!(
            "\n{} {} {}: {} — {}",
            c.verdict.label(),
            terminal_safe(&c.case),
            terminal_safe(&c.target),
            terminal_safe(&c.metric),
            terminal_safe(&c.reason)
        ));
    }
    out.push_str(&format!("\n\nverdict: {}\n", r.verdict.label()));
    out
}
