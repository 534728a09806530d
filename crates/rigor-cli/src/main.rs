//! The `rigor` binary: a thin shell over the scenario, engine, targets and
//! report crates. `run()` returns a `Result`; the error is printed once and
//! mapped to an exit code in one place ([`Failure::exit_code`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use rigor_engine::results::{Results, RunStatus, Verdict};
use rigor_engine::run::{Prepared, RunContext};
use rigor_engine::target::TargetError;
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
        /// `quick`: one short trial per case (smoke runs); `default`: as written.
        #[arg(long, value_enum, default_value = "default")]
        mode: ModeArg,
        /// Directory for results (default: reports/runs/<scenario>/<timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Directory of templates overriding the built-in ones.
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Colour the console report: auto, always, never.
        #[arg(long, value_enum, default_value = "auto")]
        color: ColorArg,
    },
    /// Check scenario files: types, units, files, inputs, and that policies compile.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
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
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Quick,
    Default,
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
        }
    }
}

impl From<rigor_scenario::ScenarioError> for Failure {
    fn from(e: rigor_scenario::ScenarioError) -> Self {
        Failure::Invalid(e.to_string())
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
                Failure::ThresholdFailed => {}
                Failure::Invalid(m) | Failure::Run(m) => eprintln!("error: {m}"),
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
        } => {
            let mode = match mode {
                ModeArg::Quick => Mode::Quick,
                ModeArg::Default => Mode::Default,
            };
            run_scenario(&scenario, mode, out, templates.as_deref(), color.enabled())
        }
        Command::Validate { scenarios } => {
            for path in scenarios {
                let plan = Plan::from_file(&path, Mode::Default)?;
                let registry = rigor_targets::registry();
                for t in &plan.targets {
                    registry.check(t, &plan).map_err(|e| match e {
                        TargetError::Invalid(m) => {
                            Failure::Invalid(format!("{}: {m}", plan.path.display()))
                        }
                        TargetError::Failed(m) => Failure::Run(m),
                    })?;
                }
                let targets = &plan.targets;
                println!(
                    "ok: {} ({} target(s), {} input(s), {} case(s))",
                    path.display(),
                    targets.len(),
                    plan.inputs.len(),
                    plan.workload.cases().len()
                );
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
            print!("{}", rigor_scenario::json_schema());
            Ok(())
        }
        Command::Report {
            results,
            html,
            templates,
            color,
        } => {
            let text = std::fs::read_to_string(&results)
                .map_err(|e| Failure::Invalid(format!("cannot read {}: {e}", results.display())))?;
            let parsed: Results = serde_json::from_str(&text).map_err(|e| {
                Failure::Invalid(format!(
                    "{}:{}:{}: not a rigor results file: {e}",
                    results.display(),
                    e.line(),
                    e.column()
                ))
            })?;
            let html = html.unwrap_or_else(|| results.with_file_name("report.html"));
            let renderer = Renderer::new(templates.as_deref())?;
            render(&renderer, &parsed, color.enabled(), &html)?;
            verdict_outcome(&parsed)
        }
    }
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

fn run_scenario(
    scenario: &Path,
    mode: Mode,
    out: Option<PathBuf>,
    templates: Option<&Path>,
    color: bool,
) -> Result<(), Failure> {
    let plan = Plan::from_file(scenario, mode)?;
    // Check templates before spending minutes measuring.
    let renderer = Renderer::new(templates)?;
    eprintln!(
        "rigor: building {} target(s) of {}",
        plan.targets.len(),
        scenario.display()
    );
    let targets = build(&plan)?;
    let verification = if plan.verify {
        Some(verify(&plan, &targets)?)
    } else {
        None
    };
    let dir = out.unwrap_or_else(|| {
        Path::new("reports/runs")
            .join(&plan.name)
            .join(rigor_engine::env::now_compact())
    });
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::Run(format!("cannot create {}: {e}", dir.display())))?;
    let results_path = dir.join("results.json");

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // First Ctrl-C: stop measuring and keep what was measured. Second: leave now.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nrigor: interrupted; finishing the current operation and writing partial results (Ctrl-C again to quit at once)");
    });
    let environment = rigor_engine::env::capture(
        env!("CARGO_PKG_VERSION"),
        env!("RIGOR_RUSTC_VERSION"),
        Some(env!("RIGOR_GIT_COMMIT")).filter(|c| !c.is_empty()),
    );
    let mut write_error = None;
    let mut on_update = |r: &Results| {
        if let Err(e) = write_atomically(&results_path, r) {
            write_error.get_or_insert(e);
        }
    };
    let mut progress = |line: &str| eprintln!("{line}");
    let results = rigor_engine::run::run(
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
        return Err(Failure::Run(e));
    }
    render(&renderer, &results, color, &dir.join("report.html"))?;
    eprintln!("rigor: results in {}", results_path.display());
    if results.status == RunStatus::Interrupted {
        return Err(Failure::Run(
            "interrupted: partial results were written".into(),
        ));
    }
    verdict_outcome(&results)
}

/// The correctness gate: all policy targets must agree on every input before anything is timed.
fn verify(
    plan: &Plan,
    targets: &[Prepared],
) -> Result<rigor_engine::results::Verification, Failure> {
    use rigor_engine::run::VerifyError;
    match rigor_engine::run::verify(plan, targets) {
        Ok(v) => {
            if v.targets.len() > 1 {
                eprintln!("rigor: verified: {v}");
            }
            Ok(v)
        }
        Err(VerifyError::Failed(m)) => Err(Failure::Run(format!(
            "verification could not evaluate: {m}"
        ))),
        Err(VerifyError::Disagree(mismatches)) => {
            let mut text = format!(
                "targets disagree on {} input(s); nothing was timed (set `verify: false` to measure anyway)",
                mismatches.len()
            );
            for m in &mismatches {
                text.push_str(&format!("\n  {}: {}", m.origin, m.input));
                for (id, answer) in &m.answers {
                    match answer {
                        Ok(v) => text.push_str(&format!("\n    {id}: {v}")),
                        Err(e) => text.push_str(&format!("\n    {id}: error: {e}")),
                    }
                }
            }
            Err(Failure::Run(text))
        }
    }
}

fn render(
    renderer: &Renderer,
    results: &Results,
    color: bool,
    html_path: &Path,
) -> Result<(), Failure> {
    print!("{}", renderer.console(results, color)?);
    let html = renderer.html(results)?;
    std::fs::write(html_path, html)
        .map_err(|e| Failure::Run(format!("cannot write {}: {e}", html_path.display())))?;
    eprintln!("rigor: HTML report in {}", html_path.display());
    Ok(())
}

fn verdict_outcome(results: &Results) -> Result<(), Failure> {
    if !results.errors.is_empty() {
        return Err(Failure::Run(format!(
            "{} target run(s) failed: {}",
            results.errors.len(),
            results.errors.join("; ")
        )));
    }
    if results.verdict == Verdict::Fail {
        return Err(Failure::ThresholdFailed);
    }
    Ok(())
}

/// Writes JSON to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, results: &Results) -> Result<(), String> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
