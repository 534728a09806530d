//! `rigor inputs`: the inputs a scenario will run (files, inline, generated)
//! and, in full, what every policy target answers for each, without
//! measuring anything. Reports cut long answers; this is where they are
//! whole.

use std::path::Path;

use rigor_report::escape::terminal_safe;

use crate::failure::Failure;
use crate::say;

/// `rigor inputs SCENARIO --limit N`.
pub(crate) fn inputs(
    path: &Path,
    limit: usize,
    overrides: &[rigor_scenario::overrides::Override],
    only: &[String],
) -> Result<(), Failure> {
    let plan = crate::validate::plan_of(path, overrides, only)?;
    // The same deciders `validate` uses: embedded engines and managed OPAs,
    // never a server of the user's.
    let deciders = crate::validate::deciders(&plan)?;
    let total = plan.inputs.len();
    let mut out = format!(
        "{} input(s) in {}{}\n",
        total,
        path.display(),
        if total > limit {
            format!("; the first {limit} (`--limit N` for more)")
        } else {
            String::new()
        }
    );
    for (i, input) in plan.inputs.iter().take(limit).enumerate() {
        out.push_str(&format!(
            "\n[{i}] {}\n  input:  {}\n",
            input.origin(),
            terminal_safe(input.text())
        ));
        if let Some(e) = input.expect() {
            out.push_str(&format!(
                "  expect: {}\n",
                terminal_safe(&rigor_engine::verify::full_decision_text(e))
            ));
        }
        let value = input.value();
        for d in &deciders {
            let id = d.plan.id();
            let answer = match d.target.decide(&value) {
                Some(Ok(a)) => {
                    let mut text = rigor_engine::verify::full_decision_text(&a.value);
                    for line in &a.prints {
                        text.push_str(&format!("\n      print: {line}"));
                    }
                    text
                }
                Some(Err(e)) => format!("error: {e}"),
                None => continue,
            };
            out.push_str(&format!("  {id}: {}\n", terminal_safe(&answer)));
        }
    }
    say(&out);
    Ok(())
}
