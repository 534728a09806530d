//! The catalogue of metric names: one table, used by the scenario parser
//! (threshold keys and units), the engine (what to compute) and the
//! reporters (how to format). Names are a stable contract.

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
}

const fn lat(name: &'static str, description: &'static str) -> MetricDef {
    MetricDef {
        name,
        unit: Unit::Nanos,
        direction: Direction::LowerIsBetter,
        description,
    }
}

/// Every metric rigor computes, in report order.
pub const METRICS: &[MetricDef] = &[
    lat("latency.min", "fastest operation"),
    lat("latency.mean", "mean operation latency"),
    lat("latency.stdev", "standard deviation of operation latency"),
    lat("latency.p50", "median operation latency"),
    lat("latency.p90", "90th percentile latency"),
    lat("latency.p95", "95th percentile latency"),
    lat("latency.p99", "99th percentile latency"),
    lat("latency.p99.9", "99.9th percentile latency"),
    lat("latency.max", "slowest operation"),
    lat(
        "service.mean",
        "rate mode: mean time from the actual send to completion",
    ),
    lat(
        "service.p50",
        "rate mode: median service time (from the actual send)",
    ),
    lat("service.p90", "rate mode: 90th percentile service time"),
    lat("service.p99", "rate mode: 99th percentile service time"),
    lat("service.p99.9", "rate mode: 99.9th percentile service time"),
    lat("service.max", "rate mode: longest service time"),
    lat(
        "schedule.lag.p50",
        "rate mode: median delay of an idle worker's start behind the schedule",
    ),
    lat(
        "schedule.lag.p99",
        "rate mode: 99th percentile delay of an idle worker's start behind the schedule",
    ),
    lat(
        "schedule.lag.max",
        "rate mode: longest delay of an idle worker's start behind the schedule",
    ),
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
    MetricDef {
        name: "cache.hit_ratio",
        unit: Unit::Fraction,
        direction: Direction::HigherIsBetter,
        description: "cache reads (or decision lookups) that found their key / all of them, measured phase",
    },
    MetricDef {
        name: "cache.entries",
        unit: Unit::Count,
        direction: Direction::HigherIsBetter,
        description: "entries in the cache after preload (moka entry_count; Redis DBSIZE)",
    },
    MetricDef {
        name: "cache.entries_end",
        unit: Unit::Count,
        direction: Direction::HigherIsBetter,
        description: "entries in the cache at the end of the trial",
    },
    MetricDef {
        name: "cache.memory",
        unit: Unit::Bytes,
        direction: Direction::LowerIsBetter,
        description: "memory the cache holds after preload: moka, jemalloc bytes allocated since before the cache was built; Redis, INFO used_memory minus the empty server's",
    },
    MetricDef {
        name: "cache.bytes_per_entry",
        unit: Unit::Bytes,
        direction: Direction::LowerIsBetter,
        description: "cache.memory / cache.entries: the memory cost of one cached entry, comparable across caches",
    },
    MetricDef {
        name: "rate.achieved",
        unit: Unit::PerSecond,
        direction: Direction::HigherIsBetter,
        description: "rate mode: measured operations completed per second, first intended start to last completion (compare with the requested rate)",
    },
    MetricDef {
        name: "throughput",
        unit: Unit::PerSecond,
        direction: Direction::HigherIsBetter,
        description: "successful operations per second, all workers together (median of trials); failed ones are errors",
    },
    MetricDef {
        name: "errors.count",
        unit: Unit::Count,
        direction: Direction::LowerIsBetter,
        description: "failed operations in the measured phase, all trials",
    },
    MetricDef {
        name: "errors.rate",
        unit: Unit::Fraction,
        direction: Direction::LowerIsBetter,
        description: "failed operations / all operations (default threshold: critical 0%)",
    },
    MetricDef {
        name: "errors.per_second",
        unit: Unit::PerSecond,
        direction: Direction::LowerIsBetter,
        description: "failed operations per second (median of trials that had errors)",
    },
    MetricDef {
        name: "compile.time",
        unit: Unit::Nanos,
        direction: Direction::LowerIsBetter,
        description:
            "median of fresh policy load + compile runs (parse and compile apart in results)",
    },
    MetricDef {
        name: "memory.bytes_per_op",
        unit: Unit::Bytes,
        direction: Direction::LowerIsBetter,
        description: "bytes allocated per operation (jemalloc thread.allocatedp)",
    },
    MetricDef {
        name: "memory.allocs_per_op",
        unit: Unit::Count,
        direction: Direction::LowerIsBetter,
        description: "allocator calls per operation (counting GlobalAlloc wrapper)",
    },
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
    MetricDef {
        name: "server.eval_share",
        unit: Unit::Fraction,
        direction: Direction::HigherIsBetter,
        description: "opa-http: server.eval.mean / latency.mean, the share of the client's latency that is the policy evaluation itself (the rest is network, HTTP, JSON and the handler)",
    },
    MetricDef {
        name: "server.memory.bytes_per_op",
        unit: Unit::Bytes,
        direction: Direction::LowerIsBetter,
        description: "managed OPA: Go heap bytes allocated per request the server counted (go_memstats_alloc_bytes_total from /metrics, before and after each trial; scope `server`)",
    },
    MetricDef {
        name: "server.memory.allocs_per_op",
        unit: Unit::Count,
        direction: Direction::LowerIsBetter,
        description: "managed OPA: Go heap allocations per request (go_memstats_mallocs_total)",
    },
    MetricDef {
        name: "server.gc_per_1k",
        unit: Unit::Count,
        direction: Direction::LowerIsBetter,
        description: "managed OPA: Go GC cycles per 1000 requests",
    },
    MetricDef {
        name: "server.memory.heap_inuse",
        unit: Unit::Bytes,
        direction: Direction::LowerIsBetter,
        description: "managed OPA: Go heap in use after the trial (go_memstats_heap_inuse_bytes)",
    },
    MetricDef {
        name: "memory.peak_resident",
        unit: Unit::Bytes,
        direction: Direction::LowerIsBetter,
        description: "highest jemalloc stats.resident sampled during the measured phase",
    },
];

/// Looks a metric up by name.
pub fn metric(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
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
