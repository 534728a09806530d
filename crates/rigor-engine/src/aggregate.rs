//! Trials to a target's summary: how each metric's trials combine (the
//! catalogue's `across`), statistics over trials, threshold grades with
//! their intervals, ratios to the `compare:` target, and full mode's A/A
//! control. It reads trial results only, so a partial run, a re-summary
//! after each trial and a hand-made set of trials are summarised alike.

use std::collections::BTreeMap;

use rigor_scenario::metrics::{self, Across};

use crate::grade;
use crate::results::*;
use crate::stats::{self, new_histogram};
use crate::trial::{eval_share, hit_ratio, operation_metrics, sample_metrics, service_metrics};

/// Decodes a trial's named histograms and adds them into `into`.
fn add_encoded(
    into: &mut BTreeMap<String, hdrhistogram::Histogram<u64>>,
    encoded: &BTreeMap<String, String>,
) {
    for (name, text) in encoded {
        if let Ok(h) = stats::decode(text) {
            let _ = into
                .entry(name.clone())
                .or_insert_with(new_histogram)
                .add(&h);
        }
    }
}

/// Recomputes every target's summary metrics and grades, the verdict and
/// the ratios to the `compare:` target, from the results alone (each
/// target's setup and thresholds are in `results.targets`): a run after
/// every trial and a merge of shards summarise alike.
pub(crate) fn summarize(results: &mut Results) {
    let mut verdict = Verdict::Pass;
    let shard = results.shard.is_some();
    for case in &mut results.cases {
        for (t, info) in case.targets.iter_mut().zip(&results.targets) {
            let setup = &info.setup;
            let compile: Vec<f64> = setup
                .parse_ns
                .iter()
                .zip(&setup.compile_ns)
                .map(|(p, c)| (p + c) as f64)
                .collect();
            let (m, merged) = target_metrics(&t.trials, &compile);
            t.histogram = if merged.is_empty() {
                String::new()
            } else {
                stats::encode(&merged)
            };
            t.stats = trial_stats(&t.trials);
            let noise = t
                .stats
                .get("throughput")
                .or_else(|| t.stats.get("latency.mean"))
                .and_then(|s| s.cv);
            t.noisy = noise.is_some_and(|cv| cv > results.regression_config.noisy_cv);
            // A shard measured a part of each case: its merge grades the whole.
            t.grades = if t.trials.is_empty() || shard {
                Vec::new()
            } else {
                grades(&info.thresholds, &m, &t.stats, &t.trials)
            };
            t.metrics = m;
            for g in &t.grades {
                verdict = verdict.max(g.verdict);
            }
        }
    }
    results.verdict = verdict;
    ratios(results);
    results.paired = if shard {
        None
    } else {
        crate::paired::report(results)
    };
}

/// A target's summary metrics from its trials (each metric combined as the
/// catalogue's `across` says) and its trials' latencies merged. `compile_ns`
/// holds its policy's load + compile runs.
pub(crate) fn target_metrics(
    trials: &[TrialResult],
    compile_ns: &[f64],
) -> (BTreeMap<String, f64>, hdrhistogram::Histogram<u64>) {
    let mut merged = new_histogram();
    let (mut ops, mut errors) = (0u64, 0u64);
    let (mut bytes, mut allocs) = (Some(0.0), Some(0.0));
    // Metrics the catalogue combines as the median or max of trials.
    let mut per_trial: BTreeMap<&'static str, (Across, Vec<f64>)> = BTreeMap::new();
    let mut service: Option<hdrhistogram::Histogram<u64>> = None;
    let mut kinds: BTreeMap<String, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    let mut kind_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut samples: BTreeMap<String, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    let mut tool_latency: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for trial in trials {
        add_encoded(&mut samples, &trial.samples);
        add_encoded(&mut kinds, &trial.kind_histograms);
        // A trial the target measured itself has its latency figures
        // but no histogram: those are summarised by their median.
        if trial.histogram.is_empty() {
            for (k, v) in &trial.metrics {
                if k.starts_with("latency.") {
                    tool_latency.entry(k.clone()).or_default().push(*v);
                }
            }
        }
        for (name, n) in &trial.kind_counts {
            *kind_counts.entry(name.clone()).or_insert(0) += n;
        }
        for def in metrics::METRICS
            .iter()
            .filter(|m| m.across != Across::Pooled)
        {
            per_trial
                .entry(def.name)
                .or_insert((def.across, Vec::new()))
                .1
                .extend(trial.metrics.get(def.name));
        }
        if let Ok(h) = stats::decode(&trial.histogram) {
            let _ = merged.add(&h);
        }
        if let Some(Ok(h)) = trial.service_histogram.as_deref().map(stats::decode) {
            let _ = service.get_or_insert_with(new_histogram).add(&h);
        }
        ops += trial.operations + trial.errors;
        errors += trial.errors;
        let per_op = |k: &str| {
            trial
                .metrics
                .get(k)
                .map(|v| v * (trial.operations + trial.errors) as f64)
        };
        bytes = bytes.zip(per_op("memory.bytes_per_op")).map(|(a, b)| a + b);
        allocs = allocs
            .zip(per_op("memory.allocs_per_op"))
            .map(|(a, b)| a + b);
    }
    let mut m = BTreeMap::new();
    stats::latency_metrics(&merged, &mut m);
    if merged.is_empty() {
        for (k, v) in &tool_latency {
            if let Some(value) = stats::median(v) {
                m.insert(k.clone(), value);
            }
        }
    }
    for (name, h) in &samples {
        sample_metrics(name, h, &mut m);
    }
    eval_share(&mut m);
    service_metrics(service.as_ref(), &mut m);
    operation_metrics(kinds.iter().map(|(k, h)| (h, k.as_str())), &mut m);
    hit_ratio(&kind_counts, &mut m);
    for (name, (across, v)) in &per_trial {
        let value = match across {
            Across::Max => v.iter().copied().reduce(f64::max),
            Across::Median | Across::Pooled => stats::median(v),
        };
        if let Some(value) = value {
            m.insert(name.to_string(), value);
        }
    }
    if ops > 0 {
        m.insert("errors.count".into(), errors as f64);
        m.insert("errors.rate".into(), errors as f64 / ops as f64);
        if let Some(b) = bytes {
            m.insert("memory.bytes_per_op".into(), b / ops as f64);
        }
        if let Some(a) = allocs {
            m.insert("memory.allocs_per_op".into(), a / ops as f64);
        }
    }
    if let Some(c) = stats::median(compile_ns) {
        m.insert("compile.time".into(), c);
    }
    (m, merged)
}

/// Grades each threshold, with the metric's interval over trials where it
/// has one (errors are exact counts over all trials, not estimates), and a
/// soak's growth with its fit's interval (over several soak trials, the
/// span of their intervals).
pub(crate) fn grades(
    thresholds: &BTreeMap<String, rigor_scenario::model::Threshold>,
    m: &BTreeMap<String, f64>,
    stats: &BTreeMap<String, MetricStats>,
    trials: &[TrialResult],
) -> Vec<Grade> {
    thresholds
        .iter()
        .map(|(metric, th)| {
            let interval = growth_interval(trials, metric).or_else(|| {
                stats
                    .get(metric)
                    .filter(|s| s.trials > 1 && !metric.starts_with("errors."))
                    .and_then(|s| s.interval)
                    .map(|i| (i.low, i.high))
            });
            let mut g = grade::grade_interval(metric, m.get(metric).copied(), th, interval);
            if g.verdict == Verdict::Fail && growth_interval(trials, metric).is_some() && filling(trials) {
                g.verdict = Verdict::Warn;
                g.reason = Some(
                    "the cache was still filling during the soak, so growth includes its fill: preload it or soak longer to tell a leak"
                        .into(),
                );
            }
            g
        })
        .collect()
}

/// Whether a soaked cache was still filling when its growth was fitted:
/// a FAIL on growth is then no proof of a leak, and is capped at WARN.
fn filling(trials: &[TrialResult]) -> bool {
    trials
        .iter()
        .filter_map(|t| t.soak.as_ref())
        .any(|s| s.still_filling)
}

/// The interval of a soak's growth metric: its fit's, spanning every trial's.
fn growth_interval(trials: &[TrialResult], metric: &str) -> Option<(f64, f64)> {
    let fit = |s: &SoakResult| {
        s.growth_metrics()
            .into_iter()
            .find(|(name, ..)| *name == metric)
            .and_then(|(_, _, interval)| interval)
    };
    trials
        .iter()
        .filter(|t| !t.interrupted)
        .filter_map(|t| t.soak.as_ref().and_then(fit))
        .map(|i| (i.low, i.high))
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
}

/// Each target's ratios to the scenario's `compare:` target, trial by
/// trial (memory only between targets measured in the same scope).
fn ratios(results: &mut Results) {
    if let Some(baseline) = &results.baseline {
        for case in &mut results.cases {
            let Some(base) = case
                .targets
                .iter()
                .find(|t| &t.id == baseline)
                .map(|t| t.trials.clone())
            else {
                continue;
            };
            let scope = |id: &str| {
                results
                    .targets
                    .iter()
                    .find(|t| t.id == id)
                    .map(|t| t.memory_scope.clone())
            };
            let base_scope = scope(baseline);
            for t in &mut case.targets {
                let same_scope = scope(&t.id) == base_scope;
                t.ratios = if &t.id == baseline {
                    Vec::new()
                } else {
                    crate::compare::compare(&t.trials, &base)
                        .into_iter()
                        .filter(|r| same_scope || !r.metric.starts_with("memory."))
                        .collect()
                };
            }
        }
    }
}

/// Median, range, the median's interval and the CV of each metric over the
/// trials (interrupted trials left out; p99.9 only from trials of 10^4
/// operations or more).
fn trial_stats(trials: &[TrialResult]) -> BTreeMap<String, MetricStats> {
    use crate::inference;
    metrics::with_stats()
        .map(|m| m.name)
        .filter_map(|metric| {
            let v = crate::regress::trial_values(trials, metric);
            if v.is_empty() {
                return None;
            }
            Some((
                metric.to_string(),
                MetricStats {
                    trials: v.len(),
                    median: inference::median(&v),
                    min: v.iter().copied().fold(f64::INFINITY, f64::min),
                    max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    interval: inference::median_interval(&v, 0.95),
                    cv: inference::cv(&v),
                },
            ))
        })
        .collect()
}

/// Full mode's A/A control: the first target against its copy, case by case.
pub(crate) fn aa_control(results: &Results, control: &str) -> Option<RegressionReport> {
    let first = results.targets.first()?.id.clone();
    let pairs: Vec<crate::regress::Pairing> = results
        .cases
        .iter()
        .filter_map(|c| {
            let a = c.targets.iter().find(|t| t.id == first)?;
            let b = c.targets.iter().find(|t| t.id == control)?;
            Some((c.name.clone(), first.clone(), &a.trials[..], &b.trials[..]))
        })
        .collect();
    let config = RegressionConfig::from(&results.regression_config);
    Some(crate::regress::compare_trials(
        &pairs,
        &format!("{first} vs its copy {control}"),
        &config,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::testing::{trial, trials_of};
    use rigor_scenario::model::Threshold;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn each_metric_combines_across_trials_as_the_catalogue_says() {
        let mut a = trial(
            0,
            9,
            1,
            &[
                ("throughput", 100.0),
                ("memory.bytes_per_op", 8.0),
                ("memory.allocs_per_op", 1.0),
                ("memory.peak_resident", 5e6),
                ("schedule.lag.max", 70.0),
                ("cache.entries", 10.0),
            ],
            &[1000; 9],
        );
        a.kind_counts = BTreeMap::from([("hit".into(), 3), ("miss".into(), 1)]);
        let b = trial(
            1,
            30,
            0,
            &[
                ("throughput", 300.0),
                ("memory.bytes_per_op", 16.0),
                ("memory.allocs_per_op", 2.0),
                ("memory.peak_resident", 9e6),
                ("schedule.lag.max", 50.0),
                ("cache.entries", 30.0),
            ],
            &[2000; 30],
        );
        let c = trial(
            2,
            10,
            0,
            &[
                ("throughput", 200.0),
                ("memory.bytes_per_op", 0.0),
                ("memory.allocs_per_op", 0.0),
                ("memory.peak_resident", 7e6),
                ("cache.entries", 20.0),
            ],
            &[3000; 10],
        );
        let (m, merged) = target_metrics(&[a, b, c], &[5.0, 1.0, 3.0]);
        assert_eq!(merged.len(), 49);
        // Median of trials.
        assert_eq!(m["throughput"], 200.0);
        assert_eq!(m["cache.entries"], 20.0);
        assert_eq!(m["compile.time"], 3.0);
        // Highest of trials.
        assert_eq!(m["memory.peak_resident"], 9e6);
        assert_eq!(m["schedule.lag.max"], 70.0);
        // Pooled: totals over all operations (failed ones included).
        assert!(close(
            m["memory.bytes_per_op"],
            (8.0 * 10.0 + 16.0 * 30.0) / 50.0
        ));
        assert!(close(m["memory.allocs_per_op"], (10.0 + 60.0) / 50.0));
        assert_eq!(m["errors.count"], 1.0);
        assert!(close(m["errors.rate"], 1.0 / 50.0));
        assert!(close(m["cache.hit_ratio"], 0.75));
        // Percentiles of the merged histogram, not of any one trial.
        assert!(
            (m["latency.p50"] - 2000.0).abs() <= 2.0,
            "{}",
            m["latency.p50"]
        );
        assert!((m["latency.max"] - 3000.0).abs() <= 3.0);
        assert!((m["latency.min"] - 1000.0).abs() <= 1.0);
    }

    #[test]
    fn a_trial_without_a_histogram_gives_its_own_latencies_by_median() {
        let trials: Vec<_> = [10.0, 30.0, 20.0]
            .iter()
            .enumerate()
            .map(|(i, p99)| trial(i as u32, 100, 0, &[("latency.p99", *p99)], &[]))
            .collect();
        let (m, merged) = target_metrics(&trials, &[]);
        assert!(merged.is_empty());
        assert_eq!(m["latency.p99"], 20.0);
        assert!(!m.contains_key("compile.time"));
    }

    #[test]
    fn stats_leave_out_interrupted_trials_and_small_p999s() {
        let mut trials = trials_of("throughput", &[100.0, 110.0, 90.0, 1.0]);
        trials[3].interrupted = true;
        for (t, ops) in trials.iter_mut().zip([20_000, 500, 20_000, 20_000]) {
            t.operations = ops;
            t.metrics.insert("latency.p99.9".into(), 7.0);
        }
        let s = trial_stats(&trials);
        let tp = &s["throughput"];
        assert_eq!(tp.trials, 3);
        assert_eq!(tp.median, 100.0);
        assert_eq!((tp.min, tp.max), (90.0, 110.0));
        assert_eq!(s["latency.p99.9"].trials, 2);
        // Only catalogue metrics flagged `stats` are summarised.
        assert!(metrics::metric("latency.max").is_some_and(|m| !m.stats));
        let mut with_max = trials_of("latency.max", &[1.0, 2.0]);
        with_max[0].metrics.insert("throughput".into(), 1.0);
        assert!(!trial_stats(&with_max).contains_key("latency.max"));
    }

    #[test]
    fn grades_use_the_trials_interval_except_for_errors() {
        let th = |target: f64, critical: f64| Threshold {
            target: Some(target),
            critical: Some(critical),
        };
        let thresholds = BTreeMap::from([
            ("latency.p99".to_string(), th(10.0, 20.0)),
            ("errors.rate".to_string(), th(0.0, 0.01)),
        ]);
        // Point estimates meet the target, but p99's interval reaches past it.
        let m = BTreeMap::from([
            ("latency.p99".to_string(), 9.0),
            ("errors.rate".to_string(), 0.0),
        ]);
        let wide = |median: f64, low: f64, high: f64| MetricStats {
            trials: 5,
            median,
            min: low,
            max: high,
            interval: Some(crate::inference::Interval {
                low,
                high,
                confidence: 0.95,
            }),
            cv: Some(0.1),
        };
        let stats = BTreeMap::from([
            ("latency.p99".to_string(), wide(9.0, 8.0, 12.0)),
            ("errors.rate".to_string(), wide(0.0, 0.0, 0.05)),
        ]);
        let g = grades(&thresholds, &m, &stats, &[]);
        let by: BTreeMap<_, _> = g.iter().map(|g| (g.metric.as_str(), g.verdict)).collect();
        assert_eq!(by["latency.p99"], Verdict::Warn);
        assert_eq!(by["errors.rate"], Verdict::Pass);
        // A narrow interval below the target passes.
        let narrow = BTreeMap::from([("latency.p99".to_string(), wide(9.0, 8.5, 9.5))]);
        assert_eq!(
            grades(&thresholds, &m, &narrow, &[])[1].verdict,
            Verdict::Pass
        );
        // Without the metric the grade is SKIP, never PASS.
        assert_eq!(
            grades(&thresholds, &BTreeMap::new(), &BTreeMap::new(), &[])[1].verdict,
            Verdict::Skip
        );
    }
}
