//! `--set path=value`: changes to a scenario for one run, without editing
//! the file.
//!
//! The file is parsed as written first (its own mistakes keep their file,
//! line and column), then each override replaces one value in the document
//! tree, and the result is parsed and checked like a file, with the same
//! types, units and did-you-mean. The value is YAML (`2s`, `[1, 4]`, `true`,
//! `{kind: moka}`). A path walks maps by key and lists by index or, for a
//! list of targets, by `id` (`targets.vm.engine=interpreter`); metric names
//! with dots work as keys (`thresholds.latency.p99.target=5ms`). The plan
//! keeps the file's own text, so its hash, and baseline comparisons, stay
//! those of the file; the overrides are recorded beside it.

use std::path::Path;

use serde_json::Value;

use crate::{Diagnostic, ScenarioError};

/// One `--set path=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Dotted path, e.g. `workload.duration`.
    pub path: String,
    /// The value as written (YAML).
    pub value: String,
}

impl std::str::FromStr for Override {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (path, value) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not `path=value` (e.g. `workload.duration=2s`)"))?;
        let path = path.trim();
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(format!(
                "`{s}`: `{path}` is not a dotted path such as `workload.duration`"
            ));
        }
        Ok(Override {
            path: path.to_string(),
            value: value.to_string(),
        })
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.path, self.value)
    }
}

fn invalid(file: &Path, o: &Override, message: impl Into<String>) -> ScenarioError {
    Diagnostic::new(file, format!("--set {o}: {}", message.into()))
        .with_help("`--set path=value`: a dotted path into the scenario and a YAML value")
        .into()
}

/// The scenario text with `overrides` applied, as a document to parse in
/// place of the file (JSON, which is YAML).
pub fn apply(file: &Path, text: &str, overrides: &[Override]) -> Result<String, ScenarioError> {
    let mut tree: Value = crate::parse_yaml(file, text).map_err(ScenarioError::Invalid)?;
    for o in overrides {
        let value: Value = crate::parse_yaml(file, &o.value)
            .map_err(|d| invalid(file, o, format!("the value is not YAML: {}", d.message)))?;
        let segments: Vec<&str> = o.path.split('.').collect();
        set(&mut tree, &segments, value, None).map_err(|e| invalid(file, o, e))?;
    }
    serde_json::to_string_pretty(&tree).map_err(|e| invalid_text(file, e))
}

fn invalid_text(file: &Path, e: impl std::fmt::Display) -> ScenarioError {
    Diagnostic::new(file, format!("cannot apply --set: {e}")).into()
}

/// Sets `path` in `node` to `value`. `parent` is the key `node` sits under.
fn set(node: &mut Value, path: &[&str], value: Value, parent: Option<&str>) -> Result<(), String> {
    let Some(first) = path.first() else {
        *node = value;
        return Ok(());
    };
    match node {
        Value::Object(map) => {
            // The longest run of segments that names an existing key (or a
            // metric, under `thresholds`): metric names contain dots.
            let metric = |k: &str| {
                parent == Some("thresholds") && crate::metrics::METRICS.iter().any(|m| m.name == k)
            };
            let take = (1..=path.len())
                .rev()
                .find(|&n| {
                    let key = path[..n].join(".");
                    map.contains_key(&key) || metric(&key)
                })
                .unwrap_or(1);
            let key = path[..take].join(".");
            let rest = &path[take..];
            let child = map.entry(key.clone()).or_insert_with(|| {
                if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Object(Default::default())
                }
            });
            set(child, rest, value, Some(&key))
        }
        Value::Array(items) => {
            let index = match first.parse::<usize>() {
                Ok(i) if i < items.len() => i,
                Ok(i) => {
                    return Err(format!(
                        "`{}` has {} entries; there is no entry {i}",
                        parent.unwrap_or("the list"),
                        items.len()
                    ))
                }
                Err(_) => {
                    let ids: Vec<&str> = items
                        .iter()
                        .filter_map(|v| v.get("id").and_then(Value::as_str))
                        .collect();
                    match items
                        .iter()
                        .position(|v| v.get("id").and_then(Value::as_str) == Some(first))
                    {
                        Some(i) => i,
                        None => {
                            let hint = crate::metrics::did_you_mean(first, ids.iter().copied())
                                .map(|b| format!("; did you mean `{b}`?"))
                                .unwrap_or_default();
                            return Err(format!(
                                "`{}` has no entry with id `{first}` (ids: {}){hint}",
                                parent.unwrap_or("the list"),
                                if ids.is_empty() {
                                    "none".into()
                                } else {
                                    ids.join(", ")
                                }
                            ));
                        }
                    }
                }
            };
            set(&mut items[index], &path[1..], value, parent)
        }
        _ => Err(format!(
            "`{}` is a single value, not a map or list: set it whole",
            parent.unwrap_or("the document")
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEXT: &str = "name: t\nworkload: {duration: 5s, concurrency: 1}\ntargets:\n  - {id: vm, kind: regorus, engine: vm}\n  - {id: int, kind: regorus}\nthresholds:\n  latency.p99: {target: 1ms}\n";

    fn applied(sets: &[&str]) -> Value {
        let o: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
        serde_json::from_str(&apply(Path::new("s.yaml"), TEXT, &o).unwrap()).unwrap()
    }

    #[test]
    fn values_are_typed_yaml_and_paths_reach_maps_lists_ids_and_metrics() {
        let v = applied(&[
            "workload.duration=2s",
            "workload.concurrency=[1, 4]",
            "targets.vm.engine=interpreter",
            "targets.1.cache={kind: moka}",
            "thresholds.latency.p99.critical=5ms",
            "thresholds.errors.rate.critical=1%",
            "workload.seed=7",
        ]);
        assert_eq!(v["workload"]["duration"], "2s");
        assert_eq!(v["workload"]["concurrency"], serde_json::json!([1, 4]));
        assert_eq!(v["workload"]["seed"], 7);
        assert_eq!(v["targets"][0]["engine"], "interpreter");
        assert_eq!(v["targets"][1]["cache"]["kind"], "moka");
        assert_eq!(v["thresholds"]["latency.p99"]["target"], "1ms");
        assert_eq!(v["thresholds"]["latency.p99"]["critical"], "5ms");
        assert_eq!(v["thresholds"]["errors.rate"]["critical"], "1%");
    }

    #[test]
    fn bad_overrides_say_what_is_wrong() {
        let err = |s: &str| {
            let o: Override = s.parse().unwrap();
            apply(Path::new("s.yaml"), TEXT, &[o])
                .unwrap_err()
                .to_string()
        };
        assert!(err("targets.mv.engine=vm").contains("no entry with id `mv`"));
        assert!(err("targets.inr.engine=vm").contains("did you mean `int`?"));
        assert!(err("targets.5.engine=vm").contains("has 2 entries"));
        assert!(err("name.x=1").contains("single value"));
        assert!("workload.duration".parse::<Override>().is_err());
        assert!("a..b=1".parse::<Override>().is_err());
    }
}
