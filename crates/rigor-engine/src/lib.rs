//! rigor's executor: runs a validated [`rigor_scenario::Plan`] against
//! `dyn` [`target::Target`]s the binary built and produces [`results::Results`].
//!
//! Design choices worth knowing:
//! - Closed loop, one OS thread per worker for in-process targets; each
//!   worker records into its own HdrHistogram (ns, 3 significant digits);
//!   the collector merges after each run. Nothing is shared on the hot path.
//! - Each operation is timed alone between two clock reads; the clock's own
//!   cost is measured and reported in `harness` so small numbers can be judged.
//!   Operations under 1us (found by a probe after warm-up) are timed in
//!   batches of at least 10us instead, and their percentiles are of batch means.
//! - Keys and inputs are drawn into seeded streams before timing ([`keys`]).
//! - Targets are interleaved within each trial, in a rotated order, so that
//!   machine drift hits all of them alike.
//! - Memory: bytes/op from jemalloc's per-thread counter, allocs/op from a
//!   counting `GlobalAlloc` wrapper, resident memory sampled on a timer
//!   (never per operation). See [`alloc`].
//! - The engine knows the [`target::Target`] contract only, never a kind.
//! - One job per module along the data's way: `run` is the loop over cases,
//!   trials and targets; `drive` runs one trial's workers; `trial` turns
//!   their records into a [`results::TrialResult`]; `aggregate` summarises
//!   trials into a target's metrics, statistics, grades and ratios;
//!   [`regress`] compares two sets of trials; [`paired`] runs a case's
//!   targets in alternating rounds and compares them round by round;
//!   [`windows`] keeps every trial's throughput, latency and errors per
//!   window over time; [`alloc_profile`] samples allocations in profile
//!   mode. Which metrics get statistics, regression gating, comparisons
//!   and history, and how trials combine, is read from the one catalogue,
//!   `rigor_scenario::metrics::METRICS`.
//! - The results model is the `rigor-results` crate (re-exported as
//!   [`results`]): reports read it without this engine. Inside the engine
//!   modules import each other in one direction, checked by
//!   `tests/layering.rs`: the model and the recording types (`record`,
//!   [`stats`], [`windows`], [`keys`], [`inference`]) at the bottom, the
//!   drivers (`drive`, `schedule`, [`paired`]) above them, then `trial`,
//!   `aggregate`, [`merge`] and [`run`] on top.

mod aggregate;
pub mod alloc;
pub mod alloc_profile;
pub mod compare;
mod cost;
mod drive;
pub mod env;
pub mod explain;
pub mod grade;
pub mod inference;
pub mod keys;
pub mod merge;
pub mod paired;
mod record;
pub mod regress;
pub mod results;
pub mod run;
mod schedule;
pub mod stats;
pub mod target;
mod trial;
pub mod verify;
pub mod windows;
