//! Validation: a raw [`Scenario`] becomes a [`Plan`] with every default
//! resolved, every file read and every input parsed, or a [`Diagnostic`]
//! naming the file, line and column at fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::model::{
    Distribution, InputSource, MissPolicy, Scenario, TargetSpec, Threshold, Thresholds, Timing,
};
use crate::units::{Capacity, Percent};
use crate::{Diagnostic, ScenarioError};

/// How much of the scenario's workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The scenario as written.
    #[default]
    Default,
    /// One short trial per case: warm-up at most 200ms, duration at most 1s
    /// (or at most 10000 iterations per worker). For smoke runs and development.
    Quick,
    /// At least 12 trials, twice the duration (or iterations), at least 1s
    /// of warm-up, and an A/A control: the first target measured twice.
    Full,
    /// The scenario as written, with a CPU profile of the in-process targets
    /// written as a flamegraph SVG beside the results.
    Profile,
    /// One long trial per (case, target) (`workload.soak`, default 10m)
    /// sampling operations done and memory, to find growth (leaks).
    Soak,
}

/// A soak's length when the workload names none.
pub const DEFAULT_SOAK: Duration = Duration::from_secs(600);
/// How often a soak samples when the workload does not say.
pub const DEFAULT_SAMPLE: Duration = Duration::from_secs(1);
/// A paired comparison's round when the workload does not say.
pub const DEFAULT_ROUND: Duration = Duration::from_millis(10);
/// The width of the windows over time when the workload does not say.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(1);

/// A soak's sampling, resolved.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SoakPlan {
    /// Time between two samples.
    pub sample: Duration,
}

/// Full mode's fewest trials.
pub const FULL_TRIALS: u32 = 12;
/// The suffix of the A/A control's copy of the first target.
pub const AA_SUFFIX: &str = ".aa";

/// Regression settings, resolved.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegressionPlan {
    /// Default threshold on the change (0.10 = 10% worse).
    pub threshold: f64,
    /// Per-metric thresholds.
    pub metrics: BTreeMap<String, f64>,
    /// Coefficient of variation above which a case is noisy.
    pub noisy_cv: f64,
    /// The comparison runs in paired rounds because it has a regression
    /// threshold and every target takes rounds (`compare.paired` unset).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paired_by_default: bool,
}

impl Default for RegressionPlan {
    fn default() -> Self {
        RegressionPlan {
            threshold: 0.10,
            metrics: BTreeMap::new(),
            noisy_cv: 0.05,
            paired_by_default: false,
        }
    }
}

/// When a worker stops measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// After this much measured time.
    Duration(Duration),
    /// After this many measured operations per worker.
    Iterations(u64),
}

/// The checked workload.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkloadPlan {
    /// Worker counts to sweep; one case each.
    pub concurrency: Vec<u32>,
    /// Warm-up time per run, excluded from statistics.
    pub warmup: Duration,
    /// When measuring stops.
    pub stop: Stop,
    /// Repetitions of each (case, target).
    pub trials: u32,
    /// Open-loop rates to sweep, operations per second; empty for closed loop.
    #[serde(default)]
    pub rate: Vec<f64>,
    /// Seed of every random choice (keys, inputs, values).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How operations are timed.
    #[serde(default)]
    pub timing: Timing,
    /// Cache capacities to sweep (cache scenarios only); one case each.
    #[serde(default)]
    pub capacity: Vec<Capacity>,
    /// Async targets: runtime threads; `None` is one per core.
    #[serde(default)]
    pub threads: Option<u32>,
    /// A soak: every trial samples operations done and memory over time.
    #[serde(default)]
    pub soak: Option<SoakPlan>,
    /// Width of the windows over time (throughput, p99, errors per window).
    #[serde(default = "default_window")]
    pub window: Duration,
    /// Paired comparisons: targets alternate in rounds of this length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<Duration>,
    /// `--shard I/N`: this process runs shard I's part of every case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::part::Shard>,
}

fn default_window() -> Duration {
    DEFAULT_WINDOW
}

fn default_seed() -> u64 {
    1
}

/// One swept case: a concurrency and, in rate mode, a rate; in cache scenarios a capacity.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CasePlan {
    /// Workers (closed loop) or most operations in flight (rate mode).
    pub concurrency: u32,
    /// Requested rate in operations per second (rate mode only).
    pub rate: Option<f64>,
    /// Cache capacity (cache scenarios only).
    #[serde(default)]
    pub capacity: Option<Capacity>,
    /// In a sharded run: the whole case this shard's part belongs to
    /// (`concurrency` and `rate` above are this shard's part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<crate::part::WholeCase>,
}

impl CasePlan {
    /// A label such as `concurrency=2`, `rate=1000/s concurrency=64` or
    /// `capacity=1000 concurrency=8`; a shard's part is named by its whole case.
    pub fn name(&self) -> String {
        let (concurrency, rate) = self
            .whole
            .map_or((self.concurrency, self.rate), |w| (w.concurrency, w.rate));
        let mut out = String::new();
        if let Some(c) = self.capacity {
            out.push_str(&format!("capacity={c} "));
        }
        if let Some(r) = rate {
            out.push_str(&format!("rate={}/s ", crate::units::significant(r)));
        }
        out.push_str(&format!("concurrency={concurrency}"));
        out
    }

    /// The case's concurrency over all shards.
    pub fn whole_concurrency(&self) -> u32 {
        self.whole.map_or(self.concurrency, |w| w.concurrency)
    }

    /// The case's rate over all shards.
    pub fn whole_rate(&self) -> Option<f64> {
        self.whole.map_or(self.rate, |w| w.rate)
    }
}

impl WorkloadPlan {
    /// Every case: each capacity (if any), each concurrency, each rate (if any).
    pub fn cases(&self) -> Vec<CasePlan> {
        let mut out = Vec::new();
        let capacities: Vec<Option<Capacity>> = if self.capacity.is_empty() {
            vec![None]
        } else {
            self.capacity.iter().copied().map(Some).collect()
        };
        for capacity in capacities {
            for &concurrency in &self.concurrency {
                if self.rate.is_empty() {
                    out.push(CasePlan {
                        concurrency,
                        rate: None,
                        capacity,
                        whole: None,
                    });
                }
                for &rate in &self.rate {
                    out.push(CasePlan {
                        concurrency,
                        rate: Some(rate),
                        capacity,
                        whole: None,
                    });
                }
            }
        }
        match self.shard {
            Some(shard) => out.into_iter().map(|c| shard.share(c)).collect(),
            None => out,
        }
    }
}

/// A checked key (or input) distribution.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DistributionPlan {
    /// Which distribution.
    pub kind: Distribution,
    /// Zipfian exponent s.
    pub zipf_exponent: f64,
    /// Hotspot: share of keys that are hot.
    pub hotspot_keys: f64,
    /// Hotspot: share of operations on hot keys.
    pub hotspot_ops: f64,
}

/// The checked `cache:` workload.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CachePlan {
    /// Keyspace size.
    pub keys: u64,
    /// Key popularity.
    pub distribution: DistributionPlan,
    /// Smallest value size, bytes.
    pub value_min: u64,
    /// Largest value size, bytes.
    pub value_max: u64,
    /// Share of operations that are reads.
    pub read_ratio: f64,
    /// What a read miss does.
    pub miss: MissPolicy,
    /// Entry lifetime.
    pub ttl: Option<Duration>,
    /// Fill the cache before measuring.
    pub preload: bool,
}

/// Largest keyspace: key names are built once, before timing.
pub const MAX_KEYS: u64 = 50_000_000;
/// Decision cache capacity when the target sets none.
pub const DEFAULT_DECISION_CAPACITY: u64 = 10_000;

/// A Rego module, read.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyModule {
    /// The path shown in Rego error messages.
    pub path: String,
    /// The source text, as every target compiles it (`print()` calls
    /// erased under `policy.prints: erase`).
    pub text: String,
    /// The file's own text when `print()` calls were erased from `text`
    /// (to measure what they cost); `None` when `text` is the file's.
    pub printing: Option<String>,
}

/// The checked policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyPlan {
    /// Modules in load order.
    pub modules: Vec<PolicyModule>,
    /// All data documents deep-merged.
    pub data: serde_json::Value,
    /// The rule to evaluate, `data.<package>.<rule>`.
    pub query: String,
    /// Parse as Rego v0.
    pub rego_v0: bool,
    /// What was done with the policy's `print()` calls.
    pub prints: crate::model::Prints,
    /// How many `print()` calls the policy's files have (erased or not).
    pub print_calls: usize,
    /// The query names a partial set rule: its answers are compared as
    /// sets (their JSON arrays' order means nothing).
    pub query_is_set: bool,
}

/// What the decision check before timing does with a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMode {
    /// Stop before timing (exit 3).
    #[default]
    Gate,
    /// Measure anyway; the run's verdict is at least WARN.
    Warn,
    /// Measure anyway.
    Off,
}

/// The metric every target is graded on even when the scenario names no
/// threshold for it: `errors.rate` with `critical: 0%`.
pub const DEFAULT_ERRORS_METRIC: &str = "errors.rate";

/// The metric every soak grades even when the scenario names no threshold.
pub const DEFAULT_GROWTH_METRIC: &str = "memory.growth";
/// Its default target: 64KiB per 1M operations (1 byte kept per 16
/// operations), above the regorus VM's 10s noise floor (an interval of
/// [0, 17KB]) so a clean target PASSes a short soak.
pub const DEFAULT_GROWTH_TARGET: f64 = 65_536.0;
/// Its default critical level: 1MiB per 1M operations, a byte kept per
/// operation.
pub const DEFAULT_GROWTH_CRITICAL: f64 = 1_048_576.0;

/// One input document and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct InputItem {
    /// `file` or `file:line` or `inline #n`, for messages.
    pub origin: String,
    /// The document.
    pub value: serde_json::Value,
    /// The decision every policy target must answer (`expect:`), with
    /// undefined written as [`UNDEFINED`].
    pub expect: Option<serde_json::Value>,
}

/// What one `generate:` entry made, recorded in the results.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeneratedInputs {
    /// `inputs[n] (generate)`.
    pub origin: String,
    /// Documents made.
    pub count: u64,
    /// The seed they were drawn from.
    pub seed: u64,
    /// The first few documents.
    pub samples: Vec<serde_json::Value>,
}

/// Generated documents kept as samples in the results.
const GENERATED_SAMPLES: usize = 3;

/// A checked target.
#[derive(Debug, Clone)]
pub struct TargetPlan {
    /// The target's configuration as written.
    pub spec: TargetSpec,
    /// Scenario thresholds with this target's own applied on top.
    pub thresholds: BTreeMap<String, Threshold>,
    /// The target's own policy, resolved, when it has one (it overrides
    /// the scenario's).
    pub policy: Option<PolicyPlan>,
}

impl TargetPlan {
    /// The target's id.
    pub fn id(&self) -> &str {
        self.spec.id()
    }

    /// The policy this target evaluates: its own, else the scenario's.
    pub fn policy<'a>(&'a self, plan: &'a Plan) -> Option<&'a PolicyPlan> {
        self.policy.as_ref().or(plan.policy.as_ref())
    }
}

pub use crate::expand::expand_env;

/// A scenario checked and resolved: what the engine runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: Option<String>,
    /// The scenario file.
    pub path: PathBuf,
    /// The scenario file's text, kept for the results.
    pub source: String,
    /// The policy, when a target needs one.
    pub policy: Option<PolicyPlan>,
    /// Inputs in round-robin order.
    pub inputs: Vec<InputItem>,
    /// The `generate:` entries among them: seed, count and samples.
    pub generated: Vec<GeneratedInputs>,
    /// `--set` overrides applied to the file, as given (`workload.duration=2s`).
    pub overrides: Vec<String>,
    /// `--only`: the targets kept (empty: all of them).
    pub only: Vec<String>,
    /// A hash of what affects the measurement (`fingerprint()`).
    pub fingerprint: String,
    /// The workload.
    pub workload: WorkloadPlan,
    /// Targets in scenario order.
    pub targets: Vec<TargetPlan>,
    /// The mode the workload was shaped for.
    pub mode: Mode,
    /// The target others are compared to, if any.
    pub compare: Option<String>,
    /// What disagreeing targets, missed expectations and evaluation errors
    /// do: stop the run before timing, mark it, or nothing.
    pub verify: VerifyMode,
    /// The cache workload, when the scenario has `cache:`.
    pub cache: Option<CachePlan>,
    /// How operations pick inputs; `None` is round-robin.
    pub inputs_order: Option<DistributionPlan>,
    /// Regression and noise settings.
    pub regression: RegressionPlan,
    /// Full mode: the id of the A/A control's copy (of the first target).
    pub aa_control: Option<String>,
    /// Paired comparisons: (baseline, target) ids, compared round by round.
    pub pairs: Vec<(String, String)>,
}

/// The file beside a missing one whose name is closest to it (`rbac.rego`
/// for `rback.rego`), written as the missing path was but with that name.
fn nearest_file(missing: &Path) -> Option<String> {
    let dir = match missing.parent()? {
        d if d.as_os_str().is_empty() => Path::new("."),
        d => d,
    };
    let want = missing.file_name()?.to_string_lossy().into_owned();
    let names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let best = crate::metrics::did_you_mean(&want, names.iter().map(String::as_str))?;
    Some(best.to_string())
}

impl Plan {
    /// Loads and validates a scenario file.
    pub fn from_file(path: &Path, mode: Mode) -> Result<Plan, ScenarioError> {
        Self::from_file_with(path, mode, &[])
    }

    /// Loads a scenario file, applies `--set` overrides
    /// ([`crate::overrides`]) and validates the result. The plan keeps the
    /// file's own text (its hash is the file's) and lists the overrides.
    pub fn from_file_with(
        path: &Path,
        mode: Mode,
        overrides: &[crate::overrides::Override],
    ) -> Result<Plan, ScenarioError> {
        let (scenario, source) = crate::load(path)?;
        // With overrides, problems are located in the document as changed,
        // under a name that says so.
        let changed = match overrides {
            [] => None,
            _ => {
                let text = crate::overrides::apply(path, &source, overrides)?;
                let list: Vec<String> = overrides.iter().map(|o| o.to_string()).collect();
                let label = PathBuf::from(format!(
                    "{} (with --set {})",
                    path.display(),
                    crate::redact::redact_credentials(&list.join(" --set "))
                ));
                Some((text, label))
            }
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let (built, text) = match &changed {
            None => (
                Builder {
                    file: path,
                    source: &source,
                    base,
                }
                .build(scenario, mode),
                source.as_str(),
            ),
            Some((text, label)) => {
                let changed_scenario = crate::parse_yaml(label, text).map_err(|d| {
                    Self::relocate(
                        ScenarioError::Invalid(d),
                        path,
                        &source,
                        scenario.clone(),
                        mode,
                        overrides,
                    )
                })?;
                let built = Builder {
                    file: label,
                    source: text,
                    base,
                }
                .build(changed_scenario, mode)
                .map_err(|e| Self::relocate(e, path, &source, scenario, mode, overrides));
                (built, text.as_str())
            }
        };
        built.map(|mut plan| {
            plan.fingerprint = fingerprint(&plan, text);
            plan.path = path.to_path_buf();
            plan.source = source.clone();
            // Results never hold a password given on the command line either.
            plan.overrides = overrides
                .iter()
                .map(|o| crate::redact::redact_credentials(&o.to_string()))
                .collect();
            plan
        })
    }
}

impl Plan {
    /// The policy files and directories and data files the scenario at
    /// `path` names (its `policy:` and every target's own), as written:
    /// what `--against REV` reads from git.
    pub fn policy_paths(path: &Path) -> Result<Vec<String>, ScenarioError> {
        let (scenario, _) = crate::load(path)?;
        let mut out = Vec::new();
        let policies = scenario
            .policy
            .iter()
            .chain(scenario.targets.iter().filter_map(|t| t.value.own_policy()));
        for p in policies {
            for f in p.files.iter().chain(&p.data) {
                if !out.contains(&f.value) {
                    out.push(f.value.clone());
                }
            }
        }
        Ok(out)
    }

    /// A problem found in the scenario as `--set` changed it is said in
    /// the user's terms, never as a line of rigor's internal JSON: the
    /// override that caused it, or the file's own line when the file alone
    /// has the problem.
    fn relocate(
        e: ScenarioError,
        path: &Path,
        source: &str,
        original: Scenario,
        mode: Mode,
        overrides: &[crate::overrides::Override],
    ) -> ScenarioError {
        let ScenarioError::Invalid(mut d) = e else {
            return e;
        };
        if d.line.is_none() {
            return ScenarioError::Invalid(d);
        }
        let line = d.source_line.clone().unwrap_or_default();
        let cause = overrides.iter().find(|o| {
            let last = o.path.rsplit('.').next().unwrap_or(&o.path);
            let value = o.value.trim_matches(|c: char| "[]{}\"' ".contains(c));
            line.contains(&format!("\"{last}\"")) || (!value.is_empty() && line.contains(value))
        });
        if cause.is_none() {
            // The file's own problem: located in the file.
            if let Err(own) = (Builder {
                file: path,
                source,
                base: path.parent().unwrap_or(Path::new(".")),
            })
            .build(original, mode)
            {
                return own;
            }
        }
        d.message = match cause {
            Some(o) => format!(
                "{} (from `--set {}`)",
                d.message,
                crate::redact::redact_credentials(&o.to_string())
            ),
            None => format!("{} (in the scenario as --set changed it)", d.message),
        };
        d.line = None;
        d.column = None;
        d.source_line = None;
        ScenarioError::Invalid(d)
    }

    /// The policies of the scenario at `path` with their files read under
    /// `base` instead of beside it (`--against REV` writes a revision's
    /// files there): the scenario's `policy:` and each target's own, by id.
    pub fn policies_at(
        path: &Path,
        base: &Path,
    ) -> Result<(Option<PolicyPlan>, BTreeMap<String, PolicyPlan>), ScenarioError> {
        let (scenario, source) = crate::load(path)?;
        let b = Builder {
            file: path,
            source: &source,
            base,
        };
        let top = match &scenario.policy {
            Some(p) => Some(b.policy(p)?),
            None => None,
        };
        let mut own = BTreeMap::new();
        for t in &scenario.targets {
            if let Some(p) = t.value.own_policy() {
                own.insert(t.value.id().to_string(), b.policy(p)?);
            }
        }
        Ok((top, own))
    }
}

/// A hash of what affects the measurement: the document without its
/// descriptions, thresholds, regression settings, modes and the workload's
/// durations and trial count, plus the policy's modules and data and the
/// inputs as loaded (generated ones included). Two runs with the same
/// fingerprint measured the same thing; a longer `--set workload.duration`
/// or an edited threshold keeps it, another concurrency or policy does not.
fn fingerprint(plan: &Plan, text: &str) -> String {
    let mut doc: serde_json::Value =
        crate::parse_yaml(&plan.path, text).unwrap_or(serde_json::Value::Null);
    if let Some(map) = doc.as_object_mut() {
        for key in [
            "description",
            "thresholds",
            "regression",
            "modes",
            "compare",
            "verify",
        ] {
            map.remove(key);
        }
        if let Some(w) = map.get_mut("workload").and_then(|w| w.as_object_mut()) {
            for key in ["duration", "warmup", "trials", "iterations"] {
                w.remove(key);
            }
        }
        if let Some(ts) = map.get_mut("targets").and_then(|t| t.as_array_mut()) {
            for t in ts.iter_mut().filter_map(|t| t.as_object_mut()) {
                t.remove("thresholds");
            }
        }
    }
    let policy_json = |p: &PolicyPlan| {
        serde_json::json!({
            "modules": p.modules.iter().map(|m| [&m.path, &m.text]).collect::<Vec<_>>(),
            "data": p.data,
            "query": p.query,
            "rego_v0": p.rego_v0,
        })
    };
    let policy = plan.policy.as_ref().map(policy_json);
    // Targets' own policies: a change to their files is a change of measurement.
    let own: Vec<_> = plan
        .targets
        .iter()
        .filter_map(|t| t.policy.as_ref().map(|p| (t.id(), policy_json(p))))
        .collect();
    let inputs: Vec<&serde_json::Value> = plan.inputs.iter().map(|i| &i.value).collect();
    let mut all = serde_json::json!({"document": doc, "policy": policy, "inputs": inputs});
    if !own.is_empty() {
        all["target_policies"] = serde_json::json!(own);
    }
    crate::content_hash(&all.to_string())
}

impl Plan {
    /// Keeps only the targets named in `ids` (`--only`), in scenario order.
    /// An unknown id is an error with the ids there are. In full mode the
    /// A/A control becomes a copy of the first kept target. Returns notes
    /// for what `--only` turned off (a `compare:` baseline left out).
    pub fn keep_only(&mut self, ids: &[String]) -> Result<Vec<String>, ScenarioError> {
        let original: Vec<String> = self
            .targets
            .iter()
            .map(|t| t.id().to_string())
            .filter(|id| Some(id) != self.aa_control.as_ref())
            .collect();
        for id in ids {
            if !original.contains(id) {
                let hint = crate::metrics::did_you_mean(id, original.iter().map(String::as_str))
                    .map(|b| format!("did you mean `{b}`?"))
                    .unwrap_or_else(|| format!("targets: {}", original.join(", ")));
                return Err(Diagnostic::new(
                    &self.path,
                    format!("--only {id}: the scenario has no target `{id}`"),
                )
                .with_help(hint)
                .into());
            }
        }
        let aa = self.aa_control.take();
        self.targets.retain(|t| ids.iter().any(|id| id == t.id()));
        self.only = self.targets.iter().map(|t| t.id().to_string()).collect();
        if aa.is_some() {
            let mut copy = self.targets[0].clone();
            let id = format!("{}{AA_SUFFIX}", copy.id());
            *copy.spec.as_kind_mut().id_mut() = id.clone();
            self.targets.push(copy);
            self.aa_control = Some(id);
        }
        let mut notes = Vec::new();
        if let Some(c) = &self.compare {
            if !ids.contains(c) {
                notes.push(format!(
                    "--only leaves out `{c}`, the `compare:` baseline: no comparisons this run"
                ));
                self.compare = None;
            }
        }
        Ok(notes)
    }
}

struct Builder<'a> {
    file: &'a Path,
    source: &'a str,
    base: &'a Path,
}

impl Builder<'_> {
    fn error<T>(&self, span: &Spanned<T>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, message).at(span.referenced, Some(self.source))
    }

    fn build(&self, s: Scenario, mode: Mode) -> Result<Plan, ScenarioError> {
        let name = &s.name;
        if name.value.is_empty()
            || !name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(self
                .error(
                    name,
                    format!(
                        "scenario name `{}` is not usable as a directory name",
                        name.value
                    ),
                )
                .with_help("use letters, digits, `-`, `_` and `.` only")
                .into());
        }
        let mut workload = self.workload(&s.workload, mode, &s.modes)?;
        let mut targets = self.targets(&s)?;
        // A soak is a question about memory: it is graded on growth even
        // when the scenario names no level (which may set its own).
        if workload.soak.is_some() {
            for t in &mut targets {
                t.thresholds
                    .entry(DEFAULT_GROWTH_METRIC.to_string())
                    .or_insert(Threshold {
                        target: Some(DEFAULT_GROWTH_TARGET),
                        critical: Some(DEFAULT_GROWTH_CRITICAL),
                    });
            }
        }
        let aa_control = if mode == Mode::Full {
            let mut copy = targets[0].clone();
            let id = format!("{}{AA_SUFFIX}", copy.id());
            *copy.spec.as_kind_mut().id_mut() = id.clone();
            targets.push(copy);
            Some(id)
        } else {
            None
        };
        let mut regression = match &s.regression {
            Some(r) => {
                for name in r.value.metrics.keys() {
                    if crate::metrics::metric(name).is_none() {
                        let d = self.error(
                            r,
                            format!("`regression.metrics` names `{name}`, which is not a metric"),
                        );
                        return Err(match crate::metrics::did_you_mean(
                            name,
                            crate::metrics::metric_names().iter().copied(),
                        ) {
                            Some(best) => d.with_help(format!("did you mean `{best}`?")),
                            None => d.with_help("see the metric table in README.md"),
                        }
                        .into());
                    }
                }
                RegressionPlan {
                    threshold: r.value.threshold.map_or(0.10, |p| p.0),
                    metrics: r
                        .value
                        .metrics
                        .iter()
                        .map(|(k, v)| (k.clone(), v.0))
                        .collect(),
                    noisy_cv: r.value.noisy_cv.map_or(0.05, |p| p.0),
                    paired_by_default: false,
                }
            }
            None => RegressionPlan::default(),
        };
        // A comparison graded against a regression threshold is sharpest
        // in paired rounds (drift cancels): the default wherever every
        // target can take rounds; `paired: false` keeps trial medians.
        let paired_by_default = s.compare.as_ref().is_some_and(|c| c.paired.is_none())
            && s.regression
                .as_ref()
                .is_some_and(|r| r.value.threshold.is_some())
            && workload.rate.is_empty()
            && matches!(workload.stop, Stop::Duration(_))
            && workload.soak.is_none()
            && targets.len() >= 2
            && targets.iter().all(|t| t.spec.kind() != "opa-bench");
        regression.paired_by_default = paired_by_default;
        if let Some(c) = s
            .compare
            .as_ref()
            .filter(|c| c.paired == Some(true) || paired_by_default)
        {
            let w = &s.workload.value;
            let round = w.round.map_or(DEFAULT_ROUND, |d| d.0);
            if round < Duration::from_millis(1) {
                return Err(self
                    .error(&s.workload, "`round` must be at least 1ms")
                    .with_help("e.g. `round: 10ms`")
                    .into());
            }
            if !workload.rate.is_empty()
                || matches!(workload.stop, Stop::Iterations(_))
                || workload.soak.is_some()
            {
                return Err(self
                    .error(
                        &c.baseline,
                        "`compare: { paired: true }` runs closed loop for a `duration`",
                    )
                    .with_help(
                        "remove `rate`, `iterations` or `soak` from the workload, or drop `paired`",
                    )
                    .into());
            }
            workload.round = Some(round);
        } else if s.workload.value.round.is_some() {
            return Err(self
                .error(&s.workload, "`round` applies to paired comparisons only")
                .with_help("add `compare: { baseline: <id>, paired: true }`, or remove `round`")
                .into());
        }
        let compare = match &s.compare {
            Some(c) if !targets.iter().any(|t| t.id() == c.baseline.value) => {
                let ids: Vec<&str> = targets.iter().map(|t| t.id()).collect();
                let mut d = self.error(
                    &c.baseline,
                    format!(
                        "`compare.baseline` names `{}`, which is not a target",
                        c.baseline.value
                    ),
                );
                d = match crate::metrics::did_you_mean(&c.baseline.value, ids.iter().copied()) {
                    Some(best) => d.with_help(format!("did you mean `{best}`?")),
                    None => d.with_help(format!("target ids: {}", ids.join(", "))),
                };
                return Err(d.into());
            }
            Some(c) => Some(c.baseline.value.clone()),
            None => None,
        };
        let verify = match s.verify {
            None | Some(crate::model::Verify::Gate(true)) => VerifyMode::Gate,
            Some(crate::model::Verify::Gate(false)) => VerifyMode::Off,
            Some(crate::model::Verify::Word(crate::model::VerifyWord::Warn)) => VerifyMode::Warn,
        };
        let policy = match &s.policy {
            Some(p) => Some(self.policy(p)?),
            None => {
                if let Some(t) = s
                    .targets
                    .iter()
                    .find(|t| t.value.needs_policy() && t.value.own_policy().is_none())
                {
                    return Err(self
                        .error(
                            t,
                            format!(
                                "target `{}` evaluates a policy, but the scenario has no `policy:`",
                                t.value.id()
                            ),
                        )
                        .with_help("add `policy: { files: [...], query: data.<package>.<rule> }`")
                        .into());
                }
                None
            }
        };
        let mut inputs = Vec::new();
        let mut generated = Vec::new();
        for (i, input) in s.inputs.iter().enumerate() {
            self.input(input, i, workload.seed, &mut inputs, &mut generated)?;
        }

        let cache = match &s.cache {
            Some(c) => {
                let (plan, capacities) = self.cache(c)?;
                workload.capacity = capacities;
                Some(plan)
            }
            None => {
                if let Some(t) = s.targets.iter().find(|t| t.value.needs_cache()) {
                    return Err(self
                        .error(
                            t,
                            format!(
                                "target `{}` runs the cache workload, but the scenario has no `cache:`",
                                t.value.id()
                            ),
                        )
                        .with_help("add e.g. `cache: { keys: 100000, distribution: zipfian, capacity: 10000 }`")
                        .into());
                }
                None
            }
        };
        if let (Some(c), false) = (&s.cache, s.targets.iter().any(|t| t.value.needs_cache())) {
            return Err(self
                .error(c, "`cache:` is set but no target runs it")
                .with_help("add a `kind: moka` or `kind: redis` target, or remove `cache:` (a policy target's decision cache is configured on the target)")
                .into());
        }
        let inputs_order = match &s.inputs_distribution {
            Some(d) => {
                if inputs.is_empty() {
                    return Err(self
                        .error(
                            d,
                            "`inputs_distribution` is set but the scenario has no `inputs:`",
                        )
                        .into());
                }
                match d.value.distribution {
                    Distribution::Sequential => None,
                    _ => Some(self.distribution(
                        d,
                        d.value.distribution,
                        d.value.zipf_exponent,
                        d.value.hotspot_keys,
                        d.value.hotspot_ops,
                    )?),
                }
            }
            None => None,
        };
        let pairs = match (&compare, workload.round) {
            (Some(base), Some(_)) => targets
                .iter()
                .filter(|t| t.id() != base)
                .map(|t| (base.clone(), t.id().to_string()))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Plan {
            name: name.value.clone(),
            description: s.description.clone(),
            path: self.file.to_path_buf(),
            source: String::new(),
            policy,
            inputs,
            generated,
            overrides: Vec::new(),
            only: Vec::new(),
            fingerprint: String::new(),
            workload,
            targets,
            mode,
            compare,
            verify,
            cache,
            inputs_order,
            regression,
            pairs,
            aa_control,
        })
    }

    fn distribution<T>(
        &self,
        at: &Spanned<T>,
        kind: Distribution,
        zipf_exponent: Option<f64>,
        hotspot_keys: Option<Percent>,
        hotspot_ops: Option<Percent>,
    ) -> Result<DistributionPlan, Diagnostic> {
        if zipf_exponent.is_some() && kind != Distribution::Zipfian {
            return Err(self
                .error(
                    at,
                    "`zipf_exponent` applies to `distribution: zipfian` only",
                )
                .with_help("remove it, or set `distribution: zipfian`"));
        }
        if (hotspot_keys.is_some() || hotspot_ops.is_some()) && kind != Distribution::Hotspot {
            return Err(self
                .error(
                    at,
                    "`hotspot_keys` and `hotspot_ops` apply to `distribution: hotspot` only",
                )
                .with_help("remove them, or set `distribution: hotspot`"));
        }
        let s = zipf_exponent.unwrap_or(0.99);
        if !(s.is_finite() && s > 0.0 && s <= 10.0) {
            return Err(self
                .error(at, format!("`zipf_exponent` {s} is out of range"))
                .with_help("use a value above 0 and at most 10; 0.99 is YCSB's default"));
        }
        let hot_keys = hotspot_keys.unwrap_or(Percent(0.2)).0;
        if hot_keys <= 0.0 {
            return Err(self.error(at, "`hotspot_keys` must be above 0%"));
        }
        Ok(DistributionPlan {
            kind,
            zipf_exponent: s,
            hotspot_keys: hot_keys,
            hotspot_ops: hotspot_ops.unwrap_or(Percent(0.8)).0,
        })
    }

    fn cache(
        &self,
        c: &Spanned<crate::model::CacheWorkload>,
    ) -> Result<(CachePlan, Vec<Capacity>), Diagnostic> {
        let v = &c.value;
        if v.keys == 0 || v.keys > MAX_KEYS {
            return Err(self
                .error(
                    c,
                    format!("`keys` is {}; it must be 1 to {MAX_KEYS}", v.keys),
                )
                .with_help(
                    "key names are built in memory before timing, which bounds the keyspace",
                ));
        }
        let kind = v.distribution.unwrap_or(Distribution::Zipfian);
        let distribution =
            self.distribution(c, kind, v.zipf_exponent, v.hotspot_keys, v.hotspot_ops)?;
        let value = v
            .value_size
            .unwrap_or(crate::units::SizeRange { min: 100, max: 100 });
        if value.max == 0 {
            return Err(self.error(c, "`value_size` must be above 0B"));
        }
        let capacities = v
            .capacity
            .as_ref()
            .map(|c| c.to_vec())
            .unwrap_or_else(|| vec![Capacity::Entries(v.keys)]);
        if capacities.is_empty() {
            return Err(self
                .error(c, "`capacity` is an empty list")
                .with_help("give a capacity such as `10000` (entries) or `64MiB`, or drop it"));
        }
        if v.ttl.is_some_and(|t| t.0 < Duration::from_millis(1)) {
            return Err(self
                .error(c, "`ttl` must be at least 1ms (Redis' resolution)")
                .with_help("write e.g. `ttl: 60s`, or drop it for no expiry"));
        }
        Ok((
            CachePlan {
                keys: v.keys,
                distribution,
                value_min: value.min,
                value_max: value.max,
                read_ratio: v.read_ratio.unwrap_or(Percent(1.0)).0,
                miss: v.miss.unwrap_or_default(),
                ttl: v.ttl.map(|t| t.0),
                preload: v.preload.unwrap_or(true),
            },
            capacities,
        ))
    }

    /// Checks where a Redis server is: managed, or a URL the user allows rigor to flush.
    /// A kind's own complaint, placed at its target.
    fn kind_error<T>(&self, at: &Spanned<T>, e: crate::kinds::KindError) -> Diagnostic {
        let d = self.error(at, e.message);
        match e.help {
            Some(h) => d.with_help(h),
            None => d,
        }
    }

    fn workload(
        &self,
        w: &Spanned<crate::model::Workload>,
        mode: Mode,
        modes: &crate::model::ModeOverrides,
    ) -> Result<WorkloadPlan, Diagnostic> {
        let v = &w.value;
        let concurrency = v
            .concurrency
            .as_ref()
            .map(|c| c.to_vec())
            .unwrap_or_else(|| vec![1]);
        if concurrency.is_empty() || concurrency.contains(&0) {
            return Err(self.error(
                w,
                "`concurrency` must be at least 1 (a list must not be empty)",
            ));
        }
        // A soak scenario (soak, no duration or iterations) is a soak in
        // every mode; `--mode soak` makes any scenario one.
        let soak_only = v.soak.is_some() && v.duration.is_none() && v.iterations.is_none();
        let is_soak = soak_only || mode == Mode::Soak;
        if v.soak.is_some_and(|d| d.0.is_zero()) {
            return Err(self.error(w, "`soak` must be longer than 0s"));
        }
        let sample = v.sample.map(|d| d.0).unwrap_or(DEFAULT_SAMPLE);
        let window = v.window.map(|d| d.0).unwrap_or(DEFAULT_WINDOW);
        if window < Duration::from_millis(1) {
            return Err(self.error(w, "`window` must be at least 1ms").with_help(
                "e.g. `window: 1s`: throughput, p99 and errors are charted per window",
            ));
        }
        if sample.is_zero() {
            return Err(self
                .error(w, "`sample` must be longer than 0s")
                .with_help("e.g. `sample: 1s`: a soak samples memory this often"));
        }
        if v.sample.is_some() && v.soak.is_none() && mode != Mode::Soak {
            return Err(self.error(w, "`sample` applies to soaks only").with_help(
                "add e.g. `soak: 10m` (run it with `--mode soak`), or remove `sample`",
            ));
        }
        let mut stop = match (v.duration, v.iterations) {
            _ if is_soak => Stop::Duration(v.soak.map(|d| d.0).unwrap_or(DEFAULT_SOAK)),
            (Some(d), None) if d.0.is_zero() => {
                return Err(self.error(w, "`duration` must be longer than 0s"))
            }
            (Some(d), None) => Stop::Duration(d.0),
            (None, Some(0)) => return Err(self.error(w, "`iterations` must be at least 1")),
            (None, Some(n)) => Stop::Iterations(n),
            (Some(_), Some(_)) => {
                return Err(self
                    .error(w, "`workload` has both `duration` and `iterations`")
                    .with_help("keep one: `duration: 5s` measures for a time, `iterations: 100000` counts operations per worker"))
            }
            (None, None) => {
                return Err(self
                    .error(w, "`workload` needs `duration` or `iterations`")
                    .with_help("add e.g. `duration: 5s` or `iterations: 100000`"))
            }
        };
        let rate: Vec<f64> = v
            .rate
            .as_ref()
            .map(|r| r.to_vec().iter().map(|r| r.0).collect())
            .unwrap_or_default();
        if v.rate.is_some() && rate.is_empty() {
            return Err(self
                .error(w, "`rate` is an empty list")
                .with_help("give a rate such as `1000/s`, or drop `rate` for closed loop"));
        }
        if !rate.is_empty() && matches!(stop, Stop::Iterations(_)) {
            return Err(self
                .error(w, "rate mode runs for a `duration`, not `iterations`")
                .with_help("replace `iterations` with e.g. `duration: 10s`; the rate fixes how many operations that is"));
        }
        let mut warmup = v.warmup.map(|d| d.0).unwrap_or_default();
        let mut trials = v.trials.unwrap_or(1);
        if trials == 0 {
            return Err(self.error(w, "`trials` must be at least 1"));
        }
        match mode {
            Mode::Quick => {
                trials = 1;
                warmup = warmup.min(Duration::from_millis(200));
                stop = match stop {
                    Stop::Duration(d) => Stop::Duration(d.min(Duration::from_secs(1))),
                    Stop::Iterations(n) => Stop::Iterations(n.min(10_000)),
                };
            }
            Mode::Full => {
                trials = trials.max(FULL_TRIALS);
                warmup = warmup.max(Duration::from_secs(1));
                stop = match stop {
                    Stop::Duration(d) => Stop::Duration(d * 2),
                    Stop::Iterations(n) => Stop::Iterations(n.saturating_mul(2)),
                };
            }
            // A soak is one long trial: its samples over time are the data.
            Mode::Soak => trials = 1,
            Mode::Default | Mode::Profile => {}
        }
        let over = match mode {
            Mode::Quick => modes.quick.as_ref(),
            Mode::Full => modes.full.as_ref(),
            Mode::Profile => modes.profile.as_ref(),
            Mode::Soak => modes.soak.as_ref(),
            Mode::Default => None,
        };
        if let Some(o) = over {
            if let Some(t) = o.trials {
                if t == 0 {
                    return Err(self.error(w, "a mode's `trials` must be at least 1"));
                }
                trials = t;
            }
            if let Some(d) = o.warmup {
                warmup = d.0;
            }
            match (o.duration, o.iterations, stop) {
                (Some(d), _, Stop::Duration(_)) if !d.0.is_zero() => stop = Stop::Duration(d.0),
                (_, Some(n), Stop::Iterations(_)) if n > 0 => stop = Stop::Iterations(n),
                (None, None, _) => {}
                _ => {
                    return Err(self
                        .error(w, "a mode override must set the same kind of stop as the workload (`duration` or `iterations`), above 0")
                        .with_help("e.g. `modes: { full: { duration: 10s } }` for a workload with `duration`"))
                }
            }
        }
        let timing = v.timing.unwrap_or_default();
        if timing == Timing::Batch && !rate.is_empty() {
            return Err(self
                .error(w, "`timing: batch` does not apply in rate mode: every operation has its own start time")
                .with_help("remove `timing`, or remove `rate` for closed loop"));
        }
        let soak = is_soak.then(|| SoakPlan {
            sample: if mode == Mode::Quick {
                sample.min(Duration::from_millis(100))
            } else {
                sample
            },
        });
        Ok(WorkloadPlan {
            round: None,
            shard: None,
            soak,
            window: if mode == Mode::Quick && v.window.is_none() {
                window.min(Duration::from_millis(100))
            } else {
                window
            },
            concurrency,
            warmup,
            stop,
            trials,
            rate,
            seed: v.seed.unwrap_or_else(default_seed),
            timing,
            capacity: Vec::new(),
            threads: match v.threads {
                Some(0) => return Err(self.error(w, "`threads` must be at least 1")),
                t => t,
            },
        })
    }

    fn targets(&self, s: &Scenario) -> Result<Vec<TargetPlan>, Diagnostic> {
        if s.targets.is_empty() {
            return Err(Diagnostic::new(self.file, "`targets` is empty")
                .with_help("add at least one target, e.g. `- { id: embedded, kind: regorus }`"));
        }
        let mut out: Vec<TargetPlan> = Vec::new();
        for t in &s.targets {
            let id = t.value.id();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(self
                    .error(t, format!("target id `{id}` is not valid"))
                    .with_help("use letters, digits, `-`, `_` and `.` only"));
            }
            if out.iter().any(|o| o.id() == id) {
                return Err(self
                    .error(t, format!("target id `{id}` is used twice"))
                    .with_help("give every target its own `id`"));
            }
            let mut spec = t.value.clone();
            spec.as_kind_mut()
                .resolve()
                .map_err(|e| self.kind_error(t, e))?;
            if let Some(dc) = spec.decision_cache_mut() {
                if let Some(key) = &dc.key {
                    let bad = key.iter().find(|p| {
                        let mut parts = p.split('.');
                        parts.next() != Some("input") || parts.any(str::is_empty)
                    });
                    if key.is_empty() || bad.is_some() {
                        return Err(self
                            .error(t, format!(
                                "target `{id}`: cache `key` {}",
                                bad.map_or("is empty".to_string(), |p| format!("path `{p}` is not a path into the input"))
                            ))
                            .with_help("list paths such as `input.user` or `input.resource.type`, or drop `key` to key on the whole input"));
                    }
                }
                if dc.kind == crate::model::DecisionCacheKind::Redis {
                    let mut c = dc.connection();
                    crate::kinds::resolve_redis(id, &mut c).map_err(|e| self.kind_error(t, e))?;
                    dc.url = c.url;
                } else if dc.server.is_some() || dc.url.is_some() || dc.flush {
                    return Err(self
                        .error(t, format!("target `{id}`: `server`, `url` and `flush` apply to a `kind: redis` decision cache only"))
                        .with_help("remove them, or set `kind: redis`"));
                }
            }
            let mut thresholds = s.thresholds.0.clone();
            let Thresholds(own) = t.value.thresholds();
            thresholds.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            // Failed operations never pass silently: a scenario that says
            // nothing about errors allows none (it may loosen this).
            thresholds
                .entry(DEFAULT_ERRORS_METRIC.to_string())
                .or_insert(Threshold {
                    target: None,
                    critical: Some(0.0),
                });
            let policy = match spec.own_policy() {
                // Fields inside a target lose their own positions in the
                // tagged enum: a problem is located at the target.
                Some(p) => Some(self.policy(p).map_err(|d| match d.line {
                    Some(_) => d,
                    None => {
                        let mut at = self.error(t, format!("target `{id}`: {}", d.message));
                        at.help = d.help;
                        at
                    }
                })?),
                None => None,
            };
            // Two versions uploaded to one server replace each other: one
            // target would measure the other's policy.
            if let Some(url) = spec.as_kind().uploads_to() {
                if let Some(other) = out
                    .iter()
                    .find(|o| o.spec.as_kind().uploads_to() == Some(url) && o.policy != policy)
                {
                    return Err(self
                        .error(
                            t,
                            format!(
                                "target `{id}` uploads a policy to {} where `{}` uploads another: the second upload would replace the first",
                                crate::redact::redact_credentials(url),
                                other.id()
                            ),
                        )
                        .with_help("give each version its own server (`server: managed`, or another `url`)"));
                }
            }
            out.push(TargetPlan {
                spec,
                thresholds,
                policy,
            });
        }
        Ok(out)
    }

    fn resolve(&self, path: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
        let full = self.base.join(&path.value);
        if !full.exists() {
            return Err(self
                .error(
                    path,
                    format!(
                        "`{}` does not exist (looked for {})",
                        path.value,
                        full.display()
                    ),
                )
                .with_help(
                    match nearest_file(&full).map(|n| {
                        Path::new(&path.value)
                            .with_file_name(n)
                            .display()
                            .to_string()
                    }) {
                        Some(near) => format!(
                            "did you mean `{near}`? (paths are relative to the scenario file)"
                        ),
                        None => "paths are relative to the scenario file".into(),
                    },
                ));
        }
        Ok(full)
    }

    fn read(&self, span: &Spanned<String>, path: &Path) -> Result<String, Diagnostic> {
        // A device or pipe (`/dev/zero`, a FIFO) would never end or block forever.
        if path.exists() && !path.is_file() && !path.is_dir() {
            return Err(self
                .error(span, format!("{} is not a regular file", path.display()))
                .with_help("name a file (devices and pipes are not read)"));
        }
        std::fs::read_to_string(path)
            .map_err(|e| self.error(span, format!("cannot read {}: {e}", path.display())))
    }

    fn policy(&self, p: &crate::model::Policy) -> Result<PolicyPlan, Diagnostic> {
        let mut modules = Vec::new();
        let prints = p.prints.unwrap_or_default();
        let mut print_calls = 0;
        if p.files.is_empty() {
            return Err(Diagnostic::new(self.file, "`policy.files` is empty")
                .with_help("list the Rego files or directories to load"));
        }
        for f in &p.files {
            let full = self.resolve(f)?;
            let mut paths = Vec::new();
            if full.is_dir() {
                let entries = std::fs::read_dir(&full)
                    .map_err(|e| self.error(f, format!("cannot list {}: {e}", full.display())))?;
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "rego") && path.is_file() {
                        paths.push(path);
                    }
                }
                paths.sort();
                if paths.is_empty() {
                    return Err(
                        self.error(f, format!("directory `{}` holds no *.rego file", f.value))
                    );
                }
            } else {
                paths.push(full);
            }
            for path in paths {
                let mut text = self.read(f, &path)?;
                let calls = crate::rego_text::count_prints(&text);
                print_calls += calls;
                let mut printing = None;
                if calls > 0 && prints == crate::model::Prints::Erase {
                    let erased = crate::rego_text::erase_prints(&text).0;
                    printing = Some(std::mem::replace(&mut text, erased));
                }
                modules.push(PolicyModule {
                    printing,
                    path: path.display().to_string(),
                    text,
                });
            }
        }
        let mut data = serde_json::Value::Object(Default::default());
        for d in &p.data {
            let full = self.resolve(d)?;
            let doc = self.document(d, &full)?;
            if !doc.is_object() {
                return Err(self
                    .error(d, format!("data document `{}` is not an object", d.value))
                    .with_help(
                        "data files hold a JSON/YAML object; its keys become `data.<key>`",
                    ));
            }
            merge(&mut data, doc);
        }
        let query = p.query.value.trim();
        if !query.starts_with("data.") || query.len() <= 5 || query.contains(char::is_whitespace) {
            return Err(self
                .error(&p.query, format!("query `{query}` is not a rule path"))
                .with_help("write the rule to evaluate as `data.<package>.<rule>`, e.g. `data.authz.allow`"));
        }
        // A misspelt query must not reach the targets: regorus says only
        // "not a valid rule path", and OPA answers `undefined` to everything.
        let rules = crate::rego_text::Rules::of(modules.iter().map(|m| m.text.as_str()));
        let data_keys: Vec<&str> = data
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if let Err(miss) = rules.check(query, &data_keys) {
            let message = match &miss.package {
                Some(package) => format!(
                    "query `{query}` names no rule of the policy: package `{package}` defines {}",
                    if miss.rules.is_empty() {
                        "no rule".to_string()
                    } else {
                        miss.rules
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                None => format!(
                    "query `{query}` is in no package of the policy (packages: {})",
                    rules
                        .packages
                        .keys()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let d = self.error(&p.query, message);
            return Err(match miss.suggestion {
                Some(best) => d.with_help(format!("did you mean `{best}`?")),
                None => d.with_help("write the rule to evaluate as `data.<package>.<rule>`"),
            });
        }
        Ok(PolicyPlan {
            modules,
            data,
            query: query.to_string(),
            rego_v0: p.rego_v0,
            prints,
            print_calls,
            query_is_set: rules.is_set(query),
        })
    }

    /// Reads one JSON or YAML document.
    fn document(
        &self,
        span: &Spanned<String>,
        path: &Path,
    ) -> Result<serde_json::Value, Diagnostic> {
        let text = self.read(span, path)?;
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml {
            crate::parse_yaml(path, &text).map_err(|d| *d)
        } else {
            serde_json::from_str(&text).map_err(|e| Diagnostic {
                file: path.to_path_buf(),
                line: Some(e.line() as u64),
                column: Some(e.column() as u64),
                message: format!("invalid JSON: {e}"),
                help: Some("fix the JSON (or name the file .yaml if it is YAML)".into()),
                source_line: text
                    .lines()
                    .nth(e.line().saturating_sub(1))
                    .map(str::to_string),
            })
        }
    }

    fn input(
        &self,
        input: &Spanned<InputSource>,
        index: usize,
        workload_seed: u64,
        out: &mut Vec<InputItem>,
        generated: &mut Vec<GeneratedInputs>,
    ) -> Result<(), Diagnostic> {
        let expect = input.value.expect().map(normalize_expect);
        let path = match &input.value {
            InputSource::Generate { generate, .. } => {
                let generator = generate.check().map_err(|e| {
                    self.error(input, format!("inputs[{index}].generate: {e}"))
                        .with_help("see README, \"Generated inputs\"")
                })?;
                // Each entry its own stream: two entries with the same fields differ.
                let seed = generate.seed.unwrap_or_else(|| {
                    workload_seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                });
                let origin = format!("inputs[{index}] (generate)");
                let documents = generator.documents(seed);
                generated.push(GeneratedInputs {
                    origin: origin.clone(),
                    count: generator.count(),
                    seed,
                    samples: documents.iter().take(GENERATED_SAMPLES).cloned().collect(),
                });
                out.extend(
                    documents
                        .into_iter()
                        .enumerate()
                        .map(|(i, value)| InputItem {
                            origin: format!("{origin} #{}", i + 1),
                            value,
                            expect: expect.clone(),
                        }),
                );
                return Ok(());
            }
            InputSource::Inline { inline, .. } => {
                out.push(InputItem {
                    origin: format!("inputs[{index}] (inline)"),
                    value: inline.clone(),
                    expect,
                });
                return Ok(());
            }
            InputSource::Path(p) | InputSource::File { file: p, .. } => p,
        };
        let span = Spanned::new(path.clone(), input.referenced, input.defined);
        let full = self.resolve(&span)?;
        if full
            .extension()
            .is_some_and(|e| e == "jsonl" || e == "ndjson")
        {
            let text = self.read(&span, &full)?;
            let before = out.len();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let value: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| Diagnostic {
                        file: full.clone(),
                        line: Some(i as u64 + 1),
                        column: Some(e.column() as u64),
                        message: format!("invalid JSON on this line: {e}"),
                        help: Some("a .jsonl file holds one JSON document per line".into()),
                        source_line: Some(line.to_string()),
                    })?;
                let (value, own) = unwrap_expect_line(value);
                out.push(InputItem {
                    origin: format!("{path}:{}", i + 1),
                    value,
                    expect: own
                        .as_ref()
                        .map(normalize_expect)
                        .or_else(|| expect.clone()),
                });
            }
            if out.len() == before {
                return Err(self.error(&span, format!("`{path}` holds no input")));
            }
        } else {
            let value = self.document(&span, &full)?;
            out.push(InputItem {
                origin: path.clone(),
                value,
                expect,
            });
        }
        Ok(())
    }
}

/// How an undefined decision is written in decisions and results: the
/// string regorus and OPA's REST API stand-in both use.
pub const UNDEFINED: &str = "<undefined>";

/// `expect: undefined` (the bare word) means "no value".
fn normalize_expect(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) if s == "undefined" => {
            serde_json::Value::String(UNDEFINED.into())
        }
        other => other.clone(),
    }
}

/// A `.jsonl` line `{"input": ..., "expect": ...}` (exactly those two keys)
/// is an input with its expected decision; any other line is the input itself.
fn unwrap_expect_line(value: serde_json::Value) -> (serde_json::Value, Option<serde_json::Value>) {
    match value {
        serde_json::Value::Object(mut map)
            if map.len() == 2 && map.contains_key("input") && map.contains_key("expect") =>
        {
            let expect = map.remove("expect");
            let input = map.remove("input").unwrap_or_default();
            (input, expect)
        }
        other => (other, None),
    }
}

/// Deep-merges `patch` into `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let env = |n: &str| (n == "HOST").then(|| "10.0.0.1".to_string());
        assert_eq!(
            expand_env("http://${HOST}:8181", env).unwrap(),
            "http://10.0.0.1:8181"
        );
        assert_eq!(
            expand_env("${OPA_URL:-http://127.0.0.1:8181}", env).unwrap(),
            "http://127.0.0.1:8181"
        );
        assert_eq!(expand_env("plain", env).unwrap(), "plain");
        assert!(expand_env("${NOPE}", env)
            .unwrap_err()
            .contains("`NOPE` is not set"));
        assert!(expand_env("${OPEN", env).is_err());
    }

    #[test]
    fn merge_is_deep() {
        let mut a = serde_json::json!({"x": {"a": 1, "b": 2}, "y": 1});
        merge(&mut a, serde_json::json!({"x": {"b": 3, "c": 4}, "z": [1]}));
        assert_eq!(
            a,
            serde_json::json!({"x": {"a": 1, "b": 3, "c": 4}, "y": 1, "z": [1]})
        );
    }

    #[test]
    fn soaks_resolve_per_mode() {
        let dir = tempfile::tempdir().unwrap();
        let plan = |workload: &str, mode: Mode| {
            let path = dir.path().join("s.yaml");
            std::fs::write(
                &path,
                format!("name: t\nworkload: {workload}\ntargets: [{{id: a, kind: noop}}]\n"),
            )
            .unwrap();
            Plan::from_file(&path, mode).unwrap().workload
        };
        // Soak and no duration: a soak in every mode.
        let w = plan("{soak: 30s, sample: 250ms, trials: 3}", Mode::Default);
        assert_eq!(w.stop, Stop::Duration(Duration::from_secs(30)));
        assert_eq!(w.soak.unwrap().sample, Duration::from_millis(250));
        assert_eq!(w.trials, 3);
        let q = plan("{soak: 30s, sample: 250ms}", Mode::Quick);
        assert_eq!(q.stop, Stop::Duration(Duration::from_secs(1)));
        assert_eq!(q.soak.unwrap().sample, Duration::from_millis(100));
        // A duration too: the soak is for `--mode soak`, one trial.
        let d = plan("{duration: 2s, soak: 1m, trials: 5}", Mode::Default);
        assert_eq!(
            (d.stop, d.soak, d.trials),
            (Stop::Duration(Duration::from_secs(2)), None, 5)
        );
        let s = plan("{duration: 2s, soak: 1m, trials: 5}", Mode::Soak);
        assert_eq!(s.stop, Stop::Duration(Duration::from_secs(60)));
        assert_eq!((s.trials, s.soak.unwrap().sample), (1, DEFAULT_SAMPLE));
        // Any scenario in soak mode: the default length.
        let any = plan("{iterations: 100}", Mode::Soak);
        assert_eq!(any.stop, Stop::Duration(DEFAULT_SOAK));
    }
}
