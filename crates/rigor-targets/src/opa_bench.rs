//! `kind: opa-bench`: OPA's own in-process benchmark, `opa bench`, as a
//! target, so a report can set regorus beside OPA itself without HTTP.
//!
//! Each trial runs `opa bench --format json` once per chosen input (at
//! concurrency N, N processes side by side) on the same modules and merged
//! data the embedded targets load ([`crate::opa::stage`]), and turns Go's
//! `testing.BenchmarkResult` into rigor's metrics:
//!
//! - `latency.mean` is `T / N`: Go's timer runs only around `Eval` (the
//!   input is parsed once, before the loop), as regorus' operation is one
//!   evaluation of a prepared input;
//! - `latency.p50` ... `latency.max` are OPA's `timer_rego_query_eval_ns`
//!   percentiles, from a sampling reservoir, and time the evaluation inside
//!   `Eval` only; with several inputs, each input's reported quantiles are
//!   interpolated into one equal-weight mixture (round-robin, as rigor's own
//!   targets pick inputs), which always lies between the inputs' own;
//! - `memory.bytes_per_op`, `memory.allocs_per_op`: Go's B/op and allocs/op
//!   (heap allocated while the timer ran);
//! - `throughput`: N processes x 1e9 / mean ns/op.
//!
//! Go's benchmark loop runs for its own 1s (`opa bench` has no benchtime
//! flag) whatever the scenario's `duration`; OPA reads memory statistics
//! (stopping the world) around every iteration, so a run takes several
//! times longer than it measures. Decisions for the correctness gate come
//! from a managed `opa run --server` on the same files, stopped before the
//! first trial.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rigor_engine::target::{
    Answer, Facts, Measured, MemoryScope, SelfTimed, Target, TargetError, TrialContext, Workers,
};
use rigor_scenario::model::OpaBenchSpec;
use rigor_scenario::plan::{Plan, PolicyPlan, TargetPlan, WorkloadPlan, UNDEFINED};

use crate::opa::{self, ManagedOpa, Opa, Staged};
use crate::Kind;

/// Inputs benchmarked per trial when the scenario sets no `max_inputs`
/// (`--mode quick`: one).
pub const DEFAULT_MAX_INPUTS: usize = 4;

/// Builds `kind: opa-bench`.
#[derive(Debug)]
pub struct Factory;

/// `opa bench` on the scenario's policy.
#[derive(Debug)]
pub struct OpaBench {
    opa: Opa,
    staged: Staged,
    policy: PolicyPlan,
    /// Input files benchmarked in each trial, with their origins.
    inputs: Vec<(String, PathBuf)>,
    /// Inputs in the scenario.
    total_inputs: usize,
    /// All of them, for the policy's profile (`--explain`).
    all_inputs: std::sync::Arc<rigor_scenario::plan::Inputs>,
    /// The server answering `decide`, started on first use and stopped
    /// before the first trial (it must not share the machine with the timing).
    decider: Mutex<Option<ManagedOpa>>,
}

/// The figures of one `opa bench` run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRun {
    /// Iterations.
    pub n: u64,
    /// Time the benchmark timer ran, ns.
    pub t_ns: u64,
    /// Heap allocations while timed.
    pub mem_allocs: u64,
    /// Heap bytes allocated while timed.
    pub mem_bytes: u64,
    /// OPA's `timer_rego_query_eval_ns` quantiles, `(q, ns)`, ascending.
    pub eval_quantiles: Vec<(f64, f64)>,
}

impl BenchRun {
    /// Mean ns per iteration.
    pub fn ns_per_op(&self) -> f64 {
        self.t_ns as f64 / self.n.max(1) as f64
    }
}

/// Parses `opa bench --format json`.
pub fn parse_bench(text: &str) -> Result<BenchRun, String> {
    let doc: serde_json::Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("`opa bench` printed no JSON result ({e}): {}", cut(text)))?;
    let field = |name: &str| {
        doc.get(name)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("`opa bench` result has no `{name}`: {}", cut(text)))
    };
    let n = field("N")?;
    if n == 0 {
        return Err("`opa bench` ran no iterations".into());
    }
    let mut eval_quantiles = Vec::new();
    if let Some(extra) = doc.get("Extra").and_then(serde_json::Value::as_object) {
        const PREFIX: &str = "histogram_timer_rego_query_eval_ns_";
        for (key, value) in extra {
            let Some(which) = key.strip_prefix(PREFIX) else {
                continue;
            };
            let q = match which {
                "min" => 0.0,
                "median" => 0.5,
                "max" => 1.0,
                p => match p.strip_suffix('%').and_then(|p| p.parse::<f64>().ok()) {
                    Some(p) => p / 100.0,
                    None => continue,
                },
            };
            if let Some(v) = value.as_f64() {
                eval_quantiles.push((q, v));
            }
        }
    }
    eval_quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(BenchRun {
        n,
        t_ns: field("T")?,
        mem_allocs: field("MemAllocs")?,
        mem_bytes: field("MemBytes")?,
        eval_quantiles,
    })
}

fn cut(text: &str) -> String {
    text.trim().chars().take(300).collect()
}

/// The quantile `q` of an equal-weight mixture of distributions, each
/// known by its quantiles (piecewise-linear between them): the `x` at
/// which the mean of their CDFs reaches `q`, found by bisection.
pub fn mixture_quantile(inputs: &[&[(f64, f64)]], q: f64) -> Option<f64> {
    let inputs: Vec<&[(f64, f64)]> = inputs.iter().copied().filter(|i| i.len() >= 2).collect();
    if inputs.is_empty() {
        return None;
    }
    let cdf = |points: &[(f64, f64)], x: f64| -> f64 {
        if x <= points[0].1 {
            return points[0].0;
        }
        for w in points.windows(2) {
            let ((q0, x0), (q1, x1)) = (w[0], w[1]);
            if x <= x1 {
                return if x1 > x0 {
                    q0 + (q1 - q0) * (x - x0) / (x1 - x0)
                } else {
                    q1
                };
            }
        }
        1.0
    };
    let mixed = |x: f64| inputs.iter().map(|p| cdf(p, x)).sum::<f64>() / inputs.len() as f64;
    let mut lo = inputs.iter().map(|p| p[0].1).fold(f64::INFINITY, f64::min);
    let mut hi = inputs
        .iter()
        .map(|p| p[p.len() - 1].1)
        .fold(f64::NEG_INFINITY, f64::max);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if mixed(mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// The quantiles rigor reports, with OPA's reservoir quantile they come from.
const QUANTILES: &[(&str, f64)] = &[
    ("latency.min", 0.0),
    ("latency.p50", 0.5),
    ("latency.p90", 0.9),
    ("latency.p95", 0.95),
    ("latency.p99", 0.99),
    ("latency.p99.9", 0.999),
    ("latency.max", 1.0),
];

/// Which of `total` inputs to benchmark: `k` spread evenly.
pub fn spread(total: usize, k: usize) -> Vec<usize> {
    let k = k.min(total);
    (0..k).map(|i| i * total / k).collect()
}

impl OpaBench {
    fn command(&self, input: Option<&PathBuf>) -> std::process::Command {
        let mut c = self.opa.command();
        c.args(["bench", "--format", "json", "--fail=false", "--count", "1"]);
        if self.policy.rego_v0 {
            c.arg("--v0-compatible");
        }
        for f in &self.staged.files {
            c.arg("-d").arg(f);
        }
        if let Some(i) = input {
            c.arg("-i").arg(i);
        }
        c.arg(&self.policy.query)
            .current_dir(self.staged.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        crate::process::die_with_parent(&mut c);
        c
    }

    /// Runs `copies` `opa bench` processes on one input side by side;
    /// `None` when Ctrl-C cut them short.
    fn bench(
        &self,
        input: Option<&PathBuf>,
        copies: u32,
        stop: &AtomicBool,
    ) -> Result<Option<Vec<BenchRun>>, TargetError> {
        let mut children: Vec<Child> = Vec::new();
        for _ in 0..copies {
            let child = self.command(input).spawn().map_err(|e| {
                TargetError::Failed(format!("cannot start `{}`: {e}", self.opa.path.display()))
            })?;
            children.push(child);
        }
        // Wait, polling so that Ctrl-C ends the children promptly.
        loop {
            if stop.load(Ordering::Relaxed) {
                for c in &mut children {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Ok(None);
            }
            if children
                .iter_mut()
                .all(|c| matches!(c.try_wait(), Ok(Some(_))))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut runs = Vec::new();
        for child in children {
            let out = child.wait_with_output().map_err(|e| {
                TargetError::Failed(format!("reading `opa bench` output failed: {e}"))
            })?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                let message = opa::opa_message(&String::from_utf8_lossy(&out.stderr));
                let message = if message.is_empty() {
                    cut(&stdout)
                } else {
                    message
                };
                return Err(if opa::rejects_input(&message) {
                    TargetError::Invalid(format!(
                        "OPA {} rejected the policy: {message}",
                        self.opa.version
                    ))
                } else {
                    TargetError::Failed(format!("`opa bench` failed ({}): {message}", out.status))
                });
            }
            runs.push(parse_bench(&stdout).map_err(TargetError::Failed)?);
        }
        Ok(Some(runs))
    }

    fn decider(&self) -> Result<std::sync::MutexGuard<'_, Option<ManagedOpa>>, String> {
        let mut guard = self
            .decider
            .lock()
            .map_err(|_| "the decision server's lock is poisoned".to_string())?;
        if guard.is_none() {
            *guard = Some(ManagedOpa::start(&self.opa, &self.policy).map_err(|e| e.to_string())?);
        }
        Ok(guard)
    }
}

/// The trial's metrics from every input's runs (`per_input[i]` holds the
/// side-by-side runs of input `i`).
pub fn trial_metrics(per_input: &[Vec<BenchRun>], copies: u32) -> Measured {
    let mut m = Measured::default();
    let means: Vec<f64> = per_input
        .iter()
        .filter(|runs| !runs.is_empty())
        .map(|runs| runs.iter().map(BenchRun::ns_per_op).sum::<f64>() / runs.len() as f64)
        .collect();
    if means.is_empty() {
        return m;
    }
    let runs: Vec<&BenchRun> = per_input.iter().flatten().collect();
    m.operations = runs.iter().map(|r| r.n).sum();
    m.elapsed_ns = per_input
        .iter()
        .map(|runs| runs.iter().map(|r| r.t_ns).max().unwrap_or(0))
        .sum();
    let mean = means.iter().sum::<f64>() / means.len() as f64;
    m.metrics.insert("latency.mean".into(), mean);
    m.metrics
        .insert("throughput".into(), copies as f64 * 1e9 / mean);
    let n: f64 = m.operations as f64;
    m.metrics.insert(
        "memory.bytes_per_op".into(),
        runs.iter().map(|r| r.mem_bytes as f64).sum::<f64>() / n,
    );
    m.metrics.insert(
        "memory.allocs_per_op".into(),
        runs.iter().map(|r| r.mem_allocs as f64).sum::<f64>() / n,
    );
    let quantiles: Vec<&[(f64, f64)]> = runs.iter().map(|r| r.eval_quantiles.as_slice()).collect();
    for (name, q) in QUANTILES {
        if let Some(v) = mixture_quantile(&quantiles, *q) {
            m.metrics.insert((*name).into(), v);
        }
    }
    m
}

impl rigor_engine::target::Explain for OpaBench {
    fn explain(
        &self,
        indices: &[usize],
        _: std::time::Duration,
    ) -> Result<rigor_engine::results::cost::PolicyProfile, String> {
        crate::profile::opa_profile(&self.opa, &self.policy, &self.all_inputs, indices)
    }
}

impl Target for OpaBench {
    /// `opa bench` times itself: rigor runs no workers.
    fn workers(&self) -> Workers<'_> {
        Workers::SelfTimed(self)
    }

    /// Stops the decision server before anything is measured.
    fn before_timing(&self) {
        if let Ok(mut d) = self.decider.lock() {
            d.take();
        }
    }

    /// Its bytes/op and allocs/op are Go's heap in `opa bench`'s own
    /// process: `tool`, never set against rigor's allocator.
    fn explainer(&self) -> Option<&dyn rigor_engine::target::Explain> {
        Some(self)
    }

    fn facts(&self) -> Facts {
        Facts {
            peer: Some(("opa".into(), self.opa.version.clone())),
            method: Some(self.method()),
            ..Facts::new(MemoryScope::Tool)
        }
    }

    fn decide(&self, input: &serde_json::Value) -> Option<Result<Answer, String>> {
        Some((|| {
            let guard = self.decider()?;
            let server = guard.as_ref().ok_or("no decision server")?;
            let url = format!(
                "http://127.0.0.1:{}/v1/data/{}",
                server.port,
                crate::opa_http::query_path(&self.policy.query)
            );
            let body = serde_json::json!({ "input": input }).to_string();
            let crate::control::Reply { status, body: text } =
                crate::control::post_json(&url, &body, Duration::from_secs(10))
                    .map_err(|e| format!("asking OPA for the decision failed: {e}"))?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("OPA answered {status} with no JSON ({e}): {}", cut(&text)))?;
            if status != 200 {
                return Err(format!(
                    "OPA answered {status}: {}",
                    doc.get("message").and_then(|m| m.as_str()).unwrap_or(&text)
                ));
            }
            Ok(Answer::from(doc.get("result").cloned().unwrap_or_else(
                || serde_json::Value::String(UNDEFINED.into()),
            )))
        })())
    }
}

impl OpaBench {
    fn method(&self) -> String {
        format!(
            "OPA {}'s own benchmark (`opa bench`: Go's testing loop, about 1s per input whatever the scenario's duration) on {} of the scenario's {} input(s) (`max_inputs`; the other targets use all of them), N processes side by side at concurrency N. Mean = Go's ns/op around Eval; percentiles = OPA's eval timer (timer_rego_query_eval_ns) from a sampling reservoir, inside Eval, so narrower in scope than the mean; B/op and allocs/op = Go's heap allocated while timed.",
            self.opa.version,
            self.inputs.len().max(1),
            self.total_inputs.max(1),
        )
    }
}

impl SelfTimed for OpaBench {
    fn measure(
        &self,
        trial: &TrialContext,
        _: &WorkloadPlan,
        stop: &AtomicBool,
    ) -> Result<Measured, TargetError> {
        // Again, in case a decision was asked for after `before_timing`.
        self.before_timing();
        let copies = trial.case.concurrency.max(1);
        let mut per_input = Vec::new();
        let files: Vec<Option<&PathBuf>> = if self.inputs.is_empty() {
            vec![None]
        } else {
            self.inputs.iter().map(|(_, f)| Some(f)).collect()
        };
        let mut interrupted = false;
        for file in files {
            match self.bench(file, copies, stop) {
                Ok(Some(runs)) => per_input.push(runs),
                Ok(None) => {
                    interrupted = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let mut m = trial_metrics(&per_input, copies);
        m.interrupted = interrupted;
        Ok(m)
    }
}

impl Kind for Factory {
    type Spec = OpaBenchSpec;

    fn build(
        spec: &OpaBenchSpec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Box<dyn Target>, TargetError> {
        let policy = policy(target, plan)?;
        if !plan.workload.rate.is_empty() {
            return Err(TargetError::Invalid(
                "opa-bench runs Go's closed benchmark loop; it has no rate mode: drop `rate:` or this target".into(),
            ));
        }
        let opa = Opa::find(spec.opa_binary.as_deref())?;
        // A policy OPA rejects is the scenario's error (exit 2), found before anything runs.
        opa.check(policy)?;
        let staged = opa::stage(policy)?;
        // A quick run checks that the scenario runs: one input is enough,
        // and each `opa bench` takes seconds whatever the duration.
        let cap = match plan.mode {
            rigor_scenario::plan::Mode::Quick => 1,
            _ => spec.max_inputs.unwrap_or(DEFAULT_MAX_INPUTS),
        };
        let chosen = spread(plan.inputs.len(), cap);
        let mut inputs = Vec::new();
        for i in chosen {
            let item = plan.inputs.get(i);
            let file = staged.dir.path().join(format!("input-{i}.json"));
            std::fs::write(&file, item.text()).map_err(|e| {
                TargetError::Failed(format!("cannot stage input {} for OPA: {e}", item.origin()))
            })?;
            inputs.push((item.origin(), file));
        }
        Ok(Box::new(OpaBench {
            opa,
            staged,
            policy: policy.clone(),
            inputs,
            total_inputs: plan.inputs.len(),
            all_inputs: plan.inputs.clone(),
            decider: Mutex::new(None),
        }))
    }

    /// `rigor validate` asks OPA too: a local `opa run --server`, started on
    /// the first decision.
    fn offline_decider(
        spec: &OpaBenchSpec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Option<Box<dyn Target>>, TargetError> {
        Self::build(spec, target, plan).map(Some)
    }

    /// Offline: the binary is there and the policy is one.
    fn check(spec: &OpaBenchSpec, target: &TargetPlan, plan: &Plan) -> Result<(), TargetError> {
        Opa::find(spec.opa_binary.as_deref())?.check(policy(target, plan)?)
    }
}

/// The target's own policy, else the scenario's.
fn policy<'a>(target: &'a TargetPlan, plan: &'a Plan) -> Result<&'a PolicyPlan, TargetError> {
    target.policy(plan).ok_or_else(|| {
        TargetError::Invalid(
            "the scenario has no `policy:` (opa-bench benchmarks its query)".into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "N": 47870, "T": 1172164019, "Bytes": 0, "MemAllocs": 3880694, "MemBytes": 249779448,
      "Extra": {
        "histogram_timer_rego_external_resolve_ns_99%": 262,
        "histogram_timer_rego_query_eval_ns_75%": 12435.25,
        "histogram_timer_rego_query_eval_ns_90%": 27279.2,
        "histogram_timer_rego_query_eval_ns_99%": 187624.86,
        "histogram_timer_rego_query_eval_ns_99.9%": 941650.5,
        "histogram_timer_rego_query_eval_ns_count": 47870,
        "histogram_timer_rego_query_eval_ns_max": 954518,
        "histogram_timer_rego_query_eval_ns_mean": 17755.9,
        "histogram_timer_rego_query_eval_ns_median": 9515,
        "histogram_timer_rego_query_eval_ns_min": 6975
      }
    }"#;

    #[test]
    fn opa_bench_json_is_parsed() {
        let r = parse_bench(SAMPLE).expect("parsed");
        assert_eq!(r.n, 47870);
        assert_eq!(r.mem_bytes, 249779448);
        assert!((r.ns_per_op() - 24486.4).abs() < 0.1);
        let qs: Vec<f64> = r.eval_quantiles.iter().map(|q| q.0).collect();
        let want = [0.0, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0];
        assert_eq!(qs.len(), want.len(), "{qs:?}");
        for (q, w) in qs.iter().zip(want) {
            assert!((q - w).abs() < 1e-12, "{qs:?}");
        }
        assert!(parse_bench("Error: boom").is_err());
        assert!(parse_bench(r#"{"N": 0, "T": 1}"#).is_err());
    }

    #[test]
    fn one_input_keeps_its_quantiles_and_a_mixture_lies_between_inputs() {
        let r = parse_bench(SAMPLE).expect("parsed");
        let m = trial_metrics(&[vec![r.clone()]], 1);
        assert!((m.metrics["latency.p50"] - 9515.0).abs() < 1.0);
        assert!((m.metrics["latency.p99"] - 187624.86).abs() < 1.0);
        assert!((m.metrics["memory.bytes_per_op"] - 249779448.0 / 47870.0).abs() < 1e-6);
        assert!((m.metrics["throughput"] - 1e9 / r.ns_per_op()).abs() < 1e-6);
        // A second input ten times slower: the mixture's median lies between.
        let mut slow = r.clone();
        slow.eval_quantiles = r
            .eval_quantiles
            .iter()
            .map(|(q, v)| (*q, v * 10.0))
            .collect();
        slow.t_ns *= 10;
        let two = trial_metrics(&[vec![r.clone()], vec![slow]], 2);
        let p50 = two.metrics["latency.p50"];
        assert!(p50 > 9515.0 && p50 < 95150.0, "{p50}");
        assert_eq!(two.operations, 2 * 47870);
        // Two processes side by side double the throughput at the same ns/op.
        let mean = two.metrics["latency.mean"];
        assert!((two.metrics["throughput"] - 2.0 * 1e9 / mean).abs() < 1e-6);
    }

    #[test]
    fn inputs_are_spread_evenly() {
        assert_eq!(spread(8, 4), vec![0, 2, 4, 6]);
        assert_eq!(spread(3, 4), vec![0, 1, 2]);
        assert_eq!(spread(0, 4), Vec::<usize>::new());
    }
}
