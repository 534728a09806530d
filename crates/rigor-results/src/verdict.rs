//! Verdicts: the grade of one threshold, and the run's one verdict, exit
//! code and check counts, decided in one place for every reporter.

use serde::{Deserialize, Serialize};

use crate::{Results, TargetResult, Verification};

/// A grading outcome, worst last.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The metric was not measured for this target (e.g. compile time of `noop`).
    Skip,
    /// Meets the target level.
    Pass,
    /// Misses the target level but meets the critical one.
    Warn,
    /// Misses the critical level.
    Fail,
}

impl TargetResult {
    /// Its trials' notes (figures that could not be read), each once.
    pub fn trial_notes(&self) -> Vec<&str> {
        let mut notes: Vec<&str> = Vec::new();
        for n in self.trials.iter().flat_map(|t| &t.notes) {
            if !notes.contains(&n.as_str()) {
                notes.push(n);
            }
        }
        notes
    }
}

impl Results {
    /// The run's one verdict, for every headline and output: the worst
    /// threshold grade, the regression check's, and FAIL for a target that
    /// failed or a run cut short (the run exits 3 then).
    pub fn overall_verdict(&self) -> Verdict {
        let mut v = self.verdict;
        if !self.errors.is_empty() || self.status.cut_short() {
            v = v.max(Verdict::Fail);
        }
        for r in self.regression.iter().chain(&self.paired) {
            v = v.max(r.verdict);
        }
        if self.verification.as_ref().is_some_and(Verification::warned) {
            v = v.max(Verdict::Warn);
        }
        v
    }

    /// The process exit code this run ends with, the one place it is
    /// decided: 3 a target failed or the run was interrupted, 5 a metric
    /// regressed and a threshold failed, 4 a metric regressed, 1 a threshold
    /// failed, 0 otherwise. Every non-zero code goes with a FAIL from
    /// [`Results::overall_verdict`], and 0 with PASS or WARN.
    pub fn exit_code(&self) -> u8 {
        let threshold = self.verdict == Verdict::Fail;
        let regressed = self
            .regression
            .iter()
            .chain(&self.paired)
            .any(|r| r.verdict == Verdict::Fail);
        if !self.errors.is_empty() || self.status.cut_short() {
            3
        } else if regressed {
            if threshold {
                5
            } else {
                4
            }
        } else if threshold {
            1
        } else {
            0
        }
    }

    /// Every check the verdict covers, counted by verdict (indexed by
    /// `Verdict as usize`): threshold grades, regression and paired checks,
    /// and each failed target as a FAIL.
    pub fn check_counts(&self) -> [usize; 4] {
        let mut counts = [0usize; 4];
        for case in &self.cases {
            for t in &case.targets {
                for g in &t.grades {
                    counts[g.verdict as usize] += 1;
                }
                if t.error.is_some() {
                    counts[Verdict::Fail as usize] += 1;
                }
            }
        }
        for c in self
            .regression
            .iter()
            .chain(&self.paired)
            .flat_map(|r| &r.checks)
        {
            counts[c.verdict as usize] += 1;
        }
        if self.verification.as_ref().is_some_and(Verification::warned) {
            counts[Verdict::Warn as usize] += 1;
        }
        counts
    }

    /// `3 FAIL, 2 WARN, 10 PASS` over [`Results::check_counts`].
    pub fn check_counts_text(&self) -> String {
        let counts = self.check_counts();
        [Verdict::Fail, Verdict::Warn, Verdict::Pass, Verdict::Skip]
            .iter()
            .filter(|v| counts[**v as usize] > 0)
            .map(|v| format!("{} {}", counts[*v as usize], v.label()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Verdict {
    /// Upper-case label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Skip => "N/A",
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One threshold applied to one target in one case.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Grade {
    /// Metric name.
    pub metric: String,
    /// Measured value in the metric's canonical unit, if measured.
    pub value: Option<f64>,
    /// Target level.
    pub target: Option<f64>,
    /// Critical level.
    pub critical: Option<f64>,
    /// The outcome.
    pub verdict: Verdict,
    /// The interval the verdict used (across trials), when there were several.
    #[serde(default)]
    pub low: Option<f64>,
    /// Upper end of that interval.
    #[serde(default)]
    pub high: Option<f64>,
    /// Why, when the interval decided (e.g. it straddles a level).
    #[serde(default)]
    pub reason: Option<String>,
}
