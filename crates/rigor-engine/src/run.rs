//! The executor: cases x trials x targets, closed loop, one OS thread per
//! worker.
//!
//! Workers only record into their own histogram and counters; the collector
//! (this module's [`Runner`]) merges them after each run and owns the
//! [`Results`], handing a snapshot to the caller after every trial so that a
//! crash or Ctrl-C never loses what was measured.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rigor_scenario::metrics::{self, Across};
use rigor_scenario::plan::{Plan, TargetPlan};
use rigor_scenario::redact::redact_credentials;

use crate::drive::{self, TrialData, GENERATOR_BOUND_LAG_NS, KEEP_MESSAGES, KIND_NAMES};
use crate::grade;
use crate::results::*;
use crate::stats::{self, new_histogram};
use crate::target::{CacheState, Target, TrialContext, Workers};

/// What the executor needs besides the plan.
pub struct RunContext<'a> {
    /// Set to stop early (Ctrl-C); results so far are kept.
    pub stop: Arc<AtomicBool>,
    /// Called after each trial with the results so far (to write them out).
    pub on_update: &'a mut dyn FnMut(&Results),
    /// Called with one progress line at a time.
    pub progress: &'a mut dyn FnMut(&str),
    /// The correctness gate's outcome, recorded in the results.
    pub verification: Option<Verification>,
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
            // Results, baselines and history never hold a password written in the scenario.
            source: redact_credentials(&plan.source),
            mode: plan.mode,
            workload: plan.workload.clone(),
            inputs: plan.inputs.len(),
            generated: plan.generated.clone(),
            overrides: plan.overrides.clone(),
            only: plan.only.clone(),
            fingerprint: Some(plan.fingerprint.clone()),
            cache: plan.cache.clone(),
            inputs_order: plan.inputs_order,
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
                config: redact_json(t.plan.spec.as_kind().config()),
                setup: t.target.setup(),
                memory_scope: t.target.memory_scope().to_string(),
                peer: t
                    .target
                    .peer()
                    .map(|(name, version)| format!("{name} {version}")),
                method: t.target.method(),
            })
            .collect(),
        cases: Vec::new(),
        verdict: Verdict::Pass,
        errors: Vec::new(),
        verification: ctx.verification.clone(),
        baseline: plan.compare.clone(),
        regression_config: plan.regression.clone(),
        aa_control: None,
        regression: None,
        history: Vec::new(),
        artifacts: Vec::new(),
    };
    for t in targets {
        if let Some((name, version)) = t.target.peer() {
            results.environment.peers.insert(name, version);
        }
        t.target.before_timing();
    }
    let workload = &plan.workload;
    let cases = workload.cases();
    let total = cases.len() * workload.trials as usize * targets.len();
    let mut done = 0;
    'cases: for case_plan in cases {
        results.cases.push(CaseResult {
            name: case_plan.name(),
            concurrency: case_plan.concurrency,
            rate: case_plan.rate,
            capacity: case_plan.capacity,
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
                    ratios: Vec::new(),
                    stats: BTreeMap::new(),
                    noisy: false,
                })
                .collect(),
        });
        let case = results.cases.len() - 1;
        for trial in 0..workload.trials {
            let order = trial_order(targets.len(), trial, workload.seed);
            for (position, &index) in order.iter().enumerate() {
                let prepared = &targets[index];
                if results.cases[case].targets[index].error.is_some() {
                    continue;
                }
                done += 1;
                (ctx.progress)(&format!(
                    "[{done}/{total}] {} trial {}/{} {}",
                    results.cases[case].name,
                    trial + 1,
                    workload.trials,
                    prepared.plan.id()
                ));
                let trial_context = TrialContext {
                    case: case_plan,
                    trial,
                    seed: crate::keys::derive(workload.seed, &[trial as u64]),
                };
                let events_before = prepared.target.events();
                let target = prepared.target.as_ref();
                let outcome = target
                    .hooks()
                    .map_or(Ok(None), |h| h.prepare(&trial_context))
                    .map_err(|e| e.to_string())
                    .and_then(|before| {
                        let counters = target.server_counters();
                        let trial_result = match target.workers() {
                            Workers::SelfTimed(t) => t
                                .measure(&trial_context, workload, &ctx.stop)
                                .map(|m| measured_trial(m, trial, position as u32))
                                .map_err(|e| e.to_string()),
                            _ => drive::trial(target, case_plan, trial, workload, &ctx.stop).map(
                                |data| {
                                    let after = target.hooks().and_then(|h| h.cache_state());
                                    collect(data, trial, position as u32, before, after)
                                },
                            ),
                        };
                        trial_result.map(|mut t| {
                            server_metrics(
                                counters.as_ref(),
                                target.server_counters().as_ref(),
                                &mut t.metrics,
                            );
                            t
                        })
                    });
                match outcome {
                    Ok(mut trial_result) => {
                        trial_result.events = prepared
                            .target
                            .events()
                            .into_iter()
                            .map(|(k, n)| {
                                let was = events_before.get(k).copied().unwrap_or(0);
                                (k.to_string(), n.saturating_sub(was))
                            })
                            .collect();
                        (ctx.progress)(&trial_line(&trial_result));
                        let interrupted = trial_result.interrupted;
                        // A target whose every operation failed measured nothing:
                        // it is a failed target, not a fast one.
                        let all_failed = trial_result.operations == 0 && trial_result.errors > 0;
                        let first_error = trial_result.error_messages.first().cloned();
                        results.cases[case].targets[index].trials.push(trial_result);
                        if all_failed {
                            let message = format!(
                                "{} in {}: every operation failed ({}); first error: {}",
                                prepared.plan.id(),
                                results.cases[case].name,
                                results.cases[case].targets[index]
                                    .trials
                                    .last()
                                    .map(|t| error_kinds_text(&t.error_kinds))
                                    .unwrap_or_default(),
                                first_error.unwrap_or_else(|| "(none kept)".into())
                            );
                            (ctx.progress)(&format!("error: {message}"));
                            results.errors.push(message.clone());
                            results.cases[case].targets[index].error = Some(message);
                        }
                        if interrupted {
                            break 'cases;
                        }
                    }
                    Err(message) => {
                        let message = redact_credentials(&format!(
                            "{} in {}: {message}",
                            prepared.plan.id(),
                            results.cases[case].name
                        ));
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
    if let Some(control) = &plan.aa_control {
        results.aa_control = aa_control(&results, control);
    }
    results.status = if ctx.stop.load(Ordering::Relaxed) {
        RunStatus::Interrupted
    } else {
        RunStatus::Complete
    };
    results.finished_at = crate::env::now_rfc3339();
    (ctx.on_update)(&results);
    results
}

/// The targets' order in a trial: randomised ABBA blocks. Trials 2k and
/// 2k+1 run one seeded random order and then its reverse, so a drift
/// within a block hits every target alike and no target always goes first.
pub fn trial_order(n: usize, trial: u32, seed: u64) -> Vec<usize> {
    let block = u64::from(trial / 2);
    let mut rng = crate::keys::Rng::new(crate::keys::derive(seed, &[0xABBA, block]));
    let mut order: Vec<usize> = (0..n).collect();
    // Fisher-Yates.
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    if trial % 2 == 1 {
        order.reverse();
    }
    order
}

/// A JSON value with every string's credentials redacted.
fn redact_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redact_credentials(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(redact_json).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, redact_json(v))).collect())
        }
        other => other,
    }
}

fn trial_line(t: &TrialResult) -> String {
    use rigor_scenario::units::format_nanos;
    let get = |k: &str| t.metrics.get(k).copied();
    let nanos = |k: &str| get(k).map_or("-".to_string(), format_nanos);
    let mut line = format!(
        "    {} ops, {:.0} ops/s, p50 {}, p99 {}, errors {}",
        t.operations,
        get("throughput").unwrap_or(0.0),
        nanos("latency.p50"),
        nanos("latency.p99"),
        t.errors
    );
    if t.errors > 0 {
        line.push_str(&format!(
            " ({:.2}%: {})",
            get("errors.rate").unwrap_or(0.0) * 100.0,
            error_kinds_text(&t.error_kinds)
        ));
    }
    if let Some(ratio) = t.metrics.get("cache.hit_ratio") {
        line.push_str(&format!(", hit ratio {:.2}%", ratio * 100.0));
    }
    if t.batch > 1 {
        line.push_str(&format!(" (timed in batches of {})", t.batch));
    }
    if let Some(lag) = t.metrics.get("schedule.lag.p99") {
        line.push_str(&format!(", schedule lag p99 {}", format_nanos(*lag)));
    }
    if t.generator_bound {
        line.push_str(" [GENERATOR-BOUND: rigor could not keep the schedule]");
    }
    if t.dropped > 0 {
        line.push_str(&format!(
            " [{} scheduled operations never started]",
            t.dropped
        ));
    }
    for (event, n) in t.events.iter().filter(|(_, n)| **n > 0) {
        line.push_str(&format!(", {event} {n}"));
    }
    if let Some(m) = t.error_messages.first() {
        line.push_str(&format!("\n    first error: {m}"));
    }
    line
}

/// `12 eval, 3 timeout`: errors by kind.
fn error_kinds_text(kinds: &BTreeMap<String, u64>) -> String {
    kinds
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Merges worker records into one trial result.
fn collect(
    data: TrialData,
    trial: u32,
    position: u32,
    cache_before: Option<CacheState>,
    cache_after: Option<CacheState>,
) -> TrialResult {
    let TrialData {
        records,
        peak_resident,
        generator,
    } = data;
    let mut samples: BTreeMap<&'static str, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    let mut histogram = new_histogram();
    let mut service = generator.as_ref().map(|_| new_histogram());
    let (mut operations, mut errors, mut dropped, mut accounted) = (0u64, 0u64, 0u64, 0u64);
    let mut messages: Vec<String> = Vec::new();
    let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut bytes = Some(0u64);
    let mut allocs = Some(0u64);
    // Workers that measured nothing (e.g. no ticket reached them) do not stretch the span.
    let start = records
        .iter()
        .filter(|r| r.operations > 0)
        .map(|r| r.start)
        .min();
    let end = records
        .iter()
        .filter(|r| r.operations > 0)
        .map(|r| r.end)
        .max();
    let mut interrupted = false;
    let mut kinds: Option<drive::Kinds> = None;
    let mut batch = 1;
    for r in records {
        drive::add_histograms(&mut samples, r.samples);
        batch = batch.max(r.batch);
        if let Some(k) = &r.kinds {
            match &mut kinds {
                Some(all) => all.merge_from(k),
                None => kinds = Some(k.cloned()),
            }
        }
        let _ = histogram.add(&r.histogram);
        if let (Some(all), Some(s)) = (&mut service, &r.service) {
            let _ = all.add(s);
        }
        operations += r.operations;
        errors += r.errors;
        dropped += r.dropped;
        accounted += r.accounted_ops;
        for (k, n) in r.error_kinds {
            *error_kinds.entry(k.to_string()).or_insert(0) += n;
        }
        for m in r.messages {
            let m = redact_credentials(&m);
            if messages.len() < KEEP_MESSAGES && !messages.contains(&m) {
                messages.push(m);
            }
        }
        bytes = bytes.zip(r.bytes).map(|(a, b)| a + b);
        allocs = allocs.zip(r.allocs).map(|(a, b)| a + b);
        interrupted |= r.interrupted;
    }
    if dropped > 0 && messages.len() < KEEP_MESSAGES {
        messages.push(format!(
            "{dropped} scheduled operations never started: they were still queued 5s after the schedule ended (the target could not keep up); their waits so far are in the latency histogram"
        ));
    }
    if dropped > 0 {
        error_kinds.insert("not_started".into(), dropped);
    }
    // Failed operations are neither speed nor latency: throughput counts
    // successes only. Dropped operations are failures a caller would have seen.
    let attempted = operations + dropped;
    let operations = operations - errors;
    let errors = errors + dropped;
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
    if attempted > 0 {
        metrics.insert("errors.rate".into(), errors as f64 / attempted as f64);
    }
    if elapsed_ns > 0 && errors > 0 {
        metrics.insert(
            "errors.per_second".into(),
            errors as f64 * 1e9 / elapsed_ns as f64,
        );
    }
    if accounted > 0 {
        if let Some(b) = bytes {
            metrics.insert("memory.bytes_per_op".into(), b as f64 / accounted as f64);
        }
        if let Some(a) = allocs {
            metrics.insert("memory.allocs_per_op".into(), a as f64 / accounted as f64);
        }
    }
    if let Some(peak) = peak_resident {
        metrics.insert("memory.peak_resident".into(), peak as f64);
    }
    let mut generator_bound = false;
    if let Some(g) = &generator {
        service_metrics(service.as_ref(), &mut metrics);
        lag_metrics(&g.lag, &mut metrics);
        generator_bound =
            !g.lag.is_empty() && g.lag.value_at_quantile(0.99) > GENERATOR_BOUND_LAG_NS;
        // Completed measured operations per second, from the first intended
        // start to the last completion: a target that falls behind shows a
        // lower rate than requested, and an interrupted trial is not diluted.
        if elapsed_ns > 0 {
            metrics.insert(
                "rate.achieved".into(),
                operations as f64 * 1e9 / elapsed_ns as f64,
            );
        }
    }
    let mut kind_histograms = BTreeMap::new();
    let mut kind_counts = BTreeMap::new();
    if let Some(k) = &kinds {
        for (i, name) in KIND_NAMES.iter().enumerate() {
            kind_counts.insert(name.to_string(), k.counts[i]);
            if !k.histograms[i].is_empty() {
                kind_histograms.insert(name.to_string(), stats::encode(&k.histograms[i]));
            }
        }
        kind_metrics(k.histograms.iter().zip(KIND_NAMES), &mut metrics);
    }
    hit_ratio(&kind_counts, &mut metrics);
    cache_metrics(cache_before.as_ref(), cache_after.as_ref(), &mut metrics);
    let mut encoded_samples = BTreeMap::new();
    for (name, h) in &samples {
        sample_metrics(name, h, &mut metrics);
        encoded_samples.insert(name.to_string(), stats::encode(h));
    }
    eval_share(&mut metrics);
    TrialResult {
        trial,
        position,
        batch,
        kind_histograms,
        kind_counts,
        cache_before,
        cache_after,
        operations,
        errors,
        events: BTreeMap::new(),
        error_messages: messages,
        error_kinds,
        elapsed_ns,
        metrics,
        histogram: stats::encode(&histogram),
        samples: encoded_samples,
        interrupted,
        service_histogram: service.as_ref().map(stats::encode),
        dropped,
        generator_bound,
    }
}

/// `latency.<kind>.*` from per-kind histograms, for the names in the catalogue.
fn kind_metrics<'a>(
    histograms: impl Iterator<Item = (&'a hdrhistogram::Histogram<u64>, &'a str)>,
    out: &mut BTreeMap<String, f64>,
) {
    for (h, kind) in histograms {
        if h.is_empty() {
            continue;
        }
        let mut m = BTreeMap::new();
        stats::latency_metrics(h, &mut m);
        for (k, v) in m {
            let name = k.replacen("latency.", &format!("latency.{kind}."), 1);
            if rigor_scenario::metrics::metric(&name).is_some() {
                out.insert(name, v);
            }
        }
    }
}

/// `cache.hit_ratio` from hit and miss counts.
fn hit_ratio(counts: &BTreeMap<String, u64>, out: &mut BTreeMap<String, f64>) {
    let hits = counts.get("hit").copied().unwrap_or(0);
    let misses = counts.get("miss").copied().unwrap_or(0);
    if hits + misses > 0 {
        out.insert(
            "cache.hit_ratio".into(),
            hits as f64 / (hits + misses) as f64,
        );
    }
}

/// `cache.entries`, `cache.memory` and `cache.bytes_per_entry` after preload,
/// `cache.entries_end` after the trial.
fn cache_metrics(
    before: Option<&CacheState>,
    after: Option<&CacheState>,
    out: &mut BTreeMap<String, f64>,
) {
    if let Some(b) = before {
        out.insert("cache.entries".into(), b.entries as f64);
        if let Some(m) = b.memory {
            out.insert("cache.memory".into(), m as f64);
            if b.entries > 0 {
                out.insert("cache.bytes_per_entry".into(), m as f64 / b.entries as f64);
            }
        }
    }
    if let Some(a) = after {
        out.insert("cache.entries_end".into(), a.entries as f64);
    }
}

fn service_metrics(
    service: Option<&hdrhistogram::Histogram<u64>>,
    out: &mut BTreeMap<String, f64>,
) {
    let Some(h) = service.filter(|h| !h.is_empty()) else {
        return;
    };
    let mut m = BTreeMap::new();
    stats::latency_metrics(h, &mut m);
    for (k, v) in m {
        let name = k.replacen("latency.", "service.", 1);
        if rigor_scenario::metrics::metric(&name).is_some() {
            out.insert(name, v);
        }
    }
}

fn lag_metrics(lag: &hdrhistogram::Histogram<u64>, out: &mut BTreeMap<String, f64>) {
    if lag.is_empty() {
        return;
    }
    out.insert("schedule.lag.p50".into(), lag.value_at_quantile(0.5) as f64);
    out.insert(
        "schedule.lag.p99".into(),
        lag.value_at_quantile(0.99) as f64,
    );
    out.insert("schedule.lag.max".into(), lag.max() as f64);
}

/// Recomputes every target's summary metrics and grades, and the verdict.
/// `{prefix}.mean`, `.p50`, `.p90`, `.p99`, `.max` of a sample histogram.
fn sample_metrics(prefix: &str, h: &hdrhistogram::Histogram<u64>, out: &mut BTreeMap<String, f64>) {
    if h.is_empty() {
        return;
    }
    out.insert(format!("{prefix}.mean"), h.mean());
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        out.insert(format!("{prefix}.{name}"), h.value_at_quantile(q) as f64);
    }
    out.insert(format!("{prefix}.max"), h.max() as f64);
}

/// `server.eval_share`: the server's evaluation time over the client's latency.
fn eval_share(out: &mut BTreeMap<String, f64>) {
    if let (Some(eval), Some(latency)) = (out.get("server.eval.mean"), out.get("latency.mean")) {
        if *latency > 0.0 {
            let share = eval / latency;
            out.insert("server.eval_share".into(), share);
        }
    }
}

/// `server.memory.*` and `server.gc_per_1k` from a server's counters
/// before and after a trial, per request the server itself counted (its
/// warm-up requests, and the two `/metrics` reads, are in both the numerator
/// and the denominator).
fn server_metrics(
    before: Option<&BTreeMap<&'static str, f64>>,
    after: Option<&BTreeMap<&'static str, f64>>,
    out: &mut BTreeMap<String, f64>,
) {
    let (Some(before), Some(after)) = (before, after) else {
        return;
    };
    let delta = |k: &str| Some(after.get(k)? - before.get(k)?).filter(|d| *d >= 0.0);
    if let Some(h) = after.get("heap_inuse") {
        out.insert("server.memory.heap_inuse".into(), *h);
    }
    let Some(requests) = delta("requests").filter(|r| *r > 0.0) else {
        return;
    };
    for (counter, metric, scale) in [
        ("alloc_bytes", "server.memory.bytes_per_op", 1.0),
        ("mallocs", "server.memory.allocs_per_op", 1.0),
        ("gc_cycles", "server.gc_per_1k", 1000.0),
    ] {
        if let Some(d) = delta(counter) {
            out.insert(metric.into(), d * scale / requests);
        }
    }
}

/// A trial the target measured itself, as a trial result (no histogram:
/// its latency figures are the tool's).
fn measured_trial(m: crate::target::Measured, trial: u32, position: u32) -> TrialResult {
    let mut metrics = m.metrics;
    let attempted = m.operations + m.errors;
    metrics.insert("errors.count".into(), m.errors as f64);
    if attempted > 0 {
        metrics.insert("errors.rate".into(), m.errors as f64 / attempted as f64);
    }
    TrialResult {
        trial,
        position,
        batch: 1,
        kind_histograms: BTreeMap::new(),
        kind_counts: BTreeMap::new(),
        cache_before: None,
        cache_after: None,
        operations: m.operations,
        errors: m.errors,
        events: BTreeMap::new(),
        error_messages: m.error_messages.into_iter().take(KEEP_MESSAGES).collect(),
        error_kinds: if m.errors > 0 {
            BTreeMap::from([("eval".to_string(), m.errors)])
        } else {
            BTreeMap::new()
        },
        elapsed_ns: m.elapsed_ns,
        metrics,
        histogram: String::new(),
        samples: BTreeMap::new(),
        interrupted: m.interrupted,
        service_histogram: None,
        dropped: 0,
        generator_bound: false,
    }
}

/// Decodes a trial's named histograms and adds them into `into`.
fn add_encoded(
    into: &mut BTreeMap<String, hdrhistogram::Histogram<u64>>,
    encoded: &BTreeMap<String, String>,
) {
    for (name, text) in encoded {
        if let Ok(h) = stats::decode(text) {
            let _ = into
                .entry(name.clone())
                .or_insert_with(new_histogram)
                .add(&h);
        }
    }
}

fn summarize(results: &mut Results, targets: &[Prepared]) {
    let mut verdict = Verdict::Pass;
    for case in &mut results.cases {
        for (t, prepared) in case.targets.iter_mut().zip(targets) {
            let mut merged = new_histogram();
            let (mut ops, mut errors) = (0u64, 0u64);
            let (mut bytes, mut allocs) = (Some(0.0), Some(0.0));
            // Metrics the catalogue combines as the median or max of trials.
            let mut per_trial: BTreeMap<&'static str, (Across, Vec<f64>)> = BTreeMap::new();
            let mut service: Option<hdrhistogram::Histogram<u64>> = None;
            let mut kinds: BTreeMap<String, hdrhistogram::Histogram<u64>> = BTreeMap::new();
            let mut kind_counts: BTreeMap<String, u64> = BTreeMap::new();
            let mut samples: BTreeMap<String, hdrhistogram::Histogram<u64>> = BTreeMap::new();
            let mut tool_latency: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for trial in &t.trials {
                add_encoded(&mut samples, &trial.samples);
                add_encoded(&mut kinds, &trial.kind_histograms);
                // A trial the target measured itself has its latency figures
                // but no histogram: those are summarised by their median.
                if trial.histogram.is_empty() {
                    for (k, v) in &trial.metrics {
                        if k.starts_with("latency.") {
                            tool_latency.entry(k.clone()).or_default().push(*v);
                        }
                    }
                }
                for (name, n) in &trial.kind_counts {
                    *kind_counts.entry(name.clone()).or_insert(0) += n;
                }
                for def in metrics::METRICS
                    .iter()
                    .filter(|m| m.across != Across::Pooled)
                {
                    per_trial
                        .entry(def.name)
                        .or_insert((def.across, Vec::new()))
                        .1
                        .extend(trial.metrics.get(def.name));
                }
                if let Ok(h) = stats::decode(&trial.histogram) {
                    let _ = merged.add(&h);
                }
                if let Some(Ok(h)) = trial.service_histogram.as_deref().map(stats::decode) {
                    let _ = service.get_or_insert_with(new_histogram).add(&h);
                }
                ops += trial.operations + trial.errors;
                errors += trial.errors;
                let per_op = |k: &str| {
                    trial
                        .metrics
                        .get(k)
                        .map(|v| v * (trial.operations + trial.errors) as f64)
                };
                bytes = bytes.zip(per_op("memory.bytes_per_op")).map(|(a, b)| a + b);
                allocs = allocs
                    .zip(per_op("memory.allocs_per_op"))
                    .map(|(a, b)| a + b);
            }
            let mut m = BTreeMap::new();
            stats::latency_metrics(&merged, &mut m);
            if merged.is_empty() {
                for (k, v) in &tool_latency {
                    if let Some(value) = stats::median(v) {
                        m.insert(k.clone(), value);
                    }
                }
            }
            for (name, h) in &samples {
                sample_metrics(name, h, &mut m);
            }
            eval_share(&mut m);
            service_metrics(service.as_ref(), &mut m);
            kind_metrics(kinds.iter().map(|(k, h)| (h, k.as_str())), &mut m);
            hit_ratio(&kind_counts, &mut m);
            for (name, (across, v)) in &per_trial {
                let value = match across {
                    Across::Max => v.iter().copied().reduce(f64::max),
                    Across::Median | Across::Pooled => stats::median(v),
                };
                if let Some(value) = value {
                    m.insert(name.to_string(), value);
                }
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
            t.stats = trial_stats(&t.trials);
            let noise = t
                .stats
                .get("throughput")
                .or_else(|| t.stats.get("latency.mean"))
                .and_then(|s| s.cv);
            t.noisy = noise.is_some_and(|cv| cv > results.regression_config.noisy_cv);
            t.grades = if t.trials.is_empty() {
                Vec::new()
            } else {
                prepared
                    .plan
                    .thresholds
                    .iter()
                    .map(|(metric, th)| {
                        // Errors are counted exactly over all trials, not estimated.
                        let interval = t
                            .stats
                            .get(metric)
                            .filter(|s| s.trials > 1 && !metric.starts_with("errors."))
                            .and_then(|s| s.interval)
                            .map(|i| (i.low, i.high));
                        grade::grade_interval(metric, m.get(metric).copied(), th, interval)
                    })
                    .collect()
            };
            t.metrics = m;
            for g in &t.grades {
                verdict = verdict.max(g.verdict);
            }
        }
    }
    results.verdict = verdict;
    if let Some(baseline) = &results.baseline {
        for case in &mut results.cases {
            let Some(base) = case
                .targets
                .iter()
                .find(|t| &t.id == baseline)
                .map(|t| t.trials.clone())
            else {
                continue;
            };
            let scope = |id: &str| {
                results
                    .targets
                    .iter()
                    .find(|t| t.id == id)
                    .map(|t| t.memory_scope.clone())
            };
            let base_scope = scope(baseline);
            for t in &mut case.targets {
                let same_scope = scope(&t.id) == base_scope;
                t.ratios = if &t.id == baseline {
                    Vec::new()
                } else {
                    crate::compare::compare(&t.trials, &base)
                        .into_iter()
                        .filter(|r| same_scope || !r.metric.starts_with("memory."))
                        .collect()
                };
            }
        }
    }
}

/// Median, range, the median's interval and the CV of each metric over the
/// trials (interrupted trials left out; p99.9 only from trials of 10^4
/// operations or more).
fn trial_stats(trials: &[TrialResult]) -> BTreeMap<String, MetricStats> {
    use crate::inference;
    metrics::with_stats()
        .map(|m| m.name)
        .filter_map(|metric| {
            let v = crate::regress::trial_values(trials, metric);
            if v.is_empty() {
                return None;
            }
            Some((
                metric.to_string(),
                MetricStats {
                    trials: v.len(),
                    median: inference::median(&v),
                    min: v.iter().copied().fold(f64::INFINITY, f64::min),
                    max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    interval: inference::median_interval(&v, 0.95),
                    cv: inference::cv(&v),
                },
            ))
        })
        .collect()
}

/// Full mode's A/A control: the first target against its copy, case by case.
fn aa_control(results: &Results, control: &str) -> Option<RegressionReport> {
    let first = results.targets.first()?.id.clone();
    let pairs: Vec<crate::regress::Pairing> = results
        .cases
        .iter()
        .filter_map(|c| {
            let a = c.targets.iter().find(|t| t.id == first)?;
            let b = c.targets.iter().find(|t| t.id == control)?;
            Some((c.name.clone(), first.clone(), &a.trials[..], &b.trials[..]))
        })
        .collect();
    let config = RegressionConfig {
        threshold: results.regression_config.threshold,
        metrics: results.regression_config.metrics.clone(),
    };
    Some(crate::regress::compare_trials(
        &pairs,
        &format!("{first} vs its copy {control}"),
        &config,
    ))
}
