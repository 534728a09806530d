//! Validation: a raw [`Scenario`] becomes a [`Plan`] with every default
//! resolved, every file read and every input parsed, or a [`Diagnostic`]
//! naming the file, line and column at fault.
//!
//! This file holds the plan's types and loading a scenario file (with
//! `--set`, `--only` and its fingerprint); `build` resolves the scenario
//! into a plan and `files` reads what it names on disk. It passes 700
//! lines because every field of the plan carries the sentence that says
//! what it means.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::model::{
    Distribution, InputSource, MissPolicy, Scenario, TargetSpec, Threshold, Thresholds, Timing,
};
use crate::units::{Capacity, Percent};
use crate::{Diagnostic, ScenarioError};

mod build;
mod files;
mod fingerprint;
mod replay;

use build::Builder;
#[cfg(test)]
use files::merge;
#[allow(unused_imports)]
use fingerprint::fingerprint;

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
    /// Open-loop rates to sweep, operations per second; empty for closed
    /// loop. With `rate: recorded`, the replayed log's mean rate.
    #[serde(default)]
    pub rate: Vec<f64>,
    /// `rate: recorded`: the speed-up of the logged arrivals (1 as logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<f64>,
    /// `rate: recorded`: each input's start in ns from the first (already
    /// divided by the speed). Read from the inputs, not kept in results.
    #[serde(skip)]
    pub arrivals: Option<std::sync::Arc<[u64]>>,
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

/// `rate: recorded` before the inputs are read: a placeholder rate the
/// log's own replaces.
pub(super) const RATE_FROM_LOG: f64 = 1.0;

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
    /// Which distribution (`kind` in results.json).
    #[serde(rename = "kind")]
    pub shape: Distribution,
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

pub use crate::inputs::{Input, Inputs, Numbering};

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
    /// Inputs in round-robin order, stored compactly and shared with the
    /// targets that read them.
    pub inputs: std::sync::Arc<Inputs>,
    /// The `generate:` entries among them: seed, count and samples.
    pub generated: Vec<GeneratedInputs>,
    /// The `decision_log:` entries among them: what each log held and
    /// what of it was replayed.
    pub traffic: Vec<crate::decision_log::TrafficInfo>,
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
    /// Profile the policies after the trials (`explain: true`; `rigor run
    /// --explain` sets it too).
    pub explain: bool,
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

pub use crate::inputs::UNDEFINED;

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
