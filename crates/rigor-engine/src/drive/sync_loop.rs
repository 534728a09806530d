//! Blocking workers: one OS thread each, closed loop (each operation timed
//! alone, or in batches for sub-microsecond ones) or open loop on the
//! worker's share of the schedule.

use super::*;
use crate::record::Preparer;

pub(super) fn sync_thread(
    target: &dyn BlockingWorkers,
    (kinds, inputs): (bool, Option<usize>),
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
                inputs,
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
            inputs,
            windows: shared.windows,
        },
    ))
}

/// Operations per timed batch: 1 (each timed alone) unless `timing` asks
/// for batches, or is `auto` and a probe finds operations under 1us.
/// The warm-up counts as the probe when it was long enough.
pub(super) fn batch_size(
    worker: &mut dyn Worker,
    timing: Timing,
    op: &mut u64,
    stop: &AtomicBool,
    warm: (u64, Duration),
    prep: &mut Preparer,
) -> u64 {
    if timing == Timing::PerOp {
        return 1;
    }
    let start = Instant::now();
    let paused_before = prep.paused;
    let (mut n, mut spent) = warm;
    while (n < PROBE_OPS || spent < PROBE_MIN) && spent < PROBE_MAX && !stop.load(Ordering::Relaxed)
    {
        prep.ready(worker, *op, 1);
        let _ = worker.call(*op);
        *op += 1;
        n += 1;
        // Preparation is not the operation's time.
        spent = (warm.1 + start.elapsed()).saturating_sub(prep.paused - paused_before);
    }
    let mean = spent.as_nanos() as f64 / n.max(1) as f64;
    if timing == Timing::Auto && mean >= BATCH_BELOW_NS {
        return 1;
    }
    ((BATCH_TARGET_NS / mean.max(1.0)).ceil() as u64).clamp(2, 1_000_000.min(prep.window().max(2)))
}

/// One worker's warm-up and measured phase, closed loop. This is the hot loop.
pub(super) fn closed_sync(
    worker: &mut dyn Worker,
    workload: &WorkloadPlan,
    stop: &AtomicBool,
    measuring: &AtomicUsize,
    recording: Recording,
) -> WorkerRecord {
    let Recording {
        kinds,
        inputs,
        windows,
    } = recording;
    let mut op = 0u64;
    let mut prep = Preparer::new(worker);
    let warm_start = Instant::now();
    while warm_start.elapsed() < workload.warmup && !stop.load(Ordering::Relaxed) {
        prep.ready(worker, op, 1);
        let _ = worker.call(op);
        op += 1;
    }
    let warm = (op, warm_start.elapsed().saturating_sub(prep.paused));
    let batch = batch_size(worker, workload.timing, &mut op, stop, warm, &mut prep);
    prep.paused = Duration::ZERO;
    let mut rec = WorkerRecord::new(false, kinds);
    // Batches time no operation alone: no input's cost is known.
    if batch == 1 {
        rec.inputs = inputs.and_then(crate::record::InputTally::new);
    }
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
        closed_batches(worker, workload.stop, stop, &mut rec, op, start, &mut prep)
    } else {
        closed_each(worker, workload.stop, stop, &mut rec, op, start, &mut prep)
    };
    rec.paused_ns = prep.paused.as_nanos() as u64;
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
pub(super) fn closed_each(
    worker: &mut dyn Worker,
    rule: Stop,
    stop: &AtomicBool,
    rec: &mut WorkerRecord,
    mut op: u64,
    start: Instant,
    prep: &mut Preparer,
) -> Instant {
    let mut t0 = start;
    loop {
        if prep.ready(worker, op, 1) {
            t0 = Instant::now();
        }
        let result = worker.call(op);
        let t1 = Instant::now();
        let failed = result.is_err();
        let ns = t1.duration_since(t0).as_nanos() as u64;
        let ns = rec.record(result, ns);
        rec.windows.record(t1, ns, !failed);
        if rec.inputs.is_some() {
            rec.tally(worker.input_of(op), ns, !failed);
        }
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
pub(super) struct Empty;

impl Worker for Empty {
    fn call(&mut self, _: u64) -> Result<Outcome, crate::target::OpError> {
        Ok(Outcome::Done)
    }

    fn input_of(&self, _: u64) -> Option<usize> {
        None
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
            let mut prep = Preparer::new(&Empty);
            let start = Instant::now();
            let end = closed_each(
                &mut Empty,
                Stop::Iterations(OPS),
                &stop,
                &mut rec,
                0,
                start,
                &mut prep,
            );
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
pub(super) fn closed_batches(
    worker: &mut dyn Worker,
    rule: Stop,
    stop: &AtomicBool,
    rec: &mut WorkerRecord,
    mut op: u64,
    start: Instant,
    prep: &mut Preparer,
) -> Instant {
    loop {
        let n = match rule {
            Stop::Iterations(total) => rec.batch.min(total - rec.operations),
            Stop::Duration(_) => rec.batch,
        };
        prep.ready(worker, op, n);
        let errors_before = rec.errors;
        let t0 = Instant::now();
        for _ in 0..n {
            match worker.call(op) {
                Ok(Outcome::Done) => {}
                Ok(outcome) => match &mut rec.kinds {
                    Some(k) => k.count(outcome),
                    None => crate::record::undeclared(outcome),
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
