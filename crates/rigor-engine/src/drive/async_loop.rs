//! Async workers (connections): spread over one single-threaded tokio
//! runtime per core, closed loop or open loop on each runtime's share of
//! the schedule.

use super::*;

/// One OS thread with a single-threaded runtime running `tasks` async workers.
pub(super) fn async_thread(
    target: &dyn AsyncWorkers,
    (kinds, inputs): (bool, Option<usize>),
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
    let mut rec = local.block_on(&rt, async move {
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
                thread_rec.inputs = inputs.and_then(crate::record::InputTally::new);
                let shared_rec = std::cell::RefCell::new(thread_rec);
                shared.measuring.fetch_add(1, Ordering::Release);
                (b0, a0) = (bytes_counter.get(), alloc::thread_allocs());
                let start = Instant::now();
                shared_rec.borrow_mut().windows.begin(start);
                run_all(
                    workers
                        .into_iter()
                        .map(|w| closed_async(w, &shared_rec, workload.stop, start, stop.clone())),
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
                // One per-input tally for the thread's connections (one
                // each would be connections x inputs slots).
                let tally =
                    std::cell::RefCell::new(inputs.and_then(crate::record::InputTally::new));
                // One series of windows for the thread's connections,
                // counted from the schedule's measured start.
                let windows = std::cell::RefCell::new(Windows::new(shared.windows));
                // This thread's tickets, from its pacer to its workers.
                let (tx, rx) = async_channel::unbounded::<Ticket>();
                let start = schedule_start.unwrap_or_else(Instant::now);
                windows.borrow_mut().begin(start + plan.warmup);
                shared.measuring.fetch_add(1, Ordering::Release);
                (b0, a0) = (bytes_counter.get(), alloc::thread_allocs());
                let (lag, records) = futures_util::future::join(
                    pace(plan, start, index, tx, stop.clone()),
                    run_all(workers.into_iter().zip(records).map(|(w, r)| {
                        open_async(w, r, (&windows, &tally), rx.clone(), stop.clone())
                    })),
                )
                .await;
                for r in records {
                    rec.merge(r);
                }
                rec.inputs = tally.into_inner();
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
pub(super) async fn run_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    futures
        .into_iter()
        .collect::<FuturesOrdered<F>>()
        .collect()
        .await
}

pub(super) async fn warm(
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

pub(super) async fn closed_async(
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
            let ns = r.record(result, ns);
            r.windows.record(t1, ns, ok);
            r.end = r.end.max(t1);
            if r.inputs.is_some() {
                r.tally(worker.input_of(op), ns, ok);
            }
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

pub(super) async fn open_async(
    mut worker: Box<dyn AsyncWorker>,
    mut rec: WorkerRecord,
    (windows, tally): (
        &std::cell::RefCell<Windows>,
        &std::cell::RefCell<Option<crate::record::InputTally>>,
    ),
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
        let this = ticket.replay.unwrap_or(op);
        let result = worker.call(this).await;
        let end = Instant::now();
        op += 1;
        if !ticket.measured {
            warm_ops += 1;
            continue;
        }
        first.get_or_insert(ticket.intended);
        let (ns, ok) = record_open(
            &mut rec,
            &mut windows.borrow_mut(),
            ticket,
            actual,
            end,
            result,
        );
        if let (true, Some(t)) = (ok, tally.borrow_mut().as_mut()) {
            if let Some(i) = worker.input_of(this) {
                t.add(i, ns);
            }
        }
    }
    rec.start = first.unwrap_or(rec.start);
    rec.accounted_ops = rec.operations + warm_ops;
    rec.add_samples(worker.samples());
    rec
}
