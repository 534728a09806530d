//! What workers record during a trial, and what a trial hands back: the
//! data types every driver (closed and open loop, blocking and async,
//! paired rounds) and the rate-mode schedule share. Recording only; no
//! driving, no aggregation, so the drivers and the schedule both sit above
//! this module.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::stats::new_histogram;
use crate::target::{Outcome, Worker};
use crate::windows::{WindowPlan, Windows};

thread_local! {
    /// The [`Progress`] of the worker thread this is, set when it starts;
    /// every record made on the thread publishes into it.
    pub(crate) static PROGRESS: std::cell::RefCell<Option<Arc<Progress>>> = const { std::cell::RefCell::new(None) };
}

/// A worker reported an operation kind its target's facts do not declare
/// (`outcomes: false`): the kind would be dropped, a bug to catch in tests
/// rather than data to lose quietly. Nothing in release builds.
#[inline]
pub(crate) fn undeclared(outcome: Outcome) {
    debug_assert!(
        false,
        "a worker reported {outcome:?}, but its target's facts say `outcomes: false`"
    );
}

/// Error messages kept per worker per trial.
pub(crate) const KEEP_MESSAGES: usize = 5;
/// How often the stop flag is polled in closed loop, in operations.
pub(crate) const POLL_EVERY: u64 = 16;

/// Latencies and counts by operation kind (cache targets, decision caches).
#[derive(Debug)]
pub(crate) struct Kinds {
    /// Reads, hits, misses and writes, in [`KIND_NAMES`] order.
    pub histograms: [Histogram<u64>; 4],
    /// Operations of each kind.
    pub counts: [u64; 4],
}

/// Names of [`Kinds`] slots, as in metric names (`latency.get.p99`).
pub(crate) const KIND_NAMES: [&str; 4] = ["get", "hit", "miss", "set"];

impl Kinds {
    pub(crate) fn new() -> Self {
        Kinds {
            histograms: std::array::from_fn(|_| new_histogram()),
            counts: [0; 4],
        }
    }

    /// The slots an outcome falls in: reads count as `get` and as `hit` or
    /// `miss`; decision lookups only as `hit` or `miss`.
    #[inline]
    fn slots(outcome: Outcome) -> [Option<usize>; 2] {
        match outcome {
            Outcome::Done => [None, None],
            Outcome::Get { hit } => [Some(0), Some(if hit { 1 } else { 2 })],
            Outcome::Set => [Some(3), None],
            Outcome::Lookup { hit } => [Some(if hit { 1 } else { 2 }), None],
            Outcome::Took { .. } => [None, None],
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, outcome: Outcome, ns: u64) {
        for i in Self::slots(outcome).into_iter().flatten() {
            self.histograms[i].saturating_record(ns);
            self.counts[i] += 1;
        }
    }

    #[inline]
    pub(crate) fn count(&mut self, outcome: Outcome) {
        for i in Self::slots(outcome).into_iter().flatten() {
            self.counts[i] += 1;
        }
    }

    pub(crate) fn cloned(&self) -> Kinds {
        Kinds {
            histograms: self.histograms.clone(),
            counts: self.counts,
        }
    }

    pub(crate) fn merge_from(&mut self, other: &Kinds) {
        self.merge(other);
    }

    fn merge(&mut self, other: &Kinds) {
        for i in 0..4 {
            let _ = self.histograms[i].add(&other.histograms[i]);
            self.counts[i] += other.counts[i];
        }
    }
}

/// A worker thread's count of operations done in the measured phase, read
/// by the coordinator while a soak samples. One writer (the thread that
/// owns it) and a cache line of its own, so publishing is a plain store.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Operations done, successes and failures.
    pub(crate) operations: std::sync::atomic::AtomicU64,
    /// Failed operations.
    pub(crate) errors: std::sync::atomic::AtomicU64,
}

impl Progress {
    fn add(counter: &std::sync::atomic::AtomicU64, n: u64) {
        // Single writer: load + store, no locked instruction.
        let v = counter.load(Ordering::Relaxed);
        counter.store(v + n, Ordering::Relaxed);
    }
}

/// A scheduled operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    /// When the schedule says the operation starts.
    pub intended: Instant,
    /// Past the warm-up.
    pub measured: bool,
    /// Tickets not started by then are dropped: the target fell too far behind.
    pub deadline: Instant,
    /// A replayed arrival (`rate: recorded`): the schedule's operation
    /// number, which is its input's; the worker runs that operation.
    pub replay: Option<u64>,
}

/// What one worker (or one runtime thread) measured.
#[derive(Debug)]
pub(crate) struct WorkerRecord {
    pub histogram: Histogram<u64>,
    /// Open loop only: time from the actual send.
    pub service: Option<Histogram<u64>>,
    /// Measured operations attempted, failed ones included.
    pub operations: u64,
    /// Those that failed.
    pub errors: u64,
    pub messages: Vec<String>,
    pub start: Instant,
    pub end: Instant,
    pub bytes: Option<u64>,
    pub allocs: Option<u64>,
    /// Operations whose memory is in `bytes` and `allocs`.
    pub accounted_ops: u64,
    pub interrupted: bool,
    /// Open loop: tickets never started because the target fell too far behind.
    pub dropped: u64,
    /// Errors by class (`OpError::class`).
    pub error_kinds: std::collections::BTreeMap<&'static str, u64>,
    /// Per-kind latencies and counts, for targets that report outcomes.
    pub kinds: Option<Box<Kinds>>,
    /// Operations per timed batch; 1 when each operation is timed alone.
    pub batch: u64,
    /// Rate mode on a worker's own schedule: how late it woke for the
    /// operations it was idle for (operations it was behind on wait in
    /// the latency instead).
    pub lag: Option<Histogram<u64>>,
    /// Figures the workers gathered per operation besides latency
    /// ([`crate::target::AsyncWorker::samples`]), by metric prefix.
    pub samples: std::collections::BTreeMap<&'static str, Histogram<u64>>,
    /// Where this thread publishes its operations done (worker threads only).
    progress: Option<Arc<Progress>>,
    /// Throughput, latency and errors per window over the measured phase.
    pub windows: Windows,
    /// Self-timed operations ([`Outcome::Took`]): the time they reported,
    /// which stands for the measured span (0 for every other target).
    pub reported_ns: u64,
    /// Closed loop: time spent in [`crate::target::Worker::prepare`]
    /// during the measured phase, left out of the span's throughput.
    pub paused_ns: u64,
    /// Operations and time per input, for targets whose operations each
    /// evaluate one input ([`crate::target::Facts::inputs`]).
    pub inputs: Option<InputTally>,
}

/// Per input: successful operations and their nanoseconds. Two adds per
/// operation, into memory allocated and touched before the measured phase.
#[derive(Debug, Clone)]
pub(crate) struct InputTally {
    /// `[operations, nanoseconds]` by input index.
    pub slots: Vec<[u64; 2]>,
}

/// Per-input costs are kept up to this many inputs (16 MiB per worker);
/// beyond it the run says so instead.
pub(crate) const TALLY_MAX_INPUTS: usize = 1 << 20;

impl InputTally {
    /// Slots for `n` inputs, every page written once so that no measured
    /// operation pays a page fault for them.
    pub(crate) fn new(n: usize) -> Option<Self> {
        if n == 0 || n > TALLY_MAX_INPUTS {
            return None;
        }
        let mut slots = vec![[0u64; 2]; n];
        // A zeroed allocation may be lazily mapped; volatile writes are not
        // optimised away.
        for s in slots.iter_mut().step_by(256) {
            // SAFETY: `s` is a valid, aligned, exclusive reference.
            unsafe { std::ptr::write_volatile(s, [0, 0]) };
        }
        Some(InputTally { slots })
    }

    /// One successful operation on input `index`, `ns` long.
    #[inline]
    pub(crate) fn add(&mut self, index: usize, ns: u64) {
        if let Some(s) = self.slots.get_mut(index) {
            s[0] += 1;
            s[1] += ns;
        }
    }

    /// Adds another tally (another worker, another trial).
    pub(crate) fn merge(&mut self, other: &InputTally) {
        for (a, b) in self.slots.iter_mut().zip(&other.slots) {
            a[0] += b[0];
            a[1] += b[1];
        }
    }
}

impl WorkerRecord {
    pub(crate) fn new(open: bool, kinds: bool) -> Self {
        let now = Instant::now();
        WorkerRecord {
            histogram: new_histogram(),
            service: open.then(new_histogram),
            operations: 0,
            errors: 0,
            messages: Vec::with_capacity(KEEP_MESSAGES),
            start: now,
            end: now,
            bytes: None,
            allocs: None,
            accounted_ops: 0,
            interrupted: false,
            dropped: 0,
            error_kinds: Default::default(),
            kinds: kinds.then(|| Box::new(Kinds::new())),
            batch: 1,
            lag: None,
            samples: Default::default(),
            progress: PROGRESS.with(|p| p.borrow().clone()),
            windows: Windows::none(),
            reported_ns: 0,
            paused_ns: 0,
            inputs: None,
        }
    }

    /// Attributes a successful operation of `ns` to input `index`, when
    /// this record keeps per-input costs.
    #[inline]
    pub(crate) fn tally(&mut self, index: Option<usize>, ns: u64, ok: bool) {
        if let (true, Some(t), Some(i)) = (ok, &mut self.inputs, index) {
            t.add(i, ns);
        }
    }

    /// Publishes `n` more operations done, for a soak's samples.
    #[inline]
    pub(crate) fn publish(&self, n: u64) {
        if let Some(p) = &self.progress {
            Progress::add(&p.operations, n);
        }
    }

    /// Adds a worker's samples (after its measured phase).
    pub(crate) fn add_samples(
        &mut self,
        samples: impl IntoIterator<Item = (&'static str, Histogram<u64>)>,
    ) {
        add_histograms(&mut self.samples, samples);
    }

    /// Records one timed operation and returns the latency it recorded:
    /// `ns`, or the duration a self-timed operation reported. Only a
    /// success enters the latency histograms: a failed operation is an
    /// error, never a speed.
    #[inline]
    pub(crate) fn record(
        &mut self,
        result: Result<Outcome, crate::target::OpError>,
        mut ns: u64,
    ) -> u64 {
        self.operations += 1;
        if self.operations.is_multiple_of(POLL_EVERY) {
            self.publish(POLL_EVERY);
        }
        match result {
            Ok(Outcome::Done) => self.histogram.saturating_record(ns),
            Ok(Outcome::Took { ns: reported }) => {
                ns = reported;
                self.reported_ns += reported;
                self.histogram.saturating_record(ns);
            }
            Ok(outcome) => {
                self.histogram.saturating_record(ns);
                match &mut self.kinds {
                    Some(k) => k.record(outcome, ns),
                    None => undeclared(outcome),
                }
            }
            Err(e) => self.error(e),
        }
        ns
    }

    #[cold]
    pub(crate) fn error(&mut self, error: crate::target::OpError) {
        self.errors += 1;
        if let Some(p) = &self.progress {
            Progress::add(&p.errors, 1);
        }
        *self.error_kinds.entry(error.class).or_insert(0) += 1;
        if self.messages.len() < KEEP_MESSAGES {
            self.messages.push(error.to_string());
        }
    }

    /// Drops a ticket that is past its deadline, counting it; `true` if dropped.
    pub(crate) fn dropped_late(&mut self, ticket: Ticket, now: Instant) -> bool {
        if now <= ticket.deadline {
            return false;
        }
        if ticket.measured {
            // Never started: its latency is at least this long. Keeping it in
            // the histogram stops an overloaded target from looking fast.
            self.dropped += 1;
            self.histogram
                .saturating_record(now.duration_since(ticket.intended).as_nanos() as u64);
        }
        true
    }

    pub(crate) fn merge(&mut self, other: WorkerRecord) {
        // A record that measured nothing (a worker no ticket reached) keeps
        // its creation time, from before the warm-up: it must not stretch the span.
        (self.start, self.end) = match (self.operations, other.operations) {
            (_, 0) => (self.start, self.end),
            (0, _) => (other.start, other.end),
            _ => (self.start.min(other.start), self.end.max(other.end)),
        };
        let _ = self.histogram.add(&other.histogram);
        if let (Some(a), Some(b)) = (&mut self.service, &other.service) {
            let _ = a.add(b);
        }
        self.operations += other.operations;
        self.accounted_ops += other.accounted_ops;
        self.errors += other.errors;
        self.dropped += other.dropped;
        for (k, n) in other.error_kinds {
            *self.error_kinds.entry(k).or_insert(0) += n;
        }
        for m in other.messages {
            if self.messages.len() < KEEP_MESSAGES {
                self.messages.push(m);
            }
        }
        if let (Some(a), Some(b)) = (&mut self.kinds, &other.kinds) {
            a.merge(b);
        }
        self.interrupted |= other.interrupted;
        // Records merged here ran side by side: their reported time, like
        // their measured span, is the longest one's.
        self.reported_ns = self.reported_ns.max(other.reported_ns);
        self.paused_ns = self.paused_ns.max(other.paused_ns);
        self.batch = self.batch.max(other.batch);
        self.add_samples(other.samples);
        self.windows.merge(other.windows);
        match (&mut self.inputs, other.inputs) {
            (Some(a), Some(b)) => a.merge(&b),
            (None, Some(b)) => self.inputs = Some(b),
            _ => {}
        }
    }
}

/// Adds histograms by name into `into` (the first of a name is moved in).
pub(crate) fn add_histograms(
    into: &mut std::collections::BTreeMap<&'static str, Histogram<u64>>,
    from: impl IntoIterator<Item = (&'static str, Histogram<u64>)>,
) {
    for (name, h) in from {
        match into.get_mut(name) {
            Some(all) => {
                let _ = all.add(&h);
            }
            None => {
                into.insert(name, h);
            }
        }
    }
}

/// What the generator measured.
#[derive(Debug)]
pub(crate) struct GeneratorRecord {
    /// Release time minus intended time of measured tickets, ns.
    pub lag: Histogram<u64>,
}

/// Everything one trial produced.
#[derive(Debug)]
pub(crate) struct TrialData {
    pub records: Vec<WorkerRecord>,
    pub peak_resident: Option<u64>,
    /// A soak's samples over the measured phase (empty otherwise).
    pub memory: Vec<crate::results::MemorySample>,
    pub generator: Option<GeneratorRecord>,
    /// The measured time when it is not the records' span: a paired
    /// target's own rounds, not the whole trial it alternated through.
    pub span_ns: Option<u64>,
}

/// What a worker records besides its latencies: per-kind figures, and
/// windows over time of this shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recording {
    /// The target reports outcome kinds (per-kind histograms).
    pub kinds: bool,
    /// Its operations each evaluate one of this many inputs: per-input
    /// costs are kept ([`InputTally`]).
    pub inputs: Option<usize>,
    /// The windows over time.
    pub windows: WindowPlan,
}

/// Calls a worker's [`Worker::prepare`] outside timing whenever the next
/// operations would leave the window it last prepared, and keeps the time
/// it took. Workers that keep everything ready (`window()` is `u64::MAX`)
/// are never asked.
pub(crate) struct Preparer {
    window: u64,
    /// The first operation the last preparation does not cover.
    next: u64,
    /// Time spent preparing since the last reset.
    pub(crate) paused: std::time::Duration,
}

impl Preparer {
    pub(crate) fn new(worker: &dyn Worker) -> Self {
        let window = worker.window().max(1);
        Preparer {
            window,
            next: if window == u64::MAX { u64::MAX } else { 0 },
            paused: std::time::Duration::ZERO,
        }
    }

    /// The most operations one timed batch may hold: a batch never spans
    /// two windows.
    pub(crate) fn window(&self) -> u64 {
        self.window
    }

    /// Prepares if operations `op..op + n` are not all ready (operations
    /// come in increasing order); true if it did (the caller's clock then
    /// starts afresh).
    #[inline]
    pub(crate) fn ready(&mut self, worker: &mut dyn Worker, op: u64, n: u64) -> bool {
        if op.saturating_add(n) <= self.next {
            return false;
        }
        self.prepare(worker, op);
        true
    }

    #[cold]
    fn prepare(&mut self, worker: &mut dyn Worker, op: u64) {
        let t = Instant::now();
        worker.prepare(op);
        self.paused += t.elapsed();
        self.next = op.saturating_add(self.window);
    }
}
