//! `rigor validate`: a scenario checked without measuring.

use std::path::Path;

use rigor_engine::run::Prepared;
use rigor_engine::target::TargetError;
use rigor_report::escape::terminal_safe;
use rigor_scenario::{Mode, Plan};

use crate::failure::Failure;
use crate::say;

/// `rigor validate`: the scenario, every target's configuration offline,
/// and every input evaluated once on every embedded policy target; with
/// `--set` and `--only` applied as `rigor run` applies them.
pub(crate) fn validate(
    path: &Path,
    overrides: &[rigor_scenario::overrides::Override],
    only: &[String],
) -> Result<(), Failure> {
    let plan = plan_of(path, overrides, only)?;
    let deciders = deciders(&plan)?;
    let v = rigor_engine::verify::verify(&plan, &deciders);
    for note in &v.notes {
        tell!("note: {}: {}", path.display(), terminal_safe(note));
    }
    if let Some(reason) = rigor_engine::verify::stop_reason(&v) {
        let message = format!("{}: {reason}", path.display());
        // An input the policy cannot evaluate is a scenario error (exit 2);
        // answers that differ are the policy's behaviour (exit 3, as `run`).
        return Err(if v.failed > 0 {
            Failure::Invalid(message)
        } else {
            Failure::Run(message)
        });
    }
    let decided = if v.targets.is_empty() {
        String::new()
    } else {
        format!("; evaluated on {}: {}", v.targets.join(", "), {
            let d: Vec<String> = v
                .decisions
                .iter()
                .map(|(d, n)| format!("{d} x{n}"))
                .collect();
            d.join(", ")
        })
    };
    say(&format!(
        "ok: {} ({} target(s), {} input(s), {} case(s){decided})\n",
        path.display(),
        plan.targets.len(),
        plan.inputs.len(),
        plan.workload.cases().len()
    ));
    Ok(())
}

/// Every target of the plan checked offline, and the ones that can answer
/// a decision without a server of the user's (embedded engines, managed
/// OPAs): what `validate` and `rigor inputs` evaluate.
pub(crate) fn deciders(plan: &Plan) -> Result<Vec<Prepared>, Failure> {
    let registry = rigor_targets::registry();
    let mut deciders = Vec::new();
    for t in &plan.targets {
        let located = |e: TargetError| match e {
            TargetError::Invalid(m) => Failure::Invalid(format!(
                "{}: {m}{}",
                plan.path.display(),
                crate::run_cmd::v0_help(&m, t.policy(plan))
            )),
            TargetError::Failed(m) => Failure::Run(m),
        };
        registry.check(t, plan).map_err(located)?;
        if let Some(target) = registry.offline_decider(t, plan).map_err(located)? {
            deciders.push(Prepared {
                plan: t.clone(),
                target,
            });
        }
    }
    Ok(deciders)
}

/// The plan of a scenario with `--set` and `--only` applied, as `rigor run`
/// applies them (what `validate` and `rigor inputs` check and show).
pub(crate) fn plan_of(
    path: &Path,
    overrides: &[rigor_scenario::overrides::Override],
    only: &[String],
) -> Result<Plan, Failure> {
    let mut plan = Plan::from_file_with(path, Mode::Default, overrides)?;
    if !only.is_empty() {
        for note in plan.keep_only(only)? {
            tell!("note: {}: {note}", path.display());
        }
    }
    Ok(plan)
}
