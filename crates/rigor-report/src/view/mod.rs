//! View structs: what templates see. Values arrive formatted with units.

use rigor_results::{RegressionReport, Results, RunStatus, Verdict};
use rigor_scenario::plan::Stop;
use rigor_scenario::units::{format_nanos, significant};
use serde::Serialize;

use crate::case::{case_view, column_widths, CaseView};
use crate::chart;
use crate::escape::Styled;
use crate::format::{distribution_label, format_metric, format_p, kind_label};

mod advice;
mod decisions;
mod glance;
mod notes;
mod regression;
mod traffic;

use decisions::decisions_view;
pub use decisions::{AnswerRow, DecisionsView};
use glance::glance;
pub use glance::{GlanceCase, GlanceRow};
pub(crate) use notes::method_notes;
use notes::{aa_control_line, run_notes};
use regression::regression_view;
pub use regression::{RegressionRow, RegressionView};
use traffic::traffic_view;
pub use traffic::TrafficView;

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
    /// Why the run stopped before measuring everything (`status: stopped`).
    pub stopped: Option<String>,
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
    /// Decision logs replayed as inputs, summarised.
    pub traffic: Vec<TrafficView>,
    /// What the policy's lines and rules cost, per target that was profiled
    /// (`--explain`), with the heat map of its source.
    pub profiles: Vec<crate::cost::ProfileView>,
    /// What to look at, each item built from measured numbers and citing them.
    pub advice: Vec<String>,
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
            stopped: results.stop_reason.clone(),
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
            traffic: results.scenario.traffic.iter().map(traffic_view).collect(),
            profiles: crate::cost::profiles(&results.targets),
            advice: advice::advice(results),
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

/// `--set a=b --set c=d --only x,y`, or `None` when the run is the file as written.
fn overrides_line(s: &rigor_results::ScenarioInfo) -> Option<String> {
    changes(s).map(|c| format!("changed for this run: {c}"))
}

/// What the run changed from the file, as command-line arguments
/// (`--set a=b --only x,y`); `None` for the file as written.
/// The "what to look at" items of a run.
pub(crate) fn advice_of(results: &Results) -> Vec<String> {
    advice::advice(results)
}

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
