//! `rigor init [policy|cache|http] [FILE]`: a starter scenario that runs as
//! written, with its example policy, data and the JSON Schema beside it.
//!
//! The files are text kept here rather than templates: they are examples to
//! edit, not output to restyle. Nothing is overwritten: a file that exists
//! stops `init` before it writes anything.

use std::path::{Path, PathBuf};

/// What kind of starter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Starter {
    /// An embedded policy (regorus, interpreter and VM), 2,000 generated inputs.
    Policy,
    /// moka against a managed Redis on a zipfian key workload.
    Cache,
    /// Embedded regorus against the real OPA over HTTP (managed), open loop.
    Http,
}

const POLICY: &str = r#"# A role-based access policy, as in OPA's documentation. Replace it with
# yours and point the scenario's `policy.files` and `query` at it.
package rbac

default allow := false

# Administrators may do anything.
allow if "admin" in data.rbac.user_roles[input.user]

allow if {
	some role in data.rbac.user_roles[input.user]
	some grant in data.rbac.role_grants[role]
	input.action == grant.action
	input.type == grant.type
}
"#;

const DATA: &str = r#"{
  "rbac": {
    "user_roles": {
      "alice": ["admin"],
      "bob": ["employee", "billing"],
      "eve": ["customer"],
      "dave": ["employee"]
    },
    "role_grants": {
      "customer": [{"action": "read", "type": "dog"}, {"action": "adopt", "type": "dog"}],
      "employee": [{"action": "read", "type": "dog"}, {"action": "update", "type": "dog"}],
      "billing": [{"action": "read", "type": "finance"}, {"action": "update", "type": "finance"}]
    }
  }
}
"#;

/// The policy block and inputs both policy starters share.
fn policy_block(stem: &str) -> String {
    format!(
        r#"policy:
  files: [{stem}.rego]              # files or directories (all *.rego), relative to this file
  data: [{stem}-data.json]          # optional; JSON or YAML documents, merged in order
  query: data.rbac.allow            # the rule to evaluate; its value may be any JSON
inputs:
  - inline: {{user: alice, action: delete, type: dog}}
    expect: true                    # checked on every target before timing
  - inline: {{user: eve, action: update, type: finance}}
    expect: false
  # Documents generated before timing from a template and seeded fields
  # ("{{{{field}}}}" alone keeps the value's type; inside text it is written in).
  - generate:
      count: 2000
      template: {{user: "{{{{user}}}}", action: "{{{{action}}}}", type: "{{{{type}}}}", request_id: "{{{{id}}}}"}}
      fields:
        user: {{pick: [alice, bob, eve, dave, mallory], weights: [10, 40, 30, 15, 5]}}
        action: {{pick: [read, update, adopt, delete]}}
        type: {{pick: [dog, finance]}}
        id: {{range: 1..1000000}}
"#
    )
}

fn scenario(starter: Starter, name: &str, stem: &str) -> String {
    let head = format!(
        "# yaml-language-server: $schema=scenario.schema.json\n\
         # Written by `rigor init`. Run it: rigor run {stem}.yaml\n\
         # Try a change without editing: rigor run {stem}.yaml --set workload.duration=2s\n\
         # Every field: docs/scenarios.md; every metric: `rigor metrics`.\n\
         name: {name}\n"
    );
    match starter {
        Starter::Policy => format!(
            r#"{head}description: Embedded Rego (regorus) interpreter vs VM on an RBAC policy
{policy}workload:
  concurrency: [1, 2]               # workers; a list sweeps, one case per value
  warmup: 500ms                     # excluded from every statistic
  duration: 3s                      # or `iterations: 100000` (per worker)
  trials: 3                         # each (case, target) repeated, targets interleaved
targets:
  - id: interpreter
    kind: regorus
  - id: vm
    kind: regorus
    engine: vm                      # regorus' compiled bytecode VM
compare:
  baseline: interpreter             # every other target as a ratio to this one, with intervals
thresholds:                         # target (WARN below it) and critical (FAIL) levels
  latency.p99: {{target: 1ms, critical: 10ms}}
  compile.time: {{target: 100ms, critical: 1s}}
  errors.rate: {{critical: 0%}}
"#,
            policy = policy_block(stem)
        ),
        Starter::Cache => format!(
            r#"{head}description: In-process moka vs a real Redis on a zipfian read-mostly workload
cache:
  keys: 100000                      # keyspace size
  distribution: zipfian             # uniform | zipfian | hotspot | sequential
  value_size: 256B                  # or a range: 64B..4KiB
  read_ratio: 90%                   # the rest are writes
  miss: fill                        # on a read miss: get, then set
  capacity: 10000                   # entries (or a size: 8MiB); a list sweeps
  preload: true                     # fill before measuring
workload:
  concurrency: [1, 4]
  warmup: 500ms
  duration: 3s
  trials: 3
  seed: 7                           # the same keys in the same order for every target
targets:
  - id: moka
    kind: moka
  - id: redis
    kind: redis
    server: managed                 # rigor starts redis-server on a free loopback port
    # url: redis://127.0.0.1:6379   # or an existing server, with flush: true
thresholds:
  cache.hit_ratio: {{target: 70%, critical: 50%}}
  latency.p99: {{target: 1ms, critical: 5ms}}
  errors.rate: {{critical: 0%}}
"#
        ),
        Starter::Http => format!(
            r#"{head}# Needs the real OPA: `go install github.com/open-policy-agent/opa@v1.22.3`.
description: Embedded regorus vs the real OPA over its REST Data API, open loop
{policy}workload:
  rate: 1000/s                      # open loop: latency from each operation's intended start
  concurrency: 16                   # the most operations in flight
  warmup: 1s
  duration: 3s
  trials: 3
targets:
  - id: embedded
    kind: regorus
    engine: vm
  - id: opa
    kind: opa-http
    server: managed                 # rigor starts `opa run --server` with this policy and data
compare:
  baseline: opa
thresholds:
  latency.p99: {{target: 2ms, critical: 20ms}}
  errors.rate: {{critical: 0%}}
"#,
            policy = policy_block(stem)
        ),
    }
}

/// Writes the starter; returns the files written.
pub fn write(starter: Starter, file: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let default = format!(
        "{}.yaml",
        match starter {
            Starter::Policy => "policy",
            Starter::Cache => "cache",
            Starter::Http => "http",
        }
    );
    let path = file.map_or_else(|| PathBuf::from(&default), Path::to_path_buf);
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("`{}` has no file name to start from", path.display()))?
        .to_string();
    let name = scenario_name(&stem);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut files = vec![(path.clone(), scenario(starter, &name, &stem))];
    if starter != Starter::Cache {
        files.push((dir.join(format!("{stem}.rego")), POLICY.to_string()));
        files.push((dir.join(format!("{stem}-data.json")), DATA.to_string()));
    }
    for (p, _) in &files {
        if p.exists() {
            return Err(format!(
                "{} exists; rigor init never overwrites: name another file (`rigor init {} other.yaml`)",
                p.display(),
                format!("{starter:?}").to_lowercase()
            ));
        }
    }
    // The schema the modeline names; an existing one (another starter's) is kept.
    let schema = dir.join("scenario.schema.json");
    if !schema.exists() {
        files.push((schema, rigor_scenario::json_schema()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (p, text) in &files {
        std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// A scenario name from a file name: letters, digits, `-`, `_` and `.`
/// kept, anything else a `-` (a name is a folder under reports/runs).
pub(crate) fn scenario_name(stem: &str) -> String {
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}
