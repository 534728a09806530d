//! The contract between the engine and the systems under test.
//!
//! The binary builds each planned target (`rigor-targets` holds the kinds);
//! the engine only sees `dyn Target` and never names an implementation. A
//! [`Target`] is shared and set up once (policy loaded, compile time
//! measured); it says how its workers run ([`Workers`]: blocking threads,
//! async runtimes, or a tool that times itself), and each worker thread asks
//! it for its own [`Worker`] or [`AsyncWorker`], which performs single
//! operations. Workers only do work; timing and counting are the engine's.

use std::collections::BTreeMap;

use rigor_scenario::plan::CasePlan;

/// Errors a target raises while being built or while handing out workers.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The scenario's input is wrong for this target (bad policy, bad config): exit code 2.
    #[error("{0}")]
    Invalid(String),
    /// The target could not be set up or run: exit code 3.
    #[error("{0}")]
    Failed(String),
}

/// One failed operation. Keep it cheap: it is built on the measured path.
#[derive(Debug)]
pub struct OpError {
    /// A short, stable class (`eval`, `connect`, `timeout`, `http_status`, `io`, `decode`),
    /// counted per class in the results (`error_kinds`, its name in results.json).
    pub class: &'static str,
    /// What happened.
    pub message: String,
}

impl OpError {
    /// An error of `class`.
    pub fn new(class: &'static str, message: impl Into<String>) -> Self {
        OpError {
            class,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

/// What one successful operation was, for the per-kind latencies and the hit ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// An operation with no kind (a policy evaluation, a request).
    #[default]
    Done,
    /// A cache read; `hit` says whether the key was present.
    Get {
        /// The key was present.
        hit: bool,
    },
    /// A cache write.
    Set,
    /// A decision-cache lookup in front of a policy; a miss includes the evaluation.
    Lookup {
        /// The decision was cached.
        hit: bool,
    },
    /// A self-timed operation (`kind: timed`, a test target): it took
    /// `ns`, as the target says. The engine records that instead of its
    /// clock's reading, and the trial's time is the workers' reported time,
    /// so statistics and verdicts can be tested without timing anything.
    Took {
        /// The operation's duration, in nanoseconds.
        ns: u64,
    },
}

/// Where a worker sits in the run: which trial, which worker, which seed.
#[derive(Debug, Clone, Copy)]
pub struct WorkerContext {
    /// The worker's index within the case, from 0.
    pub index: usize,
    /// The case being run.
    pub case: CasePlan,
    /// The trial, from 0.
    pub trial: u32,
    /// A seed for this worker in this trial, derived from the scenario's
    /// seed: the same for every target, so targets see the same keys.
    pub seed: u64,
    /// The loop driving this worker calls [`Worker::prepare`] outside
    /// timing every [`Worker::window`] operations, so the worker may keep
    /// only a window of prepared state (parsed inputs). When false (paired
    /// rounds, decision checks), it must keep everything ready.
    pub prepares: bool,
    /// Replaying recorded arrivals (`rate: recorded`): operation `op` is the
    /// schedule's, and must use input `op` (modulo their count), not start
    /// at an offset of the worker's own.
    pub replay: bool,
}

/// What a trial is about to run, for [`TrialHooks::prepare`].
#[derive(Debug, Clone, Copy)]
pub struct TrialContext {
    /// The case being run.
    pub case: CasePlan,
    /// The trial, from 0.
    pub trial: u32,
    /// The trial's seed, derived from the scenario's.
    pub seed: u64,
}

pub use rigor_results::{CacheState, Setup};

/// Where a target's memory metrics (`memory.bytes_per_op`,
/// `memory.allocs_per_op`) are measured; comparisons skip memory metrics
/// between targets whose scopes differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryScope {
    /// The whole operation runs in rigor's process: its allocations are
    /// the operation's (`operation`).
    Process,
    /// The work happens in another process (a server): only rigor's client
    /// side is counted (`client`).
    Client,
    /// An external tool measured itself: the figures are the tool's own
    /// heap (Go's, for `opa bench`), not rigor's allocator (`tool`).
    Tool,
}

impl MemoryScope {
    /// The name results.json records (`targets[].memory_scope`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryScope::Process => "operation",
            MemoryScope::Client => "client",
            MemoryScope::Tool => "tool",
        }
    }
}

/// A target's static facts ([`Target::facts`]), read once after it is
/// built and recorded in the results.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Setup costs measured while building (parse, compile).
    pub setup: Setup,
    /// Where its memory metrics are measured.
    pub memory: MemoryScope,
    /// Its operations report kinds ([`Outcome`] other than `Done`):
    /// per-kind histograms are allocated before timing. A worker that
    /// reports kinds its target did not declare is a bug (a debug
    /// assertion), never silently dropped data.
    pub outcomes: bool,
    /// The peer program it measures and its version (`opa`, `1.22.3
    /// (go1.26.8)`), for the environment fingerprint and the report.
    pub peer: Option<(String, String)>,
    /// How it measures when that differs from rigor's own timing (an
    /// external tool's loop, a sampled percentile), for the report.
    pub method: Option<String>,
    /// Its operations report their own durations ([`Outcome::Took`]): each
    /// is recorded alone (never in timed batches, whose clock readings
    /// would replace the reports).
    pub self_timed: bool,
    /// Its operations each evaluate one of this many inputs, which its
    /// workers name ([`Worker::input_of`]): the engine keeps each input's
    /// operations and time, for the report's slowest inputs and cost by
    /// decision. `None` for targets without inputs (caches, calibration).
    pub inputs: Option<usize>,
}

impl Facts {
    /// The facts of a target whose memory is measured `memory`, with no
    /// setup costs, no operation kinds, no peer and rigor's own timing.
    pub fn new(memory: MemoryScope) -> Facts {
        Facts {
            setup: Setup::default(),
            memory,
            outcomes: false,
            peer: None,
            method: None,
            self_timed: false,
            inputs: None,
        }
    }
}

/// How a target's workers run; the engine drives each shape its own way.
#[derive(Clone, Copy)]
pub enum Workers<'a> {
    /// Blocking calls: each worker is an OS thread of its own.
    Blocking(&'a dyn BlockingWorkers),
    /// Futures on single-threaded runtimes, one per core (I/O-bound targets).
    Async(&'a dyn AsyncWorkers),
    /// The target measures each trial itself (an external benchmark tool
    /// such as `opa bench`) instead of the engine timing its workers.
    SelfTimed(&'a dyn SelfTimed),
}

impl std::fmt::Debug for Workers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Workers::Blocking(_) => "Blocking",
            Workers::Async(_) => "Async",
            Workers::SelfTimed(_) => "SelfTimed",
        })
    }
}

/// A target whose workers are blocking calls ([`Workers::Blocking`]).
pub trait BlockingWorkers: Sync {
    /// A worker for the calling thread. Called on the worker's own thread,
    /// before timing starts.
    fn worker(&self, ctx: &WorkerContext) -> Result<Box<dyn Worker>, TargetError>;
}

/// A target whose workers are futures ([`Workers::Async`]).
pub trait AsyncWorkers: Sync {
    /// The async workers of one runtime thread, created on that thread (the
    /// engine runs one single-threaded runtime per core). A target whose
    /// workers share connections shares them within the thread, so no
    /// operation hops between threads.
    fn async_workers(
        &self,
        contexts: &[WorkerContext],
    ) -> Result<Vec<Box<dyn AsyncWorker>>, TargetError>;
}

/// A target that measures its trials itself ([`Workers::SelfTimed`]).
pub trait SelfTimed: Sync {
    /// Runs and measures one trial.
    fn measure(
        &self,
        trial: &TrialContext,
        workload: &rigor_scenario::plan::WorkloadPlan,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<Measured, TargetError>;
}

/// Per-trial hooks of a target that keeps state between trials (a cache),
/// all called outside timing.
pub trait TrialHooks: Sync {
    /// Before each trial: build a fresh cache with the case's capacity and
    /// preload it. Returns the state after preparing (for `cache.memory` and
    /// `cache.entries`).
    fn prepare(&self, trial: &TrialContext) -> Result<Option<CacheState>, TargetError>;

    /// Once per trial after every worker is set up and connected
    /// ([`AsyncWorker::ready`]) and before any of them runs: a Redis target
    /// sets its memory limit here, with the trial's connections open.
    fn armed(&self) -> Result<(), TargetError> {
        Ok(())
    }

    /// The cache's state after a trial.
    fn cache_state(&self) -> Option<CacheState> {
        None
    }
    /// The entries the cache holds now, read while the workers run (a
    /// soak's samples, on the coordinator thread): cheap, no maintenance
    /// work, an approximation is fine. Tells a cache that is still filling
    /// from a leak.
    fn entries_now(&self) -> Option<u64> {
        None
    }
}

/// A server's memory, read by a soak's sampler while the workers run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerMemory {
    /// The server process's resident set size, bytes (servers rigor
    /// started, whose process it knows).
    pub rss: Option<u64>,
    /// The memory the server says it holds: Redis' `used_memory`, OPA's Go
    /// `heap_inuse`.
    pub heap: Option<u64>,
}

/// A built system under test, shared by its workers.
pub trait Target: Send + Sync {
    /// How its workers run.
    fn workers(&self) -> Workers<'_>;

    /// Its per-trial hooks, if it keeps state between trials.
    fn hooks(&self) -> Option<&dyn TrialHooks> {
        None
    }

    /// What this target is, read once after it is built: its setup costs,
    /// where its memory is measured, whether it reports operation kinds,
    /// the peer it measures and how. Required: a fact a target forgot must
    /// not silently become a default (operation kinds dropped, a Go heap
    /// read as rigor's).
    fn facts(&self) -> Facts;

    /// Running totals of events worth reporting besides errors (a client's
    /// `reconnects`), read before and after each trial, outside timing; each
    /// trial records the difference.
    fn events(&self) -> BTreeMap<&'static str, u64> {
        BTreeMap::new()
    }

    /// The decision for one input, outside any measurement, for the
    /// correctness gate and the decision summary. `None` when the target
    /// makes no decisions.
    fn decide(&self, input: &serde_json::Value) -> Option<Result<Answer, String>> {
        let _ = input;
        None
    }

    /// Called once after the decision check and before the first trial of
    /// any target: a target stops what it started only to answer
    /// [`Target::decide`] (a helper server), so it does not share the
    /// machine with anything measured.
    fn before_timing(&self) {}

    /// Its engine's profile of the policy, when it has one (`--explain`):
    /// regorus, a managed OPA. A capability, like [`Target::server`]:
    /// targets without one have nothing to profile.
    fn explainer(&self) -> Option<&dyn Explain> {
        None
    }

    /// The server this target measures through, when it reads figures of
    /// its own from it (counters, memory) outside timing.
    fn server(&self) -> Option<&dyn ServerProbe> {
        None
    }
}

/// What rigor reads from a target's server, outside any operation's
/// timing ([`Target::server`]).
pub trait ServerProbe: Sync {
    /// The server's cumulative counters and current gauges, read before
    /// and after each trial: `requests`, `alloc_bytes`, `mallocs`,
    /// `gc_cycles` (counters) and `heap_inuse` (gauge). The engine turns
    /// their differences into `server.memory.*` and `server.gc_per_1k`, per
    /// request the server counted. `Ok(None)`: this server has no such
    /// counters; `Err(why)`: it should, and they could not be read (said in
    /// the report, never silently absent).
    fn counters(&self) -> Result<Option<BTreeMap<&'static str, f64>>, String>;

    /// The server's memory now, for a soak's samples (one request to the
    /// server per sample, on the coordinator thread). `None` when it
    /// cannot be read.
    fn memory(&self) -> Option<ServerMemory>;
}

/// A trial measured by the target itself ([`SelfTimed::measure`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    /// Successful operations, as the tool counted them.
    pub operations: u64,
    /// Failed operations.
    pub errors: u64,
    /// First error messages.
    pub error_messages: Vec<String>,
    /// Time the tool measured over, ns.
    pub elapsed_ns: u64,
    /// Metrics by catalogue name (`throughput`, `latency.mean`,
    /// `latency.p99`, `memory.bytes_per_op`, ...), as the tool reported them.
    pub metrics: BTreeMap<String, f64>,
    /// The trial was cut short by Ctrl-C.
    pub interrupted: bool,
}

/// What a policy answered for one input, outside any measurement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// The decision; undefined is [`rigor_scenario::plan::UNDEFINED`].
    pub value: serde_json::Value,
    /// Lines the policy's `print()` calls wrote during this one evaluation
    /// (gathered, never written to a terminal).
    pub prints: Vec<String>,
}

impl From<serde_json::Value> for Answer {
    fn from(value: serde_json::Value) -> Self {
        Answer {
            value,
            prints: Vec::new(),
        }
    }
}

/// Says where a policy target's evaluation time goes, outside the timed
/// trials ([`Target::explainer`]): its engine's profile of the policy.
pub trait Explain: Sync {
    /// Profiles the policy on the plan's inputs `indices`, taking about
    /// `budget` where the engine's profiler lets rigor choose.
    fn explain(
        &self,
        indices: &[usize],
        budget: std::time::Duration,
    ) -> Result<rigor_results::cost::PolicyProfile, String>;
}

/// Performs operations on one thread.
pub trait Worker {
    /// One operation; `op` counts this worker's operations from 0.
    fn call(&mut self, op: u64) -> Result<Outcome, OpError>;

    /// The input operation `op` evaluates (its index among the plan's
    /// inputs), or `None` when operations use no input. Asked after the
    /// operation's clock reading, only of targets whose facts declare
    /// [`Facts::inputs`]. No default: every worker says what it does.
    fn input_of(&self, op: u64) -> Option<usize>;

    /// How many operations one [`Worker::prepare`] readies; `u64::MAX`
    /// when the worker keeps everything ready (most do).
    fn window(&self) -> u64 {
        u64::MAX
    }

    /// Outside timing, before operation `op` (only when the worker's
    /// context says `prepares`): ready what operations `op..op + window()`
    /// need, e.g. parse their inputs. The time it takes is left out of
    /// latency and of the closed loop's throughput, and reported.
    fn prepare(&mut self, _op: u64) {}
}

/// Performs operations as futures, for I/O-bound targets. The engine runs
/// these on single-threaded tokio runtimes (one per OS thread), so the
/// futures need not be `Send` and per-thread memory accounting stays exact.
pub trait AsyncWorker {
    /// One operation; `op` counts this worker's operations from 0.
    fn call(
        &mut self,
        op: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Outcome, OpError>> + '_>>;

    /// As [`Worker::input_of`].
    fn input_of(&self, op: u64) -> Option<usize>;

    /// Called once on the worker's runtime before warm-up and timing:
    /// connect here so that no measured operation pays for it.
    fn ready(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), OpError>> + '_>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Called when this worker's measured phase starts (after its warm-up,
    /// outside timing): samples gathered before it are dropped.
    fn measuring(&mut self) {}

    /// Per-operation figures the worker gathered during the measured phase
    /// besides its latency (a server's own timings for each request, ns),
    /// by metric prefix (`server.eval`); taken once, after the phase.
    fn samples(&mut self) -> Vec<(&'static str, hdrhistogram::Histogram<u64>)> {
        Vec::new()
    }
}
