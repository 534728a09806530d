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

/// How a decision is written in summaries: compact JSON, `undefined` for
/// no value, cut at [`TEXT_CAP`] characters.
pub fn decision_text(value: &serde_json::Value) -> String {
    cut(full_decision_text(value))
}

/// A decision whole: compact JSON, `undefined` for no value.
pub fn full_decision_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) if s == UNDEFINED => "undefined".into(),
        other => other.to_string(),
    }
}

fn cut(mut text: String) -> String {
    if text.chars().count() > TEXT_CAP {
        text = text.chars().take(TEXT_CAP).collect();
        text.push('…');
    }
    text
}

/// A value's comparison key: compact JSON with object keys sorted, the
/// top-level array's elements sorted too when the value is a set (a partial
/// set rule's: its order means nothing), and with `deep` every array's.
fn key(value: &serde_json::Value, set: bool, deep: bool) -> String {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            let mut keys: Vec<String> = items.iter().map(|v| key(v, false, deep)).collect();
            if set || deep {
                keys.sort();
            }
            format!("[{}]", keys.join(","))
        }
        Value::Object(map) => {
            let mut pairs: Vec<(String, String)> = map
                .iter()
                .map(|(k, v)| (Value::String(k.clone()).to_string(), key(v, false, deep)))
                .collect();
            pairs.sort();
            let inner: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("{{{}}}", inner.join(","))
        }
        other => other.to_string(),
    }
}

/// Evaluates every input on every policy target and records what they
/// answered. Never fails: whether to stop is [`stop_reason`]'s call.
pub fn verify(plan: &Plan, targets: &[Prepared]) -> Verification {
    let deciders: Vec<&Prepared> = targets
        .iter()
        .filter(|t| t.plan.spec.needs_policy())
        .collect();
    // One input at a time, parsed from the plan's compact store: a million
    // inputs are never all documents at once.
    let no_input = plan.inputs.is_empty();
    let count = plan.inputs.len().max(1);
    let mut v = Verification {
        inputs: count,
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
        all_undefined: false,
        by_input: Vec::new(),
        by_input_texts: Vec::new(),
    };
    let set = plan.policy.as_ref().is_some_and(|p| p.query_is_set);
    // Inputs are checked in contiguous chunks, one per core (a million
    // inputs took seconds on one), then merged in input order, so the
    // result is the one a single pass gives.
    let threads = if count < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let per = count.div_ceil(threads);
    let chunks: Vec<Chunk> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let range = (k * per)..((k + 1) * per).min(count);
                let deciders = &deciders;
                scope.spawn(move || check(plan, deciders, set, no_input, range))
            })
            .collect();
        // A check that panicked panics here: no chunk is silently empty.
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut expects_undefined = false;
    let mut ids: BTreeMap<String, u32> = BTreeMap::new();
    v.by_input.reserve(count);
    for (k, chunk) in chunks.into_iter().enumerate() {
        // Each chunk numbered its decisions itself: renumber into one table.
        let remap: Vec<u32> = chunk
            .first_texts
            .iter()
            .map(|t| {
                let next = ids.len() as u32;
                *ids.entry(t.clone()).or_insert_with(|| {
                    v.by_input_texts.push(t.clone());
                    next
                })
            })
            .collect();
        v.by_input
            .extend(chunk.first_answers.iter().map(|&d| remap[d as usize]));
        if k == 0 {
            v.targets = chunk.targets;
        }
        for (id, summary) in chunk.summaries {
            let into = v.summaries.entry(id).or_default();
            for (text, n) in summary {
                *into.entry(text).or_insert(0) += n;
            }
        }
        v.expectations += chunk.expectations;
        v.unexpected += chunk.unexpected;
        v.disagreements += chunk.disagreements;
        v.failed += chunk.failed;
        expects_undefined |= chunk.expects_undefined;
        v.answers_complete &= !chunk.dropped;
        for (index, problem, answers) in chunk.kept {
            if index < ANSWERS_KEPT || (problem && v.answers.len() < 2 * ANSWERS_KEPT) {
                v.answers.push(answers);
            } else {
                v.answers_complete = false;
            }
        }
    }
    if let Some(first) = v.targets.first() {
        v.decisions = v.summaries.get(first).cloned().unwrap_or_default();
    }
    v.all_undefined = !v.summaries.is_empty()
        && !expects_undefined
        && v.summaries
            .values()
            .all(|s| s.len() == 1 && s.contains_key("undefined"));
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

/// Below this many inputs the check runs on one thread.
const PARALLEL_FROM: usize = 4096;

/// What one chunk of inputs answered.
#[derive(Default)]
struct Chunk {
    /// Targets that answered, in order (from the chunk's first input).
    targets: Vec<String>,
    summaries: BTreeMap<String, BTreeMap<String, usize>>,
    expectations: usize,
    unexpected: usize,
    disagreements: usize,
    failed: usize,
    expects_undefined: bool,
    /// Inputs that may be kept in full: (index, a problem, the answers).
    kept: Vec<(usize, bool, InputAnswers)>,
    /// Some input was left out of `kept`.
    dropped: bool,
    /// Each input's first answer, as an index into `first_texts`.
    first_answers: Vec<u32>,
    /// The chunk's decision texts.
    first_texts: Vec<String>,
}

/// Evaluates inputs `range` on every decider.
fn check(
    plan: &Plan,
    deciders: &[&Prepared],
    set: bool,
    no_input: bool,
    range: std::ops::Range<usize>,
) -> Chunk {
    let mut c = Chunk::default();
    let mut texts: BTreeMap<String, u32> = BTreeMap::new();
    let mut problems = 0;
    let first = range.start;
    for index in range {
        let (input, expect) = if no_input {
            (serde_json::Value::Null, None)
        } else {
            let i = plan.inputs.get(index);
            (i.value(), i.expect())
        };
        let input = &input;
        let expect_text = expect.map(decision_text);
        c.expects_undefined |= expect_text.as_deref() == Some("undefined");
        let mut answers = BTreeMap::new();
        // Compared in full (texts are cut for display), sets as sets.
        let mut keys: Vec<(String, String)> = Vec::new();
        let (mut prints, mut print_lines) = (Vec::new(), 0);
        let mut failed = false;
        for t in deciders {
            let Some(answer) = t.target.decide(input) else {
                continue;
            };
            let id = t.plan.id().to_string();
            if index == first {
                c.targets.push(id.clone());
            }
            let text = match answer {
                Ok(a) => {
                    if print_lines == 0 && !a.prints.is_empty() {
                        print_lines = a.prints.len();
                        prints = a.prints.into_iter().take(PRINTS_KEPT).map(cut).collect();
                    }
                    keys.push((key(&a.value, set, false), key(&a.value, set, true)));
                    decision_text(&a.value)
                }
                Err(e) => {
                    failed = true;
                    let text = format!("error: {e}");
                    keys.push((text.clone(), text.clone()));
                    cut(text)
                }
            };
            *c.summaries
                .entry(id.clone())
                .or_default()
                .entry(text.clone())
                .or_insert(0) += 1;
            answers.insert(id, text);
        }
        let first_text = c.targets.first().and_then(|t| answers.get(t)).cloned();
        let first_text = first_text.unwrap_or_else(|| "unanswered".into());
        let next = texts.len() as u32;
        let id = *texts.entry(first_text.clone()).or_insert_with(|| {
            c.first_texts.push(first_text);
            next
        });
        c.first_answers.push(id);
        let agree = keys.windows(2).all(|w| w[0].0 == w[1].0);
        let expect_keys = expect.map(|e| (key(e, set, false), key(e, set, true)));
        let expected = expect_keys
            .as_ref()
            .is_none_or(|e| keys.iter().all(|k| k.0 == e.0));
        // Differing only in the order of some array's elements.
        let order_only = (!agree || !expected)
            && keys
                .iter()
                .chain(&expect_keys)
                .all(|k| keys.first().is_some_and(|f| f.1 == k.1));
        c.expectations += usize::from(expect_text.is_some());
        c.unexpected += usize::from(!expected);
        c.disagreements += usize::from(!agree);
        c.failed += usize::from(failed);
        let problem = !agree || !expected || failed;
        // A chunk keeps what the merge might: the first inputs and up to
        // as many problems as the run keeps at most.
        if index < ANSWERS_KEPT || (problem && problems < 2 * ANSWERS_KEPT) {
            problems += usize::from(problem);
            c.kept.push((
                index,
                problem,
                InputAnswers {
                    origin: if no_input {
                        "(no input)".into()
                    } else {
                        plan.inputs.origin(index)
                    },
                    input: cut(input.to_string()),
                    expect: expect_text,
                    answers,
                    agree,
                    expected,
                    print_lines,
                    prints,
                    order_only,
                },
            ));
        } else {
            c.dropped = true;
        }
    }
    c
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
    if v.failed + v.unexpected + v.disagreements == 0 && !v.all_undefined {
        return None;
    }
    let mut what = Vec::new();
    if v.all_undefined {
        what.push(format!(
            "every input answered undefined on every target ({}): a wrong query or inputs of the wrong shape measure nothing (add `expect: undefined` to an input if that is the point)",
            v.targets.join(", ")
        ));
    }
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
        if a.order_only {
            text.push_str("\n    (the answers differ only in order: the rule's value is an array, where order matters; a partial set rule, `contains`, is compared as a set)");
        }
        for id in &v.targets {
            if let Some(answer) = a.answers.get(id) {
                text.push_str(&format!("\n    {id}: {answer}"));
            }
        }
    }
    Some(text)
}
