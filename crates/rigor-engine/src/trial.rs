//! One trial's data to its [`TrialResult`]: the workers' records merged
//! (histograms added, counts summed, messages kept and redacted) and the
//! trial's own metrics computed, or a self-timed tool's figures taken as
//! they are. Nothing here runs while an operation is timed.

use std::collections::BTreeMap;

use rigor_scenario::redact::redact_credentials;

use crate::drive::{self, TrialData, GENERATOR_BOUND_LAG_NS, KEEP_MESSAGES, KIND_NAMES};
use crate::results::*;
use crate::stats::{self, new_histogram};
use crate::target::CacheState;

/// Merges worker records into one trial result.
pub(crate) fn collect(
    data: TrialData,
    trial: u32,
    position: u32,
    cache_before: Option<CacheState>,
    cache_after: Option<CacheState>,
    sample: Option<std::time::Duration>,
) -> TrialResult {
    let TrialData {
        records,
        peak_resident,
        memory,
        generator,
        span_ns,
    } = data;
    let soak = soak_result(memory, sample);
    let mut samples: BTreeMap<&'static str, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    let mut histogram = new_histogram();
    let mut service = generator.as_ref().map(|_| new_histogram());
    let (mut operations, mut errors, mut dropped, mut accounted) = (0u64, 0u64, 0u64, 0u64);
    let mut messages: Vec<String> = Vec::new();
    let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut bytes = Some(0u64);
    let mut allocs = Some(0u64);
    // Workers that measured nothing (e.g. no ticket reached them) do not stretch the span.
    let start = records
        .iter()
        .filter(|r| r.operations > 0)
        .map(|r| r.start)
        .min();
    let end = records
        .iter()
        .filter(|r| r.operations > 0)
        .map(|r| r.end)
        .max();
    // A self-timed target's time is what its workers reported, the
    // longest worker's as for a measured span.
    let reported_ns = records.iter().map(|r| r.reported_ns).max().unwrap_or(0);
    // Closed loop: the workers' time preparing windows of inputs, outside
    // timing, comes off the span the throughput is over (their mean: they
    // ran side by side).
    let busy: Vec<u64> = records
        .iter()
        .filter(|r| r.operations > 0)
        .map(|r| r.paused_ns)
        .collect();
    let paused_ns = busy.iter().sum::<u64>() / busy.len().max(1) as u64;
    let mut interrupted = false;
    let mut kinds: Option<drive::Kinds> = None;
    let mut batch = 1;
    let mut windows: Option<crate::windows::Windows> = None;
    for r in records {
        match &mut windows {
            Some(all) => all.merge(r.windows),
            None => windows = Some(r.windows),
        }
        drive::add_histograms(&mut samples, r.samples);
        batch = batch.max(r.batch);
        if let Some(k) = &r.kinds {
            match &mut kinds {
                Some(all) => all.merge_from(k),
                None => kinds = Some(k.cloned()),
            }
        }
        let _ = histogram.add(&r.histogram);
        if let (Some(all), Some(s)) = (&mut service, &r.service) {
            let _ = all.add(s);
        }
        operations += r.operations;
        errors += r.errors;
        dropped += r.dropped;
        accounted += r.accounted_ops;
        for (k, n) in r.error_kinds {
            *error_kinds.entry(k.to_string()).or_insert(0) += n;
        }
        for m in r.messages {
            let m = redact_credentials(&m);
            if messages.len() < KEEP_MESSAGES && !messages.contains(&m) {
                messages.push(m);
            }
        }
        bytes = bytes.zip(r.bytes).map(|(a, b)| a + b);
        allocs = allocs.zip(r.allocs).map(|(a, b)| a + b);
        interrupted |= r.interrupted;
    }
    if dropped > 0 && messages.len() < KEEP_MESSAGES {
        messages.push(format!(
            "{dropped} scheduled operations never started: they were still queued 5s after the schedule ended (the target could not keep up); their waits so far are in the latency histogram"
        ));
    }
    if dropped > 0 {
        error_kinds.insert("not_started".into(), dropped);
    }
    // Failed operations are neither speed nor latency: throughput counts
    // successes only. Dropped operations are failures a caller would have seen.
    let attempted = operations + dropped;
    let operations = operations - errors;
    let errors = errors + dropped;
    let span = (reported_ns > 0)
        .then_some(reported_ns)
        .or(span_ns)
        .unwrap_or_else(|| {
            start
                .zip(end)
                .map(|(s, e)| e.duration_since(s).as_nanos() as u64)
                .unwrap_or(0)
        });
    let elapsed_ns = span.saturating_sub(paused_ns).max(u64::from(span > 0));
    let mut notes = Vec::new();
    if paused_ns > 0 {
        notes.push(format!(
            "inputs were parsed in windows outside timing ({:.1}% of the measured span, left out of throughput)",
            paused_ns as f64 * 100.0 / span.max(1) as f64
        ));
    }
    let mut metrics = BTreeMap::new();
    stats::latency_metrics(&histogram, &mut metrics);
    if elapsed_ns > 0 {
        metrics.insert(
            "throughput".into(),
            operations as f64 * 1e9 / elapsed_ns as f64,
        );
    }
    metrics.insert("errors.count".into(), errors as f64);
    if attempted > 0 {
        metrics.insert("errors.rate".into(), errors as f64 / attempted as f64);
    }
    if elapsed_ns > 0 && errors > 0 {
        metrics.insert(
            "errors.per_second".into(),
            errors as f64 * 1e9 / elapsed_ns as f64,
        );
    }
    if accounted > 0 {
        if let Some(b) = bytes {
            metrics.insert("memory.bytes_per_op".into(), b as f64 / accounted as f64);
        }
        if let Some(a) = allocs {
            metrics.insert("memory.allocs_per_op".into(), a as f64 / accounted as f64);
        }
    }
    if let Some(peak) = peak_resident {
        metrics.insert("memory.peak_resident".into(), peak as f64);
    }
    let mut generator_bound = false;
    if let Some(g) = &generator {
        service_metrics(service.as_ref(), &mut metrics);
        lag_metrics(&g.lag, &mut metrics);
        generator_bound =
            !g.lag.is_empty() && g.lag.value_at_quantile(0.99) > GENERATOR_BOUND_LAG_NS;
        // Completed measured operations per second, from the first intended
        // start to the last completion: a target that falls behind shows a
        // lower rate than requested, and an interrupted trial is not diluted.
        if elapsed_ns > 0 {
            metrics.insert(
                "rate.achieved".into(),
                operations as f64 * 1e9 / elapsed_ns as f64,
            );
        }
    }
    let mut kind_histograms = BTreeMap::new();
    let mut kind_counts = BTreeMap::new();
    if let Some(k) = &kinds {
        for (i, name) in KIND_NAMES.iter().enumerate() {
            kind_counts.insert(name.to_string(), k.counts[i]);
            if !k.histograms[i].is_empty() {
                kind_histograms.insert(name.to_string(), stats::encode(&k.histograms[i]));
            }
        }
        operation_metrics(k.histograms.iter().zip(KIND_NAMES), &mut metrics);
    }
    hit_ratio(&kind_counts, &mut metrics);
    cache_metrics(cache_before.as_ref(), cache_after.as_ref(), &mut metrics);
    let mut encoded_samples = BTreeMap::new();
    for (name, h) in &samples {
        sample_metrics(name, h, &mut metrics);
        encoded_samples.insert(name.to_string(), stats::encode(h));
    }
    eval_share(&mut metrics);
    for (name, value, _) in soak.iter().flat_map(SoakResult::growth_metrics) {
        metrics.insert(name.into(), value);
    }
    TrialResult {
        trial,
        position,
        batch,
        kind_histograms,
        kind_counts,
        cache_before,
        cache_after,
        operations,
        errors,
        events: BTreeMap::new(),
        error_messages: messages,
        error_kinds,
        elapsed_ns,
        metrics,
        histogram: stats::encode(&histogram),
        samples: encoded_samples,
        interrupted,
        service_histogram: service.as_ref().map(stats::encode),
        dropped,
        generator_bound,
        soak,
        windows: windows
            .map(|w| w.series())
            .filter(|s| !s.windows.is_empty()),
        wall: start.zip(end).map(|(s, e)| WallSpan::of(s, e)),
        notes,
    }
}

/// The share of a soak's first samples left out of its fits: the target,
/// the allocator's caches and the workers' own buffers settle there.
const SETTLE_SHARE: f64 = 0.2;
/// Fewest samples a growth fit takes.
const MIN_FIT_SAMPLES: usize = 5;
/// Most points a fit takes (evenly thinned beyond: Theil-Sen is quadratic).
const MAX_FIT_SAMPLES: usize = 1500;

/// A soak's samples with their growth fits; `None` when the trial did not
/// sample.
pub(crate) fn soak_result(
    samples: Vec<MemorySample>,
    every: Option<std::time::Duration>,
) -> Option<SoakResult> {
    let every = every?;
    let settle = (samples.len() as f64 * SETTLE_SHARE).ceil() as usize;
    // A cache still filling holds more each sample without leaking: fit
    // from the sample where it held nearly its most entries, when enough
    // samples are left after it; otherwise say it was still filling.
    let filled_at = fill_end(&samples);
    let after_fill = filled_at.map_or(settle, |f| f.max(settle));
    let still_filling =
        samples.len().saturating_sub(after_fill) < MIN_FIT_SAMPLES && after_fill > settle;
    let skipped = if still_filling { settle } else { after_fill };
    let fit = |pick: fn(&MemorySample) -> Option<u64>| -> Option<Growth> {
        let kept: Vec<&MemorySample> = samples
            .iter()
            .skip(skipped)
            .filter(|s| pick(s).is_some())
            .collect();
        if kept.len() < MIN_FIT_SAMPLES {
            return None;
        }
        let step = kept.len().div_ceil(MAX_FIT_SAMPLES);
        let kept: Vec<&&MemorySample> = kept.iter().step_by(step).collect();
        let y: Vec<f64> = kept.iter().map(|s| pick(s).unwrap_or(0) as f64).collect();
        let ops: Vec<f64> = kept.iter().map(|s| s.operations as f64 / 1e6).collect();
        let hours: Vec<f64> = kept.iter().map(|s| s.t_ns as f64 / 3.6e12).collect();
        let (per_million_ops, interval) = crate::inference::theil_sen(&ops, &y, 0.95)?;
        let (per_hour, per_hour_interval) = crate::inference::theil_sen(&hours, &y, 0.95)?;
        Some(Growth {
            per_million_ops,
            interval,
            per_hour,
            per_hour_interval,
            samples: kept.len(),
        })
    };
    Some(SoakResult {
        sample_ns: every.as_nanos() as u64,
        skipped,
        heap: fit(|s| s.allocated),
        resident: fit(|s| s.resident),
        server: fit(|s| s.server_heap),
        filled_at,
        still_filling,
        samples,
    })
}

/// A cache's entries reach this share of the most it held: filled.
const FILLED_SHARE: f64 = 0.99;

/// The first sample at which a cache held [`FILLED_SHARE`] of the most
/// entries any sample saw; `None` without entry counts.
fn fill_end(samples: &[MemorySample]) -> Option<usize> {
    let most = samples.iter().filter_map(|s| s.entries).max()?;
    samples.iter().position(|s| {
        s.entries
            .is_some_and(|e| e as f64 >= FILLED_SHARE * most as f64)
    })
}

/// `latency.<kind>.*` from per-kind histograms, for the names in the catalogue.
pub(crate) fn operation_metrics<'a>(
    histograms: impl Iterator<Item = (&'a hdrhistogram::Histogram<u64>, &'a str)>,
    out: &mut BTreeMap<String, f64>,
) {
    for (h, kind) in histograms {
        if h.is_empty() {
            continue;
        }
        let mut m = BTreeMap::new();
        stats::latency_metrics(h, &mut m);
        for (k, v) in m {
            let name = k.replacen("latency.", &format!("latency.{kind}."), 1);
            if rigor_scenario::metrics::metric(&name).is_some() {
                out.insert(name, v);
            }
        }
    }
}

/// `cache.hit_ratio` from hit and miss counts.
pub(crate) fn hit_ratio(counts: &BTreeMap<String, u64>, out: &mut BTreeMap<String, f64>) {
    let hits = counts.get("hit").copied().unwrap_or(0);
    let misses = counts.get("miss").copied().unwrap_or(0);
    if hits + misses > 0 {
        out.insert(
            "cache.hit_ratio".into(),
            hits as f64 / (hits + misses) as f64,
        );
    }
}

/// `cache.entries`, `cache.memory` and `cache.bytes_per_entry` after preload,
/// `cache.entries_end` after the trial.
pub(crate) fn cache_metrics(
    before: Option<&CacheState>,
    after: Option<&CacheState>,
    out: &mut BTreeMap<String, f64>,
) {
    if let Some(b) = before {
        out.insert("cache.entries".into(), b.entries as f64);
        if let Some(m) = b.memory {
            out.insert("cache.memory".into(), m as f64);
            if b.entries > 0 {
                out.insert("cache.bytes_per_entry".into(), m as f64 / b.entries as f64);
            }
        }
    }
    if let Some(a) = after {
        out.insert("cache.entries_end".into(), a.entries as f64);
    }
}

pub(crate) fn service_metrics(
    service: Option<&hdrhistogram::Histogram<u64>>,
    out: &mut BTreeMap<String, f64>,
) {
    let Some(h) = service.filter(|h| !h.is_empty()) else {
        return;
    };
    let mut m = BTreeMap::new();
    stats::latency_metrics(h, &mut m);
    for (k, v) in m {
        let name = k.replacen("latency.", "service.", 1);
        if rigor_scenario::metrics::metric(&name).is_some() {
            out.insert(name, v);
        }
    }
}

pub(crate) fn lag_metrics(lag: &hdrhistogram::Histogram<u64>, out: &mut BTreeMap<String, f64>) {
    if lag.is_empty() {
        return;
    }
    out.insert("schedule.lag.p50".into(), lag.value_at_quantile(0.5) as f64);
    out.insert(
        "schedule.lag.p99".into(),
        lag.value_at_quantile(0.99) as f64,
    );
    out.insert("schedule.lag.max".into(), lag.max() as f64);
}

/// `{prefix}.mean`, `.p50`, `.p90`, `.p99`, `.max` of a sample histogram.
pub(crate) fn sample_metrics(
    prefix: &str,
    h: &hdrhistogram::Histogram<u64>,
    out: &mut BTreeMap<String, f64>,
) {
    if h.is_empty() {
        return;
    }
    out.insert(format!("{prefix}.mean"), h.mean());
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        out.insert(format!("{prefix}.{name}"), h.value_at_quantile(q) as f64);
    }
    out.insert(format!("{prefix}.max"), h.max() as f64);
}

/// `server.eval_share`: the server's evaluation time over the client's latency.
pub(crate) fn eval_share(out: &mut BTreeMap<String, f64>) {
    if let (Some(eval), Some(latency)) = (out.get("server.eval.mean"), out.get("latency.mean")) {
        if *latency > 0.0 {
            let share = eval / latency;
            out.insert("server.eval_share".into(), share);
        }
    }
}

/// `server.memory.*` and `server.gc_per_1k` from a server's counters
/// before and after a trial, per request the server itself counted (its
/// warm-up requests, and the two `/metrics` reads, are in both the numerator
/// and the denominator).
pub(crate) fn server_metrics(
    before: Option<&BTreeMap<&'static str, f64>>,
    after: Option<&BTreeMap<&'static str, f64>>,
    out: &mut BTreeMap<String, f64>,
) {
    let (Some(before), Some(after)) = (before, after) else {
        return;
    };
    let delta = |k: &str| Some(after.get(k)? - before.get(k)?).filter(|d| *d >= 0.0);
    if let Some(h) = after.get("heap_inuse") {
        out.insert("server.memory.heap_inuse".into(), *h);
    }
    let Some(requests) = delta("requests").filter(|r| *r > 0.0) else {
        return;
    };
    for (counter, metric, scale) in [
        ("alloc_bytes", "server.memory.bytes_per_op", 1.0),
        ("mallocs", "server.memory.allocs_per_op", 1.0),
        ("gc_cycles", "server.gc_per_1k", 1000.0),
    ] {
        if let Some(d) = delta(counter) {
            out.insert(metric.into(), d * scale / requests);
        }
    }
}

/// A trial the target measured itself, as a trial result (no histogram:
/// its latency figures are the tool's).
pub(crate) fn measured_trial(m: crate::target::Measured, trial: u32, position: u32) -> TrialResult {
    let mut metrics = m.metrics;
    let attempted = m.operations + m.errors;
    metrics.insert("errors.count".into(), m.errors as f64);
    if attempted > 0 {
        metrics.insert("errors.rate".into(), m.errors as f64 / attempted as f64);
    }
    TrialResult {
        trial,
        position,
        batch: 1,
        kind_histograms: BTreeMap::new(),
        kind_counts: BTreeMap::new(),
        cache_before: None,
        cache_after: None,
        operations: m.operations,
        errors: m.errors,
        events: BTreeMap::new(),
        error_messages: m.error_messages.into_iter().take(KEEP_MESSAGES).collect(),
        error_kinds: if m.errors > 0 {
            BTreeMap::from([("eval".to_string(), m.errors)])
        } else {
            BTreeMap::new()
        },
        elapsed_ns: m.elapsed_ns,
        metrics,
        histogram: String::new(),
        samples: BTreeMap::new(),
        interrupted: m.interrupted,
        service_histogram: None,
        dropped: 0,
        generator_bound: false,
        soak: None,
        windows: None,
        wall: None,
        notes: Vec::new(),
    }
}
