//! Throughput, latency and errors per time window over a trial, for every
//! run: what a user reads to see warm-up effects, degradation and stalls.
//!
//! Design choices worth knowing:
//! - Each worker records into its own `Windows`, allocated (and its pages
//!   touched) before the measured phase, so recording allocates nothing and
//!   a soak's memory samples and a worker's bytes/op do not see it.
//! - A window's latencies go into a small log-linear histogram (16 buckets
//!   per power of two, 2.1 KiB): a window's percentiles are within 3.2% of
//!   the exact ones, plenty for a chart over time. The trial's own
//!   percentiles come from its full HdrHistogram as before.
//! - Recording costs one clock comparison and one increment: the window
//!   moves on only when an operation ends past its edge.
//! - A trial has at most [`MAX_WINDOWS`] windows: a longer run doubles the
//!   window width up front (soaks), and a run whose length was not known
//!   (`iterations`) merges neighbours pairwise when it runs out of room.
//!   Widths are thus always the planned width times a power of two, so
//!   workers' series merge exactly.
//! - Windows are counted from each worker's measured start (closed loop) or
//!   from the schedule's measured start (rate mode), by an operation's end.

use std::time::{Duration, Instant};

use rigor_scenario::plan::Stop;

/// Most windows one trial keeps.
pub const MAX_WINDOWS: usize = 512;
/// Exact buckets for 0..32 ns, then 16 per power of two up to 2^36 ns (68.7s; larger values land in the last).
const EXACT: usize = 32;
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
const TOP_EXP: u32 = 36;
const BUCKETS: usize = EXACT + (TOP_EXP as usize - 5) * SUB;

/// A window's latency counts.
#[derive(Clone)]
struct Slot {
    ok: u64,
    errors: u64,
    counts: [u32; BUCKETS],
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("ok", &self.ok)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl Slot {
    const EMPTY: Slot = Slot {
        ok: 0,
        errors: 0,
        counts: [0; BUCKETS],
    };

    fn add(&mut self, other: &Slot) {
        self.ok += other.ok;
        self.errors += other.errors;
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
    }

    /// The value at quantile `q`: the middle of its bucket.
    fn quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.counts.iter().map(|&c| c as u64).sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                let (low, high) = bucket_range(i);
                return Some((low + high) as f64 / 2.0);
            }
        }
        None
    }

    /// The upper end of the highest bucket used.
    fn max(&self) -> Option<f64> {
        let i = self.counts.iter().rposition(|&c| c > 0)?;
        Some(bucket_range(i).1 as f64)
    }
}

/// The bucket a latency in ns falls in.
#[inline(always)]
fn bucket(ns: u64) -> usize {
    if ns < EXACT as u64 {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros();
    if exp >= TOP_EXP {
        return BUCKETS - 1;
    }
    let sub = ((ns >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    EXACT + (exp as usize - 5) * SUB + sub
}

/// A bucket's values: `[low, high)` in ns.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < EXACT {
        return (i as u64, i as u64 + 1);
    }
    let exp = 5 + ((i - EXACT) / SUB) as u32;
    let sub = ((i - EXACT) % SUB) as u64;
    let step = 1u64 << (exp - SUB_BITS);
    ((SUB as u64 + sub) * step, (SUB as u64 + sub + 1) * step)
}

/// The width and room a trial's windows get, from the workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowPlan {
    /// Window width (the planned width times a power of two).
    pub width: Duration,
    /// Windows allocated per worker.
    pub capacity: usize,
}

impl WindowPlan {
    /// Windows of `width` for a measured phase ending by `stop`: a duration
    /// longer than [`MAX_WINDOWS`] windows widens them; `iterations` start
    /// with room for 64 and merge as they go.
    pub(crate) fn new(width: Duration, stop: Stop) -> Self {
        let width = width.max(Duration::from_micros(1));
        match stop {
            Stop::Duration(d) => {
                let mut width = width;
                // +2: the operation that crosses the end lands past it.
                while (d.as_nanos() / width.as_nanos()) as usize + 2 > MAX_WINDOWS {
                    width *= 2;
                }
                let capacity = (d.as_nanos() / width.as_nanos()) as usize + 2;
                WindowPlan { width, capacity }
            }
            Stop::Iterations(_) => WindowPlan {
                width,
                capacity: 64,
            },
        }
    }
}

/// One worker's windows.
#[derive(Debug)]
pub(crate) struct Windows {
    width: Duration,
    origin: Instant,
    /// End of the current window: an operation ending at or past it moves on.
    edge: Instant,
    current: usize,
    slots: Vec<Slot>,
    /// The last operation's end, from the origin (the worker's covered span).
    last: Duration,
}

impl Windows {
    /// Windows that record nothing useful (a record no worker measures with).
    pub(crate) fn none() -> Self {
        let now = Instant::now();
        Windows {
            width: Duration::from_secs(1),
            origin: now,
            // Far enough never to be reached: everything stays in slot 0.
            edge: now + Duration::from_secs(100 * 365 * 86_400),
            current: 0,
            slots: vec![Slot::EMPTY],
            last: Duration::ZERO,
        }
    }

    /// Room for `plan`'s windows, allocated and touched now (before any
    /// memory window opens). Call [`Windows::begin`] when measuring starts.
    pub(crate) fn new(plan: WindowPlan) -> Self {
        let mut slots = vec![Slot::EMPTY; plan.capacity.max(1)];
        // Touch every page now: untouched zeroed pages would become
        // resident one window at a time, which a soak would see as growth.
        for s in &mut slots {
            s.counts[0] = std::hint::black_box(1);
            s.counts[0] = 0;
            s.counts[BUCKETS / 2] = std::hint::black_box(0);
        }
        let now = Instant::now();
        Windows {
            width: plan.width,
            origin: now,
            edge: now + plan.width,
            current: 0,
            slots,
            last: Duration::ZERO,
        }
    }

    /// Starts counting windows at `origin` (no allocation).
    pub(crate) fn begin(&mut self, origin: Instant) {
        self.origin = origin;
        self.edge = origin + self.width;
        self.current = 0;
    }

    /// Records `n` operations ending at `at`, of `ns` each (`ok`) or failed.
    #[inline(always)]
    pub(crate) fn record(&mut self, at: Instant, ns: u64, ok: bool) {
        self.record_n(at, ns, ok as u64, (!ok) as u64);
    }

    /// Records `ok` successes of `ns` each and `failed` failures ending at `at`.
    #[inline(always)]
    pub(crate) fn record_n(&mut self, at: Instant, ns: u64, ok: u64, failed: u64) {
        if at >= self.edge {
            self.advance(at);
        }
        let slot = &mut self.slots[self.current];
        slot.ok += ok;
        slot.errors += failed;
        if ok > 0 {
            let c = &mut slot.counts[bucket(ns)];
            *c = c.saturating_add(ok as u32);
        }
    }

    /// Records one operation of `ns` into window `index` directly (paired
    /// rounds: a round's operations belong to it even when the last one
    /// ends past its edge). An index past the room is dropped.
    #[inline(always)]
    pub(crate) fn record_in(&mut self, index: usize, ns: u64, ok: bool) {
        if let Some(slot) = self.slots.get_mut(index) {
            if ok {
                slot.ok += 1;
                let c = &mut slot.counts[bucket(ns)];
                *c = c.saturating_add(1);
            } else {
                slot.errors += 1;
            }
        }
    }

    /// Each window's median, 99th percentile and highest bucket end, ns.
    pub(crate) fn percentiles(&self) -> impl Iterator<Item = [Option<f64>; 3]> + '_ {
        self.slots
            .iter()
            .map(|s| [s.quantile(0.5), s.quantile(0.99), s.max()])
    }

    /// Moves to the window holding `at`, merging neighbours when out of room.
    #[cold]
    #[inline(never)]
    fn advance(&mut self, at: Instant) {
        let since = at.saturating_duration_since(self.origin);
        self.last = self.last.max(since);
        let mut index = (since.as_nanos() / self.width.as_nanos()) as usize;
        while index >= self.slots.len() {
            self.coarsen();
            index = (since.as_nanos() / self.width.as_nanos()) as usize;
        }
        self.current = index;
        self.edge = self.origin + self.width * (index as u32 + 1);
    }

    /// Doubles the width: window `i` becomes windows `2i` and `2i + 1` added.
    fn coarsen(&mut self) {
        let n = self.slots.len();
        for i in 0..n.div_ceil(2) {
            let mut merged = std::mem::replace(&mut self.slots[2 * i], Slot::EMPTY);
            if 2 * i + 1 < n {
                let next = std::mem::replace(&mut self.slots[2 * i + 1], Slot::EMPTY);
                merged.add(&next);
            }
            self.slots[i] = merged;
        }
        self.width *= 2;
        self.current /= 2;
    }

    /// Notes where the worker stopped measuring (its covered span).
    pub(crate) fn end(&mut self, at: Instant) {
        self.last = self.last.max(at.saturating_duration_since(self.origin));
    }

    /// Whether nothing was recorded.
    fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.ok + s.errors == 0)
    }

    /// Adds another worker's windows in (both counted from their own origin).
    pub(crate) fn merge(&mut self, other: Windows) {
        if other.is_empty() {
            self.last = self.last.max(other.last);
            return;
        }
        if self.is_empty() {
            let last = self.last.max(other.last);
            *self = other;
            self.last = last;
            return;
        }
        let mut other = other;
        while self.width < other.width {
            self.coarsen();
        }
        while other.width < self.width {
            other.coarsen();
        }
        if other.slots.len() > self.slots.len() {
            self.slots.resize(other.slots.len(), Slot::EMPTY);
        }
        for (a, b) in self.slots.iter_mut().zip(&other.slots) {
            a.add(b);
        }
        self.last = self.last.max(other.last);
    }
}

pub use rigor_results::{WindowResult, WindowSeries};

impl Windows {
    /// The series of a trial's merged windows: empty windows past the last
    /// operation are dropped, and a last window covering under half a
    /// width (the operations that ended just past a timed run's end) is
    /// folded into the one before, whose span grows by as much.
    pub(crate) fn series(&self) -> WindowSeries {
        let width = self.width.as_nanos() as u64;
        let last = self.last.as_nanos() as u64;
        let mut used = self
            .slots
            .iter()
            .rposition(|s| s.ok + s.errors > 0)
            .map_or(0, |i| i + 1);
        let mut tail = None;
        if used >= 2 && last.saturating_sub((used as u64 - 1) * width) * 2 < width {
            used -= 1;
            tail = Some(&self.slots[used]);
        }
        let windows = self.slots[..used]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let t_ns = i as u64 * width;
                let mut span_ns = width.min(last.saturating_sub(t_ns)).max(1);
                let mut s = s.clone();
                if let Some(t) = tail.filter(|_| i + 1 == used) {
                    s.add(t);
                    span_ns = last - t_ns;
                }
                WindowResult {
                    t_ns,
                    span_ns,
                    operations: s.ok,
                    errors: s.errors,
                    throughput: s.ok as f64 * 1e9 / span_ns as f64,
                    p50: s.quantile(0.50),
                    p99: s.quantile(0.99),
                    max: s.max(),
                }
            })
            .collect();
        WindowSeries {
            width_ns: width,
            windows,
            shards: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order_within_their_resolution() {
        for ns in (0..100_000u64).chain((0..60).map(|e| 1u64 << e)) {
            let b = bucket(ns);
            let (low, high) = bucket_range(b);
            if ns < 1 << TOP_EXP {
                assert!(
                    low <= ns && ns < high,
                    "{ns} not in bucket {b} [{low}, {high})"
                );
                // Midpoint error below 1/32 of the value.
                let mid = (low + high) as f64 / 2.0;
                assert!(
                    (mid - ns as f64).abs() <= ns as f64 / 31.0 + 0.5,
                    "{ns}: {mid}"
                );
            } else {
                assert_eq!(b, BUCKETS - 1);
            }
        }
        let mut last = 0;
        for ns in 0..100_000u64 {
            assert!(bucket(ns) >= last);
            last = bucket(ns);
        }
        assert_eq!(bucket_range(BUCKETS - 1).1, 1 << TOP_EXP);
    }

    #[test]
    fn operations_land_in_the_window_of_their_end_and_quantiles_follow() {
        let plan = WindowPlan::new(
            Duration::from_millis(100),
            Stop::Duration(Duration::from_secs(1)),
        );
        assert_eq!(plan.capacity, 12);
        let mut w = Windows::new(plan);
        let t0 = Instant::now();
        w.begin(t0);
        for i in 0..100 {
            w.record(t0 + Duration::from_millis(10), 1_000 + i, true);
        }
        w.record(t0 + Duration::from_millis(150), 50_000, true);
        w.record(t0 + Duration::from_millis(160), 0, false);
        w.end(t0 + Duration::from_millis(150));
        let s = w.series();
        assert_eq!(s.width_ns, 100_000_000);
        assert_eq!(s.windows.len(), 2);
        assert_eq!((s.windows[0].operations, s.windows[0].errors), (100, 0));
        assert_eq!((s.windows[1].operations, s.windows[1].errors), (1, 1));
        let p50 = s.windows[0].p50.unwrap();
        assert!((p50 - 1_050.0).abs() < 1_050.0 * 0.032, "{p50}");
        assert!((s.windows[1].p99.unwrap() - 50_000.0).abs() < 50_000.0 * 0.032);
        // The last window covered 50ms of its 100.
        assert_eq!(s.windows[1].span_ns, 50_000_000);
        assert!((s.windows[1].throughput - 20.0).abs() < 1e-9);
        assert!((s.windows[0].throughput - 1_000.0).abs() < 1e-9);
        // A last sliver (the operation that crossed a timed run's end) is
        // folded into the window before it.
        let mut w = Windows::new(plan);
        w.begin(t0);
        w.record(t0 + Duration::from_millis(50), 10, true);
        w.record(t0 + Duration::from_millis(110), 10, true);
        w.end(t0 + Duration::from_millis(110));
        let s = w.series();
        assert_eq!(s.windows.len(), 1);
        assert_eq!(
            (s.windows[0].operations, s.windows[0].span_ns),
            (2, 110_000_000)
        );
    }

    #[test]
    fn long_durations_widen_and_unknown_lengths_merge_pairwise() {
        let soak = WindowPlan::new(
            Duration::from_secs(1),
            Stop::Duration(Duration::from_secs(3600)),
        );
        assert!(soak.capacity <= MAX_WINDOWS);
        assert_eq!(soak.width, Duration::from_secs(8));
        let mut w = Windows::new(WindowPlan::new(
            Duration::from_millis(1),
            Stop::Iterations(10),
        ));
        let t0 = Instant::now();
        w.begin(t0);
        // One operation per millisecond for 200ms: 64 slots must coarsen twice.
        for ms in 0..200u64 {
            w.record(t0 + Duration::from_micros(ms * 1000 + 500), 100, true);
        }
        w.end(t0 + Duration::from_millis(200));
        let s = w.series();
        assert_eq!(s.width_ns, 4_000_000);
        assert_eq!(s.windows.len(), 50);
        assert!(s.windows.iter().all(|x| x.operations == 4));
        assert_eq!(s.windows.iter().map(|x| x.operations).sum::<u64>(), 200);
        // Merging with a finer series brings it to the coarser width.
        let mut fine = Windows::new(WindowPlan::new(
            Duration::from_millis(1),
            Stop::Iterations(10),
        ));
        fine.begin(t0);
        fine.record(t0 + Duration::from_micros(4_500), 100, true);
        fine.end(t0 + Duration::from_millis(5));
        w.merge(fine);
        let s = w.series();
        assert_eq!(s.width_ns, 4_000_000);
        assert_eq!(s.windows[1].operations, 5);
        assert_eq!(s.windows.iter().map(|x| x.operations).sum::<u64>(), 201);
    }
}
