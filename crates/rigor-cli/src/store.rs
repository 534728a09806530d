//! Where rigor keeps what it measured, under one root (`--reports`,
//! default `reports/`): runs (`runs/<scenario>/<timestamp>/`), baselines
//! (`baselines/<scenario>/<name>.json`, slimmed of histograms) and history
//! (`history/<scenario>.jsonl`, one line per complete run). Every results
//! file is written atomically (a temporary file renamed over it), so a
//! crash or Ctrl-C never leaves half a file.

use std::path::{Path, PathBuf};

use rigor_engine::results::{HistoryEntry, Results};
use rigor_scenario::Mode;

/// History entries shown in reports (the latest of the run's mode).
const HISTORY_SHOWN: usize = 20;

/// Errors of the store, by what the user should do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A name or file the user gave is wrong (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing failed (exit 3).
    #[error("{0}")]
    Io(String),
}

/// The reports root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// A store under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    /// A new run's directory: `runs/<scenario>/<UTC timestamp>`.
    pub fn run_dir(&self, scenario: &str) -> PathBuf {
        self.root
            .join("runs")
            .join(scenario)
            .join(rigor_engine::env::now_compact())
    }

    /// `baselines/<scenario>/<name>.json`, with the name checked.
    pub fn baseline_path(&self, scenario: &str, name: &str) -> Result<PathBuf, StoreError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(StoreError::Invalid(format!(
                "baseline name `{name}`: use letters, digits, `-`, `_` and `.` only"
            )));
        }
        Ok(self
            .root
            .join("baselines")
            .join(scenario)
            .join(format!("{name}.json")))
    }

    /// Loads a saved baseline, listing the saved ones when it is missing.
    pub fn load_baseline(&self, scenario: &str, name: &str) -> Result<Results, StoreError> {
        let path = self.baseline_path(scenario, name)?;
        if !path.exists() {
            let dir = self.root.join("baselines").join(scenario);
            let mut saved: Vec<String> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| {
                            e.path()
                                .file_stem()
                                .map(|s| s.to_string_lossy().into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            saved.sort();
            return Err(StoreError::Invalid(format!(
                "no baseline `{name}` for scenario `{scenario}` ({} does not exist); {}",
                path.display(),
                if saved.is_empty() {
                    "save one with `rigor run SCENARIO --save-baseline NAME`".to_string()
                } else {
                    format!("saved: {}", saved.join(", "))
                }
            )));
        }
        read_results(&path)
    }

    /// Saves `results` as baseline `name`, slimmed; returns where.
    pub fn save_baseline(
        &self,
        scenario: &str,
        name: &str,
        results: &Results,
    ) -> Result<PathBuf, StoreError> {
        let path = self.baseline_path(scenario, name)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        }
        write_atomically(&path, &slim(results))?;
        Ok(path)
    }

    fn history_path(&self, scenario: &str) -> PathBuf {
        self.root.join("history").join(format!("{scenario}.jsonl"))
    }

    /// The last runs of `mode` in the scenario's history.
    pub fn history(&self, scenario: &str, mode: Mode) -> Vec<HistoryEntry> {
        let text = std::fs::read_to_string(self.history_path(scenario)).unwrap_or_default();
        let mut entries: Vec<HistoryEntry> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|e: &HistoryEntry| e.mode == mode)
            .collect();
        let skip = entries.len().saturating_sub(HISTORY_SHOWN);
        entries.drain(..skip);
        entries
    }

    /// Appends a run to its scenario's history.
    pub fn append_history(&self, results: &Results) -> Result<(), StoreError> {
        use std::io::Write;
        let path = self.history_path(&results.scenario.name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        }
        let line = serde_json::to_string(&history_entry(results))
            .map_err(|e| StoreError::Io(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", path.display())))?;
        writeln!(f, "{line}")
            .map_err(|e| StoreError::Io(format!("cannot write {}: {e}", path.display())))
    }
}

/// Reads a results file, naming the line and column of what is wrong.
pub fn read_results(path: &Path) -> Result<Results, StoreError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StoreError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        StoreError::Invalid(format!(
            "{}:{}:{}: not a rigor results file: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

/// Writes JSON to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomically(path: &Path, results: &Results) -> Result<(), StoreError> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(results).map_err(|e| StoreError::Io(e.to_string()))?;
    std::fs::write(&tmp, text)
        .map_err(|e| StoreError::Io(format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| StoreError::Io(format!("cannot write {}: {e}", path.display())))
}

/// The results without histograms: per-trial summaries are what baselines compare.
fn slim(results: &Results) -> Results {
    let mut r = results.clone();
    for case in &mut r.cases {
        for t in &mut case.targets {
            t.histogram.clear();
            for trial in &mut t.trials {
                trial.histogram.clear();
                trial.service_histogram = None;
                trial.kind_histograms.clear();
            }
        }
    }
    r.history.clear();
    r
}

/// A run's line in the history: its headline metrics per case and target.
fn history_entry(results: &Results) -> HistoryEntry {
    let mut metrics = std::collections::BTreeMap::new();
    for case in &results.cases {
        for t in &case.targets {
            let keep: std::collections::BTreeMap<String, f64> =
                rigor_scenario::metrics::in_history()
                    .filter_map(|m| t.metrics.get(m.name).map(|v| (m.name.to_string(), *v)))
                    .collect();
            if !keep.is_empty() {
                metrics.insert(format!("{}/{}", case.name, t.id), keep);
            }
        }
    }
    HistoryEntry {
        started_at: results.started_at.clone(),
        git_commit: results.environment.git_commit.clone(),
        mode: results.scenario.mode,
        verdict: results.verdict,
        metrics,
    }
}
