//! Threshold grading: PASS meets target; WARN misses target but meets
//! critical; FAIL misses critical. The comparison direction comes from the
//! metric catalogue.

use rigor_scenario::metrics::{self, Direction};
use rigor_scenario::model::Threshold;

use crate::results::{Grade, Verdict};

/// Whether `value` meets `level` for a metric going in `direction`.
fn meets(value: f64, level: f64, direction: Direction) -> bool {
    match direction {
        Direction::LowerIsBetter => value <= level,
        Direction::HigherIsBetter => value >= level,
    }
}

/// Grades one value against one threshold.
pub fn grade(metric: &str, value: Option<f64>, threshold: &Threshold) -> Grade {
    grade_interval(metric, value, threshold, None)
}

/// Grades a value and, when there are several trials, the interval of the
/// trials' median: PASS when the whole interval meets the target (and the
/// critical level), FAIL when even its best end misses the critical level,
/// WARN otherwise, with the reason. Without an interval, the value decides.
pub fn grade_interval(
    metric: &str,
    value: Option<f64>,
    threshold: &Threshold,
    interval: Option<(f64, f64)>,
) -> Grade {
    let direction = metrics::metric(metric)
        .map(|m| m.direction)
        .unwrap_or(Direction::LowerIsBetter);
    let point = match value {
        None => Verdict::Skip,
        Some(v) if v.is_nan() => Verdict::Fail,
        Some(v) => match (threshold.target, threshold.critical) {
            (_, Some(c)) if !meets(v, c, direction) => Verdict::Fail,
            (Some(t), _) if !meets(v, t, direction) => Verdict::Warn,
            _ => Verdict::Pass,
        },
    };
    let mut reason = None;
    let verdict = match (value, interval) {
        (Some(v), Some((lo, hi))) if !v.is_nan() => {
            // Ends of the interval, best and worst for this metric.
            let (best, worst) = match direction {
                Direction::LowerIsBetter => (lo.min(v), hi.max(v)),
                Direction::HigherIsBetter => (hi.max(v), lo.min(v)),
            };
            let ok = |x: f64, level: Option<f64>| level.is_none_or(|l| meets(x, l, direction));
            if !ok(best, threshold.critical) {
                Verdict::Fail
            } else if ok(worst, threshold.target) && ok(worst, threshold.critical) {
                Verdict::Pass
            } else if point == Verdict::Pass || point == Verdict::Fail {
                reason = Some(format!(
                    "the trials' interval straddles the {} level: inconclusive",
                    if ok(worst, threshold.critical) {
                        "target"
                    } else {
                        "critical"
                    }
                ));
                Verdict::Warn
            } else {
                point
            }
        }
        _ => point,
    };
    Grade {
        metric: metric.to_string(),
        value,
        target: threshold.target,
        critical: threshold.critical,
        verdict,
        low: interval.map(|i| i.0),
        high: interval.map(|i| i.1),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_decide_when_there_are_trials() {
        let th = t(Some(10.0), Some(50.0));
        let g =
            |v: f64, lo: f64, hi: f64| grade_interval("latency.p99", Some(v), &th, Some((lo, hi)));
        assert_eq!(g(8.0, 7.0, 9.0).verdict, Verdict::Pass);
        // The median meets the target but a slower trial does not: unresolved.
        let w = g(9.0, 8.0, 12.0);
        assert_eq!(w.verdict, Verdict::Warn);
        assert!(w.reason.unwrap().contains("straddles the target"));
        // The median misses critical but the interval reaches below it: WARN, not FAIL.
        let w = g(55.0, 45.0, 60.0);
        assert_eq!(w.verdict, Verdict::Warn);
        assert!(w.reason.unwrap().contains("critical"));
        assert_eq!(g(60.0, 55.0, 70.0).verdict, Verdict::Fail);
        // Higher is better: throughput.
        let th = t(Some(1000.0), Some(500.0));
        let g = |v: f64, lo: f64, hi: f64| {
            grade_interval("throughput", Some(v), &th, Some((lo, hi))).verdict
        };
        assert_eq!(g(1200.0, 1100.0, 1300.0), Verdict::Pass);
        assert_eq!(g(1200.0, 900.0, 1300.0), Verdict::Warn);
        assert_eq!(g(400.0, 300.0, 450.0), Verdict::Fail);
    }

    fn t(target: Option<f64>, critical: Option<f64>) -> Threshold {
        Threshold { target, critical }
    }

    #[test]
    fn lower_is_better_levels_and_edges() {
        let th = t(Some(10.0), Some(50.0));
        assert_eq!(grade("latency.p99", Some(9.0), &th).verdict, Verdict::Pass);
        assert_eq!(
            grade("latency.p99", Some(10.0), &th).verdict,
            Verdict::Pass,
            "equal meets"
        );
        assert_eq!(grade("latency.p99", Some(10.1), &th).verdict, Verdict::Warn);
        assert_eq!(grade("latency.p99", Some(50.0), &th).verdict, Verdict::Warn);
        assert_eq!(grade("latency.p99", Some(50.1), &th).verdict, Verdict::Fail);
    }

    #[test]
    fn higher_is_better() {
        let th = t(Some(1000.0), Some(500.0));
        assert_eq!(
            grade("throughput", Some(2000.0), &th).verdict,
            Verdict::Pass
        );
        assert_eq!(grade("throughput", Some(700.0), &th).verdict, Verdict::Warn);
        assert_eq!(grade("throughput", Some(499.0), &th).verdict, Verdict::Fail);
    }

    #[test]
    fn critical_only_is_pass_or_fail_and_target_only_never_fails() {
        let zero = t(None, Some(0.0));
        assert_eq!(
            grade("errors.rate", Some(0.0), &zero).verdict,
            Verdict::Pass
        );
        assert_eq!(
            grade("errors.rate", Some(1e-9), &zero).verdict,
            Verdict::Fail
        );
        let soft = t(Some(1.0), None);
        assert_eq!(
            grade("latency.p50", Some(1e9), &soft).verdict,
            Verdict::Warn
        );
    }

    #[test]
    fn missing_and_nan() {
        let th = t(Some(1.0), Some(2.0));
        assert_eq!(grade("compile.time", None, &th).verdict, Verdict::Skip);
        assert_eq!(
            grade("latency.p50", Some(f64::NAN), &th).verdict,
            Verdict::Fail
        );
    }
}
