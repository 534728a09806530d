//! `rigor bench POLICY... --input FILE... --query Q`: a measurement without
//! writing a scenario first, as `opa bench -d policy.rego -i input.json Q`
//! and hyperfine are used. It writes the scenario it runs (so the next step
//! is that file: `--save SCENARIO.yaml`), then runs it like `rigor run`.

use std::path::{Path, PathBuf};

use crate::failure::Failure;

/// Which engines a one-line bench compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Engine {
    /// regorus' RVM (compiled to bytecode).
    Vm,
    /// regorus' tree-walking interpreter.
    Interpreter,
    /// The real OPA, started by rigor, over its HTTP Data API.
    Opa,
}

/// What `rigor bench` was given.
#[derive(Debug)]
pub(crate) struct BenchArgs {
    pub(crate) policies: Vec<PathBuf>,
    pub(crate) inputs: Vec<PathBuf>,
    pub(crate) data: Vec<PathBuf>,
    pub(crate) query: String,
    pub(crate) engines: Vec<Engine>,
    pub(crate) concurrency: u32,
    pub(crate) duration: String,
    pub(crate) trials: u32,
    pub(crate) rego_v0: bool,
    pub(crate) save: Option<PathBuf>,
}

/// The scenario `rigor bench` runs, as YAML, with paths written relative
/// to `dir` (the folder the scenario is saved in) where they can be.
pub(crate) fn scenario_text(a: &BenchArgs, dir: &Path) -> Result<String, Failure> {
    let path = |p: &Path| -> Result<String, Failure> {
        let full = std::fs::canonicalize(p).map_err(|e| {
            Failure::Invalid(format!(
                "{}: {e}; name an existing file (relative to where you run rigor)",
                p.display()
            ))
        })?;
        let shown = relative(dir, &full);
        // JSON strings are YAML strings: any path is quoted safely.
        Ok(serde_json::to_string(&shown.display().to_string()).unwrap_or_default())
    };
    if a.policies.is_empty() {
        return Err(Failure::Invalid(
            "name at least one Rego file: `rigor bench policy.rego --input input.json --query data.pkg.rule`".into(),
        ));
    }
    let stem = a.policies[0]
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "policy".into());
    let name = crate::init::scenario_name(&format!("bench-{stem}"));
    let list = |paths: &[PathBuf]| -> Result<String, Failure> {
        Ok(paths
            .iter()
            .map(|p| path(p))
            .collect::<Result<Vec<_>, _>>()?
            .join(", "))
    };
    let mut text = format!(
        "# Written by `rigor bench`; run it again with `rigor run {{this file}}`.\n\
         name: {name}\n\
         policy:\n\
         \x20 files: [{}]\n",
        list(&a.policies)?
    );
    if !a.data.is_empty() {
        text.push_str(&format!("  data: [{}]\n", list(&a.data)?));
    }
    text.push_str(&format!(
        "  query: {}\n",
        serde_json::to_string(&a.query).unwrap_or_default()
    ));
    if a.rego_v0 {
        text.push_str("  rego_v0: true\n");
    }
    if a.inputs.is_empty() {
        text.push_str("inputs: [{inline: {}}]\n");
    } else {
        text.push_str("inputs:\n");
        for i in &a.inputs {
            text.push_str(&format!("  - {}\n", path(i)?));
        }
    }
    text.push_str(&format!(
        "workload: {{concurrency: {}, warmup: 500ms, duration: {}, trials: {}}}\ntargets:\n",
        a.concurrency,
        serde_json::to_string(&a.duration).unwrap_or_default(),
        a.trials
    ));
    let engines = if a.engines.is_empty() {
        vec![Engine::Vm, Engine::Interpreter]
    } else {
        a.engines.clone()
    };
    for e in &engines {
        text.push_str(match e {
            Engine::Vm => "  - {id: vm, kind: regorus, engine: vm}\n",
            Engine::Interpreter => "  - {id: interpreter, kind: regorus, engine: interpreter}\n",
            Engine::Opa => "  - {id: opa, kind: opa-http, server: managed}\n",
        });
    }
    if engines.len() > 1 {
        let base = match engines[0] {
            Engine::Vm => "vm",
            Engine::Interpreter => "interpreter",
            Engine::Opa => "opa",
        };
        text.push_str(&format!("compare: {{baseline: {base}}}\n"));
    }
    text.push_str("thresholds:\n  errors.rate: {critical: 0%}\n");
    Ok(text)
}

/// `to` as seen from the folder `from` (both absolute): `../p.rego`;
/// absolute when they share nothing but the root.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common <= 1 {
        return to.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    out
}

/// Writes the scenario (to `--save`, or a temporary folder) and returns
/// its path, with the folder to keep alive while it runs.
pub(crate) fn write(a: &BenchArgs) -> Result<(PathBuf, Option<tempfile::TempDir>), Failure> {
    match &a.save {
        Some(file) => {
            if file.exists() {
                return Err(Failure::Invalid(format!(
                    "{} exists; `--save` never overwrites a file: name a new one",
                    file.display()
                )));
            }
            let dir = match file.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(d) => {
                    std::fs::create_dir_all(d).map_err(|e| {
                        Failure::Invalid(format!("cannot create {}: {e}", d.display()))
                    })?;
                    std::fs::canonicalize(d)
                }
                None => std::env::current_dir(),
            }
            .map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
            let text = scenario_text(a, &dir)?;
            std::fs::write(file, text)
                .map_err(|e| Failure::Invalid(format!("cannot write {}: {e}", file.display())))?;
            tell!(
                "rigor: scenario written to {} (run it again: rigor run {})",
                file.display(),
                file.display()
            );
            Ok((file.clone(), None))
        }
        None => {
            let dir = tempfile::tempdir()
                .map_err(|e| Failure::Run(format!("cannot create a temporary folder: {e}")))?;
            // Absolute paths: the file lives elsewhere.
            let text = scenario_text(a, Path::new("/"))?;
            let file = dir.path().join("bench.yaml");
            std::fs::write(&file, text)
                .map_err(|e| Failure::Run(format!("cannot write {}: {e}", file.display())))?;
            Ok((file, Some(dir)))
        }
    }
}
