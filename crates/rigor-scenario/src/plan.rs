//! Validation: a raw [`Scenario`] becomes a [`Plan`] with every default
//! resolved, every file read and every input parsed, or a [`Diagnostic`]
//! naming the file, line and column at fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::model::{InputSource, Scenario, TargetSpec, Threshold, Thresholds};
use crate::{Diagnostic, ScenarioError};

/// How much of the scenario's workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The scenario as written.
    #[default]
    Default,
    /// One short trial per case: warm-up at most 200ms, duration at most 1s
    /// (or at most 10000 iterations per worker). For smoke runs and development.
    Quick,
}

/// When a worker stops measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// After this much measured time.
    Duration(Duration),
    /// After this many measured operations per worker.
    Iterations(u64),
}

/// The checked workload.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkloadPlan {
    /// Worker counts to sweep; one case each.
    pub concurrency: Vec<u32>,
    /// Warm-up time per run, excluded from statistics.
    pub warmup: Duration,
    /// When measuring stops.
    pub stop: Stop,
    /// Repetitions of each (case, target).
    pub trials: u32,
    /// Open-loop rates to sweep, operations per second; empty for closed loop.
    #[serde(default)]
    pub rate: Vec<f64>,
}

/// One swept case: a concurrency and, in rate mode, a rate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CasePlan {
    /// Workers (closed loop) or most operations in flight (rate mode).
    pub concurrency: u32,
    /// Requested rate in operations per second (rate mode only).
    pub rate: Option<f64>,
}

impl CasePlan {
    /// A label such as `concurrency=2` or `rate=1000/s concurrency=64`.
    pub fn name(&self) -> String {
        match self.rate {
            Some(r) => format!(
                "rate={}/s concurrency={}",
                crate::units::significant(r),
                self.concurrency
            ),
            None => format!("concurrency={}", self.concurrency),
        }
    }
}

impl WorkloadPlan {
    /// Every case: each rate (if any) for each concurrency.
    pub fn cases(&self) -> Vec<CasePlan> {
        let mut out = Vec::new();
        for &concurrency in &self.concurrency {
            if self.rate.is_empty() {
                out.push(CasePlan {
                    concurrency,
                    rate: None,
                });
            }
            for &rate in &self.rate {
                out.push(CasePlan {
                    concurrency,
                    rate: Some(rate),
                });
            }
        }
        out
    }
}

/// A Rego module, read.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyModule {
    /// The path shown in Rego error messages.
    pub path: String,
    /// The source text.
    pub text: String,
}

/// The checked policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyPlan {
    /// Modules in load order.
    pub modules: Vec<PolicyModule>,
    /// All data documents deep-merged.
    pub data: serde_json::Value,
    /// The rule to evaluate, `data.<package>.<rule>`.
    pub query: String,
    /// Parse as Rego v0.
    pub rego_v0: bool,
}

/// One input document and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct InputItem {
    /// `file` or `file:line` or `inline #n`, for messages.
    pub origin: String,
    /// The document.
    pub value: serde_json::Value,
}

/// A checked target.
#[derive(Debug, Clone)]
pub struct TargetPlan {
    /// The target's configuration as written.
    pub spec: TargetSpec,
    /// Scenario thresholds with this target's own applied on top.
    pub thresholds: BTreeMap<String, Threshold>,
}

impl TargetPlan {
    /// The target's id.
    pub fn id(&self) -> &str {
        self.spec.id()
    }
}

/// A scenario checked and resolved: what the engine runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: Option<String>,
    /// The scenario file.
    pub path: PathBuf,
    /// The scenario file's text, kept for the results.
    pub source: String,
    /// The policy, when a target needs one.
    pub policy: Option<PolicyPlan>,
    /// Inputs in round-robin order.
    pub inputs: Vec<InputItem>,
    /// The workload.
    pub workload: WorkloadPlan,
    /// Targets in scenario order.
    pub targets: Vec<TargetPlan>,
    /// The mode the workload was shaped for.
    pub mode: Mode,
    /// The target others are compared to, if any.
    pub compare: Option<String>,
    /// Whether targets must agree on every input before timing.
    pub verify: bool,
}

impl Plan {
    /// Loads and validates a scenario file.
    pub fn from_file(path: &Path, mode: Mode) -> Result<Plan, ScenarioError> {
        let (scenario, source) = crate::load(path)?;
        Builder {
            file: path,
            source: &source,
            base: path.parent().unwrap_or(Path::new(".")),
        }
        .build(scenario, mode)
        .map(|mut plan| {
            plan.source = source.clone();
            plan
        })
    }
}

struct Builder<'a> {
    file: &'a Path,
    source: &'a str,
    base: &'a Path,
}

impl Builder<'_> {
    fn error<T>(&self, span: &Spanned<T>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, message).at(span.referenced, Some(self.source))
    }

    fn build(&self, s: Scenario, mode: Mode) -> Result<Plan, ScenarioError> {
        let name = &s.name;
        if name.value.is_empty()
            || !name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(self
                .error(
                    name,
                    format!(
                        "scenario name `{}` is not usable as a directory name",
                        name.value
                    ),
                )
                .with_help("use letters, digits, `-`, `_` and `.` only")
                .into());
        }
        let workload = self.workload(&s.workload, mode)?;
        let targets = self.targets(&s)?;
        let compare = match &s.compare {
            Some(c) if !targets.iter().any(|t| t.id() == c.baseline.value) => {
                let ids: Vec<&str> = targets.iter().map(|t| t.id()).collect();
                let mut d = self.error(
                    &c.baseline,
                    format!(
                        "`compare.baseline` names `{}`, which is not a target",
                        c.baseline.value
                    ),
                );
                d = match crate::metrics::did_you_mean(&c.baseline.value, ids.iter().copied()) {
                    Some(best) => d.with_help(format!("did you mean `{best}`?")),
                    None => d.with_help(format!("target ids: {}", ids.join(", "))),
                };
                return Err(d.into());
            }
            Some(c) => Some(c.baseline.value.clone()),
            None => None,
        };
        let policy_targets = targets.iter().filter(|t| t.spec.needs_policy()).count();
        let verify = s.verify.unwrap_or(policy_targets >= 2);
        let policy = match &s.policy {
            Some(p) => Some(self.policy(p)?),
            None => {
                if let Some(t) = s.targets.iter().find(|t| t.value.needs_policy()) {
                    return Err(self
                        .error(
                            t,
                            format!(
                                "target `{}` evaluates a policy, but the scenario has no `policy:`",
                                t.value.id()
                            ),
                        )
                        .with_help("add `policy: { files: [...], query: data.<package>.<rule> }`")
                        .into());
                }
                None
            }
        };
        let mut inputs = Vec::new();
        for (i, input) in s.inputs.iter().enumerate() {
            self.input(input, i, &mut inputs)?;
        }
        Ok(Plan {
            name: name.value.clone(),
            description: s.description.clone(),
            path: self.file.to_path_buf(),
            source: String::new(),
            policy,
            inputs,
            workload,
            targets,
            mode,
            compare,
            verify,
        })
    }

    fn workload(
        &self,
        w: &Spanned<crate::model::Workload>,
        mode: Mode,
    ) -> Result<WorkloadPlan, Diagnostic> {
        let v = &w.value;
        let concurrency = v
            .concurrency
            .as_ref()
            .map(|c| c.to_vec())
            .unwrap_or_else(|| vec![1]);
        if concurrency.is_empty() || concurrency.contains(&0) {
            return Err(self.error(
                w,
                "`concurrency` must be at least 1 (a list must not be empty)",
            ));
        }
        let mut stop = match (v.duration, v.iterations) {
            (Some(d), None) if d.0.is_zero() => {
                return Err(self.error(w, "`duration` must be longer than 0s"))
            }
            (Some(d), None) => Stop::Duration(d.0),
            (None, Some(0)) => return Err(self.error(w, "`iterations` must be at least 1")),
            (None, Some(n)) => Stop::Iterations(n),
            (Some(_), Some(_)) => {
                return Err(self
                    .error(w, "`workload` has both `duration` and `iterations`")
                    .with_help("keep one: `duration: 5s` measures for a time, `iterations: 100000` counts operations per worker"))
            }
            (None, None) => {
                return Err(self
                    .error(w, "`workload` needs `duration` or `iterations`")
                    .with_help("add e.g. `duration: 5s` or `iterations: 100000`"))
            }
        };
        let rate: Vec<f64> = v
            .rate
            .as_ref()
            .map(|r| r.to_vec().iter().map(|r| r.0).collect())
            .unwrap_or_default();
        if v.rate.is_some() && rate.is_empty() {
            return Err(self
                .error(w, "`rate` is an empty list")
                .with_help("give a rate such as `1000/s`, or drop `rate` for closed loop"));
        }
        if !rate.is_empty() && matches!(stop, Stop::Iterations(_)) {
            return Err(self
                .error(w, "rate mode runs for a `duration`, not `iterations`")
                .with_help("replace `iterations` with e.g. `duration: 10s`; the rate fixes how many operations that is"));
        }
        let mut warmup = v.warmup.map(|d| d.0).unwrap_or_default();
        let mut trials = v.trials.unwrap_or(1);
        if trials == 0 {
            return Err(self.error(w, "`trials` must be at least 1"));
        }
        if mode == Mode::Quick {
            trials = 1;
            warmup = warmup.min(Duration::from_millis(200));
            stop = match stop {
                Stop::Duration(d) => Stop::Duration(d.min(Duration::from_secs(1))),
                Stop::Iterations(n) => Stop::Iterations(n.min(10_000)),
            };
        }
        Ok(WorkloadPlan {
            concurrency,
            warmup,
            stop,
            trials,
            rate,
        })
    }

    fn targets(&self, s: &Scenario) -> Result<Vec<TargetPlan>, Diagnostic> {
        if s.targets.is_empty() {
            return Err(Diagnostic::new(self.file, "`targets` is empty")
                .with_help("add at least one target, e.g. `- { id: embedded, kind: regorus }`"));
        }
        let mut out: Vec<TargetPlan> = Vec::new();
        for t in &s.targets {
            let id = t.value.id();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(self
                    .error(t, format!("target id `{id}` is not valid"))
                    .with_help("use letters, digits, `-`, `_` and `.` only"));
            }
            if out.iter().any(|o| o.id() == id) {
                return Err(self
                    .error(t, format!("target id `{id}` is used twice"))
                    .with_help("give every target its own `id`"));
            }
            let mut spec = t.value.clone();
            if let TargetSpec::OpaHttp(http) = &mut spec {
                http.url = expand_env(&http.url, |name| std::env::var(name).ok()).map_err(|e| {
                    self.error(t, format!("target `{id}`: `url`: {e}"))
                        .with_help(
                        "set the variable, or give a default: `${OPA_URL:-http://127.0.0.1:8181}`",
                    )
                })?;
                if !(http.url.starts_with("http://") || http.url.starts_with("https://")) {
                    return Err(self
                        .error(
                            t,
                            format!(
                                "target `{id}`: `url` `{}` is not an http:// or https:// URL",
                                http.url
                            ),
                        )
                        .with_help("write the server's base URL, e.g. `http://127.0.0.1:8181`"));
                }
            }
            let mut thresholds = s.thresholds.0.clone();
            let Thresholds(own) = t.value.thresholds();
            thresholds.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            out.push(TargetPlan { spec, thresholds });
        }
        Ok(out)
    }

    fn resolve(&self, path: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
        let full = self.base.join(&path.value);
        if !full.exists() {
            return Err(self
                .error(
                    path,
                    format!(
                        "`{}` does not exist (looked for {})",
                        path.value,
                        full.display()
                    ),
                )
                .with_help("paths are relative to the scenario file"));
        }
        Ok(full)
    }

    fn read(&self, span: &Spanned<String>, path: &Path) -> Result<String, Diagnostic> {
        std::fs::read_to_string(path)
            .map_err(|e| self.error(span, format!("cannot read {}: {e}", path.display())))
    }

    fn policy(&self, p: &crate::model::Policy) -> Result<PolicyPlan, Diagnostic> {
        let mut modules = Vec::new();
        if p.files.is_empty() {
            return Err(Diagnostic::new(self.file, "`policy.files` is empty")
                .with_help("list the Rego files or directories to load"));
        }
        for f in &p.files {
            let full = self.resolve(f)?;
            let mut paths = Vec::new();
            if full.is_dir() {
                let entries = std::fs::read_dir(&full)
                    .map_err(|e| self.error(f, format!("cannot list {}: {e}", full.display())))?;
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "rego") && path.is_file() {
                        paths.push(path);
                    }
                }
                paths.sort();
                if paths.is_empty() {
                    return Err(
                        self.error(f, format!("directory `{}` holds no *.rego file", f.value))
                    );
                }
            } else {
                paths.push(full);
            }
            for path in paths {
                let text = self.read(f, &path)?;
                modules.push(PolicyModule {
                    path: path.display().to_string(),
                    text,
                });
            }
        }
        let mut data = serde_json::Value::Object(Default::default());
        for d in &p.data {
            let full = self.resolve(d)?;
            let doc = self.document(d, &full)?;
            if !doc.is_object() {
                return Err(self
                    .error(d, format!("data document `{}` is not an object", d.value))
                    .with_help(
                        "data files hold a JSON/YAML object; its keys become `data.<key>`",
                    ));
            }
            merge(&mut data, doc);
        }
        let query = p.query.value.trim();
        if !query.starts_with("data.") || query.len() <= 5 || query.contains(char::is_whitespace) {
            return Err(self
                .error(&p.query, format!("query `{query}` is not a rule path"))
                .with_help("write the rule to evaluate as `data.<package>.<rule>`, e.g. `data.authz.allow`"));
        }
        Ok(PolicyPlan {
            modules,
            data,
            query: query.to_string(),
            rego_v0: p.rego_v0,
        })
    }

    /// Reads one JSON or YAML document.
    fn document(
        &self,
        span: &Spanned<String>,
        path: &Path,
    ) -> Result<serde_json::Value, Diagnostic> {
        let text = self.read(span, path)?;
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml {
            crate::parse_yaml(path, &text).map_err(|d| *d)
        } else {
            serde_json::from_str(&text).map_err(|e| Diagnostic {
                file: path.to_path_buf(),
                line: Some(e.line() as u64),
                column: Some(e.column() as u64),
                message: format!("invalid JSON: {e}"),
                help: Some("fix the JSON (or name the file .yaml if it is YAML)".into()),
                source_line: text
                    .lines()
                    .nth(e.line().saturating_sub(1))
                    .map(str::to_string),
            })
        }
    }

    fn input(
        &self,
        input: &Spanned<InputSource>,
        index: usize,
        out: &mut Vec<InputItem>,
    ) -> Result<(), Diagnostic> {
        match &input.value {
            InputSource::Inline { inline } => out.push(InputItem {
                origin: format!("inputs[{index}] (inline)"),
                value: inline.clone(),
            }),
            InputSource::Path(p) => {
                let span = Spanned::new(p.clone(), input.referenced, input.defined);
                let full = self.resolve(&span)?;
                if full
                    .extension()
                    .is_some_and(|e| e == "jsonl" || e == "ndjson")
                {
                    let text = self.read(&span, &full)?;
                    let before = out.len();
                    for (i, line) in text.lines().enumerate() {
                        if line.trim().is_empty() {
                            continue;
                        }
                        let value = serde_json::from_str(line).map_err(|e| Diagnostic {
                            file: full.clone(),
                            line: Some(i as u64 + 1),
                            column: Some(e.column() as u64),
                            message: format!("invalid JSON on this line: {e}"),
                            help: Some("a .jsonl file holds one JSON document per line".into()),
                            source_line: Some(line.to_string()),
                        })?;
                        out.push(InputItem {
                            origin: format!("{p}:{}", i + 1),
                            value,
                        });
                    }
                    if out.len() == before {
                        return Err(self.error(&span, format!("`{p}` holds no input")));
                    }
                } else {
                    let value = self.document(&span, &full)?;
                    out.push(InputItem {
                        origin: p.clone(),
                        value,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Replaces `${NAME}` and `${NAME:-default}` with environment values.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`{text}` has an unclosed `${{`"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{inner}}}` is not a variable reference"));
        }
        match lookup(name)
            .filter(|v| !v.is_empty())
            .or_else(|| default.map(str::to_string))
        {
            Some(v) => out.push_str(&v),
            None => {
                return Err(format!(
                    "environment variable `{name}` is not set and has no default"
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Deep-merges `patch` into `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let env = |n: &str| (n == "HOST").then(|| "10.0.0.1".to_string());
        assert_eq!(
            expand_env("http://${HOST}:8181", env).unwrap(),
            "http://10.0.0.1:8181"
        );
        assert_eq!(
            expand_env("${OPA_URL:-http://127.0.0.1:8181}", env).unwrap(),
            "http://127.0.0.1:8181"
        );
        assert_eq!(expand_env("plain", env).unwrap(), "plain");
        assert!(expand_env("${NOPE}", env)
            .unwrap_err()
            .contains("`NOPE` is not set"));
        assert!(expand_env("${OPEN", env).is_err());
    }

    #[test]
    fn merge_is_deep() {
        let mut a = serde_json::json!({"x": {"a": 1, "b": 2}, "y": 1});
        merge(&mut a, serde_json::json!({"x": {"b": 3, "c": 4}, "z": [1]}));
        assert_eq!(
            a,
            serde_json::json!({"x": {"a": 1, "b": 3, "c": 4}, "y": 1, "z": [1]})
        );
    }
}
