//! Targets that calibrate the harness itself.
//!
//! - `noop` does nothing: its latency is the harness's own cost per
//!   operation (two clock reads, a dynamic call, a histogram record).
//! - `spin` busy-waits a configured service time: a known truth against
//!   which rigor's reported latency can be checked.

use std::time::{Duration, Instant};

use rigor_engine::target::{
    OpError, Outcome, Target, TargetError, TargetFactory, Worker, WorkerContext,
};
use rigor_scenario::model::TargetSpec;
use rigor_scenario::plan::{Plan, TargetPlan};

/// Builds `kind: noop`.
#[derive(Debug)]
pub struct NoopFactory;

struct Noop;

impl TargetFactory for NoopFactory {
    fn kind(&self) -> &'static str {
        "noop"
    }
    fn build(&self, _: &TargetPlan, _: &Plan) -> Result<Box<dyn Target>, TargetError> {
        Ok(Box::new(Noop))
    }
}

impl Target for Noop {
    fn worker(&self, _: &WorkerContext) -> Result<Box<dyn Worker>, TargetError> {
        Ok(Box::new(Noop))
    }
}

impl Worker for Noop {
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

impl TargetFactory for SpinFactory {
    fn kind(&self) -> &'static str {
        "spin"
    }
    fn build(&self, target: &TargetPlan, _: &Plan) -> Result<Box<dyn Target>, TargetError> {
        match &target.spec {
            TargetSpec::Spin(s) => Ok(Box::new(Spin(s.service_time.0))),
            _ => Err(TargetError::Invalid("not a spin target".into())),
        }
    }
}

impl Target for Spin {
    fn worker(&self, _: &WorkerContext) -> Result<Box<dyn Worker>, TargetError> {
        Ok(Box::new(*self))
    }
}

impl Worker for Spin {
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
