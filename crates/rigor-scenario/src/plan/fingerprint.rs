//! The plan's fingerprint: a hash of what affects the measurement, which
//! a saved baseline must match.

use super::*;

/// A hash of what affects the measurement: the document without its
/// descriptions, thresholds, regression settings, modes and the workload's
/// durations and trial count, plus the policy's modules and data and the
/// inputs as loaded (generated ones included). Two runs with the same
/// fingerprint measured the same thing; a longer `--set workload.duration`
/// or an edited threshold keeps it, another concurrency or policy does not.
pub(super) fn fingerprint(plan: &Plan, text: &str) -> String {
    let mut doc: serde_json::Value =
        crate::parse_yaml(&plan.path, text).unwrap_or(serde_json::Value::Null);
    if let Some(map) = doc.as_object_mut() {
        for key in [
            "description",
            "thresholds",
            "regression",
            "modes",
            "compare",
            "verify",
        ] {
            map.remove(key);
        }
        if let Some(w) = map.get_mut("workload").and_then(|w| w.as_object_mut()) {
            for key in ["duration", "warmup", "trials", "iterations"] {
                w.remove(key);
            }
        }
        if let Some(ts) = map.get_mut("targets").and_then(|t| t.as_array_mut()) {
            for t in ts.iter_mut().filter_map(|t| t.as_object_mut()) {
                t.remove("thresholds");
            }
        }
    }
    let policy_json = |p: &PolicyPlan| {
        serde_json::json!({
            "modules": p.modules.iter().map(|m| [&m.path, &m.text]).collect::<Vec<_>>(),
            "data": p.data,
            "query": p.query,
            "rego_v0": p.rego_v0,
        })
    };
    let policy = plan.policy.as_ref().map(policy_json);
    // Targets' own policies: a change to their files is a change of measurement.
    let own: Vec<_> = plan
        .targets
        .iter()
        .filter_map(|t| t.policy.as_ref().map(|p| (t.id(), policy_json(p))))
        .collect();
    // The hash of the JSON text of `{"document", "inputs", "policy",
    // "target_policies"}` as serde_json writes the object (keys sorted, no
    // spaces), with the inputs' texts hashed where they lie rather than
    // parsed back into one Value or copied into one string.
    let head = format!("{{\"document\":{doc},\"inputs\":[");
    let mut tail = format!("],\"policy\":{}", serde_json::Value::from(policy));
    if !own.is_empty() {
        tail.push_str(&format!(",\"target_policies\":{}", serde_json::json!(own)));
    }
    tail.push('}');
    let mut h = crate::ContentHasher::new();
    h.update(&head);
    for (k, input) in plan.inputs.iter().enumerate() {
        if k > 0 {
            h.update(",");
        }
        h.update(input.text());
    }
    h.update(&tail);
    h.finish()
}
