//! What each input cost: the measured trials' per-input tallies turned
//! into the report's figures (the slowest inputs, the cost of each
//! decision, how concentrated the cost is). Nothing here is timed.

use rigor_results::cost::{DecisionCost, InputCost, InputCosts, MIN_OPERATIONS};
use rigor_results::Verification;
use rigor_scenario::inputs::Inputs;

use crate::record::InputTally;

/// How many of the slowest inputs the results keep.
const SLOWEST: usize = 10;
/// An input's text in the results, at most this many characters.
const INPUT_CHARS: usize = 300;

/// The figures of one target's tally over a case's trials.
pub(crate) fn input_costs(
    tally: &InputTally,
    inputs: &Inputs,
    decisions: Option<&Verification>,
) -> InputCosts {
    let slots = &tally.slots;
    let operations: u64 = slots.iter().map(|s| s[0]).sum();
    let total_ns: f64 = slots.iter().map(|s| s[1] as f64).sum();
    let mean = |i: usize| slots[i][1] as f64 / slots[i][0].max(1) as f64;
    let seen: Vec<usize> = (0..slots.len()).filter(|&i| slots[i][0] > 0).collect();
    let decision_of = |i: usize| {
        decisions.and_then(|v| {
            v.by_input
                .get(i)
                .and_then(|&d| v.by_input_texts.get(d as usize))
                .cloned()
        })
    };
    // Ranked: inputs evaluated often enough for their mean to mean something.
    let mut ranked: Vec<usize> = seen
        .iter()
        .copied()
        .filter(|&i| slots[i][0] >= MIN_OPERATIONS)
        .collect();
    ranked.sort_by(|&a, &b| mean(b).total_cmp(&mean(a)).then(a.cmp(&b)));
    let slowest = ranked
        .iter()
        .take(SLOWEST)
        .map(|&i| InputCost {
            index: i,
            origin: inputs.origin(i),
            input: cut(inputs.text(i)),
            decision: decision_of(i),
            operations: slots[i][0],
            mean_ns: mean(i),
        })
        .collect();
    // The slowest 1% of the inputs seen (at least one), by mean.
    let mut by_mean: Vec<usize> = seen.clone();
    by_mean.sort_by(|&a, &b| mean(b).total_cmp(&mean(a)).then(a.cmp(&b)));
    let top_inputs = seen.len().div_ceil(100).max(usize::from(!seen.is_empty()));
    let top_ns: f64 = by_mean
        .iter()
        .take(top_inputs)
        .map(|&i| slots[i][1] as f64)
        .sum();
    let mut by_decision: Vec<DecisionCost> = Vec::new();
    if let Some(v) = decisions.filter(|v| v.by_input.len() >= slots.len()) {
        let mut groups: Vec<(usize, u64, f64)> = vec![(0, 0, 0.0); v.by_input_texts.len()];
        for &i in &seen {
            let g = &mut groups[v.by_input[i] as usize];
            g.0 += 1;
            g.1 += slots[i][0];
            g.2 += slots[i][1] as f64;
        }
        by_decision = groups
            .into_iter()
            .enumerate()
            .filter(|(_, g)| g.1 > 0)
            .map(|(d, (n, ops, ns))| DecisionCost {
                decision: v.by_input_texts[d].clone(),
                inputs: n,
                operations: ops,
                mean_ns: ns / ops as f64,
                share: if total_ns > 0.0 { ns / total_ns } else { 0.0 },
            })
            .collect();
        by_decision.sort_by(|a, b| b.mean_ns.total_cmp(&a.mean_ns));
    }
    InputCosts {
        inputs: inputs.len(),
        seen: seen.len(),
        operations,
        total_ns,
        slowest,
        by_decision,
        top_inputs,
        top_share: if total_ns > 0.0 {
            top_ns / total_ns
        } else {
            0.0
        },
    }
}

/// An input's text, cut at a character boundary.
fn cut(text: &str) -> String {
    match text.char_indices().nth(INPUT_CHARS) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(n: usize) -> Inputs {
        let mut inputs = Inputs::new();
        let file = inputs.source("inputs/x.jsonl", rigor_scenario::inputs::Numbering::Line);
        for i in 0..n {
            inputs.push(file, i as u32 + 1, &serde_json::json!({ "i": i }), None);
        }
        inputs
    }

    fn verification(by_input: Vec<u32>, texts: &[&str]) -> Verification {
        Verification {
            inputs: by_input.len(),
            targets: vec!["vm".into()],
            decisions: Default::default(),
            gate: true,
            mode: rigor_scenario::plan::VerifyMode::Gate,
            summaries: Default::default(),
            expectations: 0,
            unexpected: 0,
            disagreements: 0,
            failed: 0,
            answers: Vec::new(),
            answers_complete: true,
            notes: Vec::new(),
            all_undefined: false,
            by_input,
            by_input_texts: texts.iter().map(|t| t.to_string()).collect(),
        }
    }

    /// The slowest inputs are ranked by mean, those seen too rarely left
    /// out; the top 1% share is their time over all; decisions group.
    #[test]
    fn ranks_by_mean_and_groups_by_decision() {
        let mut tally = InputTally::new(200).unwrap();
        for i in 0..200 {
            if i == 9 {
                continue;
            }
            // Input 7 costs 100x; input 9 (below) is slower still but seen twice.
            let ns = if i == 7 { 10_000 } else { 100 };
            for _ in 0..10 {
                tally.add(i, ns);
            }
        }
        tally.add(9, 1_000_000);
        tally.add(9, 1_000_000);
        let v = verification(
            (0..200).map(|i| u32::from(i % 2 == 1)).collect(),
            &["false", "true"],
        );
        let c = input_costs(&tally, &inputs(200), Some(&v));
        assert_eq!(c.seen, 200);
        assert_eq!(c.slowest[0].index, 7);
        assert_eq!(c.slowest[0].origin, "inputs/x.jsonl:8");
        assert_eq!(c.slowest[0].mean_ns, 10_000.0);
        assert_eq!(c.slowest[0].decision.as_deref(), Some("true"));
        assert!(
            c.slowest.iter().all(|s| s.index != 9),
            "seen twice: not ranked"
        );
        // 2 inputs are the top 1% of 200: input 9 (2 ops, 2ms) and 7 (0.1ms).
        assert_eq!(c.top_inputs, 2);
        let total = 198.0 * 10.0 * 100.0 + 100_000.0 + 2_000_000.0;
        assert!((c.top_share - 2_100_000.0 / total).abs() < 1e-12);
        assert_eq!(c.by_decision.len(), 2);
        assert_eq!(c.by_decision[0].decision, "true");
        let shares: f64 = c.by_decision.iter().map(|d| d.share).sum();
        assert!((shares - 1.0).abs() < 1e-12);
    }
}
