//! `--explain`: after the timed trials, every policy target whose engine
//! can profile its policy ([`crate::target::Explain`]) does, on the inputs
//! the trials found slowest and a seeded sample of the others. Nothing
//! here runs while anything is timed, and the trials' figures are not
//! touched: the profiles sit beside them in the results.

use std::time::Duration;

use rigor_results::Results;
use rigor_scenario::plan::Plan;

use crate::run::Prepared;

/// The slowest inputs profiled, at most.
const SLOWEST: usize = 5;
/// Other inputs profiled, a seeded sample, at most.
const SAMPLED: usize = 5;
/// Time each regorus profile may take (rules evaluated alone); a quarter
/// of it in quick mode.
pub const BUDGET: Duration = Duration::from_secs(2);

/// The inputs to profile for target `id`: its slowest in the trials (or
/// another target's, when it kept none), then a seeded sample of the rest.
pub fn choose(results: &Results, id: &str, count: usize, seed: u64) -> Vec<usize> {
    if count == 0 {
        return vec![0];
    }
    let costs = results
        .cases
        .iter()
        .flat_map(|c| c.targets.iter())
        .filter(|t| t.input_costs.is_some())
        .max_by_key(|t| t.id == id)
        .and_then(|t| t.input_costs.as_ref());
    let mut chosen: Vec<usize> = costs
        .map(|c| c.slowest.iter().take(SLOWEST).map(|s| s.index).collect())
        .unwrap_or_default();
    // A sample that is the same on every run of the scenario.
    let mut rng = crate::keys::Rng::new(crate::keys::derive(seed, &[0x0065_7870_6c61_696e]));
    let others = count.saturating_sub(chosen.len());
    let want = chosen.len() + SAMPLED.min(others);
    let mut tries = 0;
    while chosen.len() < want && tries < 1000 {
        let i = (rng.next_u64() % count as u64) as usize;
        if !chosen.contains(&i) {
            chosen.push(i);
        }
        tries += 1;
    }
    chosen
}

/// Profiles every target that can, into `results.targets[..].profile`.
/// A profile that fails leaves a note on the run, never a failed run.
pub fn explain(
    results: &mut Results,
    targets: &[Prepared],
    plan: &Plan,
    progress: &mut dyn FnMut(&str),
) {
    let budget = if plan.mode == rigor_scenario::Mode::Quick {
        BUDGET / 4
    } else {
        BUDGET
    };
    // Targets of one kind on one policy (regorus' VM and interpreter) get
    // one profile: the first's, which names the others.
    let mut done: Vec<(String, usize)> = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let Some(explainer) = t.target.explainer() else {
            continue;
        };
        let id = t.plan.id();
        // OPA in process and over HTTP profile with the same `opa eval`.
        let kind = t.plan.spec.kind();
        let family = if kind.starts_with("opa") { "opa" } else { kind };
        let key = format!(
            "{}|{}",
            family,
            t.plan
                .policy
                .as_ref()
                .map(|p| p
                    .modules
                    .iter()
                    .map(|m| m.path.as_str())
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default()
        );
        if let Some((_, first)) = done.iter().find(|(k, _)| *k == key) {
            if let Some(p) = results
                .targets
                .get_mut(*first)
                .and_then(|t| t.profile.as_mut())
            {
                p.method.push_str(&format!(" `{id}` runs the same policy on the same engine kind: this profile is its too."));
            }
            continue;
        }
        let inputs = choose(results, id, plan.inputs.len(), plan.workload.seed);
        progress(&format!(
            "rigor: explaining {id}: profiling its policy on {} input(s), outside timing",
            inputs.len()
        ));
        match explainer.explain(&inputs, budget) {
            Ok(profile) => {
                if let Some(info) = results.targets.get_mut(i) {
                    info.profile = Some(profile);
                    done.push((key, i));
                }
            }
            Err(e) => progress(&format!("rigor: note: no profile of {id}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without costs, a seeded sample: the same twice, distinct, in range.
    #[test]
    fn choose_samples_the_same_inputs_every_time() {
        let results: Results = serde_json::from_value(serde_json::json!({
            "format_version": 1, "rigor_version": "0",
            "scenario": {"name": "s", "path": "s.yaml", "source": "", "mode": "default",
                "workload": {"concurrency": [1], "warmup": {"secs": 0, "nanos": 0},
                             "stop": {"duration": {"secs": 1, "nanos": 0}}, "trials": 1},
                "inputs": 1},
            "environment": {"cpu_model": "x", "cores": 2, "os": "linux", "hostname": "h",
                            "rustc": "r", "rigor_version": "0"},
            "harness": {"timer_cost_ns": 20.0, "timer_resolution_ns": 1, "memory_accounting": true, "timing": "t"},
            "started_at": "", "finished_at": "", "status": "complete",
            "targets": [], "cases": [], "verdict": "pass", "errors": []
        }))
        .unwrap();
        let a = choose(&results, "vm", 100, 7);
        assert_eq!(a, choose(&results, "vm", 100, 7));
        assert_eq!(a.len(), SAMPLED);
        assert!(a.iter().all(|&i| i < 100));
        let mut d = a.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), a.len());
        assert_eq!(
            choose(&results, "vm", 3, 7).len(),
            3,
            "no more than there are"
        );
        assert_eq!(choose(&results, "vm", 0, 7), vec![0]);
    }
}
