//! Targets that calibrate the harness itself: each is a known truth.
//!
//! - `noop` does nothing: its latency is the harness's own cost per
//!   operation (two clock reads, a dynamic call, a histogram record).
//! - `spin` busy-waits a configured service time: a truth against which
//!   rigor's reported latency can be checked.
//! - `timed` waits for nothing: each operation reports a duration drawn
//!   from a seeded distribution, so a run's figures follow from its seed
//!   and the statistics and verdicts can be tested without a clock.
//! - `leak` keeps a configured number of bytes per operation: a truth
//!   against which bytes/op, allocs/op and memory growth can be checked.

use std::alloc::Layout;
use std::time::{Duration, Instant};

use rigor_engine::target::{
    BlockingWorkers, Facts, MemoryScope, OpError, Outcome, Target, TargetError, Worker,
    WorkerContext, Workers,
};
use rigor_scenario::model::{LeakSpec, NoopSpec, SpinSpec, TimedSpec};
use rigor_scenario::plan::{Plan, TargetPlan};
use rigor_scenario::rng::{mix64, SplitMix64};

use crate::Kind;

/// Builds `kind: noop`.
#[derive(Debug)]
pub struct NoopFactory;

struct Noop;

impl Kind for NoopFactory {
    type Spec = NoopSpec;
    fn build(_: &NoopSpec, _: &TargetPlan, _: &Plan) -> Result<Box<dyn Target>, TargetError> {
        Ok(Box::new(Noop))
    }
}

impl Target for Noop {
    fn facts(&self) -> Facts {
        Facts::new(MemoryScope::Process)
    }
    fn workers(&self) -> Workers<'_> {
        Workers::Blocking(self)
    }
}

impl BlockingWorkers for Noop {
    fn worker(&self, _: &WorkerContext) -> Result<Box<dyn Worker>, TargetError> {
        Ok(Box::new(Noop))
    }
}

impl Worker for Noop {
    fn input_of(&self, _: u64) -> Option<usize> {
        None
    }

    #[inline(never)]
    fn call(&mut self, op: u64) -> Result<Outcome, OpError> {
        std::hint::black_box(op);
        Ok(Outcome::Done)
    }
}

/// Builds `kind: spin`.
#[derive(Debug)]
pub struct SpinFactory;

/// Busy-waits `0` per operation.
#[derive(Debug, Clone, Copy)]
pub struct Spin(pub Duration);

impl Kind for SpinFactory {
    type Spec = SpinSpec;
    fn build(spec: &SpinSpec, _: &TargetPlan, _: &Plan) -> Result<Box<dyn Target>, TargetError> {
        Ok(Box::new(Spin(spec.service_time.0)))
    }
}

impl Target for Spin {
    fn facts(&self) -> Facts {
        Facts::new(MemoryScope::Process)
    }
    fn workers(&self) -> Workers<'_> {
        Workers::Blocking(self)
    }
}

impl BlockingWorkers for Spin {
    fn worker(&self, _: &WorkerContext) -> Result<Box<dyn Worker>, TargetError> {
        Ok(Box::new(*self))
    }
}

impl Worker for Spin {
    fn input_of(&self, _: u64) -> Option<usize> {
        None
    }

    fn call(&mut self, _: u64) -> Result<Outcome, OpError> {
        // Spin on the clock rather than sleeping: sleeps overshoot by the
        // scheduler's slack (50us+), which would make the truth unknown.
        let start = Instant::now();
        while start.elapsed() < self.0 {
            std::hint::spin_loop();
        }
        Ok(Outcome::Done)
    }
}

/// Builds `kind: timed`.
#[derive(Debug)]
pub struct TimedFactory;

/// Reports durations around `mean_ns` with a relative spread `jitter` per
/// operation and `trial_jitter` per trial.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    mean_ns: f64,
    jitter: f64,
    trial_jitter: f64,
    /// The scenario's seed: each trial's draw depends on it and the trial.
    seed: u64,
}

impl Kind for TimedFactory {
    type Spec = TimedSpec;
    fn build(
        spec: &TimedSpec,
        _: &TargetPlan,
        plan: &Plan,
    ) -> Result<Box<dyn Target>, TargetError> {
        Ok(Box::new(Timed {
            mean_ns: spec.service_time.0.as_nanos() as f64,
            jitter: spec.jitter.map_or(0.0, |p| p.0),
            trial_jitter: spec.trial_jitter.map_or(0.0, |p| p.0),
            seed: plan.workload.seed,
        }))
    }
}

impl Target for Timed {
    fn facts(&self) -> Facts {
        Facts {
            method: Some(
                "self-timed: each operation reports its duration (a test target; nothing is timed)"
                    .into(),
            ),
            self_timed: true,
            ..Facts::new(MemoryScope::Process)
        }
    }
    fn workers(&self) -> Workers<'_> {
        Workers::Blocking(self)
    }
}

impl BlockingWorkers for Timed {
    fn worker(&self, ctx: &WorkerContext) -> Result<Box<dyn Worker>, TargetError> {
        // One draw per trial, the same for every worker of it.
        let mut trial = SplitMix64::new(mix64(self.seed ^ u64::from(ctx.trial) << 32));
        let scale = (1.0 + self.trial_jitter * normal(&mut trial)).max(0.01);
        Ok(Box::new(TimedWorker {
            mean_ns: self.mean_ns * scale,
            jitter: self.jitter,
            rng: SplitMix64::new(ctx.seed),
        }))
    }
}

struct TimedWorker {
    mean_ns: f64,
    jitter: f64,
    rng: SplitMix64,
}

impl Worker for TimedWorker {
    fn input_of(&self, _: u64) -> Option<usize> {
        None
    }

    fn call(&mut self, _: u64) -> Result<Outcome, OpError> {
        let z = if self.jitter > 0.0 {
            normal(&mut self.rng)
        } else {
            0.0
        };
        let ns = (self.mean_ns * (1.0 + self.jitter * z)).max(1.0);
        Ok(Outcome::Took { ns: ns as u64 })
    }
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut SplitMix64) -> f64 {
    let u = 1.0 - rng.next_f64();
    let v = rng.next_f64();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Builds `kind: leak`.
#[derive(Debug)]
pub struct LeakFactory;

/// Keeps `bytes` per operation until its worker ends.
#[derive(Debug, Clone, Copy)]
pub struct Leak {
    layout: Layout,
    every: u64,
}

impl Kind for LeakFactory {
    type Spec = LeakSpec;
    fn build(spec: &LeakSpec, _: &TargetPlan, _: &Plan) -> Result<Box<dyn Target>, TargetError> {
        Leak::new(spec.leak.0)
            .map(|l| l.every(spec.every.unwrap_or(1)))
            .map(|l| Box::new(l) as Box<dyn Target>)
    }
}

impl Leak {
    /// A leak of `bytes` per operation (at least a pointer's size: each
    /// block holds the link to the one before it).
    pub fn new(bytes: u64) -> Result<Self, TargetError> {
        let size = usize::try_from(bytes)
            .ok()
            .filter(|&b| b >= std::mem::size_of::<*mut u8>())
            .ok_or_else(|| TargetError::Invalid(format!("`leak` {bytes}B must be at least 8B")))?;
        Layout::from_size_align(size, std::mem::align_of::<*mut u8>())
            .map(|layout| Leak { layout, every: 1 })
            .map_err(|e| TargetError::Invalid(format!("`leak` {bytes}B: {e}")))
    }

    /// A worker's empty chain of kept blocks.
    fn chain(&self) -> Chain {
        Chain {
            layout: self.layout,
            every: self.every,
            head: std::ptr::null_mut(),
        }
    }

    /// Keeps a block on every `n`-th operation only (`n` at least 1).
    pub fn every(self, n: u64) -> Self {
        Leak {
            every: n.max(1),
            ..self
        }
    }
}

impl Target for Leak {
    fn facts(&self) -> Facts {
        Facts::new(MemoryScope::Process)
    }
    fn workers(&self) -> Workers<'_> {
        Workers::Blocking(self)
    }
}

impl BlockingWorkers for Leak {
    fn worker(&self, _: &WorkerContext) -> Result<Box<dyn Worker>, TargetError> {
        Ok(Box::new(self.chain()))
    }
}

/// The blocks one worker kept, as an intrusive list: each block's first
/// word points at the previous block, so keeping a block allocates nothing
/// besides the block itself (a `Vec` of blocks would add its own growth to
/// the truth).
struct Chain {
    layout: Layout,
    every: u64,
    head: *mut u8,
}

impl Worker for Chain {
    fn input_of(&self, _: u64) -> Option<usize> {
        None
    }

    fn call(&mut self, op: u64) -> Result<Outcome, OpError> {
        if !op.is_multiple_of(self.every) {
            return Ok(Outcome::Done);
        }
        // SAFETY: the layout has a non-zero size (at least 8 bytes) and
        // pointer alignment, so the block holds the link word at offset 0.
        unsafe {
            let block = std::alloc::alloc(self.layout);
            if block.is_null() {
                return Err(OpError::new("alloc", "out of memory"));
            }
            // Touch every byte: the leak is resident, not only reserved.
            std::ptr::write_bytes(block, 0xa5, self.layout.size());
            block.cast::<*mut u8>().write(self.head);
            self.head = block;
        }
        Ok(Outcome::Done)
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        while !self.head.is_null() {
            // SAFETY: every block in the list was allocated with
            // `self.layout` by `call` and is freed exactly once here.
            unsafe {
                let next = self.head.cast::<*mut u8>().read();
                std::alloc::dealloc(self.head, self.layout);
                self.head = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `ops` operations on a fresh chain of `leak` and counts the blocks it keeps.
    fn kept(leak: Leak, ops: u64) -> usize {
        let mut chain = leak.chain();
        for op in 0..ops {
            chain.call(op).unwrap();
        }
        let mut n = 0;
        let mut p = chain.head;
        while !p.is_null() {
            n += 1;
            // SAFETY: blocks of the chain, still alive.
            p = unsafe { p.cast::<*mut u8>().read() };
        }
        n
    }

    #[test]
    fn a_leak_keeps_its_blocks_until_the_worker_ends() {
        assert_eq!(kept(Leak::new(64).unwrap(), 1000), 1000);
        assert!(Leak::new(4).is_err());
    }

    #[test]
    fn every_keeps_one_block_per_n_operations() {
        assert_eq!(kept(Leak::new(64).unwrap().every(10), 1000), 100);
    }
}
