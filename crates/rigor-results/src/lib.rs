//! rigor's results model: what `rigor run` writes to results.json and
//! every reporter reads back, as plain serde structs with the few pure
//! functions over them (verdicts, exit codes, check counts). It holds no
//! measuring code: no runtime, no allocator, no targets, so a report can be
//! rendered from a results file by depending on this crate alone.

pub mod cost;
pub mod histogram;
mod parts;
mod regression;
mod verdict;
mod verification;

pub use parts::*;
pub use regression::*;
pub use verdict::*;
pub use verification::*;

use std::collections::BTreeMap;

use rigor_scenario::plan::{Mode, WorkloadPlan};
use serde::{Deserialize, Serialize};

fn one() -> u64 {
    1
}

/// A p-value for people: three decimals, or scientific below 0.001.
pub fn format_p(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// The version of this file format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// File format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The rigor version that produced the file.
    pub rigor_version: String,
    /// The scenario as run.
    pub scenario: ScenarioInfo,
    /// Where it ran.
    pub environment: Environment,
    /// The harness's own clock characteristics.
    pub harness: Harness,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// End time, RFC 3339 UTC (last update for partial results).
    pub finished_at: String,
    /// Whether the run finished.
    pub status: RunStatus,
    /// Why the run stopped before it measured everything (`status:
    /// stopped`): the gate's reason, the target that did not build or start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Per-target setup (compile times), in scenario order.
    pub targets: Vec<TargetInfo>,
    /// One entry per swept case.
    pub cases: Vec<CaseResult>,
    /// The worst verdict over all grades.
    pub verdict: Verdict,
    /// Run errors (failed targets), in order of occurrence.
    pub errors: Vec<String>,
    /// The correctness gate's outcome, when it ran.
    pub verification: Option<Verification>,
    /// The baseline of comparisons, when the scenario has `compare:`.
    pub baseline: Option<String>,
    /// Regression and noise settings used.
    #[serde(default)]
    pub regression_config: rigor_scenario::plan::RegressionPlan,
    /// Full mode: the A/A control (the first target against its copy).
    #[serde(default)]
    pub aa_control: Option<RegressionReport>,
    /// The comparison against a saved baseline (`--baseline`), if any.
    #[serde(default)]
    pub regression: Option<RegressionReport>,
    /// Earlier runs of this scenario (from reports/history), oldest first, for trends.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// Paired comparisons: the (baseline, target) ids compared round by
    /// round (`compare: { paired: true }`, `--against REV`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<(String, String)>,
    /// Paired comparisons (`compare: { paired: true }`): each target's
    /// change against the baseline target from rounds within one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<RegressionReport>,
    /// `--mode profile`: sampled allocations by target, with their top call sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloc_profile: Option<AllocProfile>,
    /// Files written beside the results (flamegraphs), relative to them.
    #[serde(default)]
    pub artifacts: Vec<String>,
    /// `--shard I/N`: this run is one shard of a sharded run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRun>,
    /// `rigor merge`: this run was merged from shards' results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeInfo>,
}

/// One shard of a sharded run (`--shard I/N`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardRun {
    /// Which shard.
    pub shard: rigor_scenario::shard::Shard,
    /// The scenario's seed before this shard's was derived from it.
    pub scenario_seed: u64,
    /// `--start-at`: the instant every shard waited for, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// How late this shard was for `start_at` (it was reached before the
    /// shard was ready), ns; 0 when it waited.
    #[serde(default)]
    pub late_ns: u64,
}

/// One run's key numbers, one line of `reports/history/<scenario>.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    /// When the run started.
    pub started_at: String,
    /// Git commit rigor was built from.
    pub git_commit: Option<String>,
    /// Run mode.
    pub mode: Mode,
    /// Overall verdict.
    pub verdict: Verdict,
    /// `case/target` -> metric -> value (throughput, latency.p50, latency.p99).
    pub metrics: BTreeMap<String, BTreeMap<String, f64>>,
}

/// A metric's statistics across trials (the trial is the unit of analysis).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricStats {
    /// Trials with a value.
    pub trials: usize,
    /// Median of the trials' values.
    pub median: f64,
    /// Smallest trial value.
    pub min: f64,
    /// Largest trial value.
    pub max: f64,
    /// The median's order-statistic confidence interval (95%, or the most the trials allow).
    pub interval: Option<Interval>,
    /// Coefficient of variation across trials.
    pub cv: Option<f64>,
}

impl MetricStats {
    /// The interval, when it says something: from two trials or more, with
    /// a stated coverage. One trial's "interval" is its value twice, which
    /// reads as certainty; reports and exports show none instead.
    pub fn spread(&self) -> Option<&Interval> {
        self.interval
            .as_ref()
            .filter(|i| self.trials > 1 && i.confidence > 0.0)
    }
}

/// A metric of one target as a ratio to the baseline's, across trials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ratio {
    /// Metric name.
    pub metric: String,
    /// Geometric mean over trials of this target's value / the baseline's (paired by trial).
    pub ratio: f64,
    /// Lower end of the 95% confidence interval (t interval on log ratios); absent with one trial.
    pub low: Option<f64>,
    /// Upper end of the 95% confidence interval.
    pub high: Option<f64>,
    /// Trials paired.
    pub trials: usize,
    /// `better`, `worse`, `no significant difference`, or `one trial: no interval`.
    pub conclusion: String,
}

/// The scenario as run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: Option<String>,
    /// Path of the scenario file as given.
    pub path: String,
    /// The scenario file's text.
    pub source: String,
    /// The mode the workload was shaped for.
    pub mode: Mode,
    /// The resolved workload.
    pub workload: WorkloadPlan,
    /// Number of inputs.
    pub inputs: usize,
    /// `--set` overrides applied to the scenario file for this run
    /// (the file's text in `source` is as written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
    /// A hash of what affects the measurement (the document without
    /// descriptions, thresholds, durations or trial counts; the policy, data
    /// and inputs as loaded): baselines compare it.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// `--only`: the targets this run kept (absent: all of the file's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
    /// Inputs generated from `generate:` entries: seed, count, samples.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated: Vec<rigor_scenario::plan::GeneratedInputs>,
    /// Decision logs replayed as inputs: what each held and what of it
    /// was replayed (events, skips by reason, distinct inputs, decisions,
    /// input sizes, the log's request rate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<rigor_scenario::decision_log::TrafficInfo>,
    /// The cache workload, for cache scenarios.
    #[serde(default)]
    pub cache: Option<rigor_scenario::plan::CachePlan>,
    /// How operations picked inputs; absent for round-robin.
    #[serde(default)]
    pub inputs_order: Option<rigor_scenario::plan::DistributionPlan>,
    /// The policy's `print()` calls and what every target did with them;
    /// absent when the policy has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prints: Option<PrintsInfo>,
}

/// A policy's `print()` calls (`policy.prints`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrintsInfo {
    /// `erase` (replaced by `true` before any target compiled the policy)
    /// or `keep` (each engine evaluated them).
    pub mode: rigor_scenario::model::Prints,
    /// How many calls the policy's files have.
    pub calls: usize,
    /// Their measured cost: time per evaluation with them over without, on
    /// regorus' interpreter, measured before timing; absent if not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_cost: Option<f64>,
}

/// The machine and software that produced the numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Environment {
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPUs available to the process.
    pub cores: usize,
    /// Operating system and kernel release.
    pub os: String,
    /// Host name.
    pub hostname: String,
    /// rustc version that built rigor.
    pub rustc: String,
    /// rigor version.
    pub rigor_version: String,
    /// Git commit rigor was built from, when known.
    pub git_commit: Option<String>,
    /// The kernel's clock source (`tsc`, `kvm-clock`, ...).
    pub clock_source: Option<String>,
    /// Hash of the Cargo.lock rigor was built with.
    #[serde(default)]
    pub cargo_lock: Option<String>,
    /// Peer programs the targets measured, with their versions
    /// (`opa`: `1.22.3 (go1.26.8)`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peers: BTreeMap<String, String>,
}

/// The harness's own costs, so a reader can judge small numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Harness {
    /// Median cost of one `Instant::now()`, ns.
    pub timer_cost_ns: f64,
    /// Smallest non-zero difference seen between two clock reads, ns.
    pub timer_resolution_ns: u64,
    /// Whether jemalloc accounting was active (bytes/op, allocs/op, resident).
    pub memory_accounting: bool,
    /// How latency is timed.
    pub timing: String,
    /// What the closed loop costs per operation timed alone (one clock read,
    /// recording, the loop's checks), measured on an empty operation: every
    /// per-operation latency includes it, ns.
    #[serde(default)]
    pub loop_cost_ns: Option<f64>,
}

/// Whether the run finished.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running (a partial file written during the run).
    Running,
    /// Every case, target and trial ran.
    Complete,
    /// Stopped early by the user (Ctrl-C); what was measured is kept.
    Interrupted,
    /// Merged from shards of which some are missing or failed (named in
    /// `merged`); what the others measured is kept.
    Incomplete,
    /// Stopped by a failure before or while measuring (the decision gate,
    /// a target that did not build or start); `stop_reason` says why.
    Stopped,
}

impl RunStatus {
    /// Interrupted, stopped, or merged without every shard: what was
    /// measured is partial or nothing, and the run fails (exit 3).
    pub fn cut_short(self) -> bool {
        matches!(
            self,
            RunStatus::Interrupted | RunStatus::Incomplete | RunStatus::Stopped
        )
    }
}

/// A target's setup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Target id.
    pub id: String,
    /// Target kind.
    pub kind: String,
    /// Kind-specific configuration, for the record.
    pub config: serde_json::Value,
    /// Setup costs measured while building.
    pub setup: Setup,
    /// What memory metrics cover: `operation` (all in rigor's process) or
    /// `client` (the server's work is elsewhere; only the client is counted).
    #[serde(default)]
    pub memory_scope: String,
    /// The peer program and version this target measured (`opa 1.22.3 (go1.26.8)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// How this target measures, when it is not rigor's own timing (`opa bench`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The thresholds this target was graded against (the scenario's with
    /// its own on top), in canonical units: a merge re-grades with them.
    #[serde(default)]
    pub thresholds: BTreeMap<String, rigor_scenario::model::Threshold>,
    /// What the policy's lines and rules cost on this target's engine,
    /// measured after the trials (`--explain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<cost::PolicyProfile>,
}

/// One swept case (e.g. one concurrency value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    /// Case label, e.g. `concurrency=2`.
    pub name: String,
    /// Worker threads (closed loop) or most operations in flight (rate mode).
    pub concurrency: u32,
    /// Requested rate in operations per second (rate mode only).
    pub rate: Option<f64>,
    /// Cache capacity (cache scenarios only): entries, or `<n>B` for bytes.
    #[serde(default)]
    pub capacity: Option<rigor_scenario::units::Capacity>,
    /// Each target's results, in scenario order.
    pub targets: Vec<TargetResult>,
    /// Paired comparisons: each trial's measured rounds, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<Vec<Round>>,
    /// In a shard's results: this shard's part of the case (`concurrency`
    /// and `rate` above are the whole case's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<CasePart>,
}

/// A shard's part of a case.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct CasePart {
    /// This shard's workers (0: nothing to do in this case).
    pub concurrency: u32,
    /// This shard's rate (rate mode).
    pub rate: Option<f64>,
}

/// One target in one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetResult {
    /// Target id.
    pub id: String,
    /// Target kind.
    pub kind: String,
    /// Trials in the order they ran.
    pub trials: Vec<TrialResult>,
    /// Summary over trials by metric name (see the metric table in docs/scenarios.md); a
    /// metric the target cannot produce is absent.
    pub metrics: BTreeMap<String, f64>,
    /// All trials' latencies merged (base64 of a deflated HdrHistogram V2).
    pub histogram: String,
    /// Threshold grades.
    pub grades: Vec<Grade>,
    /// Why the target stopped, if it failed.
    pub error: Option<String>,
    /// Metrics as ratios to the baseline target (empty for the baseline itself).
    pub ratios: Vec<Ratio>,
    /// What each input cost in the measured trials (policy targets timed
    /// per operation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_costs: Option<cost::InputCosts>,
    /// Statistics across trials of the per-trial metrics.
    #[serde(default)]
    pub stats: BTreeMap<String, MetricStats>,
    /// Throughput (or mean latency) varied across trials more than the noise threshold.
    #[serde(default)]
    pub noisy: bool,
}

/// One measured run of one target in one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialResult {
    /// Trial number, from 0.
    pub trial: u32,
    /// Position of this target within the trial's interleaved order, from 0.
    pub position: u32,
    /// Operations per timed batch: 1 when each operation was timed alone;
    /// above 1, `histogram` holds batch means (one per operation of the batch).
    #[serde(default = "one")]
    pub batch: u64,
    /// Per-kind latencies (`get`, `hit`, `miss`, `set`), like `histogram`;
    /// empty when timed in batches or when the target reports no kinds.
    #[serde(default)]
    pub kind_histograms: BTreeMap<String, String>,
    /// Operations by kind (`get`, `hit`, `miss`, `set`); counted in batches too.
    #[serde(default)]
    pub kind_counts: BTreeMap<String, u64>,
    /// Cache state after `prepare` (preload), before timing.
    #[serde(default)]
    pub cache_before: Option<CacheState>,
    /// Cache state after the trial.
    #[serde(default)]
    pub cache_after: Option<CacheState>,
    /// Successful operations measured (failed ones are in `errors`, never here).
    pub operations: u64,
    /// Failed operations, including scheduled ones that never started.
    pub errors: u64,
    /// Events the target counted during the trial besides errors (`reconnects`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub events: BTreeMap<String, u64>,
    /// First error messages (at most 5).
    pub error_messages: Vec<String>,
    /// Failed operations by kind (`eval`, `connect`, `timeout`, `http_status`, `io`, `decode`, `not_started`).
    #[serde(default)]
    pub error_kinds: BTreeMap<String, u64>,
    /// Wall time of the measured phase, first worker start to last worker end, ns.
    pub elapsed_ns: u64,
    /// Metrics of this trial by name.
    pub metrics: BTreeMap<String, f64>,
    /// This trial's latencies (base64 of a deflated HdrHistogram V2, ns);
    /// empty for a trial the target measured itself (`opa bench`).
    pub histogram: String,
    /// Figures gathered per operation besides latency, like `histogram`, by
    /// metric prefix (`server.eval`, `server.handler`: the server's own timings).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub samples: BTreeMap<String, String>,
    /// The trial was cut short by Ctrl-C.
    pub interrupted: bool,
    /// Rate mode: service times (from the actual send), like `histogram`.
    pub service_histogram: Option<String>,
    /// Rate mode: scheduled operations never started because the target fell
    /// too far behind (counted as errors).
    pub dropped: u64,
    /// Rate mode: the generator could not keep the schedule (its p99 lag
    /// exceeded 1ms), so latencies partly measure rigor, not the target.
    pub generator_bound: bool,
    /// A soak's samples over time and the growth fitted to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<SoakResult>,
    /// Throughput, latency and errors per window over the measured phase
    /// (none for self-timed tools, which time themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<WindowSeries>,
    /// When the measured phase ran by the wall clock (a merge of shards
    /// compares them to find the start skew and the overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall: Option<WallSpan>,
    /// Figures of this trial that could not be read, each with why (a
    /// server's `/metrics` that did not answer): said, never silently absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A span of wall-clock time, ns since the Unix epoch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct WallSpan {
    /// Start, ns since the Unix epoch.
    pub start_ns: u64,
    /// End, ns since the Unix epoch.
    pub end_ns: u64,
}

impl WallSpan {
    /// Now as ns since the Unix epoch.
    pub fn now_ns() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    /// The wall-clock span of `[start, end]` measured on the monotonic clock.
    pub fn of(start: std::time::Instant, end: std::time::Instant) -> WallSpan {
        let (now, wall) = (std::time::Instant::now(), Self::now_ns());
        let back =
            |t: std::time::Instant| wall.saturating_sub(now.duration_since(t).as_nanos() as u64);
        WallSpan {
            start_ns: back(start),
            end_ns: back(end),
        }
    }
}

/// One sample of a soak, taken by the coordinator thread while every
/// worker measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemorySample {
    /// Time since the first sample, ns.
    pub t_ns: u64,
    /// Operations done by all workers since measuring began (published
    /// every 16 operations per worker, so up to 16 per worker behind).
    pub operations: u64,
    /// Live heap: jemalloc `stats.allocated`, bytes (process-wide).
    pub allocated: Option<u64>,
    /// jemalloc `stats.resident`, bytes.
    pub resident: Option<u64>,
    /// The process's resident set size (`/proc/self/statm`), bytes.
    pub rss: Option<u64>,
    /// A server target's process resident set size, bytes (servers rigor started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_rss: Option<u64>,
    /// The memory a server target says it holds (Redis `used_memory`, OPA's Go `heap_inuse`), bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_heap: Option<u64>,
    /// Entries a cache target held (caches only; a cache still filling is not a leak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
}

/// A soak's samples and what they say about memory growth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakResult {
    /// Time between samples, ns.
    pub sample_ns: u64,
    /// The samples, in time order.
    pub samples: Vec<MemorySample>,
    /// Samples left out of the fits at the start: the first fifth (the
    /// allocator and the target settle), or for a cache until it held
    /// nearly its most entries.
    pub skipped: usize,
    /// The live heap's growth (`memory.growth`).
    pub heap: Option<Growth>,
    /// jemalloc resident memory's growth (`memory.resident_growth`).
    pub resident: Option<Growth>,
    /// A server target's own memory's growth (`server.memory.growth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Growth>,
    /// Caches: the first sample holding 99% of the most entries seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filled_at: Option<usize>,
    /// Caches: the entry count was still rising too late to fit after it,
    /// so the growth includes the cache filling up (not a leak by itself).
    #[serde(default)]
    pub still_filling: bool,
}

impl SoakResult {
    /// The growth metrics this soak gives, by catalogue name: each value
    /// with its fit's interval.
    pub fn growth_metrics(&self) -> Vec<(&'static str, f64, Option<Interval>)> {
        let mut out = Vec::new();
        if let Some(g) = &self.heap {
            out.push(("memory.growth", g.per_million_ops, g.interval));
            out.push(("memory.growth_per_hour", g.per_hour, g.per_hour_interval));
        }
        if let Some(g) = &self.resident {
            out.push(("memory.resident_growth", g.per_million_ops, g.interval));
        }
        if let Some(g) = &self.server {
            out.push(("server.memory.growth", g.per_million_ops, g.interval));
        }
        out
    }
}

/// A robust straight-line fit of memory against operations and time:
/// Theil-Sen slopes with Sen's rank interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Growth {
    /// Bytes per 1M operations.
    pub per_million_ops: f64,
    /// Its interval.
    pub interval: Option<Interval>,
    /// Bytes per hour.
    pub per_hour: f64,
    /// Its interval.
    pub per_hour_interval: Option<Interval>,
    /// Samples in the fit.
    pub samples: usize,
}
