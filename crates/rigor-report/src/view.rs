//! View structs: what templates see. Values arrive formatted with units.

use rigor_results::{RegressionReport, Results, RunStatus, Verdict};
use rigor_scenario::plan::Stop;
use rigor_scenario::units::{format_nanos, significant};
use serde::Serialize;

use crate::case::{case_view, column_widths, CaseView};
use crate::chart;
use crate::escape::Styled;
use crate::format::{distribution_label, format_metric, format_p, kind_label};

/// The whole report.
#[derive(Debug, Serialize)]
pub struct ReportView {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: Option<String>,
    /// Scenario file.
    pub path: String,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub finished_at: String,
    /// `complete`, `interrupted` or `running`.
    pub status: String,
    /// Run mode.
    pub mode: String,
    /// What the run changed from the file: `--set` overrides and `--only`.
    pub overrides: Option<String>,
    /// A shard's part of a sharded run, or what a merge of shards took.
    pub shards: Vec<String>,
    /// Overall verdict label (PASS/WARN/FAIL).
    pub verdict: String,
    /// Overall verdict, coloured for terminals when colour is on.
    pub verdict_colored: Styled,
    /// CSS class of the verdict.
    pub verdict_class: String,
    /// Grade counts, e.g. `12 PASS, 1 WARN`.
    pub grade_counts: String,
    /// The workload in one line.
    pub workload: String,
    /// Environment rows.
    pub environment: Vec<(String, String)>,
    /// Per-target setup rows (compile times).
    pub setup: Vec<SetupRow>,
    /// One section per case.
    pub cases: Vec<CaseView>,
    /// The first screen: headline numbers and bars per case.
    pub glance: Vec<GlanceCase>,
    /// Run errors.
    pub errors: Vec<String>,
    /// Notes a reader needs to judge the numbers.
    pub notes: Vec<String>,
    /// `id measures: ...` for targets not timed by rigor itself (`opa bench`).
    pub methods: Vec<String>,
    /// Which method produced each comparison's verdict (paired rounds, by
    /// default or asked for; trial medians; a saved baseline).
    pub verdict_methods: Vec<String>,
    /// `case target` pairs whose throughput varied more than `regression.noisy_cv` across trials.
    pub noisy: Vec<String>,
    /// The scenario file text.
    pub source: String,
    /// The baseline of comparisons.
    pub baseline: Option<String>,
    /// What the correctness gate checked, in one line.
    pub verification: Option<String>,
    /// What every policy target answered for every input, before timing.
    pub decisions: Option<DecisionsView>,
    /// The cache workload (or the input distribution) in one line.
    pub keys: Option<String>,
    /// The comparison against a saved baseline.
    pub regression: Option<RegressionView>,
    /// Paired comparisons within this run (`compare: { paired: true }`).
    pub paired: Option<RegressionView>,
    /// Full mode: the A/A control's outcome in one line.
    pub aa_control: Option<String>,
    /// Files beside the results (flame graphs), with what each is.
    pub artifacts: Vec<Artifact>,
    /// `--mode profile`: where the memory goes, per target.
    pub alloc_profile: Option<crate::alloc::AllocView>,
    /// latency.p99 over the last runs, per case.
    pub trends: Vec<chart::TrendChart>,
}

/// The comparison against a baseline.
#[derive(Debug, Serialize)]
pub struct RegressionView {
    /// The section's heading: `Against baseline X` or `Paired A/B against X`.
    pub title: String,
    /// How the change, its interval and the verdict are made, in a sentence or two.
    pub method: String,
    /// Baseline name or file.
    pub baseline: String,
    /// When the baseline ran.
    pub baseline_started_at: String,
    /// PASS/WARN/FAIL.
    pub verdict: String,
    /// CSS class.
    pub class: String,
    /// Why FAILs were capped, if they were.
    pub downgraded: Option<String>,
    /// Default threshold, e.g. `10%`.
    pub threshold: String,
    /// One row per check.
    pub rows: Vec<RegressionRow>,
    /// Column widths for text.
    pub widths: Vec<usize>,
}

/// One regression check.
#[derive(Debug, Serialize)]
pub struct RegressionRow {
    /// Cells: case, target, metric, base, new, change \[interval\], p, verdict.
    pub cells: Vec<String>,
    /// Verdict coloured for terminals.
    pub verdict_colored: Styled,
    /// CSS class.
    pub class: String,
    /// Why.
    pub reason: String,
}

fn keys_line(results: &Results) -> Option<String> {
    use rigor_scenario::units::format_bytes;
    let seed = results.scenario.workload.seed;
    if let Some(c) = &results.scenario.cache {
        let values = if c.value_min == c.value_max {
            format_bytes(c.value_min as f64)
        } else {
            format!(
                "{}..{}",
                format_bytes(c.value_min as f64),
                format_bytes(c.value_max as f64)
            )
        };
        return Some(format!(
            "cache: {} keys, {}, values {values}, {}% reads, on a miss {}, {}{}, seed {seed}",
            c.keys,
            distribution_label(&c.distribution),
            significant(c.read_ratio * 100.0),
            match c.miss {
                rigor_scenario::model::MissPolicy::Fill => "fill",
                rigor_scenario::model::MissPolicy::None => "nothing",
            },
            c.ttl
                .map(|t| format!("ttl {}, ", format_nanos(t.as_nanos() as f64)))
                .unwrap_or_default(),
            if c.preload {
                "preloaded with the most popular keys"
            } else {
                "no preload"
            },
        ));
    }
    results.scenario.inputs_order.as_ref().map(|d| {
        format!(
            "inputs picked {} over {} input(s), seed {seed}",
            distribution_label(d),
            results.scenario.inputs
        )
    })
}

/// A target's setup costs.
#[derive(Debug, Serialize)]
pub struct SetupRow {
    /// Target id.
    pub id: String,
    /// Kind, with configuration.
    pub kind: String,
    /// Median parse + compile.
    pub total: String,
    /// Median parse.
    pub parse: String,
    /// Median compile.
    pub compile: String,
    /// Number of fresh runs.
    pub runs: usize,
}

pub(crate) use crate::format::{class, colored};

impl ReportView {
    /// Builds the view of `results`.
    pub fn new(results: &Results, color: bool) -> Self {
        let environment = environment_rows(results);
        let workload = workload_line(results);
        let setup = setup_rows(results);
        let cases = results
            .cases
            .iter()
            .map(|case| case_view(case, color))
            .collect();
        let grade_counts = results.check_counts_text();
        let (notes, methods) = run_notes(results);
        let noisy = results
            .cases
            .iter()
            .flat_map(|c| c.targets.iter().map(move |t| (c, t)))
            .filter(|(c, t)| t.noisy && c.rounds.is_empty())
            .map(|(c, t)| format!("{} {}", c.name, t.id))
            .collect();
        // The headline covers the regression check and failed targets too.
        let verdict = results.overall_verdict();
        ReportView {
            name: results.scenario.name.clone(),
            description: results.scenario.description.clone(),
            path: results.scenario.path.clone(),
            started_at: results.started_at.clone(),
            finished_at: results.finished_at.clone(),
            status: status(results.status).into(),
            mode: format!("{:?}", results.scenario.mode).to_lowercase(),
            overrides: overrides_line(&results.scenario),
            shards: shard_lines(results),
            verdict: verdict.label().into(),
            verdict_colored: colored(verdict, color),
            verdict_class: class(verdict).into(),
            grade_counts,
            workload,
            environment,
            setup,
            cases,
            glance: glance(results),
            errors: results.errors.clone(),
            notes,
            methods,
            verdict_methods: method_notes(results),
            noisy,
            source: results.scenario.source.clone(),
            baseline: results.baseline.clone(),
            verification: results.verification.as_ref().map(|v| v.to_string()),
            decisions: results.verification.as_ref().map(decisions_view),
            keys: keys_line(results),
            regression: results
                .regression
                .as_ref()
                .map(|r| regression_view(r, color, false)),
            paired: results
                .paired
                .as_ref()
                .map(|r| regression_view(r, color, true)),
            aa_control: results.aa_control.as_ref().map(aa_control_line),
            artifacts: results.artifacts.iter().map(|a| Artifact::new(a)).collect(),
            alloc_profile: results
                .alloc_profile
                .as_ref()
                .map(crate::alloc::AllocView::new),
            trends: chart::trend_charts(results),
        }
    }
}

/// The environment table: machine, clock, timer, versions, peers.
fn environment_rows(results: &Results) -> Vec<(String, String)> {
    let env = &results.environment;
    let h = &results.harness;
    let mut environment = vec![
        (
            "CPU".to_string(),
            format!("{} ({} cores)", env.cpu_model, env.cores),
        ),
        ("OS".into(), env.os.clone()),
        ("Host".into(), env.hostname.clone()),
        (
            "Clock source".into(),
            env.clock_source.clone().unwrap_or_else(|| "unknown".into()),
        ),
        (
            "Timer".into(),
            format!(
                "{} per read, resolution {}",
                format_nanos(h.timer_cost_ns),
                format_nanos(h.timer_resolution_ns as f64)
            ),
        ),
        ("rigor".into(), env.rigor_version.clone()),
        ("rustc".into(), env.rustc.clone()),
    ];
    if let Some(c) = &env.git_commit {
        environment.push(("Commit".into(), c.clone()));
    }
    for (name, version) in &env.peers {
        environment.push((name.clone(), version.clone()));
    }
    environment
}

/// The workload in one line: loop shape, warm-up, stop, trials, inputs.
fn workload_line(results: &Results) -> String {
    let w = &results.scenario.workload;
    let stop = match w.stop {
        Stop::Duration(d) => format!("{} measured", format_nanos(d.as_nanos() as f64)),
        Stop::Iterations(n) => format!("{n} iterations per worker"),
    };
    let shape = if w.rate.is_empty() {
        format!("closed loop, concurrency {:?}", w.concurrency)
    } else {
        format!(
            "open loop at {} (latency from the intended start), at most {:?} in flight",
            w.rate
                .iter()
                .map(|r| format!("{}/s", significant(*r)))
                .collect::<Vec<_>>()
                .join(", "),
            w.concurrency
        )
    };
    format!(
        "{shape}, warm-up {}, {stop}, {} trial(s), {} input(s), targets interleaved",
        format_nanos(w.warmup.as_nanos() as f64),
        w.trials,
        results.scenario.inputs
    )
}

/// Policy load and compile times per target (median of the runs).
fn setup_rows(results: &Results) -> Vec<SetupRow> {
    results
        .targets
        .iter()
        .filter(|t| !t.setup.parse_ns.is_empty())
        .map(|t| {
            let med = |v: &[u64]| {
                let f: Vec<f64> = v.iter().map(|x| *x as f64).collect();
                rigor_results::histogram::median(&f)
                    .map(format_nanos)
                    .unwrap_or_else(|| "-".into())
            };
            let total: Vec<u64> = t
                .setup
                .parse_ns
                .iter()
                .zip(&t.setup.compile_ns)
                .map(|(a, b)| a + b)
                .collect();
            SetupRow {
                id: t.id.clone(),
                kind: kind_label(&t.kind, &t.config),
                total: med(&total),
                parse: med(&t.setup.parse_ns),
                compile: med(&t.setup.compile_ns),
                runs: total.len(),
            }
        })
        .collect()
}

/// The run's notes (how latency was timed, memory accounting, noise, how
/// grading works, each target's method, the server's view, partial runs)
/// and the targets' methods on their own.
fn run_notes(results: &Results) -> (Vec<String>, Vec<String>) {
    let h = &results.harness;
    let mut notes = vec![format!(
        "Latency: {}. Timer cost {} per read{}.",
        h.timing,
        format_nanos(h.timer_cost_ns),
        h.loop_cost_ns
            .map(|c| format!(
                "; the closed loop's own cost, inside each per-operation latency: {} per operation",
                format_nanos(c)
            ))
            .unwrap_or_default()
    )];
    if !h.memory_accounting {
        notes.push("Memory accounting was off (jemalloc not the global allocator): memory metrics are absent.".into());
    }
    let noisy_cv = results.regression_config.noisy_cv * 100.0;
    notes.push(format!(
        "ops/s cv is the coefficient of variation of throughput across trials; above {}% the case is marked noisy: differences smaller than a few times the cv are not resolved.",
        significant(noisy_cv)
    ));
    notes.push("Thresholds are graded on the trials' 95% interval of the median (order statistics; with 5 trials or fewer the range, at lower confidence): PASS when the whole interval meets the target, FAIL when even its best end misses the critical level, WARN in between. See docs/STATISTICS.md.".into());
    notes.push("memory.peak_resident is jemalloc's process-wide resident bytes, sampled every 10ms while all workers measure.".into());
    let methods: Vec<String> = results
        .targets
        .iter()
        .filter_map(|t| t.method.as_ref().map(|m| format!("{} measures: {m}", t.id)))
        .collect();
    notes.extend(methods.iter().cloned());
    notes.extend(method_notes(results));
    if results
        .cases
        .iter()
        .flat_map(|c| &c.targets)
        .any(|t| t.metrics.contains_key("server.eval.mean"))
    {
        notes.push("The server's view: OPA's own timers for each measured request (?metrics=true): eval = timer_rego_query_eval_ns, the policy evaluation; handler = timer_server_handler_ns, the whole request inside OPA (input parse, evaluation, answer). client mean - handler mean is network, HTTP and the client; eval share = eval mean / client mean. Server B/op, allocs/op and GC are Go's heap counters from OPA's /metrics, read before and after each trial, per request OPA counted (warm-up included; scope: server, not comparable with in-process bytes/op).".into());
    }
    if let Some(reason) = &results.stop_reason {
        notes.push(format!(
            "The run stopped: {reason}. {}",
            if results.cases.is_empty() {
                "Nothing was measured."
            } else {
                "The numbers cover only what was measured before."
            }
        ));
    } else if results.status != RunStatus::Complete {
        notes.push(format!(
            "The run is {}: the numbers cover only what was measured.",
            status(results.status)
        ));
    }
    (notes, methods)
}

/// Which method produced each comparison's verdict, in words.
pub(crate) fn method_notes(results: &Results) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(p) = &results.paired {
        notes.push(format!(
            "Verdicts against `{}` come from paired rounds within this run (per-round ratios, drift cancelled){}; the ratios of trial medians are shown for reference only.",
            p.baseline,
            if results.regression_config.paired_by_default {
                ": paired by default, since the comparison has a regression threshold and every target takes rounds (`compare: { paired: false }` compares trial medians instead)"
            } else {
                ""
            }
        ));
    } else if let Some(base) = &results.baseline {
        notes.push(format!(
            "Targets are compared with `{base}` by the ratio of trial medians (unpaired): nothing is graded on it; `regression.threshold` with `compare` grades the change in paired rounds."
        ));
    }
    if let Some(r) = &results.regression {
        notes.push(format!(
            "Verdicts against the saved baseline `{}` compare this run's trials with that run's (two runs apart: machine drift is part of the change).",
            r.baseline
        ));
    }
    notes
}

/// The A/A control's outcome in one line, with its first non-PASS check.
fn aa_control_line(a: &RegressionReport) -> String {
    let worst = a
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| format!("{} {}: {}", c.case, c.metric, c.reason))
        .next();
    format!(
        "A/A control ({}): {}{}",
        a.baseline,
        a.verdict.label(),
        worst.map(|w| format!(" — e.g. {w}")).unwrap_or_default()
    )
}

/// Inputs the console shows (problem inputs are shown besides these).
const CONSOLE_ANSWERS: usize = 5;

/// The decision summary and per-input answers.
#[derive(Debug, Serialize)]
pub struct DecisionsView {
    /// Whether a problem stops the run (`verify:`).
    pub gate: bool,
    /// `verify: warn`: a problem is measured anyway and marks the run.
    pub warn: bool,
    /// Policy targets, in column order.
    pub targets: Vec<String>,
    /// Each target's decisions: `(id, "false x3, true x1")`.
    pub summaries: Vec<(String, String)>,
    /// Warnings (every input answered the same, or undefined).
    pub notes: Vec<String>,
    /// Inputs evaluated.
    pub inputs: usize,
    /// Every kept input's answers (HTML).
    pub rows: Vec<AnswerRow>,
    /// The first few and every problem input (console).
    pub console_rows: Vec<AnswerRow>,
    /// Inputs the console leaves out.
    pub console_more: usize,
    /// Inputs left out of `rows` (past the results' cap).
    pub rows_more: usize,
    /// Whether any input has an `expect:` (an expect column is shown).
    pub any_expect: bool,
    /// Whether any evaluation printed (a prints column is shown).
    pub any_prints: bool,
    /// Column widths for the console: input, expect, then one per target.
    pub widths: Vec<usize>,
}

/// One input's answers.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerRow {
    /// Where the input came from.
    pub origin: String,
    /// The input, compact JSON (cut).
    pub input: String,
    /// The expected decision, or empty.
    pub expect: String,
    /// Each target's answer, in `targets` order.
    pub answers: Vec<String>,
    /// `differs`, `unexpected`, `error` or empty.
    pub flag: String,
    /// Lines one evaluation printed.
    pub print_lines: usize,
    /// The first of them.
    pub prints: Vec<String>,
}

fn decisions_view(v: &rigor_results::Verification) -> DecisionsView {
    let rows: Vec<AnswerRow> = v
        .answers
        .iter()
        .map(|a| {
            let answers: Vec<String> = v
                .targets
                .iter()
                .map(|id| a.answers.get(id).cloned().unwrap_or_default())
                .collect();
            let flag = if answers.iter().any(|t| t.starts_with("error: ")) {
                "error"
            } else if !a.agree {
                "differs"
            } else if !a.expected {
                "unexpected"
            } else {
                ""
            };
            AnswerRow {
                origin: a.origin.clone(),
                input: a.input.clone(),
                expect: a.expect.clone().unwrap_or_default(),
                answers,
                flag: flag.into(),
                print_lines: a.print_lines,
                prints: a.prints.clone(),
            }
        })
        .collect();
    let console_rows: Vec<AnswerRow> = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| *i < CONSOLE_ANSWERS || !r.flag.is_empty())
        .map(|(_, r)| r.clone())
        .take(CONSOLE_ANSWERS * 3)
        .collect();
    let cut = |s: &str, n: usize| -> String {
        if s.chars().count() > n {
            s.chars().take(n - 1).chain(['…']).collect()
        } else {
            s.to_string()
        }
    };
    let console_rows: Vec<AnswerRow> = console_rows
        .into_iter()
        .map(|mut r| {
            r.input = cut(&format!("{} {}", r.origin, r.input), 72);
            r.answers = r.answers.iter().map(|a| cut(a, 40)).collect();
            r.expect = cut(&r.expect, 20);
            r
        })
        .collect();
    let mut widths = vec![
        console_rows
            .iter()
            .map(|r| r.input.chars().count())
            .max()
            .unwrap_or(5)
            .max(5),
        console_rows
            .iter()
            .map(|r| r.expect.chars().count())
            .max()
            .unwrap_or(6)
            .max(6),
    ];
    for (i, id) in v.targets.iter().enumerate() {
        widths.push(
            console_rows
                .iter()
                .map(|r| r.answers.get(i).map_or(0, |a| a.chars().count()))
                .max()
                .unwrap_or(0)
                .max(id.chars().count()),
        );
    }
    DecisionsView {
        gate: v.gate,
        warn: v.mode == rigor_scenario::plan::VerifyMode::Warn,
        targets: v.targets.clone(),
        summaries: v
            .summaries
            .iter()
            .map(|(id, s)| {
                let mut counts: Vec<(&String, &usize)> = s.iter().collect();
                counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let text: Vec<String> = counts.iter().map(|(d, n)| format!("{d} x{n}")).collect();
                (id.clone(), text.join(", "))
            })
            .collect(),
        notes: v.notes.clone(),
        inputs: v.inputs,
        console_more: v.inputs.saturating_sub(console_rows.len()),
        rows_more: v.inputs.saturating_sub(rows.len()),
        any_expect: v.expectations > 0,
        any_prints: rows.iter().any(|r| r.print_lines > 0),
        rows,
        console_rows,
        widths,
    }
}

fn regression_view(
    r: &rigor_results::RegressionReport,
    color: bool,
    paired: bool,
) -> RegressionView {
    let rows: Vec<RegressionRow> = r
        .checks
        .iter()
        .map(|c| RegressionRow {
            cells: vec![
                c.case.clone(),
                c.target.clone(),
                c.metric.clone(),
                format_metric(&c.metric, Some(c.base)),
                format_metric(&c.metric, Some(c.new)),
                crate::format::change_text(c),
                c.p_value.map_or("-".into(), format_p),
            ],
            verdict_colored: colored(c.verdict, color),
            class: class(c.verdict).into(),
            reason: c.reason.clone(),
        })
        .collect();
    let header = [
        "case",
        "target",
        "metric",
        "base",
        "new",
        "change of the value [95% interval]",
        "p",
    ];
    let widths = column_widths(
        std::iter::once(header.map(String::from).to_vec())
            .chain(rows.iter().map(|r| r.cells.clone())),
        header.len(),
    );
    let (title, method) = if paired {
        (
            format!("Paired A/B against {}, in this run's rounds", r.baseline),
            "Paired rounds within this run: the targets alternated in rounds of workload.round in seeded ABBA blocks; change: the mean time per operation, target against baseline, from the blocks' log ratios by batch medians (robust to a preempted round) with a 95% t interval across batches (which respects the rounds' serial correlation); p: two-sided t test of any change. FAIL when the interval's lower end is above the threshold, PASS when its upper end is below it, WARN otherwise; see docs/STATISTICS.md.".to_string(),
        )
    } else {
        (
            format!("Against baseline {}", r.baseline),
            "change: how the value moved, Hodges-Lehmann estimate with its interval, marked worse or better by the metric's direction; p: two-sided Mann-Whitney of any difference, as benchstat shows it; the verdict uses the one-sided test of \"worse by more than the threshold\" after Holm: Mann-Whitney, or Welch's t on log values when the trials are too few for the rank test; see docs/STATISTICS.md.".to_string(),
        )
    };
    RegressionView {
        title,
        method,
        baseline: r.baseline.clone(),
        baseline_started_at: r.baseline_started_at.clone(),
        verdict: r.verdict.label().into(),
        class: class(r.verdict).into(),
        downgraded: r.downgraded.clone(),
        threshold: format!("{}%", significant(r.config.threshold * 100.0)),
        rows,
        widths,
    }
}

/// A file beside the results, for a link.
#[derive(Debug, Serialize)]
pub struct Artifact {
    /// What it is: `CPU flame graph`, `Allocation flame graph`.
    pub label: String,
    /// The file, as a relative link.
    pub link: String,
}

impl Artifact {
    fn new(name: &str) -> Self {
        let label = if name.starts_with("alloc-") {
            "Allocation flame graph"
        } else {
            "CPU flame graph"
        };
        Artifact {
            label: label.into(),
            link: relative_link(name),
        }
    }
}

/// An artifact's name as a link that stays a file: a results file may be
/// edited, and `javascript:...` in an `href` would run on a click. A name
/// that could read as a scheme (`x:`) or another host (`//x`) gets `./`.
fn relative_link(name: &str) -> String {
    let scheme_like = name
        .split_once(':')
        .is_some_and(|(head, _)| !head.contains(['/', '\\']));
    let other_host = name.starts_with("//") || name.starts_with("\\\\");
    if scheme_like || other_host {
        format!("./{}", name.trim_start_matches(['/', '\\']))
    } else {
        name.to_string()
    }
}

/// `shard 1/2 of a sharded run: ...` for a shard's results; `merged from
/// 2 of 2 shards: ...` for a merge's.
pub(crate) fn shard_lines(results: &Results) -> Vec<String> {
    use rigor_scenario::units::{format_nanos, significant};
    let mut out = Vec::new();
    if let Some(s) = &results.shard {
        let parts: Vec<String> = results
            .cases
            .iter()
            .filter_map(|c| {
                let p = c.part?;
                let rate = p
                    .rate
                    .map(|r| format!(" at {}/s", significant(r)))
                    .unwrap_or_default();
                Some(match p.concurrency {
                    0 => format!("{}: nothing to do", c.name),
                    n => format!("{}: {n} worker(s){rate}", c.name),
                })
            })
            .collect();
        out.push(format!(
            "shard {} of a sharded run, its part of each case: {}; nothing is graded here: `rigor merge` of every shard's results grades the whole",
            s.shard,
            parts.join("; ")
        ));
        if let Some(at) = &s.start_at {
            out.push(match s.late_ns {
                0 => format!("started measuring at --start-at {at}"),
                late => format!(
                    "--start-at {at} had passed {} before this shard was ready: it started late",
                    format_nanos(late as f64)
                ),
            });
        }
    }
    if let Some(m) = &results.merged {
        let overlap = m
            .min_overlap
            .map(|o| {
                format!(
                    ", every trial's shards measured together for at least {:.1}% of its span",
                    o * 100.0
                )
            })
            .unwrap_or_default();
        out.push(format!(
            "merged from {} of {} shard(s) ({}): histograms added, rates summed; start skew at most {}{overlap}",
            m.merged.len(),
            m.count,
            if results.environment.hostname.is_empty() {
                "-".to_string()
            } else {
                results.environment.hostname.clone()
            },
            format_nanos(m.max_skew_ns as f64)
        ));
        if !m.missing.is_empty() {
            out.push(format!("INCOMPLETE: {}", m.missing_text()));
        }
        out.extend(m.notes.iter().cloned());
    }
    out
}

fn status(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "running",
        RunStatus::Complete => "complete",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Incomplete => "incomplete (shards missing)",
        RunStatus::Stopped => "stopped before measuring everything",
    }
}

/// One case on the first screen.
#[derive(Debug, Serialize)]
pub struct GlanceCase {
    /// Case name (`concurrency=1`).
    pub name: String,
    /// One row per target.
    pub rows: Vec<GlanceRow>,
    /// Throughput (achieved rate in rate mode) per target, with intervals.
    pub throughput: Option<crate::chart::BarChart>,
    /// p99 latency per target, with intervals.
    pub p99: Option<crate::chart::BarChart>,
}

/// A target's headline numbers in one case.
#[derive(Debug, Serialize)]
pub struct GlanceRow {
    /// Target id.
    pub target: String,
    /// Operations per second (achieved, in rate mode), with its interval.
    pub ops: String,
    /// Latency p50.
    pub p50: String,
    /// Latency p99, with its interval.
    pub p99: String,
    /// Bytes allocated per operation.
    pub bytes: String,
    /// Failed operations' share.
    pub errors: String,
    /// The target's worst grade (FAIL if it failed).
    pub verdict: String,
    /// CSS class of the verdict.
    pub verdict_class: String,
}

fn glance(results: &Results) -> Vec<GlanceCase> {
    results
        .cases
        .iter()
        .map(|case| {
            let rate = case.rate.is_some();
            let ops_metric = if rate { "rate.achieved" } else { "throughput" };
            let with_interval = |t: &rigor_results::TargetResult, m: &str| {
                let v = format_metric(m, t.metrics.get(m).copied());
                match t.stats.get(m).and_then(|s| s.interval.as_ref()) {
                    Some(i) => format!(
                        "{v} [{}, {}]",
                        format_metric(m, Some(i.low)),
                        format_metric(m, Some(i.high))
                    ),
                    None => v,
                }
            };
            let rows = case
                .targets
                .iter()
                .map(|t| {
                    let verdict = if t.error.is_some() {
                        Verdict::Fail
                    } else {
                        t.grades
                            .iter()
                            .map(|g| g.verdict)
                            .max()
                            .unwrap_or(Verdict::Skip)
                    };
                    GlanceRow {
                        target: t.id.clone(),
                        ops: with_interval(t, ops_metric),
                        p50: format_metric("latency.p50", t.metrics.get("latency.p50").copied()),
                        p99: with_interval(t, "latency.p99"),
                        bytes: format_metric(
                            "memory.bytes_per_op",
                            t.metrics.get("memory.bytes_per_op").copied(),
                        ),
                        errors: format_metric("errors.rate", t.metrics.get("errors.rate").copied()),
                        verdict: verdict.label().into(),
                        verdict_class: class(verdict).into(),
                    }
                })
                .collect();
            GlanceCase {
                name: case.name.clone(),
                rows,
                throughput: crate::chart::bar_chart(
                    case,
                    ops_metric,
                    if rate {
                        "achieved rate"
                    } else {
                        "throughput (higher is better)"
                    },
                    560.0,
                ),
                p99: crate::chart::bar_chart(
                    case,
                    "latency.p99",
                    "latency p99 (lower is better)",
                    560.0,
                ),
            }
        })
        .collect()
}

/// `--set a=b --set c=d --only x,y`, or `None` when the run is the file as written.
fn overrides_line(s: &rigor_results::ScenarioInfo) -> Option<String> {
    changes(s).map(|c| format!("changed for this run: {c}"))
}

/// What the run changed from the file, as command-line arguments
/// (`--set a=b --only x,y`); `None` for the file as written.
pub(crate) fn changes(s: &rigor_results::ScenarioInfo) -> Option<String> {
    let mut parts: Vec<String> = s.overrides.iter().map(|o| format!("--set {o}")).collect();
    if !s.only.is_empty() {
        parts.push(format!("--only {}", s.only.join(",")));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_show_only_the_settings_that_are_set() {
        let config = serde_json::json!({"cache": null, "engine": "vm"});
        assert_eq!(kind_label("regorus", &config), "regorus (engine: vm)");
        assert_eq!(
            kind_label("regorus", &serde_json::json!({"cache": null})),
            "regorus"
        );
        assert_eq!(
            kind_label("spin", &serde_json::json!({"service_time_ns": 50000})),
            "spin (service_time_ns: 50000)"
        );
        let cached = serde_json::json!({"engine": "vm", "cache": {"kind": "moka", "capacity": null, "key": ["input.user", "input.action"]}});
        assert_eq!(
            kind_label("regorus", &cached),
            "regorus (cache: {key: [input.user, input.action], kind: moka}, engine: vm)"
        );
    }
}
