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
    let direction = metrics::metric(metric)
        .map(|m| m.direction)
        .unwrap_or(Direction::LowerIsBetter);
    let verdict = match value {
        None => Verdict::Skip,
        Some(v) if v.is_nan() => Verdict::Fail,
        Some(v) => match (threshold.target, threshold.critical) {
            (_, Some(c)) if !meets(v, c, direction) => Verdict::Fail,
            (Some(t), _) if !meets(v, t, direction) => Verdict::Warn,
            _ => Verdict::Pass,
        },
    };
    Grade {
        metric: metric.to_string(),
        value,
        target: threshold.target,
        critical: threshold.critical,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
