//! Ratios of a target's metrics to a baseline target's, with a 95%
//! confidence interval across trials.
//!
//! Trials are paired by index: both targets ran in the same trial,
//! interleaved, so they saw the same machine state. The interval is a
//! Student t interval on the log ratios, exponentiated back (ratios are
//! multiplicative; logs make them symmetric).

use std::collections::BTreeMap;

use rigor_scenario::metrics::{self, Direction};

use crate::results::{Ratio, TrialResult};

/// The 97.5% quantile of Student's t with `df` degrees of freedom (a
/// two-sided 95% interval), exact for every `df` (a table to 30 fell back
/// to the normal's 1.96 above it, an interval too narrow by up to 4%).
fn t975(df: usize) -> f64 {
    crate::inference::t_quantile(0.975, df as f64)
}

/// Geometric-mean ratio and its interval for paired samples.
pub fn ratio_interval(pairs: &[(f64, f64)]) -> Option<(f64, Option<(f64, f64)>)> {
    let logs: Vec<f64> = pairs
        .iter()
        .filter(|(a, b)| *a > 0.0 && *b > 0.0 && a.is_finite() && b.is_finite())
        .map(|(a, b)| (a / b).ln())
        .collect();
    if logs.is_empty() {
        return None;
    }
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    if logs.len() < 2 {
        return Some((mean.exp(), None));
    }
    let var = logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = t975(logs.len() - 1) * (var / n).sqrt();
    Some((mean.exp(), Some(((mean - half).exp(), (mean + half).exp()))))
}

/// Compares `trials` of a target with the baseline's, metric by metric.
pub fn compare(trials: &[TrialResult], baseline: &[TrialResult]) -> Vec<Ratio> {
    let by_trial: BTreeMap<u32, &TrialResult> = baseline.iter().map(|t| (t.trial, t)).collect();
    metrics::compared()
        .filter_map(|def| {
            let metric = def.name;
            let pairs: Vec<(f64, f64)> = trials
                .iter()
                .filter_map(|t| {
                    let b = by_trial.get(&t.trial)?;
                    Some((*t.metrics.get(metric)?, *b.metrics.get(metric)?))
                })
                .collect();
            let (ratio, interval) = ratio_interval(&pairs)?;
            let higher_better = def.direction == Direction::HigherIsBetter;
            let conclusion = match interval {
                None => "one trial: no interval".to_string(),
                Some((lo, hi)) if lo <= 1.0 && hi >= 1.0 => "no significant difference".to_string(),
                Some((lo, _)) if (lo > 1.0) == higher_better => "better".to_string(),
                Some(_) => "worse".to_string(),
            };
            Some(Ratio {
                metric: metric.to_string(),
                ratio,
                low: interval.map(|i| i.0),
                high: interval.map(|i| i.1),
                trials: pairs.len(),
                conclusion,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_give_a_point_interval() {
        let (r, i) = ratio_interval(&[(2.0, 1.0), (4.0, 2.0), (6.0, 3.0)]).unwrap();
        assert!((r - 2.0).abs() < 1e-12);
        let (lo, hi) = i.unwrap();
        assert!((lo - 2.0).abs() < 1e-9 && (hi - 2.0).abs() < 1e-9);
    }

    #[test]
    fn the_t_quantile_holds_beyond_thirty_trials() {
        // A table to 30 degrees of freedom fell back to the normal's 1.96.
        assert!((t975(40) - 2.021).abs() < 0.001);
        assert!((t975(2) - 4.303).abs() < 0.001);
        assert!(t975(1000) > 1.96 && t975(1000) < 1.963);
    }

    #[test]
    fn interval_matches_a_hand_computed_t_interval() {
        // log ratios: ln 1.1, ln 0.9, ln 1.2 -> mean 0.05808, sd 0.14504, n = 3, t = 4.302653
        let (r, i) = ratio_interval(&[(1.1, 1.0), (0.9, 1.0), (1.2, 1.0)]).unwrap();
        let logs = [1.1f64.ln(), 0.9f64.ln(), 1.2f64.ln()];
        let mean = logs.iter().sum::<f64>() / 3.0;
        let sd = (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((r - mean.exp()).abs() < 1e-12);
        let (lo, hi) = i.unwrap();
        let t = 4.302_653;
        assert!((lo - (mean - t * sd / 3f64.sqrt()).exp()).abs() < 1e-6);
        assert!((hi - (mean + t * sd / 3f64.sqrt()).exp()).abs() < 1e-6);
        assert!(
            lo < 1.0 && hi > 1.0,
            "this spread includes 1: no significant difference"
        );
    }

    #[test]
    fn conclusions_follow_metric_direction() {
        let trial = |i: u32, v: f64| {
            crate::results::testing::trial(
                i,
                1,
                0,
                &[("latency.p50", v), ("throughput", 1.0 / v)],
                &[],
            )
        };
        let fast: Vec<_> = (0..3).map(|i| trial(i, 10.0 + i as f64 * 0.1)).collect();
        let slow: Vec<_> = (0..3).map(|i| trial(i, 100.0 + i as f64)).collect();
        let ratios = compare(&fast, &slow);
        let get = |m: &str| ratios.iter().find(|r| r.metric == m).unwrap();
        assert_eq!(get("latency.p50").conclusion, "better");
        assert!((get("latency.p50").ratio - 0.1).abs() < 0.01);
        assert_eq!(get("throughput").conclusion, "better");
        assert_eq!(
            compare(&slow, &fast)
                .iter()
                .find(|r| r.metric == "throughput")
                .unwrap()
                .conclusion,
            "worse"
        );
    }
}
