//! The executor: cases x trials x targets, closed loop, one OS thread per
//! worker.
//!
//! Workers only record into their own histogram and counters; the collector
//! (this module's [`Runner`]) merges them after each run and owns the
//! [`Results`], handing a snapshot to the caller after every trial so that a
//! crash or Ctrl-C never loses what was measured.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rigor_scenario::plan::{Plan, Stop, TargetPlan};

use crate::alloc::{self, ThreadBytes};
use crate::grade;
use crate::results::*;
use crate::stats::{self, new_histogram};
use crate::target::{Target, TargetError};

/// Error messages kept per worker per trial.
const KEEP_MESSAGES: usize = 5;
/// How often the stop flag is polled, in operations.
const POLL_EVERY: u64 = 256;
/// How often resident memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// What the executor needs besides the plan.
pub struct RunContext<'a> {
    /// Set to stop early (Ctrl-C); results so far are kept.
    pub stop: Arc<AtomicBool>,
    /// Called after each trial with the results so far (to write them out).
    pub on_update: &'a mut dyn FnMut(&Results),
    /// Called with one progress line at a time.
    pub progress: &'a mut dyn FnMut(&str),
}

impl std::fmt::Debug for RunContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

/// A built target ready to run.
pub struct Prepared {
    /// The planned target.
    pub plan: TargetPlan,
    /// The built target.
    pub target: Box<dyn Target>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("id", &self.plan.id())
            .finish_non_exhaustive()
    }
}

/// What one worker thread measured.
struct WorkerRecord {
    histogram: Histogram<u64>,
    operations: u64,
    errors: u64,
    messages: Vec<String>,
    start: Instant,
    end: Instant,
    bytes: Option<u64>,
    allocs: Option<u64>,
    interrupted: bool,
}

/// Runs every case, trial and target of `plan`.
pub fn run(
    plan: &Plan,
    targets: &[Prepared],
    environment: Environment,
    ctx: RunContext<'_>,
) -> Results {
    let harness = crate::env::calibrate_timer();
    let mut results = Results {
        format_version: FORMAT_VERSION,
        rigor_version: environment.rigor_version.clone(),
        scenario: ScenarioInfo {
            name: plan.name.clone(),
            description: plan.description.clone(),
            path: plan.path.display().to_string(),
            source: plan.source.clone(),
            mode: plan.mode,
            workload: plan.workload.clone(),
            inputs: plan.inputs.len(),
        },
        environment,
        harness,
        started_at: crate::env::now_rfc3339(),
        finished_at: String::new(),
        status: RunStatus::Running,
        targets: targets
            .iter()
            .map(|t| TargetInfo {
                id: t.plan.id().to_string(),
                kind: t.plan.spec.kind().to_string(),
                config: serde_json::to_value(spec_config(&t.plan)).unwrap_or_default(),
                setup: t.target.setup(),
            })
            .collect(),
        cases: Vec::new(),
        verdict: Verdict::Pass,
        errors: Vec::new(),
    };
    let workload = &plan.workload;
    let total = workload.concurrency.len() * workload.trials as usize * targets.len();
    let mut done = 0;
    'cases: for &concurrency in &workload.concurrency {
        results.cases.push(CaseResult {
            name: format!("concurrency={concurrency}"),
            concurrency,
            targets: targets
                .iter()
                .map(|t| TargetResult {
                    id: t.plan.id().to_string(),
                    kind: t.plan.spec.kind().to_string(),
                    trials: Vec::new(),
                    metrics: BTreeMap::new(),
                    histogram: String::new(),
                    grades: Vec::new(),
                    error: None,
                })
                .collect(),
        });
        let case = results.cases.len() - 1;
        for trial in 0..workload.trials {
            // Rotate the order each trial so drift and warm caches hit every target alike.
            let n = targets.len();
            for position in 0..n {
                let index = (position + trial as usize) % n;
                let prepared = &targets[index];
                if results.cases[case].targets[index].error.is_some() {
                    continue;
                }
                done += 1;
                (ctx.progress)(&format!(
                    "[{done}/{total}] concurrency={concurrency} trial {}/{} {}",
                    trial + 1,
                    workload.trials,
                    prepared.plan.id()
                ));
                match run_trial(prepared.target.as_ref(), concurrency, plan, &ctx.stop) {
                    Ok((records, peak)) => {
                        let trial_result = collect(records, peak, trial, position as u32);
                        (ctx.progress)(&trial_line(&trial_result));
                        let interrupted = trial_result.interrupted;
                        results.cases[case].targets[index].trials.push(trial_result);
                        if interrupted {
                            break 'cases;
                        }
                    }
                    Err(message) => {
                        let message = format!(
                            "{} in {}: {message}",
                            prepared.plan.id(),
                            results.cases[case].name
                        );
                        (ctx.progress)(&format!("error: {message}"));
                        results.errors.push(message.clone());
                        results.cases[case].targets[index].error = Some(message);
                    }
                }
                summarize(&mut results, targets);
                results.finished_at = crate::env::now_rfc3339();
                (ctx.on_update)(&results);
                if ctx.stop.load(Ordering::Relaxed) {
                    break 'cases;
                }
            }
        }
    }
    summarize(&mut results, targets);
    results.status = if ctx.stop.load(Ordering::Relaxed) {
        RunStatus::Interrupted
    } else {
        RunStatus::Complete
    };
    results.finished_at = crate::env::now_rfc3339();
    (ctx.on_update)(&results);
    results
}

fn spec_config(t: &TargetPlan) -> serde_json::Value {
    use rigor_scenario::model::TargetSpec;
    match &t.spec {
        TargetSpec::Regorus(s) => serde_json::json!({ "engine": s.engine }),
        TargetSpec::Noop(_) => serde_json::json!({}),
        TargetSpec::Spin(s) => {
            serde_json::json!({ "service_time_ns": s.service_time.0.as_nanos() as u64 })
        }
    }
}

fn trial_line(t: &TrialResult) -> String {
    use rigor_scenario::units::format_nanos;
    let get = |k: &str| t.metrics.get(k).copied().unwrap_or(f64::NAN);
    format!(
        "    {} ops, {:.0} ops/s, p50 {}, p99 {}, errors {}",
        t.operations,
        get("throughput"),
        format_nanos(get("latency.p50")),
        format_nanos(get("latency.p99")),
        t.errors
    )
}

/// Runs `concurrency` workers of `target` once: warm-up, then the measured phase.
fn run_trial(
    target: &dyn Target,
    concurrency: u32,
    plan: &Plan,
    stop: &AtomicBool,
) -> Result<(Vec<WorkerRecord>, Option<u64>), String> {
    let workers = concurrency as usize;
    let barrier = Barrier::new(workers + 1);
    let measuring = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let failed_setup = AtomicBool::new(false);
    let warmup = plan.workload.warmup;
    let stop_rule = plan.workload.stop;
    let mut peak_resident: Option<u64> = None;
    let outcome = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|index| {
                let (barrier, measuring, finished, failed_setup) =
                    (&barrier, &measuring, &finished, &failed_setup);
                std::thread::Builder::new()
                    .name(format!("rigor-worker-{index}"))
                    .spawn_scoped(scope, move || {
                        // Counts this worker as finished however it ends, panics included,
                        // so the sampler below never waits forever.
                        let _finished = OnDrop(|| {
                            finished.fetch_add(1, Ordering::Release);
                        });
                        let worker = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            target.worker(index)
                        }))
                        .unwrap_or_else(|p| Err(TargetError::Failed(panic_message(p))));
                        if worker.is_err() {
                            failed_setup.store(true, Ordering::Relaxed);
                        }
                        barrier.wait();
                        match worker {
                            Ok(mut w) if !failed_setup.load(Ordering::Relaxed) => {
                                Ok(measure(w.as_mut(), warmup, stop_rule, stop, measuring))
                            }
                            Ok(_) => Err("another worker failed to start".to_string()),
                            Err(e) => Err(e.to_string()),
                        }
                    })
            })
            .collect::<Vec<_>>();
        barrier.wait();
        // Sample resident memory while every worker is in its measured phase.
        while finished.load(Ordering::Acquire) < workers {
            std::thread::sleep(SAMPLE_EVERY);
            if measuring.load(Ordering::Acquire) == workers && finished.load(Ordering::Acquire) == 0
            {
                if let Some(r) = alloc::resident_bytes() {
                    peak_resident = Some(peak_resident.map_or(r, |p: u64| p.max(r)));
                }
            }
        }
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|p| Err(panic_message(p))),
                Err(e) => Err(format!("cannot start a worker thread: {e}")),
            })
            .collect::<Result<Vec<_>, String>>()
    });
    // A run too short for one sample reports no peak rather than a post-run reading.
    Ok((outcome?, peak_resident))
}

/// Runs a closure when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let text = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("worker panicked: {text}")
}

/// One worker's warm-up and measured phase. This is the hot loop.
fn measure(
    worker: &mut dyn crate::target::Worker,
    warmup: Duration,
    stop_rule: Stop,
    stop: &AtomicBool,
    measuring: &AtomicUsize,
) -> WorkerRecord {
    let mut op = 0u64;
    let warm_start = Instant::now();
    while warm_start.elapsed() < warmup && !stop.load(Ordering::Relaxed) {
        let _ = worker.call(op);
        op += 1;
    }
    let mut histogram = new_histogram();
    let mut messages = Vec::with_capacity(KEEP_MESSAGES);
    let mut errors = 0u64;
    let mut operations = 0u64;
    let mut interrupted = false;
    let bytes_counter = ThreadBytes::current();
    let counting = alloc::counting_installed();
    measuring.fetch_add(1, Ordering::Release);
    let bytes_before = bytes_counter.get();
    let allocs_before = alloc::thread_allocs();
    let start = Instant::now();
    let mut end;
    loop {
        let t0 = Instant::now();
        let result = worker.call(op);
        let t1 = Instant::now();
        histogram.saturating_record(t1.duration_since(t0).as_nanos() as u64);
        end = t1;
        op += 1;
        operations += 1;
        if let Err(e) = result {
            errors += 1;
            if messages.len() < KEEP_MESSAGES {
                messages.push(e.0);
            }
        }
        let done = match stop_rule {
            Stop::Duration(d) => t1.duration_since(start) >= d,
            Stop::Iterations(n) => operations >= n,
        };
        if done {
            break;
        }
        if operations.is_multiple_of(POLL_EVERY) && stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
    }
    let allocs_after = alloc::thread_allocs();
    let bytes_after = bytes_counter.get();
    WorkerRecord {
        histogram,
        operations,
        errors,
        messages,
        start,
        end,
        bytes: bytes_before.zip(bytes_after).map(|(b, a)| a - b),
        allocs: counting.then(|| allocs_after - allocs_before),
        interrupted,
    }
}

/// Merges worker records into one trial result.
fn collect(
    records: Vec<WorkerRecord>,
    peak_resident: Option<u64>,
    trial: u32,
    position: u32,
) -> TrialResult {
    let mut histogram = new_histogram();
    let mut operations = 0;
    let mut errors = 0;
    let mut messages = Vec::new();
    let mut bytes = Some(0u64);
    let mut allocs = Some(0u64);
    let start = records.iter().map(|r| r.start).min();
    let end = records.iter().map(|r| r.end).max();
    let mut interrupted = false;
    for r in records {
        let _ = histogram.add(&r.histogram);
        operations += r.operations;
        errors += r.errors;
        for m in r.messages {
            if messages.len() < KEEP_MESSAGES && !messages.contains(&m) {
                messages.push(m);
            }
        }
        bytes = bytes.zip(r.bytes).map(|(a, b)| a + b);
        allocs = allocs.zip(r.allocs).map(|(a, b)| a + b);
        interrupted |= r.interrupted;
    }
    let elapsed_ns = start
        .zip(end)
        .map(|(s, e)| e.duration_since(s).as_nanos() as u64)
        .unwrap_or(0);
    let mut metrics = BTreeMap::new();
    stats::latency_metrics(&histogram, &mut metrics);
    if elapsed_ns > 0 {
        metrics.insert(
            "throughput".into(),
            operations as f64 * 1e9 / elapsed_ns as f64,
        );
    }
    metrics.insert("errors.count".into(), errors as f64);
    if operations > 0 {
        metrics.insert("errors.rate".into(), errors as f64 / operations as f64);
        if let Some(b) = bytes {
            metrics.insert("memory.bytes_per_op".into(), b as f64 / operations as f64);
        }
        if let Some(a) = allocs {
            metrics.insert("memory.allocs_per_op".into(), a as f64 / operations as f64);
        }
    }
    if let Some(peak) = peak_resident {
        metrics.insert("memory.peak_resident".into(), peak as f64);
    }
    TrialResult {
        trial,
        position,
        operations,
        errors,
        error_messages: messages,
        elapsed_ns,
        metrics,
        histogram: stats::encode(&histogram),
        interrupted,
    }
}

/// Recomputes every target's summary metrics and grades, and the verdict.
fn summarize(results: &mut Results, targets: &[Prepared]) {
    let mut verdict = Verdict::Pass;
    for case in &mut results.cases {
        for (t, prepared) in case.targets.iter_mut().zip(targets) {
            let mut merged = new_histogram();
            let (mut ops, mut errors) = (0u64, 0u64);
            let (mut bytes, mut allocs) = (Some(0.0), Some(0.0));
            let mut throughputs = Vec::new();
            let mut peak: Option<f64> = None;
            for trial in &t.trials {
                if let Ok(h) = stats::decode(&trial.histogram) {
                    let _ = merged.add(&h);
                }
                ops += trial.operations;
                errors += trial.errors;
                let per_op = |k: &str| trial.metrics.get(k).map(|v| v * trial.operations as f64);
                bytes = bytes.zip(per_op("memory.bytes_per_op")).map(|(a, b)| a + b);
                allocs = allocs
                    .zip(per_op("memory.allocs_per_op"))
                    .map(|(a, b)| a + b);
                throughputs.extend(trial.metrics.get("throughput"));
                if let Some(p) = trial.metrics.get("memory.peak_resident") {
                    peak = Some(peak.map_or(*p, |q: f64| q.max(*p)));
                }
            }
            let mut m = BTreeMap::new();
            stats::latency_metrics(&merged, &mut m);
            if let Some(tp) = stats::median(&throughputs) {
                m.insert("throughput".into(), tp);
            }
            if ops > 0 {
                m.insert("errors.count".into(), errors as f64);
                m.insert("errors.rate".into(), errors as f64 / ops as f64);
                if let Some(b) = bytes {
                    m.insert("memory.bytes_per_op".into(), b / ops as f64);
                }
                if let Some(a) = allocs {
                    m.insert("memory.allocs_per_op".into(), a / ops as f64);
                }
            }
            if let Some(p) = peak {
                m.insert("memory.peak_resident".into(), p);
            }
            let setup = prepared.target.setup();
            let compile: Vec<f64> = setup
                .parse_ns
                .iter()
                .zip(&setup.compile_ns)
                .map(|(p, c)| (p + c) as f64)
                .collect();
            if let Some(c) = stats::median(&compile) {
                m.insert("compile.time".into(), c);
            }
            t.histogram = if merged.is_empty() {
                String::new()
            } else {
                stats::encode(&merged)
            };
            t.grades = if t.trials.is_empty() {
                Vec::new()
            } else {
                prepared
                    .plan
                    .thresholds
                    .iter()
                    .map(|(metric, th)| grade::grade(metric, m.get(metric).copied(), th))
                    .collect()
            };
            t.metrics = m;
            for g in &t.grades {
                verdict = verdict.max(g.verdict);
            }
        }
    }
    results.verdict = verdict;
}
