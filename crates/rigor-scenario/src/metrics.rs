//! The catalogue of metric names: one table, used by the scenario parser
//! (threshold keys and units), the engine (what to compute, how trials
//! combine, which metrics get statistics, regression gating, comparisons and
//! history) and the reporters (how to format). Names are a stable contract.
//!
//! Adding a metric to the statistics or the regression gate is one flag on
//! its entry here; no other list names metrics for those jobs.

use crate::units;

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smaller values are better (latency, errors, memory).
    LowerIsBetter,
    /// Larger values are better (throughput).
    HigherIsBetter,
}

/// The physical kind of a metric's value, which fixes its unit in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Nanoseconds; written as a duration (`10ms`).
    Nanos,
    /// Bytes; written as a size (`10KiB`).
    Bytes,
    /// A fraction in [0, 1]; written as a percentage (`0.5%`).
    Fraction,
    /// Operations per second; written as a rate (`5000/s`).
    PerSecond,
    /// A plain count; written as a number.
    Count,
}

impl Unit {
    /// Parses a threshold value written in this unit into the canonical number.
    pub fn parse(self, text: &str) -> Result<f64, String> {
        match self {
            Unit::Nanos => units::parse_duration(text).map(|d| d.as_nanos() as f64),
            Unit::Bytes => units::parse_size(text).map(|b| b as f64),
            Unit::Fraction => units::parse_percent(text),
            Unit::PerSecond => units::parse_rate(text),
            Unit::Count => text
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("`{text}` is not a number")),
        }
    }

    /// Formats a canonical value for people.
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Nanos => units::format_nanos(value),
            Unit::Bytes => units::format_bytes(value),
            Unit::Fraction => format!("{}%", units::significant(value * 100.0)),
            Unit::PerSecond => format!("{}/s", units::significant(value)),
            Unit::Count => units::significant(value),
        }
    }

    /// An example of a value in this unit, for error messages.
    pub fn example(self) -> &'static str {
        match self {
            Unit::Nanos => "a duration such as `10ms`",
            Unit::Bytes => "a size such as `10KiB`",
            Unit::Fraction => "a percentage such as `0.5%`",
            Unit::PerSecond => "a rate such as `5000/s`",
            Unit::Count => "a number such as `100`",
        }
    }
}

/// How a target's value of a metric is made from its trials' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Across {
    /// Computed from all trials together (merged histograms, summed counts).
    Pooled,
    /// The median of the trials' values.
    Median,
    /// The highest of the trials' values.
    Max,
}

/// Whether and how a metric is gated against a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Not gated.
    No,
    /// A noisy measurement: gated by a rank test on the trials' shift.
    Shift,
    /// An exact count (allocations, bytes per operation): any increase is
    /// WARN, beyond the threshold FAIL.
    Exact,
}

/// One entry of the metric catalogue.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// The stable name used in thresholds and results.
    pub name: &'static str,
    /// The unit of its value.
    pub unit: Unit,
    /// Which way is better.
    pub direction: Direction,
    /// One line for the documentation and reports.
    pub description: &'static str,
    /// How trials combine into the target's value.
    pub across: Across,
    /// Summarised over trials (median, range, interval, CV in `stats`).
    pub stats: bool,
    /// Gated against a baseline (`--baseline`, `rigor compare`, A/A control).
    pub gate: Gate,
    /// Compared as a ratio to the scenario's `compare:` target.
    pub compared: bool,
    /// Kept in the run history (`reports/history`, trend charts).
    pub history: bool,
}

const fn def(
    name: &'static str,
    unit: Unit,
    direction: Direction,
    description: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        unit,
        direction,
        description,
        across: Across::Pooled,
        stats: false,
        gate: Gate::No,
        compared: false,
        history: false,
    }
}

const fn lat(name: &'static str, description: &'static str) -> MetricDef {
    def(name, Unit::Nanos, Direction::LowerIsBetter, description)
}

// Flags, chained on an entry: `lat(..).stats().gated()`.
impl MetricDef {
    const fn stats(self) -> Self {
        MetricDef {
            stats: true,
            ..self
        }
    }
    const fn gated(self) -> Self {
        MetricDef {
            gate: Gate::Shift,
            ..self
        }
    }
    const fn exact(self) -> Self {
        MetricDef {
            gate: Gate::Exact,
            ..self
        }
    }
    const fn compared(self) -> Self {
        MetricDef {
            compared: true,
            ..self
        }
    }
    const fn history(self) -> Self {
        MetricDef {
            history: true,
            ..self
        }
    }
    const fn median(self) -> Self {
        MetricDef {
            across: Across::Median,
            ..self
        }
    }
    const fn max(self) -> Self {
        MetricDef {
            across: Across::Max,
            ..self
        }
    }
}

/// Every metric rigor computes, in report order.
pub const METRICS: &[MetricDef] = &[
    def(
        "throughput",
        Unit::PerSecond,
        Direction::HigherIsBetter,
        "successful operations per second, all workers together (median of trials); failed ones are errors",
    ).median().stats().gated().compared().history(),
    lat("latency.min", "fastest operation"),
    lat("latency.mean", "mean operation latency").stats().gated().compared(),
    lat("latency.stdev", "standard deviation of operation latency"),
    lat("latency.p50", "median operation latency").stats().gated().compared().history(),
    lat("latency.p90", "90th percentile latency").stats().gated().compared(),
    lat("latency.p95", "95th percentile latency"),
    lat("latency.p99", "99th percentile latency").stats().gated().compared().history(),
    lat("latency.p99.9", "99.9th percentile latency").stats().gated().compared(),
    lat("latency.max", "slowest operation"),
    lat(
        "service.mean",
        "rate mode: mean time from the actual send to completion",
    ),
    lat(
        "service.p50",
        "rate mode: median service time (from the actual send)",
    ).compared(),
    lat("service.p90", "rate mode: 90th percentile service time"),
    lat("service.p99", "rate mode: 99th percentile service time").compared(),
    lat("service.p99.9", "rate mode: 99.9th percentile service time"),
    lat("service.max", "rate mode: longest service time"),
    lat(
        "schedule.lag.p50",
        "rate mode: median delay of an idle worker's start behind the schedule",
    ).median(),
    lat(
        "schedule.lag.p99",
        "rate mode: 99th percentile delay of an idle worker's start behind the schedule",
    ).median(),
    lat(
        "schedule.lag.max",
        "rate mode: longest delay of an idle worker's start behind the schedule",
    ).max(),
    // Per-kind latencies: cache targets split reads (get) from writes (set);
    // cache reads and decision-cache lookups split hits from misses.
    lat("latency.get.mean", "cache targets: mean latency of reads (get; a miss with `miss: fill` includes the set)"),
    lat("latency.get.p50", "cache targets: median read latency"),
    lat("latency.get.p90", "cache targets: 90th percentile read latency"),
    lat("latency.get.p99", "cache targets: 99th percentile read latency"),
    lat("latency.get.p99.9", "cache targets: 99.9th percentile read latency"),
    lat("latency.get.max", "cache targets: slowest read"),
    lat("latency.set.mean", "cache targets: mean latency of writes (set)"),
    lat("latency.set.p50", "cache targets: median write latency"),
    lat("latency.set.p90", "cache targets: 90th percentile write latency"),
    lat("latency.set.p99", "cache targets: 99th percentile write latency"),
    lat("latency.set.p99.9", "cache targets: 99.9th percentile write latency"),
    lat("latency.set.max", "cache targets: slowest write"),
    lat("latency.hit.mean", "mean latency of cache hits (cache reads, decision-cache lookups)"),
    lat("latency.hit.p50", "median latency of cache hits"),
    lat("latency.hit.p90", "90th percentile latency of cache hits"),
    lat("latency.hit.p99", "99th percentile latency of cache hits"),
    lat("latency.hit.p99.9", "99.9th percentile latency of cache hits"),
    lat("latency.hit.max", "slowest cache hit"),
    lat("latency.miss.mean", "mean latency of cache misses (including the fill, or the policy evaluation behind a decision cache)"),
    lat("latency.miss.p50", "median latency of cache misses"),
    lat("latency.miss.p90", "90th percentile latency of cache misses"),
    lat("latency.miss.p99", "99th percentile latency of cache misses"),
    lat("latency.miss.p99.9", "99.9th percentile latency of cache misses"),
    lat("latency.miss.max", "slowest cache miss"),
    def(
        "cache.hit_ratio",
        Unit::Fraction,
        Direction::HigherIsBetter,
        "cache reads (or decision lookups) that found their key / all of them, measured phase",
    ).stats(),
    def(
        "cache.entries",
        Unit::Count,
        Direction::HigherIsBetter,
        "entries in the cache after preload (moka entry_count; Redis DBSIZE)",
    ).median(),
    def(
        "cache.entries_end",
        Unit::Count,
        Direction::HigherIsBetter,
        "entries in the cache at the end of the trial",
    ).median(),
    def(
        "cache.memory",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "memory the cache holds after preload: moka, jemalloc bytes allocated since before the cache was built; Redis, INFO used_memory minus the empty server's",
    ).median(),
    def(
        "cache.bytes_per_entry",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "cache.memory / cache.entries: the memory cost of one cached entry, comparable across caches",
    ).median(),
    def(
        "rate.achieved",
        Unit::PerSecond,
        Direction::HigherIsBetter,
        "rate mode: measured operations completed per second, first intended start to last completion (compare with the requested rate)",
    ).median().stats(),
    def(
        "errors.count",
        Unit::Count,
        Direction::LowerIsBetter,
        "failed operations in the measured phase, all trials",
    ),
    def(
        "errors.rate",
        Unit::Fraction,
        Direction::LowerIsBetter,
        "failed operations / all operations (default threshold: critical 0%)",
    ).stats(),
    def(
        "errors.per_second",
        Unit::PerSecond,
        Direction::LowerIsBetter,
        "failed operations per second (median of trials that had errors)",
    ).median(),
    def(
        "compile.time",
        Unit::Nanos,
        Direction::LowerIsBetter,
        "median of fresh policy load + compile runs (parse and compile apart in results)",
    ),
    def(
        "memory.bytes_per_op",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "bytes allocated per operation (jemalloc thread.allocatedp)",
    ).stats().exact().compared(),
    def(
        "memory.allocs_per_op",
        Unit::Count,
        Direction::LowerIsBetter,
        "allocator calls per operation (counting GlobalAlloc wrapper)",
    ).stats().exact().compared(),
    lat("server.eval.mean", "opa-http: the server's own mean query evaluation time (OPA's timer_rego_query_eval_ns, ?metrics=true)"),
    lat("server.eval.p50", "opa-http: median of the server's own query evaluation time"),
    lat("server.eval.p90", "opa-http: 90th percentile of the server's own query evaluation time"),
    lat("server.eval.p99", "opa-http: 99th percentile of the server's own query evaluation time"),
    lat("server.eval.max", "opa-http: longest query evaluation the server timed"),
    lat("server.handler.mean", "opa-http: the server's mean time in its HTTP handler (OPA's timer_server_handler_ns: input parse, evaluation, answer)"),
    lat("server.handler.p50", "opa-http: median time in the server's HTTP handler"),
    lat("server.handler.p90", "opa-http: 90th percentile time in the server's HTTP handler"),
    lat("server.handler.p99", "opa-http: 99th percentile time in the server's HTTP handler"),
    lat("server.handler.max", "opa-http: longest time in the server's HTTP handler"),
    def(
        "server.eval_share",
        Unit::Fraction,
        Direction::HigherIsBetter,
        "opa-http: server.eval.mean / latency.mean, the share of the client's latency that is the policy evaluation itself (the rest is network, HTTP, JSON and the handler)",
    ),
    def(
        "server.memory.bytes_per_op",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "managed OPA: Go heap bytes allocated per request the server counted (go_memstats_alloc_bytes_total from /metrics, before and after each trial; scope `server`)",
    ).median(),
    def(
        "server.memory.allocs_per_op",
        Unit::Count,
        Direction::LowerIsBetter,
        "managed OPA: Go heap allocations per request (go_memstats_mallocs_total)",
    ).median(),
    def(
        "server.gc_per_1k",
        Unit::Count,
        Direction::LowerIsBetter,
        "managed OPA: Go GC cycles per 1000 requests",
    ).median(),
    def(
        "server.memory.heap_inuse",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "managed OPA: Go heap in use after the trial (go_memstats_heap_inuse_bytes)",
    ).median(),
    def(
        "memory.growth",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "soaks: the live heap's (jemalloc stats.allocated) growth per 1M operations after the soak's first fifth, Theil-Sen slope with Sen's 95% interval; graded on the interval (PASS when its upper end meets the level)",
    ).median(),
    def(
        "memory.growth_per_hour",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "soaks: the live heap's growth per hour, fitted like memory.growth",
    ).median(),
    def(
        "memory.resident_growth",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "soaks: jemalloc stats.resident's growth per 1M operations, fitted like memory.growth (pages the allocator keeps, not only live objects)",
    ).median(),
    def(
        "server.memory.growth",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "soaks of server targets: the server's own memory (Redis used_memory, OPA's Go heap in use) growth per 1M operations, fitted like memory.growth",
    ).median(),
    def(
        "memory.peak_resident",
        Unit::Bytes,
        Direction::LowerIsBetter,
        "highest jemalloc stats.resident sampled during the measured phase",
    ).max(),
];

/// Looks a metric up by name.
pub fn metric(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

/// The metrics summarised over trials (`stats`), in catalogue order.
pub fn with_stats() -> impl Iterator<Item = &'static MetricDef> {
    METRICS.iter().filter(|m| m.stats)
}

/// The metrics gated against a baseline, in catalogue order.
pub fn gated() -> impl Iterator<Item = &'static MetricDef> {
    METRICS.iter().filter(|m| m.gate != Gate::No)
}

/// The metrics compared as ratios to the scenario's `compare:` target.
pub fn compared() -> impl Iterator<Item = &'static MetricDef> {
    METRICS.iter().filter(|m| m.compared)
}

/// The metrics kept in the run history.
pub fn in_history() -> impl Iterator<Item = &'static MetricDef> {
    METRICS.iter().filter(|m| m.history)
}

/// All metric names, in catalogue order.
pub fn metric_names() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| METRICS.iter().map(|m| m.name).collect())
}

/// The closest known name to a misspelled one, if any is close enough.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(given, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lookup_works() {
        let mut names: Vec<_> = METRICS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        assert_eq!(
            metric("throughput").unwrap().direction,
            Direction::HigherIsBetter
        );
        assert!(metric("latency.p999").is_none());
    }

    #[test]
    fn flags_are_consistent() {
        // Gating and comparing need per-trial values, which `stats` has for
        // every gated metric; exact counts are the allocation figures.
        for m in gated() {
            assert!(m.stats, "{} is gated but has no trial statistics", m.name);
        }
        let exact: Vec<_> = gated()
            .filter(|m| m.gate == Gate::Exact)
            .map(|m| m.name)
            .collect();
        assert_eq!(exact, ["memory.bytes_per_op", "memory.allocs_per_op"]);
        assert_eq!(gated().next().unwrap().name, "throughput");
        let history: Vec<_> = in_history().map(|m| m.name).collect();
        assert_eq!(history, ["throughput", "latency.p50", "latency.p99"]);
        assert!(compared().any(|m| m.name == "service.p99"));
        assert!(!gated().any(|m| m.name == "service.p99"));
        assert_eq!(metric("memory.peak_resident").unwrap().across, Across::Max);
        assert_eq!(metric("cache.entries").unwrap().across, Across::Median);
        assert_eq!(metric("latency.p99").unwrap().across, Across::Pooled);
    }

    #[test]
    fn suggestions() {
        let names = METRICS.iter().map(|m| m.name);
        assert_eq!(
            did_you_mean("latncy.p90", names.clone()),
            Some("latency.p90")
        );
        assert_eq!(
            did_you_mean("throughtput", names.clone()),
            Some("throughput")
        );
        assert_eq!(did_you_mean("zzz", names), None);
    }
}
