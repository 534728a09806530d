//! A regression report's view (against a saved baseline, or paired
//! rounds within the run): its checks as rows, widths for text.

use super::*;

/// The comparison against a baseline.
#[derive(Debug, Serialize)]
pub struct RegressionView {
    /// The section's heading: `Against baseline X` or `Paired A/B against X`.
    pub title: String,
    /// How the change, its interval and the verdict are made, in a sentence or two.
    pub method: String,
    /// Baseline name or file.
    pub baseline: String,
    /// When the baseline ran.
    pub baseline_started_at: String,
    /// PASS/WARN/FAIL.
    pub verdict: String,
    /// CSS class.
    pub class: String,
    /// Why FAILs were capped, if they were.
    pub downgraded: Option<String>,
    /// Default threshold, e.g. `10%`.
    pub threshold: String,
    /// One row per check.
    pub rows: Vec<RegressionRow>,
    /// Column widths for text.
    pub widths: Vec<usize>,
}

/// One regression check.
#[derive(Debug, Serialize)]
pub struct RegressionRow {
    /// Cells: case, target, metric, base, new, change \[interval\], p, verdict.
    pub cells: Vec<String>,
    /// Verdict coloured for terminals.
    pub verdict_colored: Styled,
    /// CSS class.
    pub class: String,
    /// Why.
    pub reason: String,
}

pub(super) fn regression_view(
    r: &rigor_results::RegressionReport,
    color: bool,
    paired: bool,
) -> RegressionView {
    let rows: Vec<RegressionRow> = r
        .checks
        .iter()
        .map(|c| RegressionRow {
            cells: vec![
                c.case.clone(),
                c.target.clone(),
                c.metric.clone(),
                format_metric(&c.metric, Some(c.base)),
                format_metric(&c.metric, Some(c.new)),
                crate::format::change_text(c),
                c.p_value.map_or("-".into(), format_p),
            ],
            verdict_colored: colored(c.verdict, color),
            class: class(c.verdict).into(),
            reason: c.reason.clone(),
        })
        .collect();
    let header = [
        "case",
        "target",
        "metric",
        "base",
        "new",
        "change of the value [95% interval]",
        "p",
    ];
    let widths = column_widths(
        std::iter::once(header.map(String::from).to_vec())
            .chain(rows.iter().map(|r| r.cells.clone())),
        header.len(),
    );
    let (title, method) = if paired {
        (
            format!("Paired A/B against {}, in this run's rounds", r.baseline),
            "Paired rounds within this run: the targets alternated in rounds of workload.round in seeded ABBA blocks; change: the mean time per operation, target against baseline, from the blocks' log ratios by batch medians (robust to a preempted round) with a 95% t interval across batches (which respects the rounds' serial correlation); p: two-sided t test of any change. FAIL when the interval's lower end is above the threshold, PASS when its upper end is below it, WARN otherwise; see docs/STATISTICS.md.".to_string(),
        )
    } else {
        (
            format!("Against baseline {}", r.baseline),
            "change: how the value moved, Hodges-Lehmann estimate with its interval, marked worse or better by the metric's direction; p: two-sided Mann-Whitney of any difference, as benchstat shows it; the verdict uses the one-sided test of \"worse by more than the threshold\" after Holm: Mann-Whitney, or Welch's t on log values when the trials are too few for the rank test; see docs/STATISTICS.md.".to_string(),
        )
    };
    RegressionView {
        title,
        method,
        baseline: r.baseline.clone(),
        baseline_started_at: r.baseline_started_at.clone(),
        verdict: r.verdict.label().into(),
        class: class(r.verdict).into(),
        downgraded: r.downgraded.clone(),
        threshold: format!("{}%", significant(r.config.threshold * 100.0)),
        rows,
        widths,
    }
}
