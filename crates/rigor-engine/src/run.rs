//! The executor: cases x trials x targets, closed loop, one OS thread per
//! worker.
//!
//! Workers only record into their own histogram and counters; the collector
//! (this module's `run`) merges them after each run and owns the
//! [`Results`], handing a snapshot to the caller after every trial so that a
//! crash or Ctrl-C never loses what was measured.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rigor_scenario::plan::{Plan, TargetPlan};
use rigor_scenario::redact::redact_credentials;

use crate::aggregate::{aa_control, summarize};
use crate::drive;
use crate::results::*;
use crate::target::{Target, TrialContext, Workers};
use crate::trial::{collect, measured_trial, server_metrics};

/// What the executor needs besides the plan.
pub struct RunContext<'a> {
    /// Set to stop early (Ctrl-C); results so far are kept.
    pub stop: Arc<AtomicBool>,
    /// Called after each trial with the results so far (to write them out).
    pub on_update: &'a mut dyn FnMut(&Results),
    /// Called with one progress line at a time.
    pub progress: &'a mut dyn FnMut(&str),
    /// Called about twice a second while a trial measures, with the run's
    /// position and the trial's figures so far (a terminal's live line).
    pub live: Option<&'a mut dyn FnMut(&LiveLine)>,
    /// The correctness gate's outcome, recorded in the results.
    pub verification: Option<Verification>,
    /// `--shard I/N`: which shard this run is, and the `--start-at` instant
    /// (ns since the Unix epoch) to wait for before the first warm-up.
    pub shard: Option<(ShardRun, Option<u64>)>,
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

pub use crate::drive::Live;

/// A running trial's live figures and the run's position, for a progress line.
#[derive(Debug, Clone)]
pub struct LiveLine {
    /// `[3/16] concurrency=2 trial 1/3 vm`.
    pub label: String,
    /// The trial's figures so far.
    pub live: Live,
    /// Time left for the whole run, when the workload stops by duration.
    pub eta: Option<std::time::Duration>,
}

/// A target's server counters, `Ok(None)` when it has no server.
fn server_counters(target: &dyn Target) -> Result<Option<BTreeMap<&'static str, f64>>, String> {
    target.server().map_or(Ok(None), |s| s.counters())
}

/// A built target's setup, for the record.
fn target_info(t: &Prepared) -> TargetInfo {
    let facts = t.target.facts();
    TargetInfo {
        id: t.plan.id().to_string(),
        kind: t.plan.spec.kind().to_string(),
        config: redact_json(t.plan.spec.as_kind().config()),
        setup: facts.setup,
        memory_scope: facts.memory.as_str().to_string(),
        peer: facts
            .peer
            .map(|(name, version)| format!("{name} {version}")),
        method: facts.method,
        thresholds: t.plan.thresholds.clone(),
        profile: None,
    }
}

/// The results of a run before its first trial: the scenario, where it
/// runs and its targets, with no case yet.
fn begin(
    plan: &Plan,
    targets: Vec<TargetInfo>,
    environment: Environment,
    harness: Harness,
    verification: Option<Verification>,
) -> Results {
    Results {
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
            traffic: plan.traffic.clone(),
            overrides: plan.overrides.clone(),
            only: plan.only.clone(),
            fingerprint: Some(plan.fingerprint.clone()),
            cache: plan.cache.clone(),
            inputs_order: plan.inputs_order,
            prints: plan
                .policy
                .as_ref()
                .filter(|p| p.print_calls > 0)
                .map(|p| PrintsInfo {
                    mode: p.prints,
                    calls: p.print_calls,
                    kept_cost: None,
                }),
        },
        environment,
        harness,
        started_at: crate::env::now_rfc3339(),
        finished_at: String::new(),
        status: RunStatus::Running,
        stop_reason: None,
        targets,
        cases: Vec::new(),
        verdict: Verdict::Pass,
        errors: Vec::new(),
        verification,
        baseline: plan.compare.clone(),
        regression_config: plan.regression.clone(),
        aa_control: None,
        regression: None,
        history: Vec::new(),
        pairs: plan.pairs.clone(),
        paired: None,
        alloc_profile: None,
        artifacts: Vec::new(),
        shard: None,
        merged: None,
    }
}

/// The results of a run that stopped before timing anything (a target that
/// did not build or start, the decision gate, Ctrl-C): the scenario, its
/// targets as far as they were built, and why, so that results.json, JUnit
/// and Markdown say what happened instead of being empty or missing.
pub fn stopped(
    plan: &Plan,
    targets: Option<&[Prepared]>,
    environment: Environment,
    verification: Option<Verification>,
    reason: &str,
) -> Results {
    let infos = match targets {
        Some(built) => built.iter().map(target_info).collect(),
        // Not built: what the plan says, with no setup measured.
        None => plan
            .targets
            .iter()
            .map(|t| TargetInfo {
                id: t.id().to_string(),
                kind: t.spec.kind().to_string(),
                config: redact_json(t.spec.as_kind().config()),
                setup: Default::default(),
                memory_scope: String::new(),
                peer: None,
                method: None,
                thresholds: t.thresholds.clone(),
                profile: None,
            })
            .collect(),
    };
    // The clock is measured even so: a report of this run shows real
    // figures for it, not zeros.
    let harness = crate::env::calibrate_timer();
    let mut results = begin(plan, infos, environment, harness, verification);
    results.status = RunStatus::Stopped;
    results.stop_reason = Some(redact_credentials(reason));
    results.finished_at = crate::env::now_rfc3339();
    results
}

/// Runs every case, trial and target of `plan`.
pub fn run(
    plan: &Plan,
    targets: &[Prepared],
    environment: Environment,
    mut ctx: RunContext<'_>,
) -> Results {
    let harness = crate::env::calibrate_timer();
    let infos = targets.iter().map(target_info).collect();
    let mut results = begin(plan, infos, environment, harness, ctx.verification.clone());
    results.shard = ctx.shard.as_ref().map(|(s, _)| s.clone());
    for t in targets {
        if let Some((name, version)) = t.target.facts().peer {
            results.environment.peers.insert(name, version);
        }
        t.target.before_timing();
    }
    if let (Some(shard), Some((_, Some(at)))) = (&mut results.shard, &ctx.shard) {
        shard.late_ns = wait_until(*at, &ctx.stop, &mut *ctx.progress, shard);
    }
    let workload = &plan.workload;
    let cases = workload.cases();
    let total = cases.len() * workload.trials as usize * targets.len();
    // A trial's expected length, for the live line's time left.
    let per_trial = match workload.stop {
        rigor_scenario::plan::Stop::Duration(d) => Some(d),
        rigor_scenario::plan::Stop::Iterations(_) => None,
    };
    let mut done = 0;
    // A sharded run with a common start re-aligns every trial to a shared
    // schedule (one slot per case, trial and target, in plan order), so
    // shards' trials stay together instead of drifting apart by their
    // setup times; duration-stopped, unpaired runs only.
    let schedule = match (&ctx.shard, workload.stop, workload.round) {
        (Some((_, Some(at))), rigor_scenario::plan::Stop::Duration(d), None) => {
            Some((*at, slot(workload.warmup + d)))
        }
        _ => None,
    };
    let mut unit: u64 = 0;
    'cases: for case_plan in cases {
        results.cases.push(CaseResult {
            name: case_plan.name(),
            concurrency: case_plan.whole_concurrency(),
            rate: case_plan.whole_rate(),
            part: case_plan.whole.map(|_| CasePart {
                concurrency: case_plan.concurrency,
                rate: case_plan.rate,
            }),
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
                    input_costs: None,
                })
                .collect(),
            rounds: Vec::new(),
        });
        let case = results.cases.len() - 1;
        // Each target's per-input tally, over the case's trials so far.
        let mut tallies: Vec<Option<crate::record::InputTally>> =
            (0..targets.len()).map(|_| None).collect();
        if let Some(whole) = case_plan.whole.filter(|_| case_plan.concurrency == 0) {
            done += workload.trials as usize * targets.len();
            unit += u64::from(workload.trials) * targets.len() as u64;
            (ctx.progress)(&format!(
                "shard {}: nothing to do in {}: its {} worker(s) go to the first {} shard(s)",
                whole.shard, results.cases[case].name, whole.concurrency, whole.concurrency
            ));
            continue;
        }
        for trial in 0..workload.trials {
            if let Some(round) = workload.round {
                // One paired trial runs every target of the case at once:
                // its line counts them as a range (`[1-2/4]`).
                let first = done + 1;
                done += targets.len();
                let label = format!(
                    "[{first}-{done}/{total}] {} trial {}/{} paired rounds of {}",
                    results.cases[case].name,
                    trial + 1,
                    workload.trials,
                    rigor_scenario::units::format_nanos(round.as_nanos() as f64)
                );
                (ctx.progress)(&label);
                paired_trial(
                    &mut results,
                    case,
                    case_plan,
                    trial,
                    targets,
                    workload,
                    round,
                    &ctx,
                );
                summarize(&mut results);
                results.finished_at = crate::env::now_rfc3339();
                (ctx.on_update)(&results);
                if ctx.stop.load(Ordering::Relaxed) || !results.errors.is_empty() {
                    break 'cases;
                }
                continue;
            }
            let order = trial_order(targets.len(), trial, workload.seed);
            for (position, &index) in order.iter().enumerate() {
                let prepared = &targets[index];
                let slot_start = schedule.map(|(at, slot)| at + unit * slot);
                unit += 1;
                if results.cases[case].targets[index].error.is_some() {
                    continue;
                }
                done += 1;
                let label = format!(
                    "[{done}/{total}] {} trial {}/{} {}",
                    results.cases[case].name,
                    trial + 1,
                    workload.trials,
                    prepared.plan.id()
                );
                (ctx.progress)(&label);
                let trial_context = TrialContext {
                    case: case_plan,
                    trial,
                    seed: crate::keys::derive(workload.seed, &[trial as u64]),
                };
                let events_before = prepared.target.events();
                let target = prepared.target.as_ref();
                let mut trial_tally: Option<crate::record::InputTally> = None;
                let outcome = target
                    .hooks()
                    .map_or(Ok(None), |h| h.prepare(&trial_context))
                    .map_err(|e| e.to_string())
                    .and_then(|before| {
                        let counters = server_counters(target);
                        if let Some(at) = slot_start {
                            wait_for(at, &ctx.stop);
                        }
                        let began = WallSpan::now_ns();
                        let trial_result = match target.workers() {
                            Workers::SelfTimed(t) => t
                                .measure(&trial_context, workload, &ctx.stop)
                                .map(|m| measured_trial(m, trial, position as u32))
                                .map_err(|e| e.to_string()),
                            _ => {
                                // `--mode profile` attributes allocations to the target running.
                                crate::alloc_profile::set_tag(index as u32 + 1);
                                let data = drive::trial(
                                    target,
                                    case_plan,
                                    trial,
                                    workload,
                                    &ctx.stop,
                                    &mut |live| {
                                        if let Some(f) = ctx.live.as_mut() {
                                            f(&LiveLine {
                                                label: label.clone(),
                                                live,
                                                eta: per_trial.map(|d| {
                                                    (d + workload.warmup) * (total - done) as u32
                                                        + d.saturating_sub(live.elapsed)
                                                }),
                                            });
                                        }
                                    },
                                );
                                crate::alloc_profile::set_tag(0);
                                data.map(|mut data| {
                                    trial_tally = data
                                        .records
                                        .iter_mut()
                                        .filter_map(|r| r.inputs.take())
                                        .reduce(|mut a, b| {
                                            a.merge(&b);
                                            a
                                        });
                                    let after = target.hooks().and_then(|h| h.cache_state());
                                    let sample = workload.soak.map(|s| s.sample);
                                    collect(data, trial, position as u32, before, after, sample)
                                })
                            }
                        };
                        trial_result.map(|mut t| {
                            // Self-timed tools: the call's span, warm-up included.
                            t.wall.get_or_insert(WallSpan {
                                start_ns: began,
                                end_ns: WallSpan::now_ns(),
                            });
                            let after = server_counters(target);
                            for read in [&counters, &after] {
                                if let Err(why) = read {
                                    let note = format!(
                                        "server counters (server.memory.*, server.gc_per_1k) not measured: {why}"
                                    );
                                    if !t.notes.contains(&note) {
                                        t.notes.push(note);
                                    }
                                }
                            }
                            server_metrics(
                                counters.as_ref().ok().and_then(Option::as_ref),
                                after.as_ref().ok().and_then(Option::as_ref),
                                &mut t.metrics,
                            );
                            t
                        })
                    });
                match outcome {
                    Ok(mut trial_result) => {
                        if let Some(t) = trial_tally.take() {
                            // The first trial's tally is the sum so far.
                            let acc = match &mut tallies[index] {
                                Some(acc) => {
                                    acc.merge(&t);
                                    acc
                                }
                                slot => slot.insert(t),
                            };
                            results.cases[case].targets[index].input_costs =
                                Some(crate::cost::input_costs(
                                    acc,
                                    &plan.inputs,
                                    ctx.verification.as_ref(),
                                ));
                        }
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
                summarize(&mut results);
                results.finished_at = crate::env::now_rfc3339();
                (ctx.on_update)(&results);
                if ctx.stop.load(Ordering::Relaxed) {
                    break 'cases;
                }
            }
        }
    }
    summarize(&mut results);
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

/// Waits until `at` (ns since the Unix epoch), or a stop; returns how late
/// the shard was for it (0 when it waited).
fn wait_until(at: u64, stop: &AtomicBool, progress: &mut dyn FnMut(&str), shard: &ShardRun) -> u64 {
    let now = WallSpan::now_ns();
    if now >= at {
        let late = now - at;
        progress(&format!(
            "shard {}: --start-at {} passed {} ago, before this shard was ready: starting now (the merge reports the skew)",
            shard.shard,
            crate::env::rfc3339_of(at),
            rigor_scenario::units::format_nanos(late as f64)
        ));
        return late;
    }
    progress(&format!(
        "shard {}: waiting {} for --start-at {}",
        shard.shard,
        rigor_scenario::units::format_nanos((at - now) as f64),
        crate::env::rfc3339_of(at)
    ));
    wait_for(at, stop);
    0
}

/// Sleeps until `at` (ns since the Unix epoch) or a stop.
fn wait_for(at: u64, stop: &AtomicBool) {
    loop {
        let now = WallSpan::now_ns();
        if now >= at || stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_nanos((at - now).min(50_000_000)));
    }
}

/// One (case, trial, target)'s slot in a sharded run's shared schedule:
/// its warm-up and measuring plus room for the setup between trials
/// (preloads, probes, reading server counters): 250ms and a tenth.
fn slot(measured: std::time::Duration) -> u64 {
    let ns = measured.as_nanos() as u64;
    ns + 250_000_000 + ns / 10
}

pub use crate::keys::trial_order;

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

/// One trial of every target in alternating rounds ([`crate::paired`]):
/// each target's trial result as from a trial of its own (its throughput
/// over its own rounds' time), and the rounds kept in the case.
#[allow(clippy::too_many_arguments)]
fn paired_trial(
    results: &mut Results,
    case: usize,
    case_plan: rigor_scenario::plan::CasePlan,
    trial: u32,
    targets: &[Prepared],
    workload: &rigor_scenario::plan::WorkloadPlan,
    round: std::time::Duration,
    ctx: &RunContext<'_>,
) {
    let trial_context = TrialContext {
        case: case_plan,
        trial,
        seed: crate::keys::derive(workload.seed, &[trial as u64]),
    };
    let prepared: Result<Vec<_>, String> = targets
        .iter()
        .map(|t| {
            t.target
                .hooks()
                .map_or(Ok(None), |h| h.prepare(&trial_context))
                .map_err(|e| format!("{}: {e}", t.plan.id()))
        })
        .collect();
    let refs: Vec<&dyn crate::target::Target> = targets.iter().map(|t| t.target.as_ref()).collect();
    let outcome = prepared.and_then(|before| {
        crate::paired::trial(&refs, case_plan, trial, workload, round, &ctx.stop)
            .map(|p| (before, p))
    });
    match outcome {
        Ok((before, p)) => {
            for (i, (data, before)) in p.data.into_iter().zip(before).enumerate() {
                let after = targets[i].target.hooks().and_then(|h| h.cache_state());
                let t = collect(data, trial, i as u32, before, after, None);
                results.cases[case].targets[i].trials.push(t);
            }
            results.cases[case].rounds.push(p.rounds);
        }
        Err(message) => {
            let message = redact_credentials(&format!(
                "paired rounds in {}: {message}",
                results.cases[case].name
            ));
            results.errors.push(message.clone());
            for t in &mut results.cases[case].targets {
                t.error = Some(message.clone());
            }
        }
    }
}
