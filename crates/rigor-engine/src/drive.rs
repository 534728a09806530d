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
    let kinds = target.facts().outcomes;
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
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let stop = stop.clone();
                let progress = progress[thread].clone();
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
                                async_thread(target, kinds, &contexts, workload, own, &stop, shared)
                            }
                            Driven::Blocking(target) => sync_thread(
                                target,
                                kinds,
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

/// A soak's sampler on the coordinator thread: every `every`, once all
/// workers measure, the operations done and the process's memory.
struct Sampler {
    every: Duration,
    first: Option<Instant>,
    next: Option<Instant>,
}

impl Sampler {
    fn new(every: Duration) -> Self {
        Sampler {
            every,
            first: None,
            next: None,
        }
    }

    fn tick(
        &mut self,
        target: &dyn Target,
        progress: &[Arc<Progress>],
        into: &mut Vec<crate::results::MemorySample>,
    ) {
        let now = Instant::now();
        if self.next.is_some_and(|n| now < n) {
            return;
        }
        let operations = progress
            .iter()
            .map(|p| p.operations.load(Ordering::Relaxed))
            .sum();
        // Rate mode's workers count as measuring through their warm-up:
        // the series starts with the first measured operations.
        if operations == 0 && self.first.is_none() {
            return;
        }
        let first = *self.first.get_or_insert(now);
        // The schedule of samples does not drift with the 10ms polling.
        self.next = Some(self.next.unwrap_or(now) + self.every);
        // rigor's own memory first, then what may ask another process.
        let (allocated, resident, rss) = (
            alloc::allocated_bytes(),
            alloc::resident_bytes(),
            alloc::process_rss_bytes(),
        );
        let server = target.server().and_then(|s| s.memory()).unwrap_or_default();
        into.push(crate::results::MemorySample {
            t_ns: now.duration_since(first).as_nanos() as u64,
            operations,
            allocated,
            resident,
            rss,
            server_rss: server.rss,
            server_heap: server.heap,
            entries: target.hooks().and_then(|h| h.entries_now()),
        });
    }
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

fn sync_thread(
    target: &dyn BlockingWorkers,
    kinds: bool,
    ctx: WorkerContext,
    workload: &WorkloadPlan,
    own: Option<Scheduled>,
    stop: &AtomicBool,
    shared: &Shared,
) -> Result<WorkerRecord, String> {
    // A panic in setup becomes an error before the barrier, so no thread waits forever.
    let setup = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.worker(&ctx)))
        .map_err(panic_message)
        .and_then(|w| w.map_err(|e| e.to_string()));
    let mut worker = start(shared, setup)?;
    if let (Some(own), Some(start)) = (own, shared.schedule_start.get()) {
        return Ok(open_scheduled(
            worker.as_mut(),
            own,
            *start,
            ctx.index as u64,
            stop,
            &shared.measuring,
            Recording {
                kinds,
                windows: shared.windows,
            },
        ));
    }
    Ok(closed_sync(
        worker.as_mut(),
        workload,
        stop,
        &shared.measuring,
        Recording {
            kinds,
            windows: shared.windows,
        },
    ))
}

/// Operations per timed batch: 1 (each timed alone) unless `timing` asks
/// for batches, or is `auto` and a probe finds operations under 1us.
/// The warm-up counts as the probe when it was long enough.
fn batch_size(
    worker: &mut dyn Worker,
    timing: Timing,
    op: &mut u64,
    stop: &AtomicBool,
    warm: (u64, Duration),
) -> u64 {
    if timing == Timing::PerOp {
        return 1;
    }
    let start = Instant::now();
    let (mut n, mut spent) = warm;
    while (n < PROBE_OPS || spent < PROBE_MIN) && spent < PROBE_MAX && !stop.load(Ordering::Relaxed)
    {
        let _ = worker.call(*op);
        *op += 1;
        n += 1;
        spent = warm.1 + start.elapsed();
    }
    let mean = spent.as_nanos() as f64 / n.max(1) as f64;
    if timing == Timing::Auto && mean >= BATCH_BELOW_NS {
        return 1;
    }
    ((BATCH_TARGET_NS / mean.max(1.0)).ceil() as u64).clamp(2, 1_000_000)
}

/// One worker's warm-up and measured phase, closed loop. This is the hot loop.
fn closed_sync(
    worker: &mut dyn Worker,
    workload: &WorkloadPlan,
    stop: &AtomicBool,
    measuring: &AtomicUsize,
    recording: Recording,
) -> WorkerRecord {
    let Recording { kinds, windows } = recording;
    let mut op = 0u64;
    let warm_start = Instant::now();
    while warm_start.elapsed() < workload.warmup && !stop.load(Ordering::Relaxed) {
        let _ = worker.call(op);
        op += 1;
    }
    let warm = (op, warm_start.elapsed());
    let batch = batch_size(worker, workload.timing, &mut op, stop, warm);
    let mut rec = WorkerRecord::new(false, kinds);
    rec.batch = batch;
    rec.windows = Windows::new(windows);
    let bytes_counter = ThreadBytes::current();
    let counting = alloc::counting_installed();
    measuring.fetch_add(1, Ordering::Release);
    let bytes_before = bytes_counter.get();
    let allocs_before = alloc::thread_allocs();
    let start = Instant::now();
    rec.windows.begin(start);
    let end = if batch > 1 {
        closed_batches(worker, workload.stop, stop, &mut rec, op, start)
    } else {
        closed_each(worker, workload.stop, stop, &mut rec, op, start)
    };
    let allocs_after = alloc::thread_allocs();
    let bytes_after = bytes_counter.get();
    rec.start = start;
    rec.end = end;
    rec.windows.end(end);
    rec.bytes = bytes_before.zip(bytes_after).map(|(b, a)| a - b);
    rec.allocs = counting.then(|| allocs_after - allocs_before);
    rec.accounted_ops = rec.operations;
    rec
}

/// The measured loop, each operation timed alone with one clock read per
/// operation: an operation's end is the next one's start. What the loop
/// does between two operations (recording the last one, the stop checks)
/// is thus inside the next one's latency; [`loop_cost_ns`] measures that
/// once per run for the report, and it costs less than the second clock
/// read it replaces. After a failed operation the clock is read again:
/// error bookkeeping is no operation's latency. Returns the last reading.
#[inline(never)]
fn closed_each(
    worker: &mut dyn Worker,
    rule: Stop,
    stop: &AtomicBool,
    rec: &mut WorkerRecord,
    mut op: u64,
    start: Instant,
) -> Instant {
    let mut t0 = start;
    loop {
        let result = worker.call(op);
        let t1 = Instant::now();
        let failed = result.is_err();
        let ns = t1.duration_since(t0).as_nanos() as u64;
        rec.record(result, ns);
        rec.windows.record(t1, ns, !failed);
        t0 = if failed { Instant::now() } else { t1 };
        op += 1;
        let done = match rule {
            Stop::Duration(d) => t1.duration_since(start) >= d,
            Stop::Iterations(n) => rec.operations >= n,
        };
        if done {
            return t1;
        }
        if rec.operations.is_multiple_of(POLL_EVERY) && stop.load(Ordering::Relaxed) {
            rec.interrupted = true;
            return t1;
        }
    }
}

/// An operation that does nothing: what is left is the harness.
struct Empty;

impl Worker for Empty {
    fn call(&mut self, _: u64) -> Result<Outcome, crate::target::OpError> {
        Ok(Outcome::Done)
    }
}

/// What rigor's closed loop costs per operation when timing each one alone:
/// one clock read, recording into the histogram and the loop's checks, from
/// the loop run on an operation that does nothing (median of 7 runs of
/// 100,000 operations). Every per-operation latency includes it.
pub fn loop_cost_ns() -> f64 {
    const OPS: u64 = 100_000;
    let stop = AtomicBool::new(false);
    let mut costs: Vec<f64> = (0..7)
        .map(|_| {
            let mut rec = WorkerRecord::new(false, false);
            let start = Instant::now();
            let end = closed_each(&mut Empty, Stop::Iterations(OPS), &stop, &mut rec, 0, start);
            end.duration_since(start).as_nanos() as f64 / OPS as f64
        })
        .collect();
    costs.sort_by(f64::total_cmp);
    costs[costs.len() / 2]
}

/// The measured loop for fast operations: batches of `rec.batch` between
/// two clock reads, each batch's mean recorded once per operation in it,
/// so percentiles are of batch means (labelled so in reports).
#[inline(never)]
fn closed_batches(
    worker: &mut dyn Worker,
    rule: Stop,
    stop: &AtomicBool,
    rec: &mut WorkerRecord,
    mut op: u64,
    start: Instant,
) -> Instant {
    loop {
        let n = match rule {
            Stop::Iterations(total) => rec.batch.min(total - rec.operations),
            Stop::Duration(_) => rec.batch,
        };
        let errors_before = rec.errors;
        let t0 = Instant::now();
        for _ in 0..n {
            match worker.call(op) {
                Ok(Outcome::Done) => {}
                Ok(outcome) => match &mut rec.kinds {
                    Some(k) => k.count(outcome),
                    None => debug_assert!(
                        false,
                        "a worker reported {outcome:?}, but its target's facts say `outcomes: false`"
                    ),
                },
                Err(e) => rec.error(e),
            }
            op += 1;
        }
        let t1 = Instant::now();
        let mean = t1.duration_since(t0).as_nanos() as u64 / n.max(1);
        // Failed operations are left out of the latency (their time is in
        // the batch's mean; any error fails `errors.rate` by default).
        let failed = rec.errors - errors_before;
        let succeeded = n - failed;
        if succeeded > 0 {
            let _ = rec
                .histogram
                .record_n(mean.clamp(1, crate::stats::MAX_NS), succeeded);
        }
        rec.windows.record_n(t1, mean, succeeded, failed);
        rec.operations += n;
        rec.publish(n);
        let done = match rule {
            Stop::Duration(d) => t1.duration_since(start) >= d,
            Stop::Iterations(total) => rec.operations >= total,
        };
        if done {
            return t1;
        }
        if stop.load(Ordering::Relaxed) {
            rec.interrupted = true;
            return t1;
        }
    }
}

/// One OS thread with a single-threaded runtime running `tasks` async workers.
fn async_thread(
    target: &dyn AsyncWorkers,
    kinds: bool,
    tasks: &[WorkerContext],
    workload: &WorkloadPlan,
    own: Option<(Scheduled, u64)>,
    stop: &Arc<AtomicBool>,
    shared: &Shared,
) -> Result<WorkerRecord, String> {
    let setup = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a tokio runtime: {e}"))
            .and_then(|rt| {
                let mut workers = target.async_workers(tasks).map_err(|e| e.to_string())?;
                // Connect on this thread's runtime before the clock starts.
                let local = tokio::task::LocalSet::new();
                local
                    .block_on(&rt, async {
                        for w in &mut workers {
                            w.ready().await?;
                        }
                        Ok::<_, crate::target::OpError>(())
                    })
                    .map_err(|e| format!("worker not ready: {e}"))?;
                Ok((rt, workers, local))
            })
    }))
    .map_err(panic_message)
    .and_then(|r| r);
    let (rt, workers, local) = start(shared, setup)?;
    let bytes_counter = ThreadBytes::current();
    let counting = alloc::counting_installed();
    let workload = workload.clone();
    let stop = stop.clone();
    let schedule_start = shared.schedule_start.get().copied();
    let mut rec =
        local.block_on(&rt, async move {
            let mut rec = WorkerRecord::new(own.is_some(), kinds);
            let (b0, a0);
            match own {
                None => {
                    // Warm up every connection, then measure them together.
                    // The workers run as futures of this one task, not as tasks of
                    // their own: a reply wakes the worker without a hop through the
                    // LocalSet's queue. (On one Redis connection the difference was
                    // within this VM's noise; it is one less layer either way.)
                    let warm_until = Instant::now() + workload.warmup;
                    let workers = run_all(
                        workers
                            .into_iter()
                            .map(|w| warm(w, warm_until, stop.clone())),
                    )
                    .await;
                    // The thread's workers record into one record: one latency
                    // histogram in cache instead of one per connection (64 of
                    // them made recording 7% of the client's CPU per request).
                    // Allocated before the memory window opens.
                    let mut thread_rec = WorkerRecord::new(false, kinds);
                    thread_rec.windows = Windows::new(shared.windows);
                    let shared_rec = std::cell::RefCell::new(thread_rec);
                    shared.measuring.fetch_add(1, Ordering::Release);
                    (b0, a0) = (bytes_counter.get(), alloc::thread_allocs());
                    let start = Instant::now();
                    shared_rec.borrow_mut().windows.begin(start);
                    run_all(
                        workers.into_iter().map(|w| {
                            closed_async(w, &shared_rec, workload.stop, start, stop.clone())
                        }),
                    )
                    .await;
                    let mut thread_rec = shared_rec.into_inner();
                    let end = thread_rec.end;
                    thread_rec.windows.end(end);
                    rec.merge(thread_rec);
                    rec.start = start;
                }
                Some((plan, index)) => {
                    let records: Vec<_> = workers
                        .iter()
                        .map(|_| WorkerRecord::new(true, kinds))
                        .collect();
                    // One series of windows for the thread's connections,
                    // counted from the schedule's measured start.
                    let windows = std::cell::RefCell::new(Windows::new(shared.windows));
                    // This thread's tickets, from its pacer to its workers.
                    let (tx, rx) = async_channel::unbounded::<Ticket>();
                    let start = schedule_start.unwrap_or_else(Instant::now);
                    windows.borrow_mut().begin(start + plan.warmup);
                    shared.measuring.fetch_add(1, Ordering::Release);
                    (b0, a0) = (bytes_counter.get(), alloc::thread_allocs());
                    let (lag, records) =
                        futures_util::future::join(
                            pace(plan, start, index, tx, stop.clone()),
                            run_all(workers.into_iter().zip(records).map(|(w, r)| {
                                open_async(w, r, &windows, rx.clone(), stop.clone())
                            })),
                        )
                        .await;
                    for r in records {
                        rec.merge(r);
                    }
                    let mut windows = windows.into_inner();
                    windows.end(rec.end);
                    rec.windows.merge(windows);
                    rec.lag = Some(lag);
                }
            }
            // Async tasks interleave on this thread, so memory is counted for the
            // whole thread over the phase (in rate mode including warm-up
            // operations, which are then also in the operation count).
            rec.bytes = bytes_counter.get().zip(b0).map(|(b1, b0)| b1 - b0);
            rec.allocs = counting.then(|| alloc::thread_allocs() - a0);
            Ok::<_, String>(rec)
        })?;
    if rec.accounted_ops == 0 {
        rec.accounted_ops = rec.operations;
    }
    Ok(rec)
}

/// Runs `futures` as futures of the calling task and returns their outputs in
/// order. `FuturesOrdered` polls only the futures that were woken, so a reply
/// costs one poll however many workers share the thread.
async fn run_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    futures
        .into_iter()
        .collect::<FuturesOrdered<F>>()
        .collect()
        .await
}

async fn warm(
    mut worker: Box<dyn AsyncWorker>,
    until: Instant,
    stop: Arc<AtomicBool>,
) -> Box<dyn AsyncWorker> {
    let mut op = 0;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        let _ = worker.call(op).await;
        op += 1;
    }
    worker
}

async fn closed_async(
    mut worker: Box<dyn AsyncWorker>,
    rec: &std::cell::RefCell<WorkerRecord>,
    rule: Stop,
    start: Instant,
    stop: Arc<AtomicBool>,
) {
    let mut op = 1u64 << 32;
    let mut done_ops = 0u64;
    worker.measuring();
    // One clock read per operation, as in the blocking closed loop: an
    // operation's end is this worker's next start (the loop's own work
    // between them is a few ns, measured by `harness.loop_cost_ns`).
    let mut t0 = Instant::now();
    loop {
        let result = worker.call(op).await;
        let t1 = Instant::now();
        {
            let mut r = rec.borrow_mut();
            let ok = result.is_ok();
            let ns = t1.duration_since(t0).as_nanos() as u64;
            r.record(result, ns);
            r.windows.record(t1, ns, ok);
            r.end = r.end.max(t1);
        }
        t0 = t1;
        op += 1;
        done_ops += 1;
        let done = match rule {
            Stop::Duration(d) => t1.duration_since(start) >= d,
            Stop::Iterations(n) => done_ops >= n,
        };
        if done {
            break;
        }
        if stop.load(Ordering::Relaxed) {
            rec.borrow_mut().interrupted = true;
            break;
        }
    }
    rec.borrow_mut().add_samples(worker.samples());
}

async fn open_async(
    mut worker: Box<dyn AsyncWorker>,
    mut rec: WorkerRecord,
    windows: &std::cell::RefCell<Windows>,
    rx: async_channel::Receiver<Ticket>,
    stop: Arc<AtomicBool>,
) -> WorkerRecord {
    let mut first = None;
    let mut op = 0;
    let mut warm_ops = 0u64;
    while let Ok(ticket) = rx.recv().await {
        if stop.load(Ordering::Relaxed) {
            rec.interrupted = true;
            break;
        }
        let actual = Instant::now();
        if rec.dropped_late(ticket, actual) {
            continue;
        }
        if ticket.measured && first.is_none() {
            worker.measuring();
        }
        let result = worker.call(op).await;
        let end = Instant::now();
        op += 1;
        if !ticket.measured {
            warm_ops += 1;
            continue;
        }
        first.get_or_insert(ticket.intended);
        record_open(
            &mut rec,
            &mut windows.borrow_mut(),
            ticket,
            actual,
            end,
            result,
        );
    }
    rec.start = first.unwrap_or(rec.start);
    rec.accounted_ops = rec.operations + warm_ops;
    rec.add_samples(worker.samples());
    rec
}

#[cfg(test)]
mod tests {
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
