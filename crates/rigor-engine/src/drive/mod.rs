//! The four ways to drive a target through one trial: closed or open loop,
//! blocking or async workers.
//!
//! - Closed loop: each worker issues its next operation when the previous
//!   one completes. Blocking workers get one OS thread each; async workers
//!   (connections) are spread over one single-threaded tokio runtime per core.
//! - Open loop (rate mode, [`crate::schedule`]): blocking workers each keep
//!   their share of a fixed schedule; so does each async runtime thread, for
//!   the connections it runs. Latency runs from the *intended* start (what a caller
//!   waits: queueing behind a slow operation counts, coordinated omission is
//!   avoided as wrk2 and YCSB do), service time from the actual send. The
//!   waiters' lag behind the schedule is measured; when it is large the case
//!   is generator-bound.
//!
//! Workers only record into their own histograms; the caller merges.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesOrdered, StreamExt};
use rigor_scenario::model::Timing;
use rigor_scenario::plan::{CasePlan, Stop, WorkloadPlan};

use crate::alloc::{self, ThreadBytes};
use crate::schedule::{open_scheduled, pace, record_open, Scheduled, Ticket};
use crate::stats::new_histogram;
use crate::target::{
    AsyncWorker, AsyncWorkers, BlockingWorkers, Outcome, Target, Worker, WorkerContext, Workers,
};
use crate::windows::{WindowPlan, Windows};

mod async_loop;
mod sampler;
mod sync_loop;

use async_loop::async_thread;
use sampler::Sampler;
pub use sync_loop::loop_cost_ns;
use sync_loop::sync_thread;

/// What a trial has done so far, for a live progress line; read by the
/// coordinator thread while the workers measure.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    /// Time since every worker began measuring.
    pub elapsed: Duration,
    /// Operations done (published every 16 per worker).
    pub operations: u64,
    /// Failed operations among them.
    pub errors: u64,
    /// jemalloc resident bytes now.
    pub resident: Option<u64>,
}

/// How often the live callback is called.
const LIVE_EVERY: Duration = Duration::from_millis(500);

/// How often resident memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// A generator whose p99 lag exceeds this is not keeping the schedule.
pub(crate) const GENERATOR_BOUND_LAG_NS: u64 = 1_000_000;
/// `timing: auto` times operations faster than this in batches.
pub(crate) const BATCH_BELOW_NS: f64 = 1_000.0;
/// A timed batch lasts at least this long, so the clock's cost is a small share of it.
pub(crate) const BATCH_TARGET_NS: f64 = 10_000.0;
/// The probe that sizes batches runs [`PROBE_OPS`] operations and at least
/// [`PROBE_MIN`], or at most [`PROBE_MAX`] for slow operations.
const PROBE_OPS: u64 = 1_000;
const PROBE_MIN: Duration = Duration::from_millis(2);
const PROBE_MAX: Duration = Duration::from_millis(20);

pub(crate) use crate::record::{
    add_histograms, GeneratorRecord, Kinds, Progress, Recording, TrialData, WorkerRecord,
    KEEP_MESSAGES, KIND_NAMES, POLL_EVERY, PROGRESS,
};

/// Thread coordination shared by every driver.
struct Shared {
    /// Every worker is set up (or has failed).
    barrier: Barrier,
    /// The target is armed ([`TrialHooks::armed`](crate::target::TrialHooks::armed)): go.
    go: Barrier,
    /// Why arming failed.
    armed_error: std::sync::Mutex<Option<String>>,
    measuring: AtomicUsize,
    finished: AtomicUsize,
    failed_setup: AtomicBool,
    /// Rate mode with blocking workers: the schedule's first instant, set
    /// by the coordinator just before `go`.
    schedule_start: std::sync::OnceLock<Instant>,
    /// Every worker's windows over time.
    windows: WindowPlan,
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

/// The worker shapes the engine drives itself (a self-timed target runs
/// its own trials).
#[derive(Clone, Copy)]
enum Driven<'a> {
    Blocking(&'a dyn BlockingWorkers),
    Async(&'a dyn AsyncWorkers),
}

/// Runs one trial of `target` for `case`.
pub(crate) fn trial(
    target: &dyn Target,
    case: CasePlan,
    trial: u32,
    workload: &WorkloadPlan,
    stop: &Arc<AtomicBool>,
    live: &mut dyn FnMut(Live),
) -> Result<TrialData, String> {
    let trial_seed = crate::keys::derive(workload.seed, &[trial as u64]);
    let context = |index: usize| WorkerContext {
        index,
        case,
        trial,
        seed: trial_seed,
        prepares: true,
        replay: workload.arrivals.is_some(),
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let concurrency = case.concurrency as usize;
    let workers = match target.workers() {
        Workers::Async(a) => Driven::Async(a),
        Workers::Blocking(b) => Driven::Blocking(b),
        Workers::SelfTimed(_) => {
            return Err(
                "this target measures its trials itself; the engine has no workers to drive".into(),
            )
        }
    };
    let is_async = matches!(workers, Driven::Async(_));
    let facts = target.facts();
    let kinds = facts.outcomes;
    let inputs = facts.inputs;
    let per_op;
    let workload = if facts.self_timed {
        per_op = WorkloadPlan {
            timing: rigor_scenario::model::Timing::PerOp,
            ..workload.clone()
        };
        &per_op
    } else {
        workload
    };
    let threads = if is_async {
        concurrency.min(workload.threads.map_or(cores, |t| t as usize))
    } else {
        concurrency
    };
    // In rate mode every thread keeps its own share of the schedule (as
    // wrk2's connections do): the thread that waits for an operation's
    // start is the one that runs it, with no hand-off from a generator
    // thread (which put 15-40us into every latency on the 2-core VM). A
    // blocking worker is its own thread; an async runtime thread paces its
    // share for the connections it runs.
    let own_schedule = case.rate.map(|rate| Scheduled {
        rate,
        workers: if is_async {
            threads as u64
        } else {
            concurrency as u64
        },
        warmup: workload.warmup,
        duration: stop_duration(workload.stop),
        arrivals: workload.arrivals.clone(),
    });
    let shared = Shared {
        barrier: Barrier::new(threads + 1),
        go: Barrier::new(threads + 1),
        armed_error: std::sync::Mutex::new(None),
        measuring: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        failed_setup: AtomicBool::new(false),
        schedule_start: std::sync::OnceLock::new(),
        windows: WindowPlan::new(workload.window, workload.stop),
    };
    let mut peak_resident: Option<u64> = None;
    // Room for every sample up front: a series that grew while the soak
    // samples would be heap growth of rigor's own in the very figure it fits.
    let mut memory = Vec::with_capacity(workload.soak.map_or(0, |s| {
        let length = match workload.stop {
            Stop::Duration(d) => d,
            Stop::Iterations(_) => Duration::from_secs(600),
        };
        ((length.as_nanos() / s.sample.as_nanos().max(1)) as usize + 4).min(1 << 20)
    }));
    let progress: Vec<Arc<Progress>> = (0..threads).map(|_| Arc::default()).collect();
    let records = std::thread::scope(|scope| {
        let shared = &shared;
        let own_schedule = &own_schedule;
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let stop = stop.clone();
                let progress = progress[thread].clone();
                let own_schedule = own_schedule.clone();
                std::thread::Builder::new()
                    .name(format!("rigor-worker-{thread}"))
                    .spawn_scoped(scope, move || {
                        PROGRESS.with(|p| *p.borrow_mut() = Some(progress));
                        let _finished = OnDrop(|| {
                            shared.finished.fetch_add(1, Ordering::Release);
                        });
                        let body = std::panic::AssertUnwindSafe(|| match workers {
                            Driven::Async(target) => {
                                let tasks: Vec<usize> =
                                    (thread..concurrency).step_by(threads).collect();
                                let contexts: Vec<WorkerContext> =
                                    tasks.iter().map(|&i| context(i)).collect();
                                let own = own_schedule.map(|plan| (plan, thread as u64));
                                async_thread(
                                    target,
                                    (kinds, inputs),
                                    &contexts,
                                    workload,
                                    own,
                                    &stop,
                                    shared,
                                )
                            }
                            Driven::Blocking(target) => sync_thread(
                                target,
                                (kinds, inputs),
                                context(thread),
                                workload,
                                own_schedule,
                                &stop,
                                shared,
                            ),
                        });
                        std::panic::catch_unwind(body).unwrap_or_else(|p| {
                            shared.failed_setup.store(true, Ordering::Relaxed);
                            Err(panic_message(p))
                        })
                    })
            })
            .collect();
        // Everyone is set up (or has failed); arm the target, then start the clock.
        shared.barrier.wait();
        if !shared.failed_setup.load(Ordering::Relaxed) {
            let armed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                target.hooks().map_or(Ok(()), |h| h.armed())
            }))
            .map_err(panic_message)
            .and_then(|r| r.map_err(|e| e.to_string()));
            if let Err(e) = armed {
                shared.failed_setup.store(true, Ordering::Relaxed);
                if let Ok(mut slot) = shared.armed_error.lock() {
                    *slot = Some(e);
                }
            }
        }
        // Leave the workers a moment to reach their first wait.
        let _ = shared
            .schedule_start
            .set(Instant::now() + Duration::from_millis(2));
        shared.go.wait();
        let mut sampler = workload.soak.map(|s| Sampler::new(s.sample));
        let (mut measuring_since, mut next_live) = (None, Instant::now());
        while shared.finished.load(Ordering::Acquire) < threads {
            std::thread::sleep(SAMPLE_EVERY);
            if shared.measuring.load(Ordering::Acquire) == threads
                && shared.finished.load(Ordering::Acquire) == 0
            {
                let now = Instant::now();
                // The first live line comes after half a second of measuring.
                let since = *measuring_since.get_or_insert_with(|| {
                    next_live = now + LIVE_EVERY;
                    now
                });
                if now >= next_live {
                    next_live = now + LIVE_EVERY;
                    let sum = |f: fn(&Progress) -> u64| progress.iter().map(|p| f(p)).sum();
                    live(Live {
                        elapsed: now.duration_since(since),
                        operations: sum(|p| p.operations.load(Ordering::Relaxed)),
                        errors: sum(|p| p.errors.load(Ordering::Relaxed)),
                        resident: alloc::resident_bytes(),
                    });
                }
                if let Some(r) = alloc::resident_bytes() {
                    peak_resident = Some(peak_resident.map_or(r, |p: u64| p.max(r)));
                }
                if let Some(s) = &mut sampler {
                    s.tick(target, &progress, &mut memory);
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
    if let Some(e) = shared.armed_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    let mut records = records?;
    let generator = own_schedule.map(|_| {
        // The waiters' own wake-up lag is the schedule's lag.
        let mut lag = new_histogram();
        for r in &mut records {
            if let Some(l) = r.lag.take() {
                let _ = lag.add(&l);
            }
        }
        GeneratorRecord { lag }
    });
    Ok(TrialData {
        records,
        peak_resident,
        memory,
        generator,
        span_ns: None,
    })
}

fn stop_duration(stop: Stop) -> Duration {
    match stop {
        Stop::Duration(d) => d,
        // Plans refuse rate mode with iterations; keep a sane fallback.
        Stop::Iterations(_) => Duration::from_secs(1),
    }
}

/// Sets up, waits for the others, and reports setup failure consistently.
fn start<T>(shared: &Shared, setup: Result<T, String>) -> Result<T, String> {
    if setup.is_err() {
        shared.failed_setup.store(true, Ordering::Relaxed);
    }
    shared.barrier.wait();
    shared.go.wait();
    match setup {
        Ok(_) if shared.failed_setup.load(Ordering::Relaxed) => {
            Err("another worker failed to start".into())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::sync_loop::{closed_each, Empty};
    use super::*;

    /// A worker that measured nothing was created before the warm-up; merging
    /// it must not pull the measured span's start back to then.
    /// One clock read per operation: the loop's cost per empty operation
    /// is positive and below two clock reads plus a generous margin
    /// (not a timing assertion on the target: on the harness's own
    /// arithmetic, which a second clock read per operation would break).
    #[test]
    fn closed_loop_latencies_sum_to_the_measured_span() {
        let stop = AtomicBool::new(false);
        let mut rec = WorkerRecord::new(false, false);
        let start = Instant::now();
        let end = closed_each(
            &mut Empty,
            Stop::Iterations(10_000),
            &stop,
            &mut rec,
            0,
            start,
            &mut crate::record::Preparer::new(&Empty),
        );
        assert_eq!(rec.operations, 10_000);
        assert_eq!(rec.histogram.len(), 10_000);
        // Back-to-back intervals: the latencies add up to the span (within
        // the histogram's 0.1% bucket precision), nothing between them untimed.
        let sum = rec.histogram.mean() * rec.histogram.len() as f64;
        let span = end.duration_since(start).as_nanos() as f64;
        assert!(
            (sum - span).abs() <= span * 0.002 + 10_000.0 * 1.0,
            "latencies sum to {sum} ns over a span of {span} ns"
        );
    }

    #[test]
    fn merging_an_empty_record_keeps_the_measured_span() {
        let idle = WorkerRecord::new(true, false);
        let t0 = Instant::now() + Duration::from_millis(100);
        let mut busy = WorkerRecord::new(true, false);
        busy.operations = 10;
        busy.start = t0;
        busy.end = t0 + Duration::from_millis(500);
        let mut thread = WorkerRecord::new(true, false);
        thread.merge(idle);
        thread.merge(busy);
        assert_eq!(thread.operations, 10);
        assert_eq!(thread.start, t0);
        assert_eq!(thread.end, t0 + Duration::from_millis(500));
        // And in the other order, against an earlier busy record.
        let mut other = WorkerRecord::new(true, false);
        other.operations = 1;
        other.start = t0 + Duration::from_millis(50);
        other.end = t0 + Duration::from_millis(900);
        thread.merge(WorkerRecord::new(true, false));
        thread.merge(other);
        assert_eq!(thread.start, t0);
        assert_eq!(thread.end, t0 + Duration::from_millis(900));
    }
}
