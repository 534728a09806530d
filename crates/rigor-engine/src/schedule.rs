//! Open-loop schedules (rate mode): operation i is due at start + i/rate.
//!
//! Blocking workers keep their own share of the schedule ([`open_scheduled`]):
//! the thread that waits for an operation's start runs it, so no hand-off
//! sits inside the latency (wrk2's per-connection schedule). Async workers
//! take tickets from one generator thread ([`generate`]). Either way latency
//! runs from the intended start and the waiter's own delay is `schedule.lag`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::alloc::{self, ThreadBytes};
use crate::drive::{GeneratorRecord, WorkerRecord};
use crate::stats::new_histogram;
use crate::target::{Outcome, Worker};

/// The first guess of how late a sleep wakes; it then learns.
const INITIAL_SPIN_WINDOW: Duration = Duration::from_micros(50);
/// No waiter spins longer than this per operation.
const MAX_SPIN_WINDOW: Duration = Duration::from_micros(500);
/// After the schedule ends, operations not started within this time are dropped.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// A scheduled operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    /// When the schedule says the operation starts.
    pub intended: Instant,
    /// Past the warm-up.
    pub measured: bool,
    /// Tickets not started by then are dropped: the target fell too far behind.
    pub deadline: Instant,
}

/// A blocking worker's share of a rate-mode schedule: of the schedule's
/// operations 0, 1, 2, ... (one every 1/rate), worker w of n runs w, w+n, ...
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scheduled {
    /// Operations per second, all workers together.
    pub rate: f64,
    /// Workers sharing the schedule.
    pub workers: u64,
    /// Unmeasured lead-in.
    pub warmup: Duration,
    /// Measured stretch.
    pub duration: Duration,
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
    kinds: bool,
) -> WorkerRecord {
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    let period = 1e9 / plan.rate;
    let warm_n = (plan.warmup.as_secs_f64() * plan.rate).round() as u64;
    let total_n = warm_n + (plan.duration.as_secs_f64() * plan.rate).round() as u64;
    let deadline = start + plan.warmup + plan.duration + DRAIN_GRACE;
    let at = |i: u64| start + Duration::from_nanos((i as f64 * period) as u64);
    let mut rec = WorkerRecord::new(true, kinds);
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
    while i < total_n {
        if stop.load(Ordering::Relaxed) {
            rec.interrupted = true;
            break;
        }
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
                };
                rec.dropped_late(ticket, now);
            }
            break;
        }
        let actual = Instant::now();
        let b0 = bytes_counter.get();
        let a0 = alloc::thread_allocs();
        let result = worker.call(op);
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
        };
        record_open(&mut rec, ticket, actual, end, result);
    }
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
    ticket: Ticket,
    actual: Instant,
    end: Instant,
    result: Result<Outcome, crate::target::OpError>,
) {
    if result.is_ok() {
        if let Some(s) = &mut rec.service {
            s.saturating_record(end.duration_since(actual).as_nanos() as u64);
        }
    }
    rec.end = rec.end.max(end);
    rec.record(
        result,
        end.duration_since(ticket.intended).as_nanos() as u64,
    );
}

/// Releases tickets on schedule; returns its own lag.
pub(crate) fn generate(
    rate: f64,
    warmup: Duration,
    duration: Duration,
    tx: async_channel::Sender<Ticket>,
    stop: &AtomicBool,
) -> GeneratorRecord {
    // Linux rounds sleeps up by the thread's timer slack (50us by default):
    // ask for none so sub-millisecond schedules hold.
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    let period = 1e9 / rate;
    let warm_n = (warmup.as_secs_f64() * rate).round() as u64;
    let total_n = warm_n + (duration.as_secs_f64() * rate).round() as u64;
    let mut lag = new_histogram();
    // Give consumers a moment to block on the channel.
    let start = Instant::now() + Duration::from_millis(2);
    let deadline = start + warmup + duration + DRAIN_GRACE;
    let mut waiter = Waiter {
        window: INITIAL_SPIN_WINDOW,
        share_core: false,
    };
    for i in 0..total_n {
        let intended = start + Duration::from_nanos((i as f64 * period) as u64);
        waiter.wait_until(intended);
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let released = Instant::now();
        let measured = i >= warm_n;
        if measured {
            lag.saturating_record(released.duration_since(intended).as_nanos() as u64);
        }
        if tx
            .try_send(Ticket {
                intended,
                measured,
                deadline,
            })
            .is_err()
        {
            break;
        }
    }
    GeneratorRecord { lag }
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
                // Grow at once to cover an oversleep; shrink slowly (1% a sleep).
                let decayed = self.window.mul_f64(0.99);
                self.window = decayed
                    .max(late + Duration::from_micros(5))
                    .min(MAX_SPIN_WINDOW);
            } else if self.share_core {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}
