//! Open-loop schedules (rate mode): operation i is due at start + i/rate,
//! or, replaying a decision log (`rate: recorded`), at its logged offset.
//!
//! Blocking workers keep their own share of the schedule ([`open_scheduled`]):
//! the thread that waits for an operation's start runs it, so no hand-off
//! sits inside the latency (wrk2's per-connection schedule). Async workers
//! take tickets from a pacer on their own runtime thread ([`pace`]). Either way latency
//! runs from the intended start and the waiter's own delay is `schedule.lag`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::alloc::{self, ThreadBytes};
use crate::record::WorkerRecord;
use crate::stats::new_histogram;
use crate::target::{Outcome, Worker};

/// The first guess of how late a sleep wakes; it then learns.
const INITIAL_SPIN_WINDOW: Duration = Duration::from_micros(50);
/// The spin window shrinks by this factor a sleep: it follows the largest
/// oversleep of about the last 10,000 sleeps. Measured on the 2-core VM,
/// `noop` at 1000/s with 1 in flight, 4 runs: p99 7-44us when it shrank by
/// 1% a sleep (rare long oversleeps came back before the window had grown
/// again), 2.2-2.5us with this.
const WINDOW_DECAY: f64 = 0.9999;
/// A waiter sharing a core yields while more than this is left, then spins:
/// a yield is a system call (~1us), too coarse for the last stretch.
const YIELD_ABOVE: Duration = Duration::from_micros(3);
/// No waiter spins longer than this per operation.
const MAX_SPIN_WINDOW: Duration = Duration::from_micros(500);
/// After the schedule ends, operations not started within this time are dropped.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(5);

pub(crate) use crate::record::Ticket;

/// A blocking worker's share of a rate-mode schedule: of the schedule's
/// operations 0, 1, 2, ... (one every 1/rate), worker w of n runs w, w+n, ...
#[derive(Debug, Clone)]
pub(crate) struct Scheduled {
    /// Operations per second, all workers together.
    pub rate: f64,
    /// Workers sharing the schedule.
    pub workers: u64,
    /// Unmeasured lead-in.
    pub warmup: Duration,
    /// Measured stretch.
    pub duration: Duration,
    /// `rate: recorded`: operation i starts at `arrivals[i]` ns (from the
    /// schedule's start), the log looping after its last arrival; the
    /// operation replays input i.
    pub arrivals: Option<Arc<[u64]>>,
}

impl Scheduled {
    /// When operation `i` is due, in ns from the start.
    #[inline]
    pub(crate) fn due_ns(&self, i: u64) -> u64 {
        match &self.arrivals {
            None => (i as f64 * 1e9 / self.rate) as u64,
            Some(a) => {
                let n = a.len() as u64;
                (i / n) * self.cycle_ns(a) + a[(i % n) as usize]
            }
        }
    }

    /// A replayed log's length when it loops: its span plus one mean gap.
    fn cycle_ns(&self, a: &[u64]) -> u64 {
        let span = a.last().copied().unwrap_or(0);
        span + (span / (a.len() as u64).saturating_sub(1).max(1)).max(1)
    }

    /// Operations due before `ns` from the start.
    pub(crate) fn due_before(&self, ns: u64) -> u64 {
        match &self.arrivals {
            None => (ns as f64 / 1e9 * self.rate).round() as u64,
            Some(a) => {
                let n = a.len() as u64;
                let cycle = self.cycle_ns(a);
                let whole = ns / cycle;
                whole * n + a.partition_point(|&t| t < ns - whole * cycle) as u64
            }
        }
    }

    /// (warm-up operations, all operations) of the schedule.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let warm = self.warmup.as_nanos() as u64;
        let total = warm + self.duration.as_nanos() as u64;
        (self.due_before(warm), self.due_before(total))
    }

    /// The operation a worker runs for schedule entry `i`: its own count
    /// `op`, or with replayed arrivals `i` itself (input i).
    #[inline]
    fn op(&self, i: u64, op: u64) -> u64 {
        if self.arrivals.is_some() {
            i
        } else {
            op
        }
    }
}

/// Runs a blocking worker on its own share of the schedule: it waits for
/// each of its operations' intended start itself (sleep, then spin the
/// stretch it has learned a sleep oversleeps), and when it is behind it
/// starts at once, so the wait shows in latency (coordinated omission stays
/// corrected). Operations still not started `DRAIN_GRACE` after the
/// schedule ends are dropped, their waits so far recorded.
pub(crate) fn open_scheduled(
    worker: &mut dyn Worker,
    plan: Scheduled,
    start: Instant,
    index: u64,
    stop: &AtomicBool,
    measuring: &AtomicUsize,
    recording: crate::record::Recording,
) -> WorkerRecord {
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    let (warm_n, total_n) = plan.counts();
    let deadline = start + plan.warmup + plan.duration + DRAIN_GRACE;
    let at = |i: u64| start + Duration::from_nanos(plan.due_ns(i));
    let mut rec = WorkerRecord::new(true, recording.kinds);
    rec.inputs = recording.inputs.and_then(crate::record::InputTally::new);
    let mut windows = crate::windows::Windows::new(recording.windows);
    windows.begin(start + plan.warmup);
    let mut lag = new_histogram();
    let bytes_counter = ThreadBytes::current();
    let counting = alloc::counting_installed();
    let (mut bytes, mut allocs) = (0u64, 0u64);
    let mut first = None;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let mut waiter = Waiter {
        window: INITIAL_SPIN_WINDOW,
        share_core: plan.workers >= cores,
    };
    measuring.fetch_add(1, Ordering::Release);
    let mut op = 0u64;
    let mut i = index;
    let mut prep = crate::record::Preparer::new(worker);
    while i < total_n {
        if stop.load(Ordering::Relaxed) {
            rec.interrupted = true;
            break;
        }
        // Before waiting for the start: preparation fills the idle time
        // (it makes the operation late, and shows, only at rates the
        // target cannot sustain with it).
        prep.ready(worker, plan.op(i, op), 1);
        let intended = at(i);
        let measured = i >= warm_n;
        let now = Instant::now();
        if now < intended {
            waiter.wait_until(intended);
            if measured {
                lag.saturating_record(Instant::now().duration_since(intended).as_nanos() as u64);
            }
        } else if now > deadline {
            // Too far behind to catch up: the rest never starts.
            for j in (i..total_n).step_by(plan.workers.max(1) as usize) {
                let ticket = Ticket {
                    intended: at(j),
                    measured: j >= warm_n,
                    deadline,
                    replay: None,
                };
                rec.dropped_late(ticket, now);
            }
            break;
        }
        let actual = Instant::now();
        let b0 = bytes_counter.get();
        let a0 = alloc::thread_allocs();
        let this = plan.op(i, op);
        let result = worker.call(this);
        let end = Instant::now();
        op += 1;
        i += plan.workers.max(1);
        if !measured {
            continue;
        }
        bytes += bytes_counter.get().zip(b0).map_or(0, |(b1, b0)| b1 - b0);
        allocs += alloc::thread_allocs() - a0;
        first.get_or_insert(intended);
        let ticket = Ticket {
            intended,
            measured,
            deadline,
            replay: None,
        };
        let (ns, ok) = record_open(&mut rec, &mut windows, ticket, actual, end, result);
        if rec.inputs.is_some() {
            rec.tally(worker.input_of(this), ns, ok);
        }
    }
    windows.end(rec.end);
    rec.windows = windows;
    rec.start = first.unwrap_or(rec.start);
    rec.bytes = bytes_counter.get().map(|_| bytes);
    rec.allocs = counting.then_some(allocs);
    rec.accounted_ops = rec.operations;
    rec.lag = Some(lag);
    rec
}

#[inline]
pub(crate) fn record_open(
    rec: &mut WorkerRecord,
    windows: &mut crate::windows::Windows,
    ticket: Ticket,
    actual: Instant,
    end: Instant,
    result: Result<Outcome, crate::target::OpError>,
) -> (u64, bool) {
    if result.is_ok() {
        if let Some(s) = &mut rec.service {
            s.saturating_record(end.duration_since(actual).as_nanos() as u64);
        }
    }
    rec.end = rec.end.max(end);
    let ok = result.is_ok();
    let ns = end.duration_since(ticket.intended).as_nanos() as u64;
    let ns = rec.record(result, ns);
    windows.record(end, ns, ok);
    (ns, ok)
}

/// Paces one async runtime thread's share of the schedule: releases each
/// of its operations at the intended start into `tx`, which that thread's
/// workers take from. The pacer runs on the workers' own thread (as a
/// future beside them), so a release wakes a worker without waking another
/// thread (a cross-thread wake put 15-40us into every latency on the 2-core
/// VM). It sleeps on a timerfd (tokio's own timer has millisecond
/// resolution), then spins for the last stretch by yielding to the runtime,
/// which polls I/O meanwhile, so replies to operations in flight are not
/// held up. Returns its lag behind the schedule (measured operations).
pub(crate) async fn pace(
    plan: Scheduled,
    start: Instant,
    index: u64,
    tx: async_channel::Sender<Ticket>,
    stop: Arc<AtomicBool>,
) -> Histogram<u64> {
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    let (warm_n, total_n) = plan.counts();
    let deadline = start + plan.warmup + plan.duration + DRAIN_GRACE;
    let mut lag = new_histogram();
    let step = plan.workers.max(1);
    // Replayed arrivals are not evenly spaced: the timer is armed for each.
    let interval = match plan.arrivals {
        Some(_) => Duration::ZERO,
        None => Duration::from_nanos((step as f64 * 1e9 / plan.rate) as u64),
    };
    let mut waiter = AsyncWaiter::new(interval);
    for i in (index..total_n).step_by(step as usize) {
        let intended = start + Duration::from_nanos(plan.due_ns(i));
        waiter.wait_until(intended).await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let measured = i >= warm_n;
        if measured {
            lag.saturating_record(Instant::now().duration_since(intended).as_nanos() as u64);
        }
        let ticket = Ticket {
            intended,
            measured,
            deadline,
            replay: plan.arrivals.is_some().then_some(i),
        };
        if tx.try_send(ticket).is_err() {
            break;
        }
        // Let the worker start before this pacer arms its next sleep: arming
        // a timer first put 10us (p50) between release and start here.
        tokio::task::yield_now().await;
    }
    lag
}

/// [`Waiter`] for a runtime thread: the sleep is a periodic timerfd the
/// runtime polls, the spin a yield to the runtime. The timer is armed once
/// per spin window (the pacer's ticks are evenly spaced, so a periodic timer
/// wakes `offset` before each of them): arming a timer costs 3-4us on the
/// VM, and a re-arm per operation landed inside other operations' service
/// times.
struct AsyncWaiter {
    /// The spin window learned from oversleeps (as [`Waiter`]'s).
    window: Duration,
    /// The window the timer is armed with (wakes this long before a tick).
    offset: Option<Duration>,
    /// Between this pacer's ticks.
    interval: Duration,
    #[cfg(target_os = "linux")]
    timer: Option<hrtimer::Timer>,
}

impl AsyncWaiter {
    fn new(interval: Duration) -> Self {
        AsyncWaiter {
            window: INITIAL_SPIN_WINDOW,
            offset: None,
            interval,
            #[cfg(target_os = "linux")]
            timer: hrtimer::Timer::new().ok(),
        }
    }

    /// Waits for the tick at `t` until `offset` before it (or returns
    /// early: a spurious or stale expiration; the caller checks the time).
    async fn sleep_before(&mut self, t: Instant, offset: Duration) {
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timer {
            let armed = match self.offset {
                // A periodic timer keeps its ticks; a one-shot is armed each time.
                Some(o) if o == offset && !self.interval.is_zero() => Ok(()),
                _ => timer.arm(t - offset, self.interval),
            };
            if armed.is_ok() {
                self.offset = Some(offset);
                if timer.wait().await.is_ok() {
                    return;
                }
            }
            self.timer = None;
        }
        tokio::time::sleep_until((t - offset).into()).await;
    }

    async fn wait_until(&mut self, t: Instant) {
        loop {
            let now = Instant::now();
            if now >= t {
                return;
            }
            // Re-arm when the learned window outgrows the armed one, or has
            // shrunk well below it.
            let offset = match self.offset {
                Some(o) if self.window <= o && self.window >= o.mul_f64(0.8) => o,
                _ => self.window,
            };
            let left = t - now;
            if left > offset {
                let wake = t - offset;
                self.sleep_before(t, offset).await;
                let late = Instant::now().saturating_duration_since(wake);
                self.window = learn(self.window, late);
            } else {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// The next spin window after a sleep that woke `late`: grown at once to
/// cover an oversleep, shrunk slowly ([`WINDOW_DECAY`]), capped.
fn learn(window: Duration, late: Duration) -> Duration {
    window
        .mul_f64(WINDOW_DECAY)
        .max(late + Duration::from_micros(5))
        .min(MAX_SPIN_WINDOW)
}

/// A periodic high-resolution timer the tokio runtime can wait on.
#[cfg(target_os = "linux")]
mod hrtimer {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::{Duration, Instant};

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    pub(super) struct Timer {
        fd: AsyncFd<OwnedFd>,
    }

    fn timespec(d: Duration) -> libc::timespec {
        libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        }
    }

    impl Timer {
        pub(super) fn new() -> io::Result<Self> {
            // SAFETY: timerfd_create has no memory-safety preconditions; the
            // returned descriptor is owned here from now on.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh descriptor nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: the OwnedFd stays inside the AsyncFd, open and the
            // same descriptor, until both are dropped together.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                .map_err(io::Error::from)?;
            Ok(Timer { fd })
        }

        /// Expires at `first` (at once if past), then every `interval`.
        pub(super) fn arm(&self, first: Instant, interval: Duration) -> io::Result<()> {
            let first = first
                .saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: timespec(interval.max(Duration::from_nanos(1))),
                it_value: timespec(first),
            };
            let fd = self.fd.get_ref().as_raw_fd();
            // SAFETY: `fd` is our timerfd; `spec` is a valid itimerspec.
            if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// Waits for the next expiration (returns at once for one not yet read).
        pub(super) async fn wait(&self) -> io::Result<()> {
            let fd = self.fd.get_ref().as_raw_fd();
            loop {
                let mut guard = self.fd.readable().await?;
                let mut expirations = 0u64;
                // SAFETY: reads 8 bytes into a u64 we own.
                let n = unsafe { libc::read(fd, (&mut expirations as *mut u64).cast(), 8) };
                if n == 8 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::WouldBlock {
                    return Err(e);
                }
                guard.clear_ready();
            }
        }
    }
}

/// Waits for ticket times: sleeps until shortly before, then spins. How
/// late a sleep wakes depends on the machine (tens of microseconds on a
/// VM even with no timer slack), so the spin window follows the largest
/// recent oversleep: precise release without spinning a whole core.
struct Waiter {
    window: Duration,
    /// Yield the core while spinning: when more threads wait than there
    /// are cores, a pure spin starves the others (8 workers spinning on 2
    /// cores put 14ms into p99).
    share_core: bool,
}

impl Waiter {
    fn wait_until(&mut self, t: Instant) {
        loop {
            let now = Instant::now();
            if now >= t {
                return;
            }
            let left = t - now;
            if left > self.window {
                let wake = t - self.window;
                std::thread::sleep(left - self.window);
                let late = Instant::now().saturating_duration_since(wake);
                self.window = learn(self.window, late);
            } else if self.share_core && left > YIELD_ABOVE {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_arrivals_loop_after_the_log() {
        let plan = Scheduled {
            rate: 1.0,
            workers: 1,
            warmup: Duration::from_nanos(20),
            duration: Duration::from_nanos(80),
            arrivals: Some(vec![0, 10, 30].into()),
        };
        // The log's span is 30ns; it loops one mean gap (15ns) later.
        let due: Vec<u64> = (0..7).map(|i| plan.due_ns(i)).collect();
        assert_eq!(due, [0, 10, 30, 45, 55, 75, 90]);
        assert_eq!(plan.due_before(45), 3);
        assert_eq!(plan.due_before(46), 4);
        // Two in the 20ns warm-up, seven before 100ns.
        assert_eq!(plan.counts(), (2, 7));
        assert_eq!(plan.op(5, 2), 5, "a replay runs the schedule's operation");
        let fixed = Scheduled {
            arrivals: None,
            rate: 1e9 / 10.0,
            ..plan
        };
        assert_eq!((fixed.due_ns(3), fixed.counts()), (30, (2, 10)));
        assert_eq!(fixed.op(5, 2), 2);
    }
}
