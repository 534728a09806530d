//! The pieces of a result that the engine's parts produce: confidence
//! intervals, cache states and setup costs, allocation profiles, a merge
//! of shards, paired rounds and windows over time.

use super::*;

/// A confidence interval and the coverage actually achieved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// The interval's coverage (0.95 when the sample allows it; less when too small).
    pub confidence: f64,
}

/// A cache's state, read outside any measurement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheState {
    /// Entries held.
    pub entries: u64,
    /// Bytes the cache holds, when known (see `cache.memory`).
    pub memory: Option<u64>,
    /// How `memory` was measured.
    pub memory_source: String,
    /// How the case's capacity was applied (e.g. Redis' maxmemory), for the record.
    pub capacity_note: Option<String>,
}

/// Setup costs a target measured while being built.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Setup {
    /// Durations of fresh load runs (parse the policy, load the data), ns.
    pub parse_ns: Vec<u64>,
    /// Durations of the matching compile runs (prepare, and RVM codegen for the VM), ns.
    pub compile_ns: Vec<u64>,
}

/// The allocation profile of a run, resolved and summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocProfile {
    /// Mean bytes between samples.
    pub sample_bytes: f64,
    /// Allocations sampled.
    pub samples: u64,
    /// Samples lost because the table was full.
    pub dropped: u64,
    /// Per target (and `outside trials` for allocations outside trials), the
    /// estimated totals and the top call sites.
    pub targets: Vec<AllocTarget>,
}

/// One target's allocations over all its trials (warm-up included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocTarget {
    /// Target id, or `outside trials` for allocations outside any trial (setup,
    /// the decision check, rigor itself).
    pub id: String,
    /// Estimated bytes allocated.
    pub bytes: f64,
    /// Estimated allocations.
    pub count: f64,
    /// Samples behind the estimates.
    pub samples: u64,
    /// Top call sites by estimated bytes.
    pub by_bytes: Vec<Hotspot>,
    /// Top call sites by estimated allocations.
    pub by_count: Vec<Hotspot>,
}

/// A call site that allocates: the first frame outside the allocator and
/// the standard library's collections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hotspot {
    /// Function, with file and line when known.
    pub site: String,
    /// Estimated bytes allocated there.
    pub bytes: f64,
    /// Estimated allocations there.
    pub count: f64,
    /// Samples behind the estimates.
    pub samples: u64,
}

/// What a merge did: the shards it took, the ones it lacked, and how well
/// their trials overlapped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MergeInfo {
    /// Shards the run was split into (N).
    pub count: u32,
    /// Shards merged, by index.
    pub merged: Vec<u32>,
    /// Shards missing or failed, by index: the merged run is `incomplete`.
    pub missing: Vec<u32>,
    /// What is wrong with each missing or failed shard, in words.
    pub problems: Vec<String>,
    /// The results files merged, by shard index.
    pub sources: BTreeMap<u32, String>,
    /// `--start-at` the shards waited for, when they did.
    pub start_at: Option<String>,
    /// The largest start skew of any trial: the latest shard's start of
    /// measuring minus the earliest's, ns.
    pub max_skew_ns: u64,
    /// The smallest share of a trial's span (first start to last end) in
    /// which every shard was measuring.
    pub min_overlap: Option<f64>,
    /// Every merged trial's skew and overlap.
    pub trials: Vec<TrialSkew>,
    /// Warnings about the merge (shards that barely overlapped).
    pub notes: Vec<String>,
}

impl MergeInfo {
    /// `2, 3 of 4`: the missing or failed shards.
    pub fn missing_list(&self) -> String {
        let list: Vec<String> = self.missing.iter().map(u32::to_string).collect();
        format!("{} of {}", list.join(", "), self.count)
    }

    /// `shard(s) 2, 3 of 4 missing or failed: ...`.
    pub fn missing_text(&self) -> String {
        format!(
            "shard(s) {} missing or failed: {}",
            self.missing_list(),
            self.problems.join("; ")
        )
    }
}

/// How the shards of one trial lined up by the wall clock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrialSkew {
    /// Case name.
    pub case: String,
    /// Target id.
    pub target: String,
    /// Trial number.
    pub trial: u32,
    /// Shards that measured this trial.
    pub shards: u32,
    /// Latest start of measuring minus the earliest, ns.
    pub skew_ns: u64,
    /// Time every shard was measuring over the time any was, in [0, 1].
    pub overlap: f64,
}

/// One round of one target, summed over the worker threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// The target's index in the case (scenario order).
    pub target: u32,
    /// Successful operations.
    pub operations: u64,
    /// Failed operations.
    pub errors: u64,
    /// Time inside successful and failed operations, ns, over all threads.
    pub busy_ns: u64,
    /// The round's median latency of successful operations over all
    /// threads, ns (from a log-linear histogram per round: within 3.2%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ns: Option<f64>,
    /// The round's 99th percentile latency, ns (within 3.2%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ns: Option<f64>,
    /// The round's highest latency's bucket end, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ns: Option<f64>,
}

impl Round {
    /// Mean time per operation, ns.
    pub fn mean_ns(&self) -> Option<f64> {
        let n = self.operations + self.errors;
        (n > 0).then(|| self.busy_ns as f64 / n as f64)
    }
}

/// A trial's series over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSeries {
    /// Width of every window, ns (the planned width, doubled as needed to
    /// keep at most 512 windows).
    pub width_ns: u64,
    /// The windows in time order, from the first measured operation.
    pub windows: Vec<WindowResult>,
    /// Merged from this many shards: operations and throughput are their
    /// sums, latencies the worst shard's in each window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
}

/// One window of a trial, over all its workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    /// Start of the window, ns since measuring began.
    pub t_ns: u64,
    /// Time the window covered, ns: its width, or less for the last one.
    pub span_ns: u64,
    /// Successful operations that ended in the window.
    pub operations: u64,
    /// Failed operations that ended in the window.
    pub errors: u64,
    /// Successful operations per second over `span_ns`.
    pub throughput: f64,
    /// Median latency, ns (within 3.2%: a window's histogram is coarse).
    pub p50: Option<f64>,
    /// 99th percentile latency, ns (within 3.2%).
    pub p99: Option<f64>,
    /// Highest latency's bucket end, ns.
    pub max: Option<f64>,
}
