//! The `rigor` binary: a thin shell over the scenario, engine, targets and
//! report crates. `run()` returns a `Result`; the error is printed once and
//! mapped to an exit code in one place ([`Failure::exit_code`]).

// clap turns doc comments into --help text, where `<reports>/runs/...` is
// meant literally: rustdoc must not read those as HTML tags.
#![allow(rustdoc::invalid_html_tags)]
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

/// Writes one line to stderr. A closed or broken stderr (`2>&1 | head`,
/// `2>&-`) must not end a run that is still measuring or writing its
/// results: the line is dropped and the run goes on. Every message of
/// rigor's goes through here; clippy refuses `eprintln!`, which panics on a
/// broken pipe (clippy.toml `disallowed-macros`).
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod against;
mod bench;
mod catalogue;
mod cli;
mod failure;
mod init;
mod inputs;
mod merge_cmd;
mod run_cmd;
mod shell;
mod store;
mod validate;

use cli::{Cli, Command, FormatArg, ModeArg};
use failure::{outcome, Failure};
use rigor_engine::results::Results;
use rigor_report::escape::terminal_safe;
use rigor_report::Renderer;
use rigor_scenario::{Mode, Plan};
use run_cmd::{run_scenario, Outputs, RunArgs};

#[global_allocator]
static ALLOCATOR: rigor_engine::alloc::CountingJemalloc = rigor_engine::alloc::CountingJemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            match &failure {
                Failure::ThresholdFailed | Failure::Regressed { .. } => {}
                Failure::Invalid(m) | Failure::Run(m) => tell!("error: {}", terminal_safe(m)),
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
            store,
            overrides,
            only,
            against,
            quiet,
            explain,
            shard,
            start_at,
        } => run_scenario(RunArgs {
            explain,
            out,
            overrides: &overrides,
            only: &only,
            against: against.as_deref(),
            quiet,
            shard,
            start_at: start_at.as_deref(),
            ..RunArgs::new(&scenario, mode.into(), &store)
        }),
        Command::Inputs {
            scenario,
            limit,
            overrides,
            only,
        } => inputs::inputs(&scenario, limit, &overrides, &only),
        Command::Bench {
            policies,
            inputs,
            data,
            query,
            engine,
            concurrency,
            duration,
            trials,
            rego_v0,
            save,
            mode,
            store,
        } => {
            let args = bench::BenchArgs {
                policies,
                inputs,
                data,
                query,
                engines: engine,
                concurrency,
                duration,
                trials,
                rego_v0,
                save,
            };
            let (scenario, _dir) = bench::write(&args)?;
            run_scenario(RunArgs::new(&scenario, mode.into(), &store))
        }
        Command::Merge { inputs, out, store } => merge_cmd::merge(merge_cmd::MergeArgs {
            inputs: &inputs,
            out: &out,
            baseline: store.baseline.as_deref(),
            save_baseline: store.save_baseline.as_deref(),
            outputs: Outputs {
                junit: store.junit,
                markdown: store.markdown,
            },
            reports: store.reports,
            templates: store.templates.as_deref(),
            color: store.color.enabled(),
        }),
        Command::Export {
            results,
            format,
            better,
            out,
        } => shell::export(&results, &format, better, out.as_deref()),
        Command::Completions { shell } => shell::completions(shell),
        Command::Man { out } => shell::man(out),
        Command::Compare {
            old,
            new,
            junit,
            markdown,
        } => {
            let (old_results, new_results) = (read_results(&old)?, read_results(&new)?);
            let config = (&new_results.regression_config).into();
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
        Command::Validate {
            scenarios,
            overrides,
            only,
        } => {
            for path in scenarios {
                validate::validate(&path, &overrides, &only)?;
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
                tell!("rigor serve: listening on http://{bound} with {what}");
            })
            .map_err(Failure::Run)
        }
        Command::Schema => {
            say(&rigor_scenario::json_schema());
            Ok(())
        }
        Command::Metrics => {
            say(&catalogue::metrics_table());
            Ok(())
        }
        Command::Init { kind, file } => {
            let written = init::write(kind, file.as_deref()).map_err(Failure::Invalid)?;
            for p in &written {
                tell!("rigor: wrote {}", p.display());
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
                tell!("rigor: note: --html is ignored with --format (the output goes to stdout)");
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

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Quick => Mode::Quick,
            ModeArg::Default => Mode::Default,
            ModeArg::Full => Mode::Full,
            ModeArg::Profile => Mode::Profile,
            ModeArg::Soak => Mode::Soak,
        }
    }
}

/// Reads a results file, or says why it is not one.
pub(crate) fn read_results(path: &Path) -> Result<Results, Failure> {
    Ok(store::read_results(path)?)
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
    tell!("rigor: HTML report in {}", html_path.display());
    Ok(())
}

/// Writes to stdout. A closed stdout (`rigor run ... | head`) must not end
/// a run that is still measuring or writing its results: the text is dropped.
pub(crate) fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}
