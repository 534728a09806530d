//! Why a number is what it is: what each input cost (recorded during the
//! measured trials: a count and a sum per input, no histogram), and what
//! each line and rule of the policy cost (measured outside the trials, by
//! OPA's profiler and by evaluating regorus rules alone).

use serde::{Deserialize, Serialize};

/// What one target's inputs cost in one case, from its measured trials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputCosts {
    /// Inputs the policy had.
    pub inputs: usize,
    /// Inputs evaluated at least once in the measured phase.
    pub seen: usize,
    /// Successful operations attributed to an input, all trials (failed
    /// ones are not speed and are left out).
    pub operations: u64,
    /// Their time, nanoseconds (as in the latency histogram: from the
    /// operation's start, or its intended start in rate mode).
    pub total_ns: f64,
    /// The slowest inputs by mean time, at most 10, each with at least
    /// [`MIN_OPERATIONS`] operations.
    pub slowest: Vec<InputCost>,
    /// The cost of each decision value (the first policy target's answer
    /// in the decision check), most expensive mean first.
    pub by_decision: Vec<DecisionCost>,
    /// The slowest 1% of inputs (by mean; at least one), how many.
    pub top_inputs: usize,
    /// The share of all attributed time spent on them (0..1): near 1% when
    /// every input costs the same, near 1 when a few dominate.
    pub top_share: f64,
}

/// An input must have been evaluated this often to be ranked: a mean of one
/// or two operations is one scheduler hiccup away from the top.
pub const MIN_OPERATIONS: u64 = 3;

/// One input's cost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputCost {
    /// Its index among the scenario's inputs (from 0).
    pub index: usize,
    /// Where it came from (`inputs/rbac.jsonl:3`, `generated #12`).
    pub origin: String,
    /// The input document, cut to a few hundred characters.
    pub input: String,
    /// What the policy answered (the decision check's text), if checked.
    pub decision: Option<String>,
    /// Successful operations on it.
    pub operations: u64,
    /// Their mean time, nanoseconds.
    pub mean_ns: f64,
}

/// The cost of the inputs that got one decision.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DecisionCost {
    /// The decision (`true`, `false`, `undefined`, a value's text).
    pub decision: String,
    /// Inputs with this decision that were evaluated.
    pub inputs: usize,
    /// Successful operations on them.
    pub operations: u64,
    /// Their mean time, nanoseconds.
    pub mean_ns: f64,
    /// Their share of all attributed time (0..1).
    pub share: f64,
}

/// What the lines of a policy cost, for one target, measured outside the
/// timed trials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyProfile {
    /// Which target's engine this is (`opa`, `regorus`).
    pub engine: String,
    /// How it was measured and what each figure includes, for the report.
    pub method: String,
    /// The inputs profiled: their indices.
    pub inputs: Vec<usize>,
    /// Every expression or rule with its cost, most expensive first.
    pub lines: Vec<LineCost>,
    /// The policy files the lines are in, with their text (for the heat
    /// map: the report reads nothing but the results).
    pub sources: Vec<PolicySource>,
    /// Per rule (regorus): the rule evaluated alone, with what it depends on.
    pub rules: Vec<RuleCost>,
    /// Problems met while profiling (an input OPA's profiler refused).
    pub notes: Vec<String>,
}

/// One line's (or expression's) cost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LineCost {
    /// The policy file, as given to the engine.
    pub file: String,
    /// Line, from 1.
    pub row: u32,
    /// Column, from 1 (0: the whole line).
    pub col: u32,
    /// Time spent in it over the profiled inputs, nanoseconds (OPA: the sum
    /// over inputs of the median over repeats of its `total_time_ns`).
    pub total_ns: f64,
    /// Its share of the profile's total (0..1).
    pub share: f64,
    /// Evaluations (OPA's `num_eval`), summed over the profiled inputs.
    pub evals: u64,
    /// Redos (OPA's `num_redo`): backtracking into it.
    pub redos: u64,
    /// The line's text.
    pub source: String,
}

/// A policy file's text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicySource {
    /// The file, as the lines name it.
    pub file: String,
    /// Its text.
    pub text: String,
}

/// One rule evaluated alone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuleCost {
    /// Its path (`data.restauthz.allow`).
    pub rule: String,
    /// The file and line of its first definition.
    pub file: String,
    /// Line, from 1.
    pub row: u32,
    /// Mean time of one evaluation over the profiled inputs, nanoseconds:
    /// the rule and everything it depends on.
    pub mean_ns: f64,
    /// The lines of this rule's file the slowest profiled input executed
    /// (regorus' coverage; first rule only), for the heat map.
    pub covered: Vec<u32>,
}
