//! Why rigor stops with a non-zero code: one [`Failure`] per outcome,
//! mapped to the exit code in one place, and a run's results mapped to it
//! through [`Results::exit_code`].

use rigor_engine::results::{Results, RunStatus};

use crate::store;

/// Why rigor stops with a non-zero code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A threshold failed (exit 1). Not printed as an error: the report says it.
    ThresholdFailed,
    /// A metric regressed against the baseline (exit 4), or both a threshold
    /// failed and a metric regressed (exit 5).
    Regressed {
        /// A threshold failed too.
        threshold_too: bool,
    },
    /// Invalid input: scenario, policy, templates, arguments (exit 2).
    Invalid(String),
    /// The run could not complete: a target failed, I/O failed, Ctrl-C (exit 3).
    Run(String),
}

impl Failure {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::ThresholdFailed => 1,
            Failure::Invalid(_) => 2,
            Failure::Run(_) => 3,
            Failure::Regressed {
                threshold_too: false,
            } => 4,
            Failure::Regressed {
                threshold_too: true,
            } => 5,
        }
    }
}

impl From<rigor_scenario::ScenarioError> for Failure {
    fn from(e: rigor_scenario::ScenarioError) -> Self {
        Failure::Invalid(e.to_string())
    }
}

impl From<store::StoreError> for Failure {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Invalid(m) => Failure::Invalid(m),
            store::StoreError::Io(m) => Failure::Run(m),
        }
    }
}

impl From<rigor_report::ReportError> for Failure {
    fn from(e: rigor_report::ReportError) -> Self {
        Failure::Invalid(e.to_string())
    }
}

/// The run's outcome as rigor's exit: [`Results::exit_code`] decides the
/// code (the same function every report's headline agrees with); this only
/// says why.
pub(crate) fn outcome(results: &Results) -> Result<(), Failure> {
    match results.exit_code() {
        0 => Ok(()),
        1 => Err(Failure::ThresholdFailed),
        4 => Err(Failure::Regressed {
            threshold_too: false,
        }),
        5 => Err(Failure::Regressed {
            threshold_too: true,
        }),
        _ if results.status == RunStatus::Interrupted => Err(Failure::Run(
            "interrupted: partial results were written".into(),
        )),
        _ if results.status == RunStatus::Incomplete => Err(Failure::Run(format!(
            "incomplete: {}",
            results
                .merged
                .as_ref()
                .map(|m| m.missing_text())
                .unwrap_or_else(|| "shards are missing".into())
        ))),
        _ => Err(Failure::Run(format!(
            "{} target run(s) failed: {}",
            results.errors.len(),
            results.errors.join("; ")
        ))),
    }
}
