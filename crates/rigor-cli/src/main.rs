//! The `rigor` binary: a thin shell over the scenario, engine, targets and
//! report crates. `run()` returns a `Result`; the error is printed once and
//! mapped to an exit code in one place ([`Failure::exit_code`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

mod init;
mod store;
use rigor_engine::results::{Results, RunStatus, Verdict};
use rigor_engine::run::{Prepared, RunContext};
use rigor_engine::target::TargetError;
use rigor_report::escape::terminal_safe;
use rigor_report::Renderer;
use rigor_scenario::{Mode, Plan};

#[global_allocator]
static ALLOCATOR: rigor_engine::alloc::CountingJemalloc = rigor_engine::alloc::CountingJemalloc;

/// Declarative benchmarks for policy engines and caches.
#[derive(Debug, Parser)]
#[command(name = "rigor", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario, write results.json and report.html, print the console report.
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// `quick`: one short trial per case (smoke runs); `default`: as written;
        /// `full`: at least 12 trials, twice the duration, an A/A control;
        /// `profile`: as written, plus a CPU flamegraph of the run.
        #[arg(long, value_enum, default_value = "default")]
        mode: ModeArg,
        /// Save this run's per-trial results as baseline NAME
        /// (<reports>/baselines/<scenario>/NAME.json).
        #[arg(long, value_name = "NAME")]
        save_baseline: Option<String>,
        /// Compare every metric against saved baseline NAME (exit 4 on a regression).
        #[arg(long, value_name = "NAME")]
        baseline: Option<String>,
        /// Write a JUnit XML file: each threshold and regression check a test case.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set).
        #[arg(long, value_name = "PATH")]
        markdown: Option<PathBuf>,
        /// Root directory of runs/, baselines/ and history/.
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        /// Directory for results (default: <reports>/runs/<scenario>/<timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Directory of templates overriding the built-in ones.
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Colour the console report: auto, always, never.
        #[arg(long, value_enum, default_value = "auto")]
        color: ColorArg,
        /// Change one value for this run, e.g. `workload.duration=2s` or
        /// `targets.vm.engine=interpreter` (repeatable; the value is YAML).
        /// Recorded in the results; the scenario's hash stays the file's.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<rigor_scenario::overrides::Override>,
        /// Run only these targets (ids, comma-separated or repeated).
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Check scenario files: types, units, files, inputs, and that policies compile.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// List every metric: name (for thresholds), unit, which way is better, meaning.
    Metrics,
    /// Write a starter scenario that runs as written, with its example policy
    /// and data and the JSON Schema beside it (never overwriting a file).
    Init {
        /// `policy` (embedded Rego), `cache` (moka vs Redis) or `http` (regorus vs OPA).
        #[arg(value_enum, default_value = "policy")]
        kind: init::Starter,
        /// The scenario file to write (default: `<kind>.yaml`).
        file: Option<PathBuf>,
    },
    /// Serve a scenario's policy over OPA's REST Data API (a stand-in for `opa run --server`).
    Serve {
        /// Scenario whose `policy:` to serve; without it the server starts empty
        /// and takes policies and data through PUT /v1/policies and /v1/data.
        scenario: Option<PathBuf>,
        /// Address to listen on; port 0 picks a free port (printed on start).
        #[arg(long, default_value = "127.0.0.1:8181")]
        addr: std::net::SocketAddr,
        /// Runtime worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Compare two results files metric by metric (a benchstat-like table).
    Compare {
        /// The older results.json (or a saved baseline).
        old: PathBuf,
        /// The newer results.json.
        new: PathBuf,
        /// Write a JUnit XML file of the checks.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set).
        #[arg(long, value_name = "PATH")]
        markdown: Option<PathBuf>,
    },
    /// Re-render the console and HTML reports from a results file alone.
    Report {
        /// A results.json written by `rigor run`.
        results: PathBuf,
        /// Where to write the HTML (default: report.html beside the results).
        #[arg(long)]
        html: Option<PathBuf>,
        /// Directory of templates overriding the built-in ones.
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Colour the console report: auto, always, never.
        #[arg(long, value_enum, default_value = "auto")]
        color: ColorArg,
        /// Print one format to stdout instead (console, html, markdown, junit),
        /// from its template (`--templates` overrides it too).
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Console,
    Html,
    Markdown,
    Junit,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Quick,
    Default,
    Full,
    Profile,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

impl ColorArg {
    fn enabled(self) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

/// Why rigor stops with a non-zero code.
#[derive(Debug)]
enum Failure {
    /// A threshold failed (exit 1). Not printed as an error: the report says it.
    ThresholdFailed,
    /// A metric regressed against the baseline (exit 4), or both a threshold
    /// failed and a metric regressed (exit 5).
    Regressed {
        /// A threshold failed too.
        threshold_too: bool,
    },
    /// Invalid input: scenario, policy, templates, arguments (exit 2).
    Invalid(String),
    /// The run could not complete: a target failed, I/O failed, Ctrl-C (exit 3).
    Run(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::ThresholdFailed => 1,
            Failure::Invalid(_) => 2,
            Failure::Run(_) => 3,
            Failure::Regressed {
                threshold_too: false,
            } => 4,
            Failure::Regressed {
                threshold_too: true,
            } => 5,
        }
    }
}

impl From<rigor_scenario::ScenarioError> for Failure {
    fn from(e: rigor_scenario::ScenarioError) -> Self {
        Failure::Invalid(e.to_string())
    }
}

impl From<store::StoreError> for Failure {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Invalid(m) => Failure::Invalid(m),
            store::StoreError::Io(m) => Failure::Run(m),
        }
    }
}

impl From<rigor_report::ReportError> for Failure {
    fn from(e: rigor_report::ReportError) -> Self {
        Failure::Invalid(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            match &failure {
                Failure::ThresholdFailed | Failure::Regressed { .. } => {}
                Failure::Invalid(m) | Failure::Run(m) => eprintln!("error: {}", terminal_safe(m)),
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run {
            scenario,
            mode,
            out,
            templates,
            color,
            save_baseline,
            baseline,
            junit,
            markdown,
            reports,
            overrides,
            only,
        } => {
            let mode = match mode {
                ModeArg::Quick => Mode::Quick,
                ModeArg::Default => Mode::Default,
                ModeArg::Full => Mode::Full,
                ModeArg::Profile => Mode::Profile,
            };
            run_scenario(RunArgs {
                scenario: &scenario,
                mode,
                out,
                templates: templates.as_deref(),
                color: color.enabled(),
                save_baseline,
                baseline,
                outputs: Outputs { junit, markdown },
                reports,
                overrides: &overrides,
                only: &only,
            })
        }
        Command::Compare {
            old,
            new,
            junit,
            markdown,
        } => {
            let (old_results, new_results) = (read_results(&old)?, read_results(&new)?);
            let c = &new_results.regression_config;
            let config = rigor_engine::results::RegressionConfig {
                threshold: c.threshold,
                metrics: c.metrics.clone(),
            };
            let report = rigor_engine::regress::compare(
                &old_results,
                &new_results,
                &old.display().to_string(),
                &config,
            );
            say(&rigor_report::ci::compare_table(&report));
            let mut with = new_results;
            with.regression = Some(report);
            Outputs { junit, markdown }.write(&Renderer::new(None)?, &with)?;
            outcome(&with)
        }
        Command::Validate { scenarios } => {
            for path in scenarios {
                validate(&path)?;
            }
            Ok(())
        }
        Command::Serve {
            scenario,
            addr,
            threads,
        } => {
            let plan = scenario
                .as_deref()
                .map(|p| Plan::from_file(p, Mode::Default))
                .transpose()?;
            let policy = plan.as_ref().and_then(|p| p.policy.as_ref());
            let server = rigor_targets::serve::Server::new(policy)
                .map_err(|e| Failure::Invalid(format!("policy: {e}")))?;
            let threads = threads.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let what = match &scenario {
                Some(p) => format!("the policy of {}", p.display()),
                None => "no policy yet (PUT /v1/policies/ID to add one)".into(),
            };
            rigor_targets::serve::run(server, addr, threads, |bound| {
                eprintln!("rigor serve: listening on http://{bound} with {what}");
            })
            .map_err(Failure::Run)
        }
        Command::Schema => {
            say(&rigor_scenario::json_schema());
            Ok(())
        }
        Command::Metrics => {
            say(&metrics_table());
            Ok(())
        }
        Command::Init { kind, file } => {
            let written = init::write(kind, file.as_deref()).map_err(Failure::Invalid)?;
            for p in &written {
                eprintln!("rigor: wrote {}", p.display());
            }
            if let Some(scenario) = written.first() {
                say(&format!(
                    "next: rigor run {} --mode quick   (then edit the policy path, inputs and thresholds)\n",
                    scenario.display()
                ));
            }
            Ok(())
        }
        Command::Report {
            results,
            html,
            templates,
            color,
            format: Some(format),
        } => {
            let parsed = read_results(&results)?;
            let renderer = Renderer::new(templates.as_deref())?;
            let format = match format {
                FormatArg::Console => rigor_report::Format::Console,
                FormatArg::Html => rigor_report::Format::Html,
                FormatArg::Markdown => rigor_report::Format::Markdown,
                FormatArg::Junit => rigor_report::Format::Junit,
            };
            if html.is_some() {
                eprintln!(
                    "rigor: note: --html is ignored with --format (the output goes to stdout)"
                );
            }
            say(&renderer.format(format, &parsed, color.enabled())?);
            outcome(&parsed)
        }
        Command::Report {
            results,
            html,
            templates,
            color,
            format: None,
        } => {
            let parsed = read_results(&results)?;
            let html = html.unwrap_or_else(|| results.with_file_name("report.html"));
            let renderer = Renderer::new(templates.as_deref())?;
            render(&renderer, &parsed, color.enabled(), &html)?;
            outcome(&parsed)
        }
    }
}

/// `rigor validate`: the scenario, every target's configuration offline,
/// and every input evaluated once on every embedded policy target.
fn validate(path: &Path) -> Result<(), Failure> {
    let plan = Plan::from_file(path, Mode::Default)?;
    let registry = rigor_targets::registry();
    let located = |e: TargetError| match e {
        TargetError::Invalid(m) => Failure::Invalid(format!("{}: {m}", plan.path.display())),
        TargetError::Failed(m) => Failure::Run(m),
    };
    let mut deciders = Vec::new();
    for t in &plan.targets {
        registry.check(t, &plan).map_err(located)?;
        if let Some(target) = registry.offline_decider(t, &plan).map_err(located)? {
            deciders.push(Prepared {
                plan: t.clone(),
                target,
            });
        }
    }
    let v = rigor_engine::verify::verify(&plan, &deciders);
    for note in &v.notes {
        eprintln!("note: {}: {}", path.display(), terminal_safe(note));
    }
    if let Some(reason) = rigor_engine::verify::stop_reason(&v) {
        let message = format!("{}: {reason}", path.display());
        // An input the policy cannot evaluate is a scenario error (exit 2);
        // answers that differ are the policy's behaviour (exit 3, as `run`).
        return Err(if v.failed > 0 {
            Failure::Invalid(message)
        } else {
            Failure::Run(message)
        });
    }
    let decided = if v.targets.is_empty() {
        String::new()
    } else {
        format!("; evaluated on {}: {}", v.targets.join(", "), {
            let d: Vec<String> = v
                .decisions
                .iter()
                .map(|(d, n)| format!("{d} x{n}"))
                .collect();
            d.join(", ")
        })
    };
    say(&format!(
        "ok: {} ({} target(s), {} input(s), {} case(s){decided})\n",
        path.display(),
        plan.targets.len(),
        plan.inputs.len(),
        plan.workload.cases().len()
    ));
    Ok(())
}

/// Builds every target of the plan (compiling policies), or says which is invalid.
fn build(plan: &Plan) -> Result<Vec<Prepared>, Failure> {
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
                    TargetError::Invalid(m) => {
                        Failure::Invalid(format!("{}: {m}", plan.path.display()))
                    }
                    TargetError::Failed(m) => Failure::Run(m),
                })
        })
        .collect()
}

/// Reads a results file, or says why it is not one.
fn read_results(path: &Path) -> Result<Results, Failure> {
    Ok(store::read_results(path)?)
}

/// CI outputs besides console, HTML and JSON.
struct Outputs {
    junit: Option<PathBuf>,
    markdown: Option<PathBuf>,
}

impl Outputs {
    /// Creates the folders of `--junit` and `--markdown` and checks the
    /// files can be written, before minutes of measuring: a typo in a path
    /// must not cost the run.
    fn check(&self) -> Result<(), Failure> {
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

    fn write(&self, renderer: &Renderer, results: &Results) -> Result<(), Failure> {
        let write = |path: &Path, text: String| {
            std::fs::write(path, text)
                .map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))
        };
        if let Some(p) = &self.junit {
            write(p, renderer.junit(results)?)?;
            eprintln!("rigor: JUnit XML in {}", p.display());
        }
        let summary = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty());
        if self.markdown.is_some() || summary.is_some() {
            let md = renderer.markdown(results)?;
            if let Some(p) = &self.markdown {
                write(p, md.clone())?;
                eprintln!("rigor: Markdown summary in {}", p.display());
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

struct RunArgs<'a> {
    scenario: &'a Path,
    mode: Mode,
    out: Option<PathBuf>,
    templates: Option<&'a Path>,
    color: bool,
    save_baseline: Option<String>,
    baseline: Option<String>,
    outputs: Outputs,
    reports: PathBuf,
    /// `--set` overrides.
    overrides: &'a [rigor_scenario::overrides::Override],
    /// `--only` target ids.
    only: &'a [String],
}

fn run_scenario(args: RunArgs<'_>) -> Result<(), Failure> {
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
    } = args;
    let store = store::Store::new(reports);
    let mut plan = Plan::from_file_with(scenario, mode, overrides)?;
    if !only.is_empty() {
        for note in plan.keep_only(only)? {
            eprintln!("rigor: note: {note}");
        }
    }
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
            eprintln!("rigor: note: {note}");
        }
    }
    // Check templates and output paths before spending minutes measuring.
    let renderer = Renderer::new(templates)?;
    outputs.check()?;
    eprintln!(
        "rigor: building {} target(s) of {}",
        plan.targets.len(),
        scenario.display()
    );
    let targets = build(&plan)?;
    let verification = check_decisions(&plan, &targets)?;
    let dir = out.unwrap_or_else(|| store.run_dir(&plan.name));
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
        eprintln!("\nrigor: interrupted; finishing the current operation and writing partial results (signal again to quit at once)");
    });
    let environment = rigor_engine::env::capture(
        env!("CARGO_PKG_VERSION"),
        env!("RIGOR_RUSTC_VERSION"),
        Some(env!("RIGOR_GIT_COMMIT")).filter(|c| !c.is_empty()),
        Some(env!("RIGOR_CARGO_LOCK")),
    );
    let mut write_error = None;
    let mut on_update = |r: &Results| {
        if let Err(e) = store::write_atomically(&results_path, r) {
            write_error.get_or_insert(e);
        }
    };
    let mut progress = |line: &str| eprintln!("{}", terminal_safe(line));
    let profiler = (mode == Mode::Profile).then(profile::start).transpose()?;
    let mut results = rigor_engine::run::run(
        &plan,
        &targets,
        environment,
        RunContext {
            stop,
            on_update: &mut on_update,
            progress: &mut progress,
            verification,
        },
    );
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if let Some(p) = profiler {
        match profile::finish(p, &dir.join("flamegraph.svg")) {
            Ok(()) => results.artifacts.push("flamegraph.svg".into()),
            Err(e) => eprintln!("rigor: no flamegraph: {e}"),
        }
    }
    if let Some((name, base)) = &base {
        let c = &results.regression_config;
        let config = rigor_engine::results::RegressionConfig {
            threshold: c.threshold,
            metrics: c.metrics.clone(),
        };
        let mut report = rigor_engine::regress::compare(base, &results, name, &config);
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
    results.history = store.history(&plan.name, results.scenario.mode);
    store::write_atomically(&results_path, &results)?;
    // Quick runs are smoke runs: one short trial says nothing about a trend.
    if results.status == RunStatus::Complete && results.scenario.mode != Mode::Quick {
        if let Err(e) = store.append_history(&results) {
            eprintln!("rigor: history not updated: {e}");
        }
    }
    if let Some(name) = &save_baseline {
        let path = store.save_baseline(&plan.name, name, &results)?;
        eprintln!("rigor: baseline `{name}` saved in {}", path.display());
    }
    // A report that cannot be written is reported beside the measurement's
    // own outcome, never instead of it (results.json holds the truth).
    let mut unwritten = Vec::new();
    if let Err(Failure::Run(m) | Failure::Invalid(m)) =
        render(&renderer, &results, color, &dir.join("report.html"))
    {
        unwritten.push(m);
    }
    if let Err(Failure::Run(m) | Failure::Invalid(m)) = outputs.write(&renderer, &results) {
        unwritten.push(m);
    }
    for m in &unwritten {
        eprintln!("error: {}", terminal_safe(m));
    }
    eprintln!("rigor: results in {}", results_path.display());
    outcome(&results)?;
    // Everything passed but an output is missing: CI must not read that as green.
    match unwritten.len() {
        0 => Ok(()),
        n => Err(Failure::Run(format!(
            "{n} report(s) could not be written; results.json is complete"
        ))),
    }
}

/// The run's outcome as rigor's exit: [`Results::exit_code`] decides the
/// code (the same function every report's headline agrees with); this only
/// says why.
fn outcome(results: &Results) -> Result<(), Failure> {
    match results.exit_code() {
        0 => Ok(()),
        1 => Err(Failure::ThresholdFailed),
        4 => Err(Failure::Regressed {
            threshold_too: false,
        }),
        5 => Err(Failure::Regressed {
            threshold_too: true,
        }),
        _ if results.status == RunStatus::Interrupted => Err(Failure::Run(
            "interrupted: partial results were written".into(),
        )),
        _ => Err(Failure::Run(format!(
            "{} target run(s) failed: {}",
            results.errors.len(),
            results.errors.join("; ")
        ))),
    }
}

/// `--mode profile`: samples every thread's stack while the run measures.
mod profile {
    use super::Failure;

    /// Samples per second: not a multiple of common timer rates.
    const HZ: i32 = 997;

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
        eprintln!("rigor: CPU flamegraph in {}", path.display());
        Ok(())
    }
}

/// Every policy target answers every input once, before timing: the
/// decision summary is printed, and a gated run stops on disagreements,
/// missed expectations and evaluation errors. `None` without policy targets.
fn check_decisions(
    plan: &Plan,
    targets: &[Prepared],
) -> Result<Option<rigor_engine::results::Verification>, Failure> {
    let v = rigor_engine::verify::verify(plan, targets);
    if v.targets.is_empty() {
        return Ok(None);
    }
    eprintln!(
        "rigor: decisions before timing: {}",
        terminal_safe(&v.to_string())
    );
    for note in &v.notes {
        eprintln!("rigor: note: {}", terminal_safe(note));
    }
    if let Some(warning) = rigor_engine::verify::warning(&v) {
        eprintln!("rigor: warning: {}", terminal_safe(&warning));
    }
    match rigor_engine::verify::stop_reason(&v) {
        Some(reason) => Err(Failure::Run(reason)),
        None => Ok(Some(v)),
    }
}

fn render(
    renderer: &Renderer,
    results: &Results,
    color: bool,
    html_path: &Path,
) -> Result<(), Failure> {
    say(&renderer.console(results, color)?);
    let html = renderer.html(results)?;
    std::fs::write(html_path, html)
        .map_err(|e| Failure::Run(format!("cannot write {}: {e}", html_path.display())))?;
    eprintln!("rigor: HTML report in {}", html_path.display());
    Ok(())
}

/// The metric catalogue as an aligned table (the README's table, from the
/// same source), with how trials combine and what each metric is used for.
fn metrics_table() -> String {
    use rigor_scenario::metrics::{Across, Direction, Gate, Unit, METRICS};
    let rows: Vec<[String; 6]> = METRICS
        .iter()
        .map(|m| {
            let unit = match m.unit {
                Unit::Nanos => "duration",
                Unit::Bytes => "size",
                Unit::Fraction => "ratio",
                Unit::PerSecond => "rate",
                Unit::Count => "count",
            };
            let better = match m.direction {
                Direction::LowerIsBetter => "lower",
                Direction::HigherIsBetter => "higher",
            };
            let across = match m.across {
                Across::Pooled => "pooled",
                Across::Median => "median",
                Across::Max => "max",
            };
            let uses: Vec<&str> = [
                (m.stats, "stats"),
                (m.gate == Gate::Shift, "gated"),
                (m.gate == Gate::Exact, "gated-exact"),
                (m.compared, "compared"),
                (m.history, "history"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            let uses = if uses.is_empty() {
                "-".to_string()
            } else {
                uses.join(",")
            };
            [m.name, unit, better, across, &uses, m.description].map(str::to_string)
        })
        .collect();
    let header = ["metric", "unit", "better", "trials", "used for", "meaning"].map(str::to_string);
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].len())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let w: Vec<usize> = (0..5).map(width).collect();
    std::iter::once(header)
        .chain(rows)
        .map(|r| {
            format!(
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {:w4$}  {}\n",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3],
                w4 = w[4]
            )
        })
        .collect()
}

/// Writes to stdout. A closed stdout (`rigor run ... | head`) must not end
/// a run that is still measuring or writing its results: the text is dropped.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}
