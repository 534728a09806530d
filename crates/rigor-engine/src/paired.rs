//! Paired rounds: every target of a case measured in short alternating
//! rounds inside each trial, so that a machine's drift (a shared VM's speed
//! moves 10-20% within a minute) hits the versions compared alike and
//! cancels in their per-round ratios.
//!
//! Design choices worth knowing:
//! - Each worker thread holds one worker per target and switches target at
//!   shared round edges (`workload.round`), in seeded ABBA blocks (a random
//!   order of the targets, then its reverse), so a linear drift within a
//!   block adds the same to each target.
//! - Closed loop only: a round is too short to pace a schedule in. Each
//!   thread runs one single-threaded runtime with one task that calls its
//!   workers in turn: a blocking worker's call runs in place, an async
//!   worker's (opa-http, redis) is awaited, so servers are compared in
//!   rounds as in-process engines are. Async workers connect before the
//!   clock starts; a self-timed tool (`opa bench`) cannot take rounds.
//! - Per round and per target the thread counts operations, failures and
//!   the time inside operations (one clock read per operation, as the
//!   closed loop), and adds each latency to the round's own small
//!   log-linear histogram (allocated before measuring; rounds' p50, p99
//!   and max within 3.2%); latencies also go into the target's record as
//!   in any trial, so every other metric still comes out per target.
//! - Warm-up is whole ABBA blocks of rounds, measured and dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rigor_scenario::plan::{CasePlan, Stop, WorkloadPlan};

use crate::alloc::{self, ThreadBytes};
use crate::drive::{TrialData, WorkerRecord};
use crate::inference::t_quantile;
use crate::target::{Target, WorkerContext, Workers};
use crate::windows::{WindowPlan, Windows};

pub use rigor_results::Round;

/// What a paired trial produced: each target's data and the rounds.
#[derive(Debug)]
pub(crate) struct PairedTrial {
    /// Per target (case order): its records, as a trial of its own, over
    /// the time its measured rounds covered.
    pub data: Vec<TrialData>,
    /// The measured rounds in time order.
    pub rounds: Vec<Round>,
}

/// The target of round `r` among `n`: seeded ABBA blocks of `2n` rounds.
pub fn round_target(n: usize, r: usize, seed: u64) -> usize {
    let group = (r / n) as u32;
    crate::keys::trial_order(n, group, crate::keys::derive(seed, &[0x5011D5]))[r % n]
}

/// Runs one trial of `targets` in alternating rounds of `round`.
pub(crate) fn trial(
    targets: &[&dyn Target],
    case: CasePlan,
    trial: u32,
    workload: &WorkloadPlan,
    round: Duration,
    stop: &Arc<AtomicBool>,
) -> Result<PairedTrial, String> {
    let n = targets.len();
    let makers: Vec<Workers<'_>> = targets
        .iter()
        .map(|t| match t.workers() {
            Workers::SelfTimed(_) => Err("paired rounds need targets rigor times itself: `opa-bench` measures its own trials".to_string()),
            w => Ok(w),
        })
        .collect::<Result<_, _>>()?;
    let Stop::Duration(duration) = workload.stop else {
        return Err("paired rounds need `duration`, not `iterations`".into());
    };
    let block = 2 * n;
    let whole = |d: Duration| {
        let rounds = d.as_nanos().div_ceil(round.as_nanos().max(1)) as usize;
        rounds.div_ceil(block) * block
    };
    let (warm, measured) = (whole(workload.warmup), whole(duration).max(block));
    let total = warm + measured;
    let trial_seed = crate::keys::derive(workload.seed, &[trial as u64]);
    let order: Vec<usize> = (0..total).map(|r| round_target(n, r, trial_seed)).collect();
    let threads = case.concurrency as usize;
    // Every worker set up, then the start is set, then go.
    let (barrier, go) = (Barrier::new(threads + 1), Barrier::new(threads + 1));
    let start = std::sync::OnceLock::<Instant>::new();
    let kinds: Vec<bool> = targets.iter().map(|t| t.facts().outcomes).collect();
    let per_thread = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|index| {
                let (order, makers, kinds, barrier, go, start) =
                    (&order, &makers, &kinds, &barrier, &go, &start);
                let stop = stop.clone();
                scope.spawn(move || {
                    // Rounds switch targets by the clock: no room for a
                    // window's preparation, so workers keep everything ready.
                    let ctx = WorkerContext {
                        index,
                        case,
                        trial,
                        seed: trial_seed,
                        prepares: false,
                        replay: false,
                    };
                    let setup = set_up(makers, &ctx);
                    barrier.wait();
                    go.wait();
                    let (rt, mut workers, _pads) = setup?;
                    let t0 = *start.get().ok_or("no start")?;
                    Ok::<_, String>(rt.block_on(rounds_thread(
                        &mut workers,
                        order,
                        kinds,
                        (t0, round, warm),
                        &stop,
                    )))
                })
            })
            .collect();
        barrier.wait();
        // Every worker is set up and connected: a Redis sets its memory limit now.
        let armed: Result<(), String> = targets.iter().try_for_each(|t| {
            t.hooks()
                .map_or(Ok(()), |h| h.armed())
                .map_err(|e| e.to_string())
        });
        let _ = start.set(Instant::now() + Duration::from_millis(2));
        go.wait();
        armed?;
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a worker panicked".into())))
            .collect::<Result<Vec<_>, String>>()
    })?;
    crate::alloc_profile::set_tag(0);
    let mut rounds: Vec<Round> = order[warm..]
        .iter()
        .map(|&t| Round {
            target: t as u32,
            ..Default::default()
        })
        .collect();
    let mut records: Vec<Vec<WorkerRecord>> = (0..n).map(|_| Vec::new()).collect();
    let mut spans = vec![0u64; n];
    let mut latencies: Option<Windows> = None;
    for (thread_rounds, recs, histograms) in per_thread {
        for (all, mine) in rounds.iter_mut().zip(thread_rounds) {
            all.operations += mine.operations;
            all.errors += mine.errors;
            all.busy_ns += mine.busy_ns;
        }
        for (t, r) in recs.into_iter().enumerate() {
            records[t].push(r);
        }
        match &mut latencies {
            Some(all) => all.merge(histograms),
            None => latencies = Some(histograms),
        }
    }
    if let Some(l) = &latencies {
        for (r, [p50, p99, max]) in rounds.iter_mut().zip(l.percentiles()) {
            (r.p50_ns, r.p99_ns, r.max_ns) = (p50, p99, max);
        }
    }
    // A target's own time: its measured rounds' length (the same on every thread).
    let done = rounds
        .iter()
        .rposition(|r| r.operations + r.errors > 0)
        .map_or(0, |i| i + 1);
    for r in &rounds[..done] {
        spans[r.target as usize] += round.as_nanos() as u64;
    }
    rounds.truncate(done);
    let data = records
        .into_iter()
        .zip(spans)
        .map(|(records, span)| TrialData {
            records,
            peak_resident: None,
            memory: Vec::new(),
            generator: None,
            span_ns: Some(span),
        })
        .collect();
    Ok(PairedTrial { data, rounds })
}

/// A target's worker on one paired thread.
enum PairWorker {
    /// Called in place.
    Blocking(Box<dyn crate::target::Worker>),
    /// Awaited on the thread's runtime.
    Async(Box<dyn crate::target::AsyncWorker>),
}

/// The thread's runtime and one worker per target, async ones connected.
/// Instances of each target per thread, rounds rotating through them.
/// Two instances of one target differ by a constant of their own (where
/// their program and data sit in memory, the order they were built in):
/// on the 2-core VM, identical regorus VM instances in one run differed by
/// up to 1.9% with intervals of 0.1%, the first built the fastest. Several
/// instances per target, built in a shuffled interleaved order on shifted
/// heap addresses, make that constant a random effect the rounds average.
pub const INSTANCES: usize = 4;

/// The workers of one thread: `INSTANCES` per target, `[target][instance]`.
/// Built in a seeded shuffled order across targets (not target by
/// target), each after a pad of a seeded size that shifts where its
/// allocations land; the pads live as long as the workers.
#[allow(clippy::type_complexity)]
fn set_up(
    makers: &[Workers<'_>],
    ctx: &WorkerContext,
) -> Result<(tokio::runtime::Runtime, Vec<Vec<PairWorker>>, Vec<Vec<u8>>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let mut order: Vec<(usize, usize)> = (0..INSTANCES)
        .flat_map(|i| (0..makers.len()).map(move |t| (t, i)))
        .collect();
    let mut rng = crate::keys::Rng::new(crate::keys::derive(
        ctx.seed,
        &[ctx.index as u64, 0x696e_7374],
    ));
    for k in (1..order.len()).rev() {
        let j = (rng.next_u64() % (k as u64 + 1)) as usize;
        order.swap(k, j);
    }
    let mut built: Vec<Vec<Option<PairWorker>>> = makers
        .iter()
        .map(|_| (0..INSTANCES).map(|_| None).collect())
        .collect();
    let mut pads = Vec::with_capacity(order.len());
    for (t, i) in order {
        // Up to 64 KiB, touched, in 64-byte steps: later allocations land
        // at other addresses and cache sets.
        let pad = vec![1u8; (rng.next_u64() % 1024) as usize * 64];
        pads.push(pad);
        built[t][i] = Some(make(&makers[t], ctx, &rt)?);
    }
    let workers = built
        .into_iter()
        .map(|row| row.into_iter().flatten().collect())
        .collect();
    Ok((rt, workers, pads))
}

/// One worker of a target, ready (connected).
fn make(
    m: &Workers<'_>,
    ctx: &WorkerContext,
    rt: &tokio::runtime::Runtime,
) -> Result<PairWorker, String> {
    Ok({
        match m {
            Workers::Blocking(b) => PairWorker::Blocking(b.worker(ctx).map_err(|e| e.to_string())?),
            Workers::Async(a) => {
                let mut w = a
                    .async_workers(std::slice::from_ref(ctx))
                    .map_err(|e| e.to_string())?
                    .pop()
                    .ok_or("the target made no worker")?;
                rt.block_on(w.ready())
                    .map_err(|e| format!("worker not ready: {e}"))?;
                PairWorker::Async(w)
            }
            Workers::SelfTimed(_) => return Err("a self-timed target takes no rounds".into()),
        }
    })
}

/// One thread's rounds: returns its measured rounds and a record per target.
async fn rounds_thread(
    workers: &mut [Vec<PairWorker>],
    order: &[usize],
    kinds: &[bool],
    (t0, round, warm): (Instant, Duration, usize),
    stop: &AtomicBool,
) -> (Vec<Round>, Vec<WorkerRecord>, Windows) {
    let mut recs: Vec<WorkerRecord> = kinds.iter().map(|&k| WorkerRecord::new(false, k)).collect();
    let mut mine = vec![Round::default(); order.len() - warm];
    // One small histogram per measured round, allocated and touched now;
    // past MAX_ROUND_HISTOGRAMS rounds per trial, none (memory).
    let mut histograms = if mine.len() <= MAX_ROUND_HISTOGRAMS {
        Windows::new(WindowPlan {
            width: round,
            capacity: mine.len(),
        })
    } else {
        Windows::none()
    };
    let keep = mine.len() <= MAX_ROUND_HISTOGRAMS;
    let bytes = ThreadBytes::current();
    let counting = alloc::counting_installed();
    let mut op = 0u64;
    let mut turns = vec![0usize; workers.len()];
    let mut interrupted = false;
    while Instant::now() < t0 {
        std::hint::spin_loop();
    }
    let measure_start = t0 + round * warm as u32;
    for (k, &t) in order.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let end = t0 + round * (k as u32 + 1);
        let measured = k >= warm;
        if k == warm {
            // Server timings gathered in warm-up are dropped.
            for w in workers.iter_mut().flatten() {
                if let PairWorker::Async(a) = w {
                    a.measuring();
                }
            }
        }
        // `--mode profile` attributes allocations to the target whose round it is.
        crate::alloc_profile::set_tag(t as u32 + 1);
        // The target's instances in turn, round by round.
        let instances = workers[t].len().max(1);
        let worker = &mut workers[t][turns[t] % instances];
        turns[t] += 1;
        let (b0, a0) = (bytes.get(), alloc::thread_allocs());
        let mut before = Instant::now();
        let (mut ops, mut errors, mut busy) = (0u64, 0u64, 0u64);
        while before < end {
            let result = match worker {
                PairWorker::Blocking(w) => w.call(op),
                PairWorker::Async(w) => w.call(op).await,
            };
            let after = Instant::now();
            op += 1;
            if measured {
                let ok = result.is_ok();
                let ns = recs[t].record(result, after.duration_since(before).as_nanos() as u64);
                busy += ns;
                if ok {
                    ops += 1;
                } else {
                    errors += 1;
                }
                if keep {
                    histograms.record_in(k - warm, ns, ok);
                }
            }
            before = after;
        }
        if measured {
            mine[k - warm] = Round {
                target: t as u32,
                operations: ops,
                errors,
                busy_ns: busy,
                ..Round::default()
            };
            let r = &mut recs[t];
            if let (Some(b1), Some(b0)) = (bytes.get(), b0) {
                *r.bytes.get_or_insert(0) += b1 - b0;
            }
            if counting {
                *r.allocs.get_or_insert(0) += alloc::thread_allocs() - a0;
            }
        }
    }
    let end = Instant::now();
    for (r, ws) in recs.iter_mut().zip(workers.iter_mut()) {
        for w in ws {
            if let PairWorker::Async(a) = w {
                r.add_samples(a.samples());
            }
        }
    }
    for r in &mut recs {
        r.start = measure_start;
        r.end = end;
        r.accounted_ops = r.operations;
        r.interrupted = interrupted;
    }
    (mine, recs, histograms)
}

/// Most rounds per trial that keep a histogram each (2.1 KiB per round
/// and thread: 34 MiB per thread at most; 163s of 10ms rounds).
const MAX_ROUND_HISTOGRAMS: usize = 16_384;

/// Most batches the paired interval uses (consecutive blocks grouped, so
/// the batches' serial correlation is small).
const MAX_BATCHES: usize = 20;
/// Fewest blocks per batch: a batch's median needs a few to resist a
/// block that a preemption hit.
const MIN_BATCH: usize = 5;
/// Fewest batches of `MIN_BATCH` blocks (else smaller batches).
const MIN_BATCHES: usize = 5;

/// The per-block log ratios of `b`'s mean time per operation to `a`'s, in
/// time order over every trial: one per ABBA block of `2n` rounds where
/// both ran.
pub fn block_log_ratios(trials: &[Vec<Round>], n: usize, a: usize, b: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for rounds in trials {
        for block in rounds.chunks(2 * n) {
            let mean = |t: usize| {
                let (busy, ops) = block
                    .iter()
                    .filter(|r| r.target as usize == t)
                    .fold((0u64, 0u64), |(b, o), r| {
                        (b + r.busy_ns, o + r.operations + r.errors)
                    });
                (ops > 0 && busy > 0).then(|| busy as f64 / ops as f64)
            };
            if let (Some(ma), Some(mb)) = (mean(a), mean(b)) {
                out.push((mb / ma).ln());
            }
        }
    }
    out
}

/// The paired estimate of a change from block log ratios, by batch
/// medians: consecutive blocks grouped into at most `MAX_BATCHES`
/// batches of at least `MIN_BATCH`, each batch's median taken (a
/// preemption that hits one round makes one block's ratio wild; a median
/// shrugs it off, a mean does not), and a t interval on the batch medians,
/// all in log space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedEstimate {
    /// Mean of the batch medians of the log ratios.
    pub mean: f64,
    /// Its standard error (from the batch medians' spread).
    pub se: f64,
    /// Batches.
    pub batches: usize,
    /// Blocks.
    pub blocks: usize,
    /// The t quantile used (95%, two-sided).
    pub t: f64,
}

impl PairedEstimate {
    /// From block log ratios; `None` with fewer than 4 blocks. Batches hold
    /// at least `MIN_BATCH` blocks when there are enough for
    /// `MIN_BATCHES` of them; fewer blocks go in batches of 2 (a t with
    /// a single degree of freedom would make every interval useless).
    pub fn new(d: &[f64]) -> Option<Self> {
        let batches = if d.len() >= MIN_BATCH * MIN_BATCHES {
            (d.len() / MIN_BATCH).min(MAX_BATCHES)
        } else {
            d.len() / 2
        };
        if batches < 2 {
            return None;
        }
        let size = d.len() / batches;
        // The first blocks left over are dropped (they are the earliest).
        let used = &d[d.len() - size * batches..];
        let means: Vec<f64> = used.chunks(size).map(crate::inference::median).collect();
        let mean = means.iter().sum::<f64>() / batches as f64;
        let var = means.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (batches - 1) as f64;
        let se = (var / batches as f64).sqrt();
        Some(PairedEstimate {
            mean,
            se,
            batches,
            blocks: d.len(),
            t: t_quantile(0.975, (batches - 1) as f64),
        })
    }

    /// The change `exp(mean) - 1` and its 95% interval.
    pub fn change(&self) -> (f64, crate::inference::Interval) {
        let h = self.t * self.se;
        (
            self.mean.exp_m1(),
            crate::inference::Interval {
                low: (self.mean - h).exp_m1(),
                high: (self.mean + h).exp_m1(),
                confidence: 0.95,
            },
        )
    }

    /// The smallest change found 80% of the time at 5% two-sided.
    pub fn detectable(&self) -> f64 {
        ((self.t + crate::inference::normal_quantile(0.8)) * self.se).exp_m1()
    }

    /// One-sided p of "worse by more than `threshold`".
    pub fn p_worse_than(&self, threshold: f64) -> f64 {
        if self.se <= 0.0 {
            return if self.mean > threshold.ln_1p() {
                0.0
            } else {
                1.0
            };
        }
        let t = (self.mean - threshold.ln_1p()) / self.se;
        crate::inference::student_t_upper(t, (self.batches - 1) as f64)
    }

    /// Two-sided p of any change.
    pub fn p_any(&self) -> f64 {
        if self.se <= 0.0 {
            return if self.mean == 0.0 { 1.0 } else { 0.0 };
        }
        (2.0 * crate::inference::student_t_upper(
            (self.mean / self.se).abs(),
            (self.batches - 1) as f64,
        ))
        .min(1.0)
    }
}

/// The verdict of a paired change against `threshold` (0.01 = 1% slower):
/// FAIL when the interval's lower end is above it (significantly worse
/// than the threshold), PASS when the upper end is below it, WARN when
/// the interval holds it.
pub fn verdict(interval: &crate::inference::Interval, threshold: f64) -> crate::results::Verdict {
    use crate::results::Verdict;
    if interval.low > threshold {
        Verdict::Fail
    } else if interval.high < threshold {
        Verdict::Pass
    } else {
        Verdict::Warn
    }
}

/// The paired comparison of a run: for every case with rounds, each pair
/// (baseline, target) of [`crate::results::Results::pairs`], on mean time
/// per operation. `None` without rounds.
pub fn report(results: &crate::results::Results) -> Option<crate::results::RegressionReport> {
    use crate::results::{RegressionCheck, RegressionConfig, RegressionReport, Verdict};
    if results.pairs.is_empty() {
        return None;
    }
    let mut bases: Vec<&str> = results.pairs.iter().map(|(a, _)| a.as_str()).collect();
    bases.dedup();
    let config = RegressionConfig::from(&results.regression_config);
    let threshold = config
        .metrics
        .get("latency.mean")
        .copied()
        .unwrap_or(config.threshold);
    let mut checks = Vec::new();
    for case in results.cases.iter().filter(|c| !c.rounds.is_empty()) {
        let n = case.targets.len();
        let index = |id: &str| case.targets.iter().position(|t| t.id == id);
        let totals = |t: usize| {
            case.rounds
                .iter()
                .flatten()
                .filter(|r| r.target as usize == t)
                .fold((0u64, 0u64, 0usize), |(b, o, k), r| {
                    (b + r.busy_ns, o + r.operations + r.errors, k + 1)
                })
        };
        for (a, b) in results
            .pairs
            .iter()
            .filter_map(|(a, b)| Some((index(a)?, index(b)?)))
        {
            let target = &case.targets[b];
            let (busy_a, ops_a, rounds_a) = totals(a);
            let (busy_b, ops_b, rounds_b) = totals(b);
            let mean = |busy: u64, ops: u64| {
                if ops > 0 {
                    busy as f64 / ops as f64
                } else {
                    f64::NAN
                }
            };
            let d = block_log_ratios(&case.rounds, n, a, b);
            let estimate = PairedEstimate::new(&d);
            let mut check = RegressionCheck {
                case: case.name.clone(),
                target: target.id.clone(),
                metric: "latency.mean".into(),
                base: mean(busy_a, ops_a),
                new: mean(busy_b, ops_b),
                trials: (rounds_a, rounds_b),
                change: f64::NAN,
                interval: None,
                p_value: None,
                p_regression: None,
                test: "paired rounds".into(),
                threshold,
                detectable: None,
                trials_needed: None,
                verdict: Verdict::Warn,
                reason: format!(
                    "{} ABBA blocks: too few for an interval; measure longer or shorten `round`",
                    d.len()
                ),
            };
            if let Some(e) = estimate {
                let (change, interval) = e.change();
                check.change = change;
                check.verdict = verdict(&interval, threshold);
                check.p_value = Some(e.p_any());
                check.p_regression = Some(e.p_worse_than(threshold));
                check.detectable = Some(e.detectable());
                check.test = format!(
                    "paired rounds: {} ABBA blocks in {} batch medians, t with {} df",
                    e.blocks,
                    e.batches,
                    e.batches - 1
                );
                let pct = |v: f64| format!("{:+.2}%", v * 100.0);
                check.reason = match check.verdict {
                    Verdict::Fail => format!(
                        "slower by more than {} (interval {} to {})",
                        pct(threshold).trim_start_matches('+'),
                        pct(interval.low),
                        pct(interval.high)
                    ),
                    Verdict::Pass => format!(
                        "within {}: the interval's upper end is {}",
                        pct(threshold).trim_start_matches('+'),
                        pct(interval.high)
                    ),
                    _ => format!(
                        "the interval {} to {} holds the threshold {}; the smallest change these rounds resolve is {}",
                        pct(interval.low),
                        pct(interval.high),
                        pct(threshold).trim_start_matches('+'),
                        pct(e.detectable())
                    ),
                };
                check.interval = Some(interval);
            }
            checks.push(check);
        }
    }
    if checks.is_empty() {
        return None;
    }
    let verdict = checks
        .iter()
        .map(|c| c.verdict)
        .max()
        .unwrap_or(Verdict::Pass);
    Some(RegressionReport {
        baseline: bases.join(", "),
        baseline_started_at: results.started_at.clone(),
        environment_differs: Vec::new(),
        downgraded: None,
        config,
        checks,
        geomean: Default::default(),
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_come_in_abba_blocks() {
        for seed in 0..20 {
            let order: Vec<usize> = (0..8).map(|r| round_target(2, r, seed)).collect();
            assert_eq!(order[0], order[3], "{order:?}");
            assert_eq!(order[1], order[2]);
            assert_ne!(order[0], order[1]);
            assert_eq!(order[4], order[7]);
            for block in order.chunks(4) {
                assert_eq!(block.iter().filter(|&&t| t == 0).count(), 2);
            }
        }
        // Three targets: a permutation and its reverse.
        let order: Vec<usize> = (0..6).map(|r| round_target(3, r, 7)).collect();
        assert_eq!(
            order[..3].iter().rev().copied().collect::<Vec<_>>(),
            order[3..]
        );
    }

    /// B is 2% slower in every block; a drift of 30% over the run moves
    /// both alike and cancels.
    #[test]
    fn a_steady_ratio_under_drift_is_recovered_and_graded() {
        let mut rounds = Vec::new();
        for k in 0..400usize {
            let drift = 1.0 + 0.3 * k as f64 / 400.0;
            let t = round_target(2, k, 1);
            let mean = if t == 1 { 1020.0 } else { 1000.0 } * drift;
            let ops = 100u64;
            rounds.push(Round {
                target: t as u32,
                operations: ops,
                errors: 0,
                busy_ns: (mean * ops as f64) as u64,
                ..Round::default()
            });
        }
        let d = block_log_ratios(&[rounds], 2, 0, 1);
        assert_eq!(d.len(), 100);
        let e = PairedEstimate::new(&d).unwrap();
        let (change, interval) = e.change();
        assert!((change - 0.02).abs() < 0.002, "{change}");
        assert!(interval.low > 0.01 && interval.high < 0.03, "{interval:?}");
        assert_eq!(verdict(&interval, 0.01), crate::results::Verdict::Fail);
        assert_eq!(verdict(&interval, 0.05), crate::results::Verdict::Pass);
        assert!(e.p_worse_than(0.01) < 0.01);
    }

    /// A preemption that makes a few blocks' ratios wild barely moves the
    /// batch medians.
    #[test]
    fn wild_blocks_do_not_move_the_estimate() {
        let mut d = vec![0.02; 200];
        for i in (0..200).step_by(23) {
            d[i] = if i % 2 == 0 { -0.5 } else { 0.4 };
        }
        for (i, x) in d.iter_mut().enumerate() {
            *x += 0.002 * ((i * 7919) % 13) as f64 / 13.0 - 0.001;
        }
        let e = PairedEstimate::new(&d).unwrap();
        let (change, interval) = e.change();
        assert!((change - 0.0202).abs() < 0.002, "{change}");
        assert!(
            interval.low > 0.015 && interval.high < 0.025,
            "{interval:?}"
        );
        assert_eq!((e.batches, e.blocks), (20, 200));
    }

    #[test]
    fn t_quantiles_match_tables() {
        assert!((t_quantile(0.975, 19.0) - 2.093).abs() < 0.002);
        assert!((t_quantile(0.975, 4.0) - 2.776).abs() < 0.002);
    }
}
