//! `rigor run`: plan the scenario, build and check the targets, check the
//! decisions, measure, then store and render, with partial results written
//! after every trial and on Ctrl-C.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rigor_engine::results::{Results, RunStatus, Verdict};
use rigor_engine::run::{Prepared, RunContext};
use rigor_engine::target::TargetError;
use rigor_report::escape::terminal_safe;
use rigor_report::Renderer;
use rigor_scenario::{Mode, Plan};

use crate::failure::{outcome, Failure};
use crate::{render, store};

/// Builds every target of the plan (compiling policies), or says which is invalid.
pub(crate) fn build(plan: &Plan) -> Result<Vec<Prepared>, Failure> {
    let registry = rigor_targets::registry();
    plan.targets
        .iter()
        .map(|t| {
            registry
                .build(t, plan)
                .map(|target| Prepared {
                    plan: t.clone(),
                    target,
                })
                .map_err(|e| match e {
                    TargetError::Invalid(m) => Failure::Invalid(format!(
                        "{}: {m}{}",
                        plan.path.display(),
                        v0_help(&m, t.policy(plan))
                    )),
                    TargetError::Failed(m) => Failure::Run(m),
                })
        })
        .collect()
}

/// A v1 parser's complaint about a policy written in Rego v0 (every
/// Gatekeeper library policy is) gets the one-line fix.
pub(crate) fn v0_help(
    message: &str,
    policy: Option<&rigor_scenario::plan::PolicyPlan>,
) -> &'static str {
    let v1 = policy.is_some_and(|p| !p.rego_v0);
    if v1 && rigor_scenario::rego_text::looks_like_v0_error(message) {
        "\nhelp: this looks like Rego v0; set `policy.rego_v0: true`"
    } else {
        ""
    }
}

/// CI outputs besides console, HTML and JSON.
pub(crate) struct Outputs {
    pub(crate) junit: Option<PathBuf>,
    pub(crate) markdown: Option<PathBuf>,
}

impl Outputs {
    /// Creates the folders of `--junit` and `--markdown` and checks the
    /// files can be written, before minutes of measuring: a typo in a path
    /// must not cost the run.
    pub(crate) fn check(&self) -> Result<(), Failure> {
        for path in [&self.junit, &self.markdown].into_iter().flatten() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Failure::Invalid(format!(
                        "cannot create {} for {}: {e}",
                        dir.display(),
                        path.display()
                    ))
                })?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Failure::Invalid(format!("cannot write {}: {e}", path.display())))?;
        }
        Ok(())
    }

    pub(crate) fn write(&self, renderer: &Renderer, results: &Results) -> Result<(), Failure> {
        let write = |path: &Path, text: String| {
            std::fs::write(path, text)
                .map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))
        };
        if let Some(p) = &self.junit {
            write(p, renderer.junit(results)?)?;
            tell!("rigor: JUnit XML in {}", p.display());
        }
        let summary = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty());
        if self.markdown.is_some() || summary.is_some() {
            let md = renderer.markdown(results)?;
            if let Some(p) = &self.markdown {
                write(p, md.clone())?;
                tell!("rigor: Markdown summary in {}", p.display());
            }
            if let Some(p) = summary {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .map_err(|e| Failure::Run(format!("cannot open $GITHUB_STEP_SUMMARY: {e}")))?;
                f.write_all(md.as_bytes())
                    .map_err(|e| Failure::Run(format!("cannot write $GITHUB_STEP_SUMMARY: {e}")))?;
            }
        }
        Ok(())
    }
}

pub(crate) struct RunArgs<'a> {
    pub(crate) scenario: &'a Path,
    pub(crate) mode: Mode,
    pub(crate) out: Option<PathBuf>,
    pub(crate) templates: Option<&'a Path>,
    pub(crate) color: bool,
    pub(crate) save_baseline: Option<String>,
    pub(crate) baseline: Option<String>,
    pub(crate) outputs: Outputs,
    pub(crate) reports: PathBuf,
    /// `--set` overrides.
    pub(crate) overrides: &'a [rigor_scenario::overrides::Override],
    /// `--only` target ids.
    pub(crate) only: &'a [String],
    /// `--against REV`.
    pub(crate) against: Option<&'a str>,
    /// `--quiet`: no progress lines.
    pub(crate) quiet: bool,
    /// `--explain`: profile the policies after the trials.
    pub(crate) explain: bool,
    /// `--shard I/N`.
    pub(crate) shard: Option<rigor_scenario::shard::Shard>,
    /// `--start-at TIME` (RFC 3339).
    pub(crate) start_at: Option<&'a str>,
}

impl<'a> RunArgs<'a> {
    /// A run of `scenario` in `mode` stored and rendered as `store` says,
    /// with nothing else changed (no `--set`, `--only`, `--against`, shard).
    pub(crate) fn new(scenario: &'a Path, mode: Mode, store: &'a crate::cli::StoreArgs) -> Self {
        RunArgs {
            scenario,
            mode,
            out: None,
            templates: store.templates.as_deref(),
            color: store.color.enabled(),
            save_baseline: store.save_baseline.clone(),
            baseline: store.baseline.clone(),
            outputs: Outputs {
                junit: store.junit.clone(),
                markdown: store.markdown.clone(),
            },
            reports: store.reports.clone(),
            overrides: &[],
            only: &[],
            against: None,
            quiet: false,
            explain: false,
            shard: None,
            start_at: None,
        }
    }
}

pub(crate) fn run_scenario(args: RunArgs<'_>) -> Result<(), Failure> {
    let RunArgs {
        scenario,
        mode,
        out,
        templates,
        color,
        save_baseline,
        baseline,
        outputs,
        reports,
        overrides,
        only,
        against,
        quiet,
        explain,
        shard,
        start_at,
    } = args;
    let start_at = start_at
        .map(rigor_engine::env::parse_rfc3339)
        .transpose()
        .map_err(|e| Failure::Invalid(format!("--start-at: {e}")))?;
    let store = store::Store::new(reports);
    let mut plan = Plan::from_file_with(scenario, mode, overrides)?;
    if !only.is_empty() {
        for note in plan.keep_only(only)? {
            tell!("rigor: note: {note}");
        }
    }
    if let Some(rev) = against {
        crate::against::add_copies(&mut plan, scenario, rev)?;
    }
    let shard = match shard {
        Some(s) => {
            let scenario_seed = plan.workload.seed;
            plan.shard(s)?;
            Some((
                rigor_engine::results::ShardRun {
                    shard: s,
                    scenario_seed,
                    start_at: start_at.map(rigor_engine::env::rfc3339_of),
                    late_ns: 0,
                },
                start_at,
            ))
        }
        None => None,
    };
    // A missing baseline or a bad name is found before minutes of measuring.
    let base = baseline
        .as_deref()
        .map(|name| {
            store
                .load_baseline(&plan.name, name)
                .map(|r| (name.to_string(), r))
        })
        .transpose()?;
    if let Some(name) = &save_baseline {
        store.baseline_path(&plan.name, name)?;
    }
    if let Some((_, b)) = &base {
        let cases: Vec<String> = plan.workload.cases().iter().map(|c| c.name()).collect();
        let ids: Vec<String> = plan.targets.iter().map(|t| t.id().to_string()).collect();
        let base_trials = b
            .cases
            .iter()
            .flat_map(|c| c.targets.iter().map(|t| t.trials.len()))
            .min()
            .unwrap_or(0);
        let tests = rigor_engine::regress::timing_tests(b, &cases, &ids);
        if let Some(note) =
            rigor_engine::regress::rank_test_note(base_trials, plan.workload.trials as usize, tests)
        {
            tell!("rigor: note: {note}");
        }
    }
    // Check templates and output paths before spending minutes measuring.
    let renderer = Renderer::new(templates)?;
    outputs.check()?;
    // Shards started together on one machine must not share a folder.
    let dir = out.unwrap_or_else(|| match &shard {
        Some((s, _)) => store
            .run_dir(&plan.name)
            .with_extension(format!("shard{}of{}", s.shard.index, s.shard.count)),
        None => store.run_dir(&plan.name),
    });
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::Run(format!("cannot create {}: {e}", dir.display())))?;
    let results_path = dir.join("results.json");

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // First SIGINT, SIGTERM or SIGHUP (Ctrl-C, `docker stop`, Kubernetes,
    // CI runners): stop measuring and keep what was measured. Second: leave
    // now (managed servers die with rigor through PR_SET_PDEATHSIG).
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        tell!("\nrigor: interrupted; finishing the current operation and writing partial results (signal again to quit at once)");
    });
    let environment = rigor_engine::env::capture(
        env!("CARGO_PKG_VERSION"),
        env!("RIGOR_RUSTC_VERSION"),
        Some(env!("RIGOR_GIT_COMMIT")).filter(|c| !c.is_empty()),
        Some(env!("RIGOR_CARGO_LOCK")),
    );
    // From here on the outputs are named: whatever stops the run before it
    // measures writes results.json, JUnit and Markdown saying why, and the
    // exit code stays the failure's own.
    let early = EarlyStop {
        plan: &plan,
        environment: &environment,
        results_path: &results_path,
        renderer: &renderer,
        outputs: &outputs,
        color,
    };
    tell!(
        "rigor: building {} target(s) of {}",
        plan.targets.len(),
        scenario.display()
    );
    let targets = match build(&plan) {
        Ok(t) => t,
        Err(failure) => return Err(early.stop(None, None, failure)),
    };
    let (verification, gate) = check_decisions(&plan, &targets);
    if let Some(reason) = gate {
        return Err(early.stop(Some(&targets), verification, Failure::Run(reason)));
    }
    if stop.load(Ordering::SeqCst) {
        let failure = Failure::Run("interrupted before timing: nothing was measured".into());
        return Err(early.stop(Some(&targets), verification, failure));
    }
    let print_cost = plan
        .policy
        .as_ref()
        .filter(|p| p.print_calls > 0)
        .and_then(|p| prints_note(p, &plan));
    let mut write_error = None;
    let mut on_update = |r: &Results| {
        if let Err(e) = store::write_atomically(&results_path, r) {
            write_error.get_or_insert(e);
        }
    };
    // On a terminal, a live line (rewritten in place) while a trial runs;
    // in logs and pipes, the lines per trial only.
    let terminal = std::io::stderr().is_terminal() && !quiet;
    let mut progress = |line: &str| {
        if quiet && !line.starts_with("error:") {
            return;
        }
        let clear = if terminal { "\r\x1b[2K" } else { "" };
        tell!("{clear}{}", terminal_safe(line));
    };
    let mut live = |l: &rigor_engine::run::LiveLine| {
        use std::io::Write;
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2K{}",
            terminal_safe(&live_line(l))
        );
        let _ = std::io::stderr().flush();
    };
    let profiler = (mode == Mode::Profile).then(profile::start).transpose()?;
    if mode == Mode::Profile {
        rigor_engine::alloc_profile::start(profile::ALLOC_SAMPLES);
    }
    let mut results = rigor_engine::run::run(
        &plan,
        &targets,
        environment,
        RunContext {
            stop,
            on_update: &mut on_update,
            progress: &mut progress,
            live: terminal.then_some(&mut live as &mut dyn FnMut(&rigor_engine::run::LiveLine)),
            verification,
            shard,
        },
    );
    if let (Some(info), Some(cost)) = (&mut results.scenario.prints, print_cost) {
        info.kept_cost = Some(cost);
    }
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if let Some(p) = profiler {
        // The CPU profile's own symbolisation is not the run's allocations.
        rigor_engine::alloc_profile::stop();
        match profile::finish(p, &dir.join("flamegraph.svg")) {
            Ok(()) => results.artifacts.push("flamegraph.svg".into()),
            Err(e) => tell!("rigor: no flamegraph: {e}"),
        }
        let names: Vec<String> = targets.iter().map(|t| t.plan.id().to_string()).collect();
        let (allocations, folded) = rigor_engine::alloc_profile::finish(&names);
        match profile::alloc_flamegraph(&folded, &dir.join(profile::ALLOC_FLAMEGRAPH)) {
            Ok(()) => results.artifacts.push(profile::ALLOC_FLAMEGRAPH.into()),
            Err(e) => tell!("rigor: no allocation flame graph: {e}"),
        }
        results.alloc_profile = Some(allocations);
    }
    // After the CPU and allocation profiles are closed, so that neither
    // counts the policy profiling; only after a complete run.
    let complete = results.status == rigor_engine::results::RunStatus::Complete;
    if (explain || plan.explain || mode == Mode::Profile) && complete && results.errors.is_empty() {
        rigor_engine::explain::explain(&mut results, &targets, &plan, &mut |line| {
            if !quiet {
                tell!("{}", terminal_safe(line));
            }
        });
    }
    finish(
        results,
        Finish {
            store: &store,
            results_path: &results_path,
            base: base.as_ref(),
            save_baseline: save_baseline.as_deref(),
            renderer: &renderer,
            color,
            outputs: &outputs,
        },
    )
}

/// What a finished run (or a merge of shards) is stored and rendered with.
pub(crate) struct Finish<'a> {
    pub(crate) store: &'a store::Store,
    pub(crate) results_path: &'a Path,
    /// `--baseline`: its name and results.
    pub(crate) base: Option<&'a (String, Results)>,
    pub(crate) save_baseline: Option<&'a str>,
    pub(crate) renderer: &'a Renderer,
    pub(crate) color: bool,
    pub(crate) outputs: &'a Outputs,
}

/// Compares with the baseline, stores the results (history, a baseline),
/// renders every report, and maps the outcome to the exit: the same for a
/// run and for a merge of shards.
pub(crate) fn finish(mut results: Results, f: Finish<'_>) -> Result<(), Failure> {
    let Finish {
        store,
        results_path,
        base,
        save_baseline,
        renderer,
        color,
        outputs,
    } = f;
    let name = results.scenario.name.clone();
    let dir = results_path.parent().unwrap_or(Path::new("."));
    if let Some((base_name, base)) = base {
        let c = &results.regression_config;
        let config = rigor_engine::results::RegressionConfig::from(c);
        let mut report = rigor_engine::regress::compare(base, &results, base_name, &config);
        if let Some(aa) = &results.aa_control {
            if aa.verdict != Verdict::Pass {
                rigor_engine::regress::downgrade(
                    &mut report,
                    format!(
                        "the A/A control ({}) did not PASS: this machine is too noisy to trust a FAIL",
                        aa.baseline
                    ),
                );
            }
        }
        results.regression = Some(report);
    }
    // The trend is of runs like this one: a quick probe is not a point on the default trend.
    results.history = store.history(&name, results.scenario.mode);
    store::write_atomically(results_path, &results)?;
    // Quick runs are smoke runs: one short trial says nothing about a trend.
    // A shard is a part of a run: its merge is the point on the trend.
    if results.status == RunStatus::Complete
        && results.scenario.mode != Mode::Quick
        && results.shard.is_none()
    {
        if let Err(e) = store.append_history(&results) {
            tell!("rigor: history not updated: {e}");
        }
    }
    if let Some(base_name) = save_baseline {
        let path = store.save_baseline(&name, base_name, &results)?;
        tell!("rigor: baseline `{base_name}` saved in {}", path.display());
    }
    // A report that cannot be written is reported beside the measurement's
    // own outcome, never instead of it (results.json holds the truth).
    let mut unwritten = Vec::new();
    if let Err(Failure::Run(m) | Failure::Invalid(m)) =
        render(renderer, &results, color, &dir.join("report.html"))
    {
        unwritten.push(m);
    }
    if let Err(Failure::Run(m) | Failure::Invalid(m)) = outputs.write(renderer, &results) {
        unwritten.push(m);
    }
    for m in &unwritten {
        tell!("error: {}", terminal_safe(m));
    }
    tell!("rigor: results in {}", results_path.display());
    outcome(&results)?;
    // Everything passed but an output is missing: CI must not read that as green.
    match unwritten.len() {
        0 => Ok(()),
        n => Err(Failure::Run(format!(
            "{n} report(s) could not be written; results.json is complete"
        ))),
    }
}

/// `--mode profile`: samples every thread's stack while the run measures.
pub(crate) mod profile {
    use super::Failure;

    /// Samples per second: not a multiple of common timer rates.
    const HZ: i32 = 997;
    /// Allocation samples kept (about 400 bytes each, allocated up front):
    /// at one sample per 512KiB on average, 20GiB of allocations.
    pub const ALLOC_SAMPLES: usize = 50_000;
    /// The allocation flame graph's file, beside the results.
    pub const ALLOC_FLAMEGRAPH: &str = "alloc-flamegraph.svg";

    /// Draws folded stacks of estimated bytes as a flame graph.
    pub fn alloc_flamegraph(folded: &[String], path: &std::path::Path) -> Result<(), String> {
        if folded.is_empty() {
            return Err("no allocation was sampled".into());
        }
        let mut options = inferno::flamegraph::Options::default();
        options.title = "Allocations (estimated bytes, sampled)".into();
        options.count_name = "bytes".into();
        options.colors =
            inferno::flamegraph::Palette::Basic(inferno::flamegraph::color::BasicPalette::Mem);
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        inferno::flamegraph::from_lines(&mut options, folded.iter().map(String::as_str), file)
            .map_err(|e| e.to_string())?;
        tell!("rigor: allocation flame graph in {}", path.display());
        Ok(())
    }

    pub fn start() -> Result<pprof::ProfilerGuard<'static>, Failure> {
        pprof::ProfilerGuardBuilder::default()
            .frequency(HZ)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|e| Failure::Run(format!("cannot start the CPU profiler: {e}")))
    }

    pub fn finish(
        guard: pprof::ProfilerGuard<'static>,
        path: &std::path::Path,
    ) -> Result<(), String> {
        let report = guard.report().build().map_err(|e| e.to_string())?;
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        report.flamegraph(file).map_err(|e| e.to_string())?;
        tell!("rigor: CPU flamegraph in {}", path.display());
        Ok(())
    }
}

/// Every policy target answers every input once, before timing: the
/// decision summary is printed, and a gated run stops on disagreements,
/// missed expectations and evaluation errors. The gate's outcome (`None`
/// without policy targets) and, when it stops the run, why.
pub(crate) fn check_decisions(
    plan: &Plan,
    targets: &[Prepared],
) -> (Option<rigor_engine::results::Verification>, Option<String>) {
    let v = rigor_engine::verify::verify(plan, targets);
    if v.targets.is_empty() {
        return (None, None);
    }
    tell!(
        "rigor: decisions before timing: {}",
        terminal_safe(&v.to_string())
    );
    for note in &v.notes {
        tell!("rigor: note: {}", terminal_safe(note));
    }
    if let Some(warning) = rigor_engine::verify::warning(&v) {
        tell!("rigor: warning: {}", terminal_safe(&warning));
    }
    let reason = rigor_engine::verify::stop_reason(&v);
    (Some(v), reason)
}

/// Says what the policy's `print()` calls are and what they cost
/// regorus' interpreter (measured here, before timing, for about 250ms),
/// so that a comparison of engines that treat them differently is read
/// with that number beside it. The cost, when it could be measured.
fn prints_note(policy: &rigor_scenario::plan::PolicyPlan, plan: &Plan) -> Option<f64> {
    use rigor_scenario::model::Prints;
    // Its 64 first inputs are what it evaluates.
    let inputs: Vec<serde_json::Value> = plan.inputs.iter().take(64).map(|i| i.value()).collect();
    let cost =
        rigor_targets::regorus::print_cost(policy, &inputs, std::time::Duration::from_millis(250));
    let what = match policy.prints {
        Prints::Erase => "erased before any target compiled it (`policy.prints: erase`, as OPA's Go library does unless printing is on); kept,",
        Prints::Keep => "kept (`policy.prints: keep`): every engine evaluates their arguments (`opa run --server` also logs them at info level);",
    };
    let measured = match &cost {
        Ok(ratio) => format!(
            "they make one evaluation on regorus' interpreter {}x as long (measured before timing)",
            rigor_scenario::units::significant(*ratio)
        ),
        Err(e) => format!("their cost could not be measured: {e}"),
    };
    tell!(
        "rigor: note: the policy has {} print() call(s), {what} {measured}",
        policy.print_calls
    );
    cost.ok()
}

/// What a run that stops before timing needs to leave its outputs behind.
struct EarlyStop<'a> {
    plan: &'a Plan,
    environment: &'a rigor_engine::results::Environment,
    results_path: &'a Path,
    renderer: &'a Renderer,
    outputs: &'a Outputs,
    color: bool,
}

impl EarlyStop<'_> {
    /// Writes results.json (status `stopped`, the reason), the console and
    /// HTML reports, the JUnit file (an `<error>` naming the reason) and the
    /// Markdown summary, then hands
    /// the failure back unchanged: its exit code is the run's. An output
    /// that cannot be written is said beside it, never instead of it.
    fn stop(
        &self,
        targets: Option<&[Prepared]>,
        verification: Option<rigor_engine::results::Verification>,
        failure: Failure,
    ) -> Failure {
        let reason = match &failure {
            Failure::Invalid(m) | Failure::Run(m) => m.clone(),
            Failure::ThresholdFailed | Failure::Regressed { .. } => return failure,
        };
        let results = rigor_engine::run::stopped(
            self.plan,
            targets,
            self.environment.clone(),
            verification,
            &reason,
        );
        let mut unwritten = Vec::new();
        if let Err(e) = store::write_atomically(self.results_path, &results) {
            unwritten.push(Failure::from(e));
        } else {
            tell!("rigor: results in {}", self.results_path.display());
        }
        // The console and HTML reports too: the decisions that stopped it,
        // where a person looks first.
        let html = self
            .results_path
            .parent()
            .unwrap_or(Path::new("."))
            .join("report.html");
        if let Err(e) = render(self.renderer, &results, self.color, &html) {
            unwritten.push(e);
        }
        if let Err(e) = self.outputs.write(self.renderer, &results) {
            unwritten.push(e);
        }
        for f in unwritten {
            if let Failure::Invalid(m) | Failure::Run(m) = f {
                tell!("error: {}", terminal_safe(&m));
            }
        }
        failure
    }
}

/// The live line: `[3/16] c=2 trial 1/3 vm  2.5s  41.2k ops/s  0 errors  resident 12.3MiB  run ETA 1m05s`.
fn live_line(l: &rigor_engine::run::LiveLine) -> String {
    use rigor_scenario::units::{format_bytes, format_nanos};
    let secs = l.live.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        l.live.operations as f64 / secs
    } else {
        0.0
    };
    let resident = l
        .live
        .resident
        .map(|r| format!("  resident {}", format_bytes(r as f64)))
        .unwrap_or_default();
    let eta = l
        .eta
        .map(|e| format!("  run ETA {}", format_nanos(e.as_nanos() as f64)))
        .unwrap_or_default();
    format!(
        "{}  {}  {} ops/s  {} errors{resident}{eta}",
        l.label,
        format_nanos(l.live.elapsed.as_nanos() as f64),
        rigor_scenario::units::significant(rate),
        l.live.errors
    )
}
