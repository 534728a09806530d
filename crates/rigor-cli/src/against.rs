//! `rigor run SCENARIO --against REV`: every target that loads its policy
//! itself (regorus, a managed OPA) gets a copy, `<id>@REV`, whose policy
//! and data files are read from git at REV (`git ls-tree` and `git show`
//! of the paths the scenario names, wherever they are in the repository;
//! no checkout), and each target is compared with its copy in paired
//! rounds within the run.

use std::path::{Path, PathBuf};
use std::process::Command;

use rigor_scenario::plan::{Stop, DEFAULT_ROUND};
use rigor_scenario::Plan;

use crate::failure::Failure;

/// Runs git in `dir` and returns its standard output, or a message naming
/// the command and git's own words.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// A directory of rigor's own under the system's temporary directory,
/// removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path =
            std::env::temp_dir().join(format!("rigor-against-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the files the scenario's policies name (Rego files and
/// directories, data), as they were at `rev`, into a temporary directory
/// at their places relative to the repository; returns it and where the
/// scenario's directory is inside it. Policies anywhere in the repository
/// are read, not only beside the scenario.
fn materialize(scenario: &Path, rev: &str) -> Result<(TempDir, PathBuf), String> {
    let dir = scenario
        .canonicalize()
        .map_err(|e| format!("{}: {e}", scenario.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let top = String::from_utf8_lossy(&git(&dir, &["rev-parse", "--show-toplevel"])?)
        .trim()
        .to_string();
    let top = PathBuf::from(top)
        .canonicalize()
        .map_err(|e| format!("the repository's top: {e}"))?;
    git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map_err(|_| {
        format!(
            "`{rev}` is not a commit of the repository at {}",
            top.display()
        )
    })?;
    let rel = dir
        .strip_prefix(&top)
        .map_err(|_| format!("{} is not inside {}", dir.display(), top.display()))?
        .to_path_buf();
    let named = Plan::policy_paths(scenario).map_err(|e| e.to_string())?;
    let temp = TempDir::new()?;
    for path in named {
        let inside = normalize(&rel.join(&path)).ok_or_else(|| {
            format!(
                "`{path}` lies outside the repository at {}: git cannot read it at {rev}",
                top.display()
            )
        })?;
        let spec = if inside.as_os_str().is_empty() {
            ".".to_string()
        } else {
            inside.display().to_string()
        };
        let files = git(
            &top,
            &["ls-tree", "-r", "-z", "--name-only", rev, "--", &spec],
        )?;
        for name in files.split(|b| *b == 0).filter(|n| !n.is_empty()) {
            let name = String::from_utf8_lossy(name).into_owned();
            let text = git(&top, &["show", &format!("{rev}:{name}")])?;
            let out = temp.0.join(&name);
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    let base = temp.0.join(&rel);
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    Ok((temp, base))
}

/// `a/b/../c` as `a/c`, lexically; `None` when it climbs above the start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            std::path::Component::Normal(p) => out.push(p),
            _ => return None,
        }
    }
    Some(out)
}

/// Adds `<id>@REV` for every target that loads its policy itself (regorus,
/// a managed OPA) and pairs each with its copy
/// (the copy is the baseline). Turns on paired rounds (closed loop, a
/// `duration`). The revision's files are read into the plan here.
pub(crate) fn add_copies(plan: &mut Plan, scenario: &Path, rev: &str) -> Result<(), Failure> {
    let invalid = |m: String| Failure::Invalid(format!("--against {rev}: {m}"));
    let w = &plan.workload;
    if !w.rate.is_empty() || matches!(w.stop, Stop::Iterations(_)) || w.soak.is_some() {
        return Err(invalid(
            "paired rounds run closed loop for a `duration`: remove `rate`, `iterations` or `soak` (e.g. `--set` another workload)".into(),
        ));
    }
    let (_temp, base) = materialize(scenario, rev).map_err(invalid)?;
    let (top, own) = Plan::policies_at(scenario, &base)
        .map_err(|e| invalid(format!("the policy at {rev}: {e}")))?;
    let mut copies = Vec::new();
    for t in plan
        .targets
        .iter()
        .filter(|t| t.spec.as_kind().loads_policy())
    {
        let policy = match own.get(t.id()) {
            Some(p) => p.clone(),
            None => top.clone().ok_or_else(|| {
                invalid(format!(
                    "the scenario at {rev} has no `policy:` for `{}`",
                    t.id()
                ))
            })?,
        };
        let mut copy = t.clone();
        let id = format!("{}@{rev}", t.id());
        *copy.spec.as_kind_mut().id_mut() = id.clone();
        copy.policy = Some(policy);
        plan.pairs.push((id, t.id().to_string()));
        copies.push(copy);
    }
    if copies.is_empty() {
        return Err(invalid(
            "no target that loads its policy itself (`regorus`, `opa-http` with `server: managed`) to compare with its copy".into(),
        ));
    }
    plan.targets.extend(copies);
    plan.workload.round.get_or_insert(DEFAULT_ROUND);
    Ok(())
}
