//! The decision check's view: each target's decisions and the answers
//! per input, the problem inputs first on the console.

use super::*;

/// Inputs the console shows (problem inputs are shown besides these).
pub(super) const CONSOLE_ANSWERS: usize = 5;

/// The decision summary and per-input answers.
#[derive(Debug, Serialize)]
pub struct DecisionsView {
    /// Whether a problem stops the run (`verify:`).
    pub gate: bool,
    /// `verify: warn`: a problem is measured anyway and marks the run.
    pub warn: bool,
    /// Policy targets, in column order.
    pub targets: Vec<String>,
    /// Each target's decisions: `(id, "false x3, true x1")`.
    pub summaries: Vec<(String, String)>,
    /// Warnings (every input answered the same, or undefined).
    pub notes: Vec<String>,
    /// Inputs evaluated.
    pub inputs: usize,
    /// Every kept input's answers (HTML).
    pub rows: Vec<AnswerRow>,
    /// The first few and every problem input (console).
    pub console_rows: Vec<AnswerRow>,
    /// Inputs the console leaves out.
    pub console_more: usize,
    /// Inputs left out of `rows` (past the results' cap).
    pub rows_more: usize,
    /// Whether any input has an `expect:` (an expect column is shown).
    pub any_expect: bool,
    /// Whether any evaluation printed (a prints column is shown).
    pub any_prints: bool,
    /// Column widths for the console: input, expect, then one per target.
    pub widths: Vec<usize>,
}

/// One input's answers.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerRow {
    /// Where the input came from.
    pub origin: String,
    /// The input, compact JSON (cut).
    pub input: String,
    /// The expected decision, or empty.
    pub expect: String,
    /// Each target's answer, in `targets` order.
    pub answers: Vec<String>,
    /// `differs`, `unexpected`, `error` or empty.
    pub flag: String,
    /// Lines one evaluation printed.
    pub print_lines: usize,
    /// The first of them.
    pub prints: Vec<String>,
}

pub(super) fn decisions_view(v: &rigor_results::Verification) -> DecisionsView {
    let rows: Vec<AnswerRow> = v
        .answers
        .iter()
        .map(|a| {
            let answers: Vec<String> = v
                .targets
                .iter()
                .map(|id| a.answers.get(id).cloned().unwrap_or_default())
                .collect();
            let flag = if answers.iter().any(|t| t.starts_with("error: ")) {
                "error"
            } else if !a.agree {
                "differs"
            } else if !a.expected {
                "unexpected"
            } else {
                ""
            };
            AnswerRow {
                origin: a.origin.clone(),
                input: a.input.clone(),
                expect: a.expect.clone().unwrap_or_default(),
                answers,
                flag: flag.into(),
                print_lines: a.print_lines,
                prints: a.prints.clone(),
            }
        })
        .collect();
    let console_rows: Vec<AnswerRow> = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| *i < CONSOLE_ANSWERS || !r.flag.is_empty())
        .map(|(_, r)| r.clone())
        .take(CONSOLE_ANSWERS * 3)
        .collect();
    let cut = |s: &str, n: usize| -> String {
        if s.chars().count() > n {
            s.chars().take(n - 1).chain(['…']).collect()
        } else {
            s.to_string()
        }
    };
    let console_rows: Vec<AnswerRow> = console_rows
        .into_iter()
        .map(|mut r| {
            r.input = cut(&format!("{} {}", r.origin, r.input), 72);
            r.answers = r.answers.iter().map(|a| cut(a, 40)).collect();
            r.expect = cut(&r.expect, 20);
            r
        })
        .collect();
    let mut widths = vec![
        console_rows
            .iter()
            .map(|r| r.input.chars().count())
            .max()
            .unwrap_or(5)
            .max(5),
        console_rows
            .iter()
            .map(|r| r.expect.chars().count())
            .max()
            .unwrap_or(6)
            .max(6),
    ];
    for (i, id) in v.targets.iter().enumerate() {
        widths.push(
            console_rows
                .iter()
                .map(|r| r.answers.get(i).map_or(0, |a| a.chars().count()))
                .max()
                .unwrap_or(0)
                .max(id.chars().count()),
        );
    }
    DecisionsView {
        gate: v.gate,
        warn: v.mode == rigor_scenario::plan::VerifyMode::Warn,
        targets: v.targets.clone(),
        summaries: v
            .summaries
            .iter()
            .map(|(id, s)| {
                let mut counts: Vec<(&String, &usize)> = s.iter().collect();
                counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let text: Vec<String> = counts.iter().map(|(d, n)| format!("{d} x{n}")).collect();
                (id.clone(), text.join(", "))
            })
            .collect(),
        notes: v.notes.clone(),
        inputs: v.inputs,
        console_more: v.inputs.saturating_sub(console_rows.len()),
        rows_more: v.inputs.saturating_sub(rows.len()),
        any_expect: v.expectations > 0,
        any_prints: rows.iter().any(|r| r.print_lines > 0),
        rows,
        console_rows,
        widths,
    }
}
