//! Shards' results to one run's: `rigor merge`.
//!
//! A sharded run (`rigor run --shard I/N`) leaves N results files, each with
//! its share of every case and its full histograms. The merge checks that
//! they belong together (same scenario fingerprint, rigor version, mode and
//! N; each index once), then per (case, target, trial) adds the histograms
//! exactly and recomputes every figure from them, sums counts, and adds the
//! shards' rates (each over its own measured span, which `--start-at` makes
//! overlap). Figures that belong to one process (peak resident memory,
//! growth over a soak, schedule lag) are the worst shard's; figures per
//! operation (bytes/op) are weighted by operations. The result is then
//! summarised and graded like any run, so every report renders it alike.
//!
//! How each trial metric combines is one table, `rule`; a test checks
//! that every catalogue metric has an entry.
//!
//! The file passes 700 lines with its tests (the code is about 600): the
//! checks, the per-trial sums and the rule table are one job, each step
//! reading the previous one's output.

use std::collections::{BTreeMap, BTreeSet};

use crate::results::*;
use crate::stats::{self, new_histogram};
use crate::trial::{
    cache_metrics, eval_share, hit_ratio, operation_metrics, sample_metrics, service_metrics,
};

pub use rigor_results::{MergeInfo, TrialSkew};

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error(
        "no results to merge: give the shards' results.json files or the folders holding them"
    )]
    Empty,
    /// A file that is not one shard's results, or shards that do not belong together.
    #[error("{file}: {message}")]
    Mismatch {
        /// The results file at fault.
        file: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Merges shards' results (each with its file name, for messages) into one
/// run's results, summarised and graded. A missing or failed shard makes
/// the run `incomplete`; shards that do not belong together are an error.
pub fn merge(mut shards: Vec<(String, Results)>) -> Result<Results, MergeError> {
    if shards.is_empty() {
        return Err(MergeError::Empty);
    }
    shards.sort_by_key(|(_, r)| r.shard.as_ref().map_or(0, |s| s.shard.index));
    check(&shards)?;
    let (_, first) = &shards[0];
    let first_shard = first.shard.clone().ok_or(MergeError::Empty)?;
    let count = first_shard.shard.count;
    let present: BTreeSet<u32> = shards
        .iter()
        .filter_map(|(_, r)| r.shard.as_ref().map(|s| s.shard.index))
        .collect();
    let mut problems: Vec<String> = (0..count)
        .filter(|i| !present.contains(i))
        .map(|i| format!("shard {i}: no results"))
        .collect();
    let mut missing: Vec<u32> = (0..count).filter(|i| !present.contains(i)).collect();
    for (file, r) in &shards {
        let index = r.shard.as_ref().map_or(0, |s| s.shard.index);
        let why = match r.status {
            RunStatus::Complete if r.errors.is_empty() => continue,
            RunStatus::Complete => format!("{} target run(s) failed", r.errors.len()),
            RunStatus::Running => "it never finished (its process died?)".to_string(),
            RunStatus::Interrupted => "it was interrupted".to_string(),
            RunStatus::Incomplete => "it is itself incomplete".to_string(),
            RunStatus::Stopped => format!(
                "it stopped: {}",
                r.stop_reason.as_deref().unwrap_or("no reason recorded")
            ),
        };
        problems.push(format!(
            "shard {index} ({file}): {why}; what it measured is merged"
        ));
        missing.push(index);
    }
    missing.sort_unstable();
    missing.dedup();

    // The shard that ran the most cases (an interrupted one ran fewer) is
    // the merged run's frame; ties go to the lowest index.
    let frame = shards
        .iter()
        .rev()
        .max_by_key(|(_, r)| r.cases.len())
        .map_or(first, |(_, r)| r);
    let mut out = frame.clone();
    out.scenario.workload.seed = first_shard.scenario_seed;
    out.scenario.workload.shard = None;
    out.started_at = shards
        .iter()
        .map(|(_, r)| r.started_at.clone())
        .min()
        .unwrap_or_default();
    out.finished_at = shards
        .iter()
        .map(|(_, r)| r.finished_at.clone())
        .max()
        .unwrap_or_default();
    let hosts: BTreeSet<&str> = shards
        .iter()
        .map(|(_, r)| r.environment.hostname.as_str())
        .collect();
    out.environment.hostname = hosts.into_iter().collect::<Vec<_>>().join(", ");
    for (t, info) in out.targets.iter_mut().enumerate() {
        // Every shard built the target: all their compile runs count.
        info.setup.parse_ns.clear();
        info.setup.compile_ns.clear();
        for (_, r) in &shards {
            if let Some(other) = r.targets.get(t) {
                info.setup.parse_ns.extend(&other.setup.parse_ns);
                info.setup.compile_ns.extend(&other.setup.compile_ns);
            }
        }
    }
    out.errors = shards
        .iter()
        .flat_map(|(_, r)| {
            let index = r.shard.as_ref().map_or(0, |s| s.shard.index);
            r.errors.iter().map(move |e| format!("shard {index}: {e}"))
        })
        .collect();
    let mut skews = Vec::new();
    for (c, case) in out.cases.iter_mut().enumerate() {
        case.part = None;
        case.rounds = shards
            .iter()
            .filter_map(|(_, r)| r.cases.get(c))
            .flat_map(|k| k.rounds.iter().cloned())
            .collect();
        for (t, target) in case.targets.iter_mut().enumerate() {
            let parts: Vec<&TargetResult> = shards
                .iter()
                .filter_map(|(_, r)| r.cases.get(c)?.targets.get(t))
                .collect();
            target.error = parts.iter().zip(&shards).find_map(|(p, (_, r))| {
                let index = r.shard.as_ref().map_or(0, |s| s.shard.index);
                p.error.as_ref().map(|e| format!("shard {index}: {e}"))
            });
            let numbers: BTreeSet<u32> = parts
                .iter()
                .flat_map(|p| p.trials.iter().map(|t| t.trial))
                .collect();
            let mut trials = Vec::new();
            for n in numbers {
                let of: Vec<&TrialResult> = parts
                    .iter()
                    .filter_map(|p| p.trials.iter().find(|t| t.trial == n))
                    .collect();
                if let Some(skew) = skew(&case.name, &target.id, n, &of) {
                    skews.push(skew);
                }
                trials.push(merge_trial(&of).map_err(|message| MergeError::Mismatch {
                    file: shards[0].0.clone(),
                    message: format!("{} / {} trial {n}: {message}", case.name, target.id),
                })?);
            }
            target.trials = trials;
            // One shard's per-input costs are not the whole run's: the
            // shards' reports keep their own.
            target.input_costs = None;
        }
    }
    let max_skew_ns = skews.iter().map(|s| s.skew_ns).max().unwrap_or(0);
    let min_overlap = skews
        .iter()
        .filter(|s| s.shards > 1)
        .map(|s| s.overlap)
        .reduce(f64::min);
    let mut notes = Vec::new();
    if let Some(o) = min_overlap.filter(|o| *o < MIN_OVERLAP) {
        notes.push(format!(
            "in some trial the shards measured together for only {:.0}% of its span: the merged throughput adds rates measured at different times, not one load (start the shards with --start-at)",
            o * 100.0
        ));
    }
    if first.alloc_profile.is_some() {
        notes.push(
            "the allocation profiles stay in each shard's results: a merge does not add them"
                .into(),
        );
    }
    out.alloc_profile = None;
    if shards.iter().any(|(_, r)| {
        r.cases
            .iter()
            .any(|c| c.targets.iter().any(|t| t.input_costs.is_some()))
    }) {
        notes.push(
            "what each input cost stays in each shard's results: a merge does not add them".into(),
        );
    }
    if shards
        .iter()
        .any(|(_, r)| r.targets.iter().any(|t| t.profile.is_some()))
    {
        notes.push(
            "the policy profiles (--explain) stay in each shard's results: a merge does not copy them"
                .into(),
        );
    }
    for t in &mut out.targets {
        t.profile = None;
    }
    out.artifacts = Vec::new();
    out.regression = None;
    out.history = Vec::new();
    out.shard = None;
    out.status = if missing.is_empty() {
        RunStatus::Complete
    } else {
        RunStatus::Incomplete
    };
    out.merged = Some(MergeInfo {
        count,
        merged: present.into_iter().collect(),
        missing,
        problems,
        sources: shards
            .iter()
            .filter_map(|(f, r)| Some((r.shard.as_ref()?.shard.index, f.clone())))
            .collect(),
        start_at: first_shard.start_at.clone(),
        max_skew_ns,
        min_overlap,
        trials: skews,
        notes,
    });
    crate::aggregate::summarize(&mut out);
    if let Some(control) = out
        .targets
        .iter()
        .find(|t| t.id.ends_with(rigor_scenario::plan::AA_SUFFIX))
        .map(|t| t.id.clone())
        .filter(|_| first.aa_control.is_some())
    {
        out.aa_control = crate::aggregate::aa_control(&out, &control);
    }
    Ok(out)
}

/// Below this overlap of a trial's shards, the merge warns.
const MIN_OVERLAP: f64 = 0.9;

/// Checks that the shards belong together, naming the file that does not.
fn check(shards: &[(String, Results)]) -> Result<(), MergeError> {
    let (first_file, first) = &shards[0];
    let mismatch = |file: &str, message: String| MergeError::Mismatch {
        file: file.to_string(),
        message,
    };
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for (file, r) in shards {
        let Some(s) = &r.shard else {
            return Err(mismatch(
                file,
                "not a shard's results (it ran without --shard); merge the results of `rigor run --shard I/N`".into(),
            ));
        };
        if r.format_version != FORMAT_VERSION {
            return Err(mismatch(
                file,
                format!(
                    "results format {} where this rigor reads {FORMAT_VERSION}: merge with the rigor that ran the shards",
                    r.format_version
                ),
            ));
        }
        let first_shard = first.shard.as_ref().map(|s| s.shard.count);
        let same: [(&str, String, String); 5] = [
            (
                "scenario (fingerprint of its document, policy, data and inputs)",
                format!(
                    "{} {}",
                    r.scenario.name,
                    r.scenario.fingerprint.as_deref().unwrap_or("-")
                ),
                format!(
                    "{} {}",
                    first.scenario.name,
                    first.scenario.fingerprint.as_deref().unwrap_or("-")
                ),
            ),
            (
                "rigor version",
                r.rigor_version.clone(),
                first.rigor_version.clone(),
            ),
            (
                "mode",
                format!("{:?}", r.scenario.mode),
                format!("{:?}", first.scenario.mode),
            ),
            (
                "shard count N",
                s.shard.count.to_string(),
                first_shard.map_or("-".into(), |n| n.to_string()),
            ),
            ("targets", ids(r).join(", "), ids(first).join(", ")),
        ];
        for (what, this, theirs) in same {
            if this != theirs {
                return Err(mismatch(
                    file,
                    format!(
                        "its {what} is `{this}` but {first_file}'s is `{theirs}`: shards of one run share the scenario, the rigor binary, the mode and N; run every shard again from the same scenario"
                    ),
                ));
            }
        }
        let cases: Vec<&str> = r.cases.iter().map(|c| c.name.as_str()).collect();
        let first_cases: Vec<&str> = first.cases.iter().map(|c| c.name.as_str()).collect();
        if !first_cases.starts_with(&cases) && !cases.starts_with(&first_cases) {
            return Err(mismatch(
                file,
                format!(
                    "its cases are {} but {first_file}'s are {}: run every shard with the same --set overrides",
                    cases.join(", "),
                    first_cases.join(", ")
                ),
            ));
        }
        if let Some(other) = seen.insert(s.shard.index, file) {
            return Err(mismatch(
                file,
                format!(
                    "shard {} appears twice (also {other}): each shard index runs once",
                    s.shard
                ),
            ));
        }
    }
    Ok(())
}

fn ids(r: &Results) -> Vec<&str> {
    r.targets.iter().map(|t| t.id.as_str()).collect()
}

/// How the shards of one trial lined up, when they recorded wall-clock spans.
fn skew(case: &str, target: &str, trial: u32, of: &[&TrialResult]) -> Option<TrialSkew> {
    let spans: Vec<WallSpan> = of.iter().filter_map(|t| t.wall).collect();
    if spans.is_empty() {
        return None;
    }
    let first_start = spans.iter().map(|s| s.start_ns).min()?;
    let last_start = spans.iter().map(|s| s.start_ns).max()?;
    let first_end = spans.iter().map(|s| s.end_ns).min()?;
    let last_end = spans.iter().map(|s| s.end_ns).max()?;
    let union = last_end.saturating_sub(first_start);
    Some(TrialSkew {
        case: case.to_string(),
        target: target.to_string(),
        trial,
        shards: spans.len() as u32,
        skew_ns: last_start - first_start,
        overlap: if union > 0 {
            first_end.saturating_sub(last_start) as f64 / union as f64
        } else {
            1.0
        },
    })
}

/// How a trial metric is made from the shards' trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Recomputed from the added histograms or summed counts.
    Recomputed,
    /// The shards' values added (rates, each over its own span).
    Sum,
    /// Weighted by each shard's operations (per-operation figures).
    Weighted,
    /// The highest shard's (one process's figure: peak memory, growth, lag).
    Max,
    /// The first shard's (the cache's own state, as one shard saw it).
    First,
    /// Not a trial metric (made over trials, e.g. compile time).
    NotPerTrial,
}

/// The one table of how each trial metric merges.
pub(crate) fn rule(name: &str) -> Rule {
    match name {
        "throughput" | "rate.achieved" | "errors.per_second" => Rule::Sum,
        "errors.count" | "errors.rate" | "cache.hit_ratio" | "server.eval_share" => {
            Rule::Recomputed
        }
        "compile.time" => Rule::NotPerTrial,
        "memory.bytes_per_op"
        | "memory.allocs_per_op"
        | "server.memory.bytes_per_op"
        | "server.memory.allocs_per_op"
        | "server.gc_per_1k" => Rule::Weighted,
        "memory.peak_resident"
        | "memory.growth"
        | "memory.growth_per_hour"
        | "memory.resident_growth"
        | "server.memory.growth"
        | "server.memory.heap_inuse" => Rule::Max,
        _ if name.starts_with("schedule.lag.") => Rule::Max,
        _ if name.starts_with("cache.") => Rule::First,
        _ if name.starts_with("latency.")
            || name.starts_with("service.")
            || name.starts_with("server.eval.")
            || name.starts_with("server.handler.") =>
        {
            Rule::Recomputed
        }
        _ => Rule::Weighted,
    }
}

/// Adds the encoded histograms; `None` when none is present.
fn add_all<'a>(
    texts: impl Iterator<Item = &'a str>,
) -> Result<Option<hdrhistogram::Histogram<u64>>, String> {
    let mut out: Option<hdrhistogram::Histogram<u64>> = None;
    for text in texts.filter(|t| !t.is_empty()) {
        let h = stats::decode(text)?;
        out.get_or_insert_with(new_histogram)
            .add(&h)
            .map_err(|e| format!("histograms do not add: {e:?}"))?;
    }
    Ok(out)
}

/// One trial of every shard that ran it, as one trial.
pub(crate) fn merge_trial(of: &[&TrialResult]) -> Result<TrialResult, String> {
    let first = *of.first().ok_or("no trial to merge")?;
    let sum = |f: fn(&TrialResult) -> u64| of.iter().map(|t| f(t)).sum::<u64>();
    let (operations, errors) = (sum(|t| t.operations), sum(|t| t.errors));
    let histogram = add_all(of.iter().map(|t| t.histogram.as_str()))?;
    let service = add_all(of.iter().filter_map(|t| t.service_histogram.as_deref()))?;
    let named = |pick: fn(&TrialResult) -> &BTreeMap<String, String>| {
        let names: BTreeSet<&String> = of.iter().flat_map(|t| pick(t).keys()).collect();
        names
            .into_iter()
            .map(|name| {
                add_all(
                    of.iter()
                        .filter_map(|t| pick(t).get(name).map(String::as_str)),
                )
                .map(|h| (name.clone(), h.unwrap_or_else(new_histogram)))
            })
            .collect::<Result<BTreeMap<String, hdrhistogram::Histogram<u64>>, String>>()
    };
    let kinds = named(|t| &t.kind_histograms)?;
    let samples = named(|t| &t.samples)?;
    let add_counts = |pick: fn(&TrialResult) -> &BTreeMap<String, u64>| {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for t in of {
            for (k, n) in pick(t) {
                *out.entry(k.clone()).or_insert(0) += n;
            }
        }
        out
    };
    let kind_counts = add_counts(|t| &t.kind_counts);

    let mut m = BTreeMap::new();
    match &histogram {
        Some(h) => stats::latency_metrics(h, &mut m),
        // Self-timed trials carry the tool's figures only: the worst shard's.
        None => {
            for t in of {
                for (k, v) in t.metrics.iter().filter(|(k, _)| k.starts_with("latency.")) {
                    let e = m.entry(k.clone()).or_insert(*v);
                    *e = e.max(*v);
                }
            }
        }
    }
    operation_metrics(kinds.iter().map(|(name, h)| (h, name.as_str())), &mut m);
    service_metrics(service.as_ref(), &mut m);
    for (name, h) in &samples {
        sample_metrics(name, h, &mut m);
    }
    eval_share(&mut m);
    m.insert("errors.count".into(), errors as f64);
    if operations + errors > 0 {
        m.insert(
            "errors.rate".into(),
            errors as f64 / (operations + errors) as f64,
        );
    }
    hit_ratio(&kind_counts, &mut m);
    cache_metrics(
        first.cache_before.as_ref(),
        first.cache_after.as_ref(),
        &mut m,
    );
    let names: BTreeSet<&String> = of.iter().flat_map(|t| t.metrics.keys()).collect();
    for name in names {
        let values = of
            .iter()
            .filter_map(|t| Some((t.metrics.get(name.as_str()).copied()?, t)));
        let value = match rule(name) {
            Rule::Recomputed | Rule::NotPerTrial => continue,
            Rule::First => match first.metrics.get(name.as_str()) {
                Some(v) if !m.contains_key(name.as_str()) => *v,
                _ => continue,
            },
            Rule::Sum => values.map(|(v, _)| v).sum(),
            Rule::Max => values.map(|(v, _)| v).fold(f64::NEG_INFINITY, f64::max),
            Rule::Weighted => {
                let (total, weight) = values.fold((0.0, 0.0), |(s, w), (v, t)| {
                    let n = (t.operations + t.errors) as f64;
                    (s + v * n, w + n)
                });
                if weight > 0.0 {
                    total / weight
                } else {
                    continue;
                }
            }
        };
        m.insert(name.clone(), value);
    }
    let mut messages: Vec<String> = Vec::new();
    for msg in of.iter().flat_map(|t| &t.error_messages) {
        if messages.len() < crate::drive::KEEP_MESSAGES && !messages.contains(msg) {
            messages.push(msg.clone());
        }
    }
    let wall = of.iter().filter_map(|t| t.wall).reduce(|a, b| WallSpan {
        start_ns: a.start_ns.min(b.start_ns),
        end_ns: a.end_ns.max(b.end_ns),
    });
    // A soak's growth is one process's: the worst shard's samples and fits.
    let soak = of
        .iter()
        .filter(|t| t.soak.is_some())
        .max_by(|a, b| {
            let g = |t: &TrialResult| t.metrics.get("memory.growth").copied().unwrap_or(0.0);
            g(a).total_cmp(&g(b))
        })
        .and_then(|t| t.soak.clone());
    Ok(TrialResult {
        trial: first.trial,
        position: first.position,
        batch: of.iter().map(|t| t.batch).max().unwrap_or(1),
        kind_histograms: kinds
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(k, h)| (k.clone(), stats::encode(h)))
            .collect(),
        kind_counts,
        cache_before: first.cache_before.clone(),
        cache_after: first.cache_after.clone(),
        operations,
        errors,
        events: add_counts(|t| &t.events),
        error_messages: messages,
        error_kinds: add_counts(|t| &t.error_kinds),
        elapsed_ns: wall.map_or_else(
            || of.iter().map(|t| t.elapsed_ns).max().unwrap_or(0),
            |w| w.end_ns.saturating_sub(w.start_ns),
        ),
        metrics: m,
        histogram: histogram.as_ref().map(stats::encode).unwrap_or_default(),
        samples: samples
            .iter()
            .map(|(k, h)| (k.clone(), stats::encode(h)))
            .collect(),
        interrupted: of.iter().any(|t| t.interrupted),
        service_histogram: service.as_ref().map(stats::encode),
        dropped: sum(|t| t.dropped),
        generator_bound: of.iter().any(|t| t.generator_bound),
        soak,
        windows: merge_windows(of),
        wall,
        notes: {
            let mut notes: Vec<String> = of.iter().flat_map(|t| t.notes.clone()).collect();
            notes.sort();
            notes.dedup();
            notes
        },
    })
}

/// The shards' windows added by position (their trials started within the
/// start skew of each other): operations, errors and throughput summed,
/// latencies the worst shard's (a window keeps figures, not a histogram).
fn merge_windows(of: &[&TrialResult]) -> Option<crate::windows::WindowSeries> {
    let series: Vec<&crate::windows::WindowSeries> =
        of.iter().filter_map(|t| t.windows.as_ref()).collect();
    let first = (*series.first()?).clone();
    if series.iter().any(|s| s.width_ns != first.width_ns) {
        return None;
    }
    let longest = series.iter().map(|s| s.windows.len()).max()?;
    let mut out = first;
    out.shards = Some(series.len() as u32);
    out.windows
        .resize_with(longest, || crate::windows::WindowResult {
            t_ns: 0,
            span_ns: 0,
            operations: 0,
            errors: 0,
            throughput: 0.0,
            p50: None,
            p99: None,
            max: None,
        });
    for (i, w) in out.windows.iter_mut().enumerate() {
        let all: Vec<&crate::windows::WindowResult> =
            series.iter().filter_map(|s| s.windows.get(i)).collect();
        let worst = |pick: fn(&crate::windows::WindowResult) -> Option<f64>| {
            all.iter().filter_map(|w| pick(w)).reduce(f64::max)
        };
        *w = crate::windows::WindowResult {
            t_ns: all.iter().map(|w| w.t_ns).min().unwrap_or(0),
            span_ns: all.iter().map(|w| w.span_ns).max().unwrap_or(0),
            operations: all.iter().map(|w| w.operations).sum(),
            errors: all.iter().map(|w| w.errors).sum(),
            throughput: all.iter().map(|w| w.throughput).sum(),
            p50: worst(|w| w.p50),
            p99: worst(|w| w.p99),
            max: worst(|w| w.max),
        };
    }
    Some(out)
}

/// Every catalogue metric has a merge rule that is not the fallback by
/// accident (checked in tests).
#[cfg(test)]
fn catalogue_rules() -> Vec<(&'static str, Rule)> {
    rigor_scenario::metrics::METRICS
        .iter()
        .map(|m| (m.name, rule(m.name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::testing::trial;

    #[test]
    fn every_catalogue_metric_has_a_rule_and_fallbacks_are_per_operation() {
        for (name, r) in catalogue_rules() {
            if r == Rule::Weighted {
                assert!(
                    name.ends_with("_per_op") || name == "server.gc_per_1k",
                    "{name} merges by the fallback (weighted by operations): give it its rule in merge::rule"
                );
            }
        }
    }

    fn with_wall(mut t: TrialResult, start: u64, end: u64) -> TrialResult {
        t.wall = Some(WallSpan {
            start_ns: start,
            end_ns: end,
        });
        t
    }

    #[test]
    fn one_shard_merges_to_itself() {
        let mut t = trial(
            0,
            1000,
            3,
            &[("throughput", 5000.0), ("memory.bytes_per_op", 48.0)],
            &[100, 200, 300, 5000],
        );
        t.metrics.insert("memory.peak_resident".into(), 1e6);
        let merged = merge_trial(&[&t]).unwrap();
        for (k, v) in &t.metrics {
            let got = merged.metrics.get(k).copied();
            assert_eq!(got, Some(*v), "{k}");
        }
        assert_eq!(merged.operations, t.operations);
        assert_eq!(merged.histogram, t.histogram);
    }

    #[test]
    fn shards_add_counts_and_rates_and_pool_latencies_exactly() {
        let a = with_wall(
            trial(
                0,
                1000,
                2,
                &[
                    ("throughput", 1000.0),
                    ("memory.bytes_per_op", 10.0),
                    ("memory.peak_resident", 5.0),
                ],
                &[100, 100, 100, 100],
            ),
            1_000,
            1_000_001_000,
        );
        let b = with_wall(
            trial(
                0,
                3000,
                0,
                &[
                    ("throughput", 3000.0),
                    ("memory.bytes_per_op", 30.0),
                    ("memory.peak_resident", 7.0),
                ],
                &[1000, 1000, 1000, 1000],
            ),
            1_500,
            1_000_002_000,
        );
        let m = merge_trial(&[&a, &b]).unwrap();
        assert_eq!((m.operations, m.errors), (4000, 2));
        assert_eq!(m.metrics["throughput"], 4000.0);
        assert_eq!(m.metrics["errors.count"], 2.0);
        assert_eq!(m.metrics["memory.peak_resident"], 7.0);
        // Weighted by operations: (10 x 1002 + 30 x 3000) / 4002.
        let weighted = (10.0 * 1002.0 + 30.0 * 3000.0) / 4002.0;
        assert!((m.metrics["memory.bytes_per_op"] - weighted).abs() < 1e-9);
        // The pooled histogram: half its values are 100ns, half 1000ns.
        let mut h = stats::decode(&a.histogram).unwrap();
        h.add(stats::decode(&b.histogram).unwrap()).unwrap();
        assert_eq!(m.metrics["latency.p99"], h.value_at_quantile(0.99) as f64);
        assert_eq!(m.metrics["latency.p50"], h.value_at_quantile(0.5) as f64);
        let s = skew("c", "t", 0, &[&a, &b]).unwrap();
        assert_eq!(s.skew_ns, 500);
        assert!(s.overlap > 0.99 && s.overlap < 1.0);
    }
}
