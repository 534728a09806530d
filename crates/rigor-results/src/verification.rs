//! The decision check's outcome: what every policy target answered for
//! every input before timing, and what the gate made of it.

use super::*;

/// What the policy targets answered for every input, before timing: the
/// correctness gate's record and each target's decision summary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verification {
    /// Inputs evaluated on every policy target.
    pub inputs: usize,
    /// Policy targets that answered, in scenario order.
    pub targets: Vec<String>,
    /// The first target's decisions (JSON text, `undefined`, or `error: ...`)
    /// with how many inputs got each.
    pub decisions: BTreeMap<String, usize>,
    /// Whether disagreements, failed expectations and evaluation errors stop
    /// the run before timing (`verify:`, on by default).
    #[serde(default)]
    pub gate: bool,
    /// `gate`, `warn` (measured anyway, verdict at least WARN) or `off`.
    #[serde(default)]
    pub mode: rigor_scenario::plan::VerifyMode,
    /// Each target's decisions with how many inputs got each, by target id.
    #[serde(default)]
    pub summaries: BTreeMap<String, BTreeMap<String, usize>>,
    /// Inputs that carried an `expect:`.
    #[serde(default)]
    pub expectations: usize,
    /// Inputs whose answer differs from their `expect:` on some target.
    #[serde(default)]
    pub unexpected: usize,
    /// Inputs on which the targets gave different answers.
    #[serde(default)]
    pub disagreements: usize,
    /// Inputs some target could not evaluate.
    #[serde(default)]
    pub failed: usize,
    /// Per-input answers: the first `ANSWERS_KEPT` (rigor-engine's verify) inputs,
    /// then any later input that disagrees, failed or missed its expectation.
    #[serde(default)]
    pub answers: Vec<InputAnswers>,
    /// Whether `answers` holds every input.
    #[serde(default)]
    pub answers_complete: bool,
    /// Warnings about the decisions (every input answered the same, or undefined).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Every input answered `undefined` on every target, and no `expect:`
    /// asked for that: a wrong query or inputs of the wrong shape, not a
    /// policy worth timing (a problem like a missed expectation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_undefined: bool,
    /// Each input's decision (the first target's answer), as an index into
    /// `by_input_texts`: in memory only, for the cost of each decision
    /// (a million inputs would otherwise be a million lines of results).
    #[serde(skip)]
    pub by_input: Vec<u32>,
    /// The decision texts `by_input` indexes.
    #[serde(skip)]
    pub by_input_texts: Vec<String>,
}

/// Every policy target's answer for one input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputAnswers {
    /// Where the input came from (`file`, `file:line`, `inputs[n] (inline)`).
    pub origin: String,
    /// The input as compact JSON, cut at `TEXT_CAP` (rigor-engine's verify) characters.
    pub input: String,
    /// The expected decision (`expect:`), as decision text.
    pub expect: Option<String>,
    /// Each target's decision text (JSON, `undefined`, or `error: ...`), by target id.
    pub answers: BTreeMap<String, String>,
    /// Every target gave the same answer.
    pub agree: bool,
    /// Every target's answer matched `expect` (true when there is none).
    pub expected: bool,
    /// How many lines the policy's print() calls wrote in one evaluation
    /// (the first target that printed).
    pub print_lines: usize,
    /// Those lines, the first `PRINTS_KEPT` (rigor-engine's verify).
    pub prints: Vec<String>,
    /// The answers that differ (from each other or from `expect`) hold the
    /// same elements in another order: an array, where order matters.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub order_only: bool,
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let decisions: Vec<String> = self
            .decisions
            .iter()
            .map(|(d, n)| format!("{d} x{n}"))
            .collect();
        let checked = if self.expectations > 0 {
            format!(
                ", {} of {} expectation(s) met",
                self.expectations - self.unexpected,
                self.expectations
            )
        } else {
            String::new()
        };
        if self.targets.len() > 1 {
            write!(
                f,
                "{} agree on {} of {} input(s){checked}; decisions: {}",
                self.targets.join(", "),
                self.inputs - self.disagreements,
                self.inputs,
                decisions.join(", ")
            )
        } else {
            write!(
                f,
                "{} on {} input(s){checked}; decisions: {}",
                self.targets.join(", "),
                self.inputs,
                decisions.join(", ")
            )
        }
    }
}

impl Verification {
    /// What went wrong for one target in the decision check, if anything:
    /// inputs it could not evaluate, answers that missed `expect:`, inputs
    /// on which the targets disagreed.
    pub fn target_problem(&self, id: &str) -> Option<String> {
        let errors: usize = self
            .summaries
            .get(id)
            .map(|s| {
                s.iter()
                    .filter(|(d, _)| d.starts_with("error: "))
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0);
        let missed = self
            .answers
            .iter()
            .filter(|a| !a.expected && a.expect.as_ref() != a.answers.get(id))
            .count();
        let mut what = Vec::new();
        if errors > 0 {
            what.push(format!("{errors} input(s) could not be evaluated"));
        }
        if missed > 0 {
            what.push(format!("{missed} answer(s) missed their `expect:`"));
        }
        if self.disagreements > 0 {
            what.push(format!(
                "the targets disagree on {} input(s)",
                self.disagreements
            ));
        }
        if self.all_undefined {
            what.push("every input answered undefined".into());
        }
        (!what.is_empty()).then(|| what.join(", "))
    }

    /// `verify: warn` found a problem and the run went on: the verdict is
    /// at least WARN.
    pub fn warned(&self) -> bool {
        self.mode == rigor_scenario::plan::VerifyMode::Warn
            && (self.failed + self.unexpected + self.disagreements > 0 || self.all_undefined)
    }
}
