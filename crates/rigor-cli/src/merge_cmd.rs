//! `rigor merge`: the shards of a sharded run (`rigor run --shard I/N`)
//! into one run's results ([`rigor_engine::merge`]), then stored and
//! rendered like a run's.

use std::path::{Path, PathBuf};

use rigor_engine::results::Results;
use rigor_report::Renderer;

use crate::failure::Failure;
use crate::run_cmd::{finish, Finish, Outputs};
use crate::store;

pub(crate) struct MergeArgs<'a> {
    pub(crate) inputs: &'a [PathBuf],
    pub(crate) out: &'a Path,
    pub(crate) baseline: Option<&'a str>,
    pub(crate) save_baseline: Option<&'a str>,
    pub(crate) outputs: Outputs,
    pub(crate) reports: PathBuf,
    pub(crate) templates: Option<&'a Path>,
    pub(crate) color: bool,
}

/// How deep a folder given to `rigor merge` is searched for results.json.
const DEPTH: usize = 3;

pub(crate) fn merge(args: MergeArgs<'_>) -> Result<(), Failure> {
    let MergeArgs {
        inputs,
        out,
        baseline,
        save_baseline,
        outputs,
        reports,
        templates,
        color,
    } = args;
    let renderer = Renderer::new(templates)?;
    outputs.check()?;
    let store = store::Store::new(reports);
    let mut files = Vec::new();
    let mut found = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let before = found.len();
            find(input, DEPTH, &mut found)
                .map_err(|e| Failure::Invalid(format!("cannot read {}: {e}", input.display())))?;
            if found.len() == before {
                return Err(Failure::Invalid(format!(
                    "{}: no results.json in this folder or {DEPTH} levels below; give the shards' results files or their folders",
                    input.display()
                )));
            }
        } else {
            files.push(input.clone());
        }
    }
    let own = out.join("results.json");
    let mut shards = files
        .iter()
        .map(|f| Ok((f.display().to_string(), store::read_results(f)?)))
        .collect::<Result<Vec<(String, Results)>, Failure>>()?;
    // In a folder, an earlier merge's results (the shards' folder often
    // holds its `merged/`) are not a shard: passed over, said so.
    for f in found.iter().filter(|f| **f != own) {
        let r = store::read_results(f)?;
        if r.merged.is_some() {
            tell!(
                "rigor: note: {} is a merge's results, not a shard's: left out",
                f.display()
            );
            continue;
        }
        shards.push((f.display().to_string(), r));
    }
    let started = std::time::Instant::now();
    let results = rigor_engine::merge::merge(shards)
        .map_err(|e| Failure::Invalid(format!("cannot merge: {e}")))?;
    let info = results.merged.as_ref();
    tell!(
        "rigor: merged {} of {} shard(s) of `{}` in {}; start skew at most {}{}",
        info.map_or(0, |m| m.merged.len()),
        info.map_or(0, |m| m.count),
        results.scenario.name,
        rigor_scenario::units::format_nanos(started.elapsed().as_nanos() as f64),
        rigor_scenario::units::format_nanos(info.map_or(0, |m| m.max_skew_ns) as f64),
        info.and_then(|m| m.min_overlap)
            .map(|o| format!(", trials overlapped at least {:.1}%", o * 100.0))
            .unwrap_or_default()
    );
    for note in info.iter().flat_map(|m| m.notes.iter().chain(&m.problems)) {
        tell!("rigor: note: {note}");
    }
    let base = baseline
        .map(|name| {
            store
                .load_baseline(&results.scenario.name, name)
                .map(|r| (name.to_string(), r))
        })
        .transpose()?;
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::Run(format!("cannot create {}: {e}", out.display())))?;
    finish(
        results,
        Finish {
            store: &store,
            results_path: &own,
            base: base.as_ref(),
            save_baseline,
            renderer: &renderer,
            color,
            outputs: &outputs,
        },
    )
}

/// Every `results.json` under `dir`, `depth` levels down, in name order.
fn find(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() && depth > 0 {
            find(&path, depth - 1, out)?;
        } else if path.file_name().is_some_and(|n| n == "results.json") {
            out.push(path);
        }
    }
    Ok(())
}
