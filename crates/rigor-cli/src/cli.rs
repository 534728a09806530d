//! The command line: every subcommand and flag, parsed by clap. Only
//! arguments live here; what they do is in the command modules.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::init;

/// `rigor --version`: the version, and the commit and its date when rigor
/// was built from a git checkout (build.rs), so a report, a bug and a
/// binary can be matched.
pub(crate) const VERSION: &str = env!("RIGOR_VERSION_LINE");

/// Declarative benchmarks for policy engines and caches.
#[derive(Debug, Parser)]
#[command(name = "rigor", version = VERSION, about = "Declarative benchmarks for policy engines and caches", long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What a finished run or merge is stored, compared and rendered with
/// (`rigor run` and `rigor merge` alike).
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// Save the results' per-trial figures as baseline NAME
    /// (<reports>/baselines/<scenario>/NAME.json).
    #[arg(long, value_name = "NAME")]
    pub(crate) save_baseline: Option<String>,
    /// Compare every metric against saved baseline NAME (exit 4 on a regression).
    #[arg(long, value_name = "NAME")]
    pub(crate) baseline: Option<String>,
    /// Write a JUnit XML file: each threshold and regression check a test case.
    #[arg(long, value_name = "PATH")]
    pub(crate) junit: Option<PathBuf>,
    /// Write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "PATH")]
    pub(crate) markdown: Option<PathBuf>,
    /// Root directory of runs/, baselines/ and history/.
    #[arg(long, default_value = "reports")]
    pub(crate) reports: PathBuf,
    /// Directory of templates overriding the built-in ones.
    #[arg(long)]
    pub(crate) templates: Option<PathBuf>,
    /// Colour the console report: auto, always, never.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) color: ColorArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a scenario, write results.json and report.html, print the console report.
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// `quick`: one short trial per case (smoke runs); `default`: as written;
        /// `full`: at least 12 trials, twice the duration, an A/A control;
        /// `profile`: as written, plus a CPU flamegraph of the run;
        /// `soak`: one long trial (`workload.soak`, default 10m) sampling
        /// memory over time, graded on `memory.growth`.
        #[arg(long, value_enum, default_value = "default")]
        mode: ModeArg,
        #[command(flatten)]
        store: StoreArgs,
        /// Directory for results (default: <reports>/runs/<scenario>/<timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Change one value for this run, e.g. `workload.duration=2s` or
        /// `targets.vm.engine=interpreter` (repeatable; the value is YAML).
        /// Recorded in the results; the scenario's hash stays the file's.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<rigor_scenario::overrides::Override>,
        /// Run only these targets (ids, comma-separated or repeated).
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        only: Vec<String>,
        /// Compare every target that loads its policy itself (regorus, a
        /// managed OPA) with its policy and data at this git revision
        /// (`<id>@REV`, read with `git show`, no checkout), in paired rounds
        /// within the run, e.g. `--against origin/main`.
        #[arg(long, value_name = "REV")]
        against: Option<String>,
        /// No progress on stderr: no live line on a terminal, no line per
        /// trial (errors and notes still print).
        #[arg(long)]
        quiet: bool,
        /// After the timed trials, profile each policy target's policy on
        /// the inputs the trials found slowest and a sample of the rest
        /// (OPA's profiler for a managed OPA; regorus' rules evaluated
        /// alone, and its coverage): the report's hottest lines, rule costs
        /// and heat map. Outside timing. `--mode profile` implies it.
        #[arg(long)]
        explain: bool,
        /// Run shard I (from 0) of N: each case's concurrency and rate are
        /// split across the N shards, each with its own seed; merge the N
        /// results with `rigor merge`. Targets must use `url:` servers or
        /// run in process. A shard grades nothing: its merge grades the
        /// whole (and takes --baseline).
        #[arg(long, value_name = "I/N", conflicts_with_all = ["baseline", "save_baseline"])]
        shard: Option<rigor_scenario::shard::Shard>,
        /// Wait until this instant (RFC 3339, e.g. `2026-12-04T15:00:00Z`)
        /// before the first warm-up, so that every shard's trials overlap.
        #[arg(long, value_name = "TIME", requires = "shard")]
        start_at: Option<String>,
    },
    /// Merge the results of a sharded run (`rigor run --shard I/N`) into one
    /// run's: histograms added exactly, counts and rates summed, every
    /// statistic recomputed and graded, the reports rendered. A missing or
    /// failed shard makes the run `incomplete` (exit 3).
    Merge {
        /// The shards' results.json files, or folders holding them (searched
        /// three levels deep).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Directory for the merged results and reports.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Check scenario files: types, units, files, inputs, and that policies compile.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Check with this value changed, as `rigor run --set` runs it, e.g.
        /// `workload.duration=2s` (repeatable; the value is YAML).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<rigor_scenario::overrides::Override>,
        /// Check only these targets, as `rigor run --only` runs them (ids,
        /// comma-separated or repeated).
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Show a scenario's inputs (files, inline, generated) and, whole, what
    /// every policy target answers for each; nothing is measured.
    Inputs {
        /// Scenario file.
        scenario: PathBuf,
        /// How many inputs to show.
        #[arg(long, default_value = "10")]
        limit: usize,
        /// As `rigor run --set`.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<rigor_scenario::overrides::Override>,
        /// As `rigor run --only`.
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Measure a policy without writing a scenario first: `rigor bench
    /// policy.rego --input input.json --query data.pkg.allow` runs a default
    /// workload on regorus' VM and interpreter (`--engine vm,interpreter,opa`)
    /// and prints the usual report; `--save FILE.yaml` keeps the scenario it ran.
    Bench {
        /// Rego files (or folders of them).
        #[arg(required = true)]
        policies: Vec<PathBuf>,
        /// Input files: `.json` (one input), `.jsonl` (one per line), `.yaml`.
        #[arg(long = "input", short = 'i', value_name = "FILE")]
        inputs: Vec<PathBuf>,
        /// Data documents (JSON or YAML), merged into `data`.
        #[arg(long = "data", short = 'd', value_name = "FILE")]
        data: Vec<PathBuf>,
        /// The rule to evaluate, e.g. `data.authz.allow`.
        #[arg(long, short = 'q')]
        query: String,
        /// Engines to compare, the first the baseline (default: vm,interpreter).
        #[arg(long, value_enum, value_delimiter = ',')]
        engine: Vec<crate::bench::Engine>,
        /// Workers.
        #[arg(long, default_value = "1")]
        concurrency: u32,
        /// Measured time per trial.
        #[arg(long, default_value = "2s")]
        duration: String,
        /// Trials per engine.
        #[arg(long, default_value = "3")]
        trials: u32,
        /// Parse the policy as Rego v0.
        #[arg(long)]
        rego_v0: bool,
        /// Write the scenario it runs to this file (never overwriting one).
        #[arg(long, value_name = "SCENARIO.yaml")]
        save: Option<PathBuf>,
        /// Run mode, as `rigor run --mode`.
        #[arg(long, value_enum, default_value = "default")]
        mode: ModeArg,
        #[command(flatten)]
        store: StoreArgs,
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
    /// Write a results file in another tool's format: `gobench` (Go's
    /// benchmark text, for `benchstat -col target FILE`; per round of a
    /// paired run, else per trial), `bmf` (Bencher Metric Format, for
    /// `bencher run --adapter json`), `github-action-benchmark` (its
    /// customSmallerIsBetter JSON; `--better bigger` for customBiggerIsBetter).
    Export {
        /// A results.json written by `rigor run`.
        results: PathBuf,
        /// The format.
        #[arg(long, default_value = "gobench", value_parser = export_formats())]
        format: String,
        /// For github-action-benchmark, which metrics: `smaller` (latency,
        /// memory, errors, compile time: customSmallerIsBetter) or `bigger`
        /// (throughput, hit ratio: customBiggerIsBetter).
        #[arg(long, value_enum)]
        better: Option<BetterArg>,
        /// Write here instead of stdout.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
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
    /// Print a shell completion script, e.g. `rigor completions bash >
    /// ~/.local/share/bash-completion/completions/rigor` (zsh: a `_rigor`
    /// file on `$fpath`; fish: `~/.config/fish/completions/rigor.fish`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: ShellArg,
    },
    /// Print rigor's man page (roff), e.g. `rigor man | man -l -`; with
    /// `--out DIR`, write one page per command (rigor.1, rigor-run.1, ...).
    Man {
        /// Write every command's page into this folder.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
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
pub(crate) enum FormatArg {
    Console,
    Html,
    Markdown,
    Junit,
}

/// `rigor export --format`: the names of the registered exporters.
fn export_formats() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        rigor_report::export::EXPORTERS
            .iter()
            .map(|e| clap::builder::PossibleValue::new(e.name()).help(e.about())),
    )
}

/// `rigor export --better`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum BetterArg {
    /// Metrics where smaller is better.
    Smaller,
    /// Metrics where bigger is better.
    Bigger,
}

/// `rigor completions SHELL`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ShellArg {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ModeArg {
    Quick,
    Default,
    Full,
    Profile,
    Soak,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ColorArg {
    Auto,
    Always,
    Never,
}

impl ColorArg {
    pub(crate) fn enabled(self) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}
