//! Before anything is timed, every policy target answers every input once:
//! the decision summary in the results, the per-input answers, `expect:`
//! checks and the correctness gate all come from this one pass.
//!
//! A benchmark of a policy that answers `undefined` for every input (a
//! wrong input shape, a wrong query) measures nothing useful; so decisions
//! are always recorded and shown, with one target too, and a gated run
//! (`verify:`, on by default) stops before timing when targets disagree,
//! an answer misses its `expect:`, or an input cannot be evaluated.

use std::collections::BTreeMap;

use rigor_scenario::plan::{Plan, VerifyMode, UNDEFINED};

use crate::results::{InputAnswers, Verification};
use crate::run::Prepared;

/// Inputs whose answers are kept in full in the results (later inputs only
/// when they are a problem).
pub const ANSWERS_KEPT: usize = 1000;
/// Decision and input texts are cut at this many characters.
pub const TEXT_CAP: usize = 300;
/// print() lines kept per input.
pub const PRINTS_KEPT: usize = 20;
/// Problem inputs named in a stop message.
const PROBLEMS_SHOWN: usize = 5;

/// How a decision is written in summaries: compact JSON, `undefined` for no value.
pub fn decision_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) if s == UNDEFINED => "undefined".into(),
        other => cut(other.to_string()),
    }
}

fn cut(mut text: String) -> String {
    if text.chars().count() > TEXT_CAP {
        text = text.chars().take(TEXT_CAP).collect();
        text.push('…');
    }
    text
}

/// Evaluates every input on every policy target and records what they
/// answered. Never fails: whether to stop is [`stop_reason`]'s call.
pub fn verify(plan: &Plan, targets: &[Prepared]) -> Verification {
    let deciders: Vec<&Prepared> = targets
        .iter()
        .filter(|t| t.plan.spec.needs_policy())
        .collect();
    let inputs: Vec<(&str, &serde_json::Value, Option<&serde_json::Value>)> =
        if plan.inputs.is_empty() {
            vec![("(no input)", &serde_json::Value::Null, None)]
        } else {
            plan.inputs
                .iter()
                .map(|i| (i.origin.as_str(), &i.value, i.expect.as_ref()))
                .collect()
        };
    let mut v = Verification {
        inputs: inputs.len(),
        targets: Vec::new(),
        decisions: BTreeMap::new(),
        gate: plan.verify == VerifyMode::Gate,
        mode: plan.verify,
        summaries: BTreeMap::new(),
        expectations: 0,
        unexpected: 0,
        disagreements: 0,
        failed: 0,
        answers: Vec::new(),
        answers_complete: true,
        notes: Vec::new(),
    };
    for (index, (origin, input, expect)) in inputs.iter().enumerate() {
        let expect_text = expect.map(decision_text);
        let mut answers = BTreeMap::new();
        let mut texts: Vec<String> = Vec::new();
        let (mut prints, mut print_lines) = (Vec::new(), 0);
        let mut failed = false;
        for t in &deciders {
            let Some(answer) = t.target.decide(input) else {
                continue;
            };
            let id = t.plan.id().to_string();
            if index == 0 {
                v.targets.push(id.clone());
            }
            let text = match answer {
                Ok(a) => {
                    if print_lines == 0 && !a.prints.is_empty() {
                        print_lines = a.prints.len();
                        prints = a.prints.into_iter().take(PRINTS_KEPT).map(cut).collect();
                    }
                    decision_text(&a.value)
                }
                Err(e) => {
                    failed = true;
                    cut(format!("error: {e}"))
                }
            };
            *v.summaries
                .entry(id.clone())
                .or_default()
                .entry(text.clone())
                .or_insert(0) += 1;
            texts.push(text.clone());
            answers.insert(id, text);
        }
        let agree = texts.windows(2).all(|w| w[0] == w[1]);
        let expected = expect_text
            .as_ref()
            .is_none_or(|e| texts.iter().all(|t| t == e));
        v.expectations += usize::from(expect_text.is_some());
        v.unexpected += usize::from(!expected);
        v.disagreements += usize::from(!agree);
        v.failed += usize::from(failed);
        let problem = !agree || !expected || failed;
        if index < ANSWERS_KEPT || (problem && v.answers.len() < 2 * ANSWERS_KEPT) {
            v.answers.push(InputAnswers {
                origin: origin.to_string(),
                input: cut(input.to_string()),
                expect: expect_text,
                answers,
                agree,
                expected,
                print_lines,
                prints,
            });
        } else {
            v.answers_complete = false;
        }
    }
    if let Some(first) = v.targets.first() {
        v.decisions = v.summaries.get(first).cloned().unwrap_or_default();
    }
    for (id, summary) in &v.summaries {
        if summary.len() != 1 {
            continue;
        }
        let Some((decision, n)) = summary.iter().next() else {
            continue;
        };
        if decision == "undefined" {
            v.notes.push(format!(
                "`{id}`: {} answered undefined: no rule at the query has a value for them; check the query and the inputs' shape",
                if *n == 1 { "the only input".to_string() } else { format!("all {n} inputs") }
            ));
        } else if *n > 1 && !decision.starts_with("error: ") {
            v.notes.push(format!(
                "`{id}`: all {n} inputs answered {decision}: a benchmark of one decision may miss the policy's other paths"
            ));
        }
    }
    v
}

/// Why a gated run stops before timing, naming the first problem inputs:
/// evaluation errors, answers that miss `expect:`, disagreeing targets.
pub fn stop_reason(v: &Verification) -> Option<String> {
    if !v.gate {
        return None;
    }
    problems(
        v,
        "nothing was timed (set `verify: warn` or `verify: false` to measure anyway)",
    )
}

/// With `verify: warn`, what the run goes on despite (the same text as
/// [`stop_reason`]'s); the run's verdict is then at least WARN.
pub fn warning(v: &Verification) -> Option<String> {
    if v.mode != VerifyMode::Warn {
        return None;
    }
    problems(
        v,
        "measured anyway (`verify: warn`): the verdict is at least WARN",
    )
}

fn problems(v: &Verification, consequence: &str) -> Option<String> {
    if v.failed + v.unexpected + v.disagreements == 0 {
        return None;
    }
    let mut what = Vec::new();
    if v.failed > 0 {
        what.push(format!("{} input(s) could not be evaluated", v.failed));
    }
    if v.unexpected > 0 {
        what.push(format!(
            "{} input(s) answered other than their `expect:`",
            v.unexpected
        ));
    }
    if v.disagreements > 0 {
        what.push(format!("targets disagree on {} input(s)", v.disagreements));
    }
    let mut text = format!("{}; {consequence}", what.join(", "));
    for a in v
        .answers
        .iter()
        .filter(|a| !a.agree || !a.expected || a.answers.values().any(|t| t.starts_with("error: ")))
        .take(PROBLEMS_SHOWN)
    {
        text.push_str(&format!("\n  {}: {}", a.origin, a.input));
        if let Some(e) = &a.expect {
            text.push_str(&format!("\n    expected: {e}"));
        }
        for id in &v.targets {
            if let Some(answer) = a.answers.get(id) {
                text.push_str(&format!("\n    {id}: {answer}"));
            }
        }
    }
    Some(text)
}
