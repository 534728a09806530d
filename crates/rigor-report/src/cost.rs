//! "Where the time goes": per case and target, the slowest inputs, the
//! cost of each decision and how concentrated the cost is; per target, the
//! policy's hottest lines and rules, and the heat map of its source.

use rigor_results::cost::{InputCosts, PolicyProfile};
use rigor_results::{CaseResult, TargetInfo};
use rigor_scenario::units::{format_nanos, significant};
use serde::Serialize;

/// One target's input costs in one case.
#[derive(Debug, Serialize)]
pub struct InputCostView {
    /// Target id.
    pub target_id: String,
    /// `412 of 1000 inputs evaluated, 1.2M operations`.
    pub coverage: String,
    /// `the slowest 1% of inputs (10) took 8.3% of the time`.
    pub concentration: String,
    /// The slowest inputs: origin, decision, mean, operations, input text.
    pub slowest: Vec<SlowInput>,
    /// Cost by decision: decision, inputs, mean, share, ratio to the cheapest.
    pub by_decision: Vec<Vec<String>>,
    /// `deny answers cost 8.1x allow answers (mean 550us vs 68us)`, when
    /// there are two or more decisions.
    pub decision_spread: Option<String>,
}

/// One of the slowest inputs.
#[derive(Debug, Serialize)]
pub struct SlowInput {
    /// Where it came from.
    pub origin: String,
    /// What the policy answered.
    pub decision: String,
    /// Mean time.
    pub mean: String,
    /// Its mean over the target's mean over all inputs (`4.2x`).
    pub vs_mean: String,
    /// Operations measured on it.
    pub operations: String,
    /// The input, cut.
    pub input: String,
    /// The input, cut to a console line's room.
    pub input_short: String,
}

/// The input costs of every target of a case that has them.
pub(crate) fn input_costs(case: &CaseResult) -> Vec<InputCostView> {
    case.targets
        .iter()
        .filter_map(|t| t.input_costs.as_ref().map(|c| view(&t.id, c)))
        .filter(|v| !v.slowest.is_empty())
        .collect()
}

fn view(id: &str, c: &InputCosts) -> InputCostView {
    let overall = c.total_ns / c.operations.max(1) as f64;
    let cheapest = c
        .by_decision
        .iter()
        .map(|d| d.mean_ns)
        .fold(f64::INFINITY, f64::min);
    let decision_spread = (c.by_decision.len() >= 2).then(|| {
        let (hi, lo) = (&c.by_decision[0], &c.by_decision[c.by_decision.len() - 1]);
        format!(
            "Inputs answered {} cost {}x those answered {} (mean {} vs {})",
            hi.decision,
            significant(hi.mean_ns / lo.mean_ns.max(f64::MIN_POSITIVE)),
            lo.decision,
            format_nanos(hi.mean_ns),
            format_nanos(lo.mean_ns)
        )
    });
    InputCostView {
        target_id: id.to_string(),
        coverage: format!(
            "{} of {} input(s) evaluated, {} successful operation(s), mean {}",
            c.seen,
            c.inputs,
            c.operations,
            format_nanos(overall)
        ),
        concentration: format!(
            "the slowest 1% of the inputs ({} input{}) took {}% of the time",
            c.top_inputs,
            if c.top_inputs == 1 { "" } else { "s" },
            significant(c.top_share * 100.0)
        ),
        slowest: c
            .slowest
            .iter()
            .map(|s| SlowInput {
                origin: s.origin.clone(),
                decision: s.decision.clone().unwrap_or_else(|| "-".into()),
                mean: format_nanos(s.mean_ns),
                vs_mean: format!(
                    "{}x",
                    significant(s.mean_ns / overall.max(f64::MIN_POSITIVE))
                ),
                operations: s.operations.to_string(),
                input: s.input.clone(),
                input_short: short(&s.input, 80),
            })
            .collect(),
        by_decision: c
            .by_decision
            .iter()
            .map(|d| {
                vec![
                    d.decision.clone(),
                    d.inputs.to_string(),
                    format_nanos(d.mean_ns),
                    format!(
                        "{}x",
                        significant(d.mean_ns / cheapest.max(f64::MIN_POSITIVE))
                    ),
                    format!("{}%", significant(d.share * 100.0)),
                ]
            })
            .collect(),
        decision_spread,
    }
}

/// One target's policy profile.
#[derive(Debug, Serialize)]
pub struct ProfileView {
    /// Target id.
    pub target_id: String,
    /// Engine (`opa`, `regorus`).
    pub engine: String,
    /// How it was measured, what the figures include.
    pub method: String,
    /// How many inputs were profiled.
    pub inputs: usize,
    /// The hottest lines: `file:row`, time, share, evals, redos, source,
    /// source cut for the console.
    pub hottest: Vec<Vec<String>>,
    /// Per rule (regorus): rule, `file:row`, mean per evaluation.
    pub rules: Vec<Vec<String>>,
    /// The policy files, each line shaded by its share.
    pub heat: Vec<HeatFile>,
    /// Problems met.
    pub notes: Vec<String>,
}

/// One policy file as a heat map.
#[derive(Debug, Serialize)]
pub struct HeatFile {
    /// The file.
    pub file: String,
    /// Its lines.
    pub lines: Vec<HeatLine>,
}

/// One line of a heat map.
#[derive(Debug, Serialize)]
pub struct HeatLine {
    /// Line number, from 1.
    pub row: u32,
    /// The text.
    pub text: String,
    /// Its share of the profile (0..1); 0 when not measured.
    pub share: f64,
    /// The shade's opacity: its share relative to the hottest line's.
    pub alpha: f64,
    /// `12.3%` or empty.
    pub label: String,
    /// Rank among measured lines (1: hottest), 0 when not measured.
    pub rank: usize,
    /// The slowest profiled input executes this line (regorus' coverage).
    pub executed: bool,
}

/// Lines shown in the console and Markdown.
pub const TOP_LINES_TEXT: usize = 5;

/// The profiles of every target that has one.
pub(crate) fn profiles(targets: &[TargetInfo]) -> Vec<ProfileView> {
    targets
        .iter()
        .filter_map(|t| t.profile.as_ref().map(|p| profile_view(&t.id, p)))
        .collect()
}

fn profile_view(id: &str, p: &PolicyProfile) -> ProfileView {
    // A line's share: its expressions' together.
    let mut by_line: std::collections::BTreeMap<(String, u32), f64> = Default::default();
    for l in &p.lines {
        *by_line.entry((l.file.clone(), l.row)).or_default() += l.share;
    }
    let mut order: Vec<(&(String, u32), &f64)> = by_line.iter().collect();
    order.sort_by(|a, b| b.1.total_cmp(a.1));
    let rank = |file: &str, row: u32| {
        order
            .iter()
            .position(|((f, r), _)| f == file && *r == row)
            .map_or(0, |i| i + 1)
    };
    let hottest = by_line.values().copied().fold(0.0f64, f64::max);
    let executed: std::collections::BTreeSet<(String, u32)> = p
        .rules
        .iter()
        .flat_map(|r| r.covered.iter().map(move |&row| (r.file.clone(), row)))
        .collect();
    let heat = p
        .sources
        .iter()
        .map(|src| HeatFile {
            file: src.file.clone(),
            lines: src
                .text
                .lines()
                .enumerate()
                .map(|(i, text)| {
                    let row = i as u32 + 1;
                    let share = by_line
                        .get(&(src.file.clone(), row))
                        .copied()
                        .unwrap_or(0.0);
                    HeatLine {
                        row,
                        text: text.to_string(),
                        share,
                        // A square root keeps lines at a tenth of the
                        // hottest visible; the hottest is at 0.6 (its text stays legible).
                        alpha: if hottest > 0.0 {
                            ((share / hottest).sqrt() * 0.6 * 1000.0).round() / 1000.0
                        } else {
                            0.0
                        },
                        label: if share > 0.0 {
                            format!("{}%", significant(share * 100.0))
                        } else {
                            String::new()
                        },
                        rank: if share > 0.0 { rank(&src.file, row) } else { 0 },
                        executed: executed.contains(&(src.file.clone(), row)),
                    }
                })
                .collect(),
        })
        .collect();
    ProfileView {
        target_id: id.to_string(),
        engine: p.engine.clone(),
        method: p.method.clone(),
        inputs: p.inputs.len(),
        // regorus' figures are rules, shown in `rules`; the table of
        // expressions is OPA's.
        hottest: p
            .lines
            .iter()
            .filter(|_| p.rules.is_empty())
            .map(|l| {
                vec![
                    format!("{}:{}", l.file, l.row),
                    format_nanos(l.total_ns),
                    format!("{}%", significant(l.share * 100.0)),
                    l.evals.to_string(),
                    l.redos.to_string(),
                    l.source.trim().to_string(),
                    short(l.source.trim(), 70),
                ]
            })
            .collect(),
        rules: p
            .rules
            .iter()
            .map(|r| {
                vec![
                    r.rule.clone(),
                    format!("{}:{}", r.file, r.row),
                    format_nanos(r.mean_ns),
                ]
            })
            .collect(),
        heat,
        notes: p.notes.clone(),
    }
}

/// `text` cut to `n` characters, with `...` when cut.
fn short(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}
