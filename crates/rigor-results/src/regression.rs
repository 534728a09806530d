//! Comparisons of two sets of trials (against a saved baseline, or paired
//! rounds within one run): their settings, checks and report.

use super::*;

/// How a comparison is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionConfig {
    /// Default threshold T on the change (0.10 = 10% worse).
    pub threshold: f64,
    /// Per-metric thresholds.
    pub metrics: BTreeMap<String, f64>,
}

impl Default for RegressionConfig {
    fn default() -> Self {
        RegressionConfig {
            threshold: 0.10,
            metrics: BTreeMap::new(),
        }
    }
}

impl From<&rigor_scenario::plan::RegressionPlan> for RegressionConfig {
    /// The scenario's `regression:` thresholds.
    fn from(plan: &rigor_scenario::plan::RegressionPlan) -> Self {
        RegressionConfig {
            threshold: plan.threshold,
            metrics: plan.metrics.clone(),
        }
    }
}

impl RegressionConfig {
    /// The threshold of `metric`: its own, else the default.
    pub fn threshold(&self, metric: &str) -> f64 {
        self.metrics.get(metric).copied().unwrap_or(self.threshold)
    }
}

/// One metric of one target in one case, against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionCheck {
    /// Case name.
    pub case: String,
    /// Target id.
    pub target: String,
    /// Metric name.
    pub metric: String,
    /// Median of the baseline's trials.
    pub base: f64,
    /// Median of this run's trials.
    pub new: f64,
    /// Trials compared (baseline, new).
    pub trials: (usize, usize),
    /// Estimated change, positive = worse (0.12 = 12% worse).
    pub change: f64,
    /// The change's interval (same sign convention), with its coverage.
    pub interval: Option<Interval>,
    /// Two-sided Mann-Whitney p-value of any difference (as benchstat shows).
    pub p_value: Option<f64>,
    /// One-sided p-value of "worse by more than T", Holm-adjusted over the run.
    pub p_regression: Option<f64>,
    /// The one-sided test behind `p_regression`: `rank` (Mann-Whitney on
    /// per-trial values) or `welch-t` (Welch's t on log trial values, used
    /// when there are too few trials for the rank test to reach 5% after Holm).
    #[serde(default)]
    pub test: String,
    /// Threshold T.
    pub threshold: f64,
    /// Smallest change these trials can resolve (2.8 x CV x sqrt(2/n)).
    pub detectable: Option<f64>,
    /// Trials per side needed to resolve T, when `detectable` exceeds it.
    pub trials_needed: Option<usize>,
    /// PASS, WARN or FAIL.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
}

/// A whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    /// What the baseline is (a name or a file).
    pub baseline: String,
    /// When the baseline ran.
    pub baseline_started_at: String,
    /// Environment fields that differ ("cores: 2 -> 4"); non-empty caps verdicts at WARN.
    pub environment_differs: Vec<String>,
    /// Why FAILs were downgraded (A/A control, environment), if they were.
    pub downgraded: Option<String>,
    /// The configuration.
    pub config: RegressionConfig,
    /// Every check.
    pub checks: Vec<RegressionCheck>,
    /// Geometric mean of the new/base ratios of medians over shared cases and targets, by metric.
    pub geomean: BTreeMap<String, f64>,
    /// The worst verdict.
    pub verdict: Verdict,
}
